"""Kore.ai getLLMUsageLogs: the seed's sample request with a real signed JWT, filters, sorting,
paging, validation, isolation and the record shape, over records inserted directly."""

from __future__ import annotations

import random
from datetime import timedelta
from types import SimpleNamespace

import pytest
from sqlalchemy import insert, select, text
from sqlalchemy.exc import DataError

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.db.engine import session_scope
from parley.errors import RateLimitedError
from parley.surfaces.kore import rate_limit, service
from parley.surfaces.kore.models import KoreRateWindow
from parley.usage.models import LLMUsageRecord
from tests.surfaces.ejento.factories import make_agent
from tests.surfaces.kore.conftest import (
    PAYLOAD_KEYS,
    RECORD_KEYS,
    SEED_CHANNEL_USER,
    SEED_TASK,
    add_record,
    assert_kore_error,
    at,
    sign,
    usage_logs,
)


@pytest.fixture(autouse=True)
def clock_at_the_start_of_an_hour(monkeypatch):
    """The rate-limit windows are clock minutes and hours: a test's calls must not straddle a
    boundary, where the count starts over (a slow machine took more than the rest of a minute)."""
    monkeypatch.setattr(service, "time", SimpleNamespace(time=lambda: 1_700_002_800.0))


def counted(db, bot) -> dict[str, int]:
    rows = db.execute(
        select(KoreRateWindow.window, KoreRateWindow.calls).where(KoreRateWindow.agent_id == bot.agent.id)
    )
    return dict(rows.tuples().all())


SEED_BODY = {
    "dateFrom": "2024-03-07",
    "dateTo": "2024-03-09",
    "limit": "1",
    "skip": "5",
    "isDeveloper": True,
    "channel": "msteams",
    "featureName": ["dynamicEntity"],
    "taskId": SEED_TASK,
    "channelUserIds": [SEED_CHANNEL_USER],
    "userIds": ["u-40b3eafc-a5aa-55f2-83e8-cf4d0fb1de07"],
    "sort": {"field": "Time Taken", "order": "desc"},
}
MARCH = {"dateFrom": "2024-03-01", "dateTo": "2024-03-31"}


def _seed_records(db, bot, count=7):  # type: ignore[no-untyped-def]
    """Records matching every filter of the seed's sample (but its Kore user id)."""
    return [
        add_record(
            db,
            bot,
            at(8, 6, n),
            time_taken_ms=1000 + n * 100,
            channel="msteams",
            feature_name="dynamicEntity",
            task_id=SEED_TASK,
            channel_user_id=SEED_CHANNEL_USER,
            is_developer=n % 2 == 0,
        )
        for n in range(count)
    ]


def test_the_seed_sample_request_as_sent(world, db, bot):
    _seed_records(db, bot)
    token = sign(db, bot.owner)
    # The sample's user is a Kore id no Parley user has: a valid request that matches nothing.
    r = usage_logs(world, bot.id, token, SEED_BODY)
    assert r.status_code == 200 and r.json() == []
    # The same request naming the Parley user: page 6 (skip 5, limit 1) of 7, slowest first.
    body = {**SEED_BODY, "userIds": [f"u-{bot.owner.id}"]}
    for prefix in ("/api", ""):
        r = usage_logs(world, bot.id, token, body, prefix=prefix)
        assert r.status_code == 200, r.text
        [record] = r.json()
        assert record["Time Taken"] == 1100  # 1600, 1500, ..., 1100 is the sixth


def test_a_record_has_exactly_the_documented_keys_and_values(world, db, bot):
    row = add_record(
        db,
        bot,
        at(8, 6, 38).replace(second=54, microsecond=8000),
        time_taken_ms=4378,
        prompt_name="Default",
        feature_name="GenAI Node",
        channel="msteams",
        description="Order pizza-GenAINode0002",
        task_id="dg-200ad1ff-8db8-5219-810e-4ee3800d212c",
    )
    r = usage_logs(world, bot.agent.id, sign(db, bot.owner), {**MARCH, "limit": 50})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/json")
    [record] = r.json()
    assert list(record) == RECORD_KEYS and list(record["Payload Details"]) == PAYLOAD_KEYS
    assert record == {
        "Prompt Name": "Default",
        "Integration": "OpenAI",
        "start Date": "2024-03-08T06:38:54.008Z",
        "End Date": "2024-03-08T06:38:58.386Z",
        "Time Taken": 4378,
        "statusCode": 200,
        "Bot ID": f"st-{bot.agent.id}",
        "User ID": f"u-{bot.owner.id}",
        "Feature Name ": "Agent Node",
        "Model Name": "gpt-4-0613",
        "Channel Name": "msteams",
        "Description": "Order pizza-GenAINode0002",
        "task Id": "dg-200ad1ff-8db8-5219-810e-4ee3800d212c",
        "Status": "Success",
        "Payload Details": {
            "Prompt Name": "Default",
            "Request Payload": row.request_payload,
            "Response Payload": row.response_payload,
            "Request Tokens": 614,
            "Response Tokens": 74,
        },
    }


def test_filters_take_one_value_or_a_list_under_either_spelling(world, db, bot):
    other_user = world.user(bot.org)
    teams = add_record(db, bot, at(5), channel="msteams", channel_user_id="29:a", task_id="dg-1")
    rtm = add_record(db, bot, at(6), channel="rtm", user_id=other_user.id, task_id="dg-2", session_id="s-1")
    failed = add_record(
        db, bot, at(7), channel="rtm", feature_name="query_rewrite", status="failure", status_code=500
    )
    token = sign(db, bot.owner)

    def ids(**body):  # type: ignore[no-untyped-def]
        r = usage_logs(world, bot.id, token, {**MARCH, "limit": 50, **body})
        assert r.status_code == 200, r.text
        return [record["task Id"] for record in r.json()]

    assert ids() == [failed.task_id, "dg-2", "dg-1"]  # newest first by default
    assert ids(channel="msteams") == ids(channel=["msteams"]) == ["dg-1"]
    assert ids(channel=["msteams", "rtm"]) == [failed.task_id, "dg-2", "dg-1"]
    assert ids(taskId="dg-2") == ids(taskId=["dg-2", "dg-9"]) == ["dg-2"]
    assert ids(channelUserIds=["29:a"]) == ids(channelUIds="29:a") == ["dg-1"]
    assert ids(userIds=[f"u-{other_user.id}"]) == ids(userId=str(other_user.id)) == ["dg-2"]
    assert ids(userIds=["u-nobody", "42x"]) == []
    assert ids(sessionIds=["s-1"]) == ["dg-2"]
    # Feature names: Parley's display name or its key, case-insensitive; unknown names match nothing.
    assert ids(featureName=["Rephrase User Query"]) == ids(featureName="QUERY_REWRITE") == [failed.task_id]
    assert ids(featureName=["Answer Generation"]) == ["dg-2", "dg-1"]
    assert ids(featureName=["Agent Node"]) == ids(featureName=["no such feature"]) == []
    r = usage_logs(world, bot.id, token, {**MARCH, "featureName": ["Rephrase User Query"]})
    assert r.json()[0]["Status"] == "Failure" and r.json()[0]["statusCode"] == 500
    assert teams.task_id == "dg-1" and rtm.task_id == "dg-2"


def test_kore_feature_aliases_match_each_other(world, db, bot):
    for feature in ("dynamicEntity", "GenAI Node", "Agent Node", "GenAI Prompt"):
        add_record(db, bot, at(8), feature_name=feature, task_id=feature)
    token = sign(db, bot.owner)
    for name in ("dynamicEntity", "Dynamic Entity", "GenAI Node", "agent node"):
        r = usage_logs(world, bot.id, token, {**MARCH, "featureName": [name]})
        assert sorted(x["task Id"] for x in r.json()) == ["Agent Node", "GenAI Node", "dynamicEntity"]
        assert {x["Feature Name "] for x in r.json()} == {"Agent Node"}
    r = usage_logs(world, bot.id, token, {**MARCH, "featureName": ["Prompt Node"]})
    assert [(x["task Id"], x["Feature Name "]) for x in r.json()] == [("GenAI Prompt", "Prompt Node")]


def test_developer_records_only_on_request(world, db, bot):
    add_record(db, bot, at(8), task_id="user")
    add_record(db, bot, at(9), task_id="developer", is_developer=True)
    token = sign(db, bot.owner)
    assert [x["task Id"] for x in usage_logs(world, bot.id, token, MARCH).json()] == ["user"]
    for flag in (False, "false"):
        r = usage_logs(world, bot.id, token, {**MARCH, "isDeveloper": flag})
        assert [x["task Id"] for x in r.json()] == ["user"]
    r = usage_logs(world, bot.id, token, {**MARCH, "isDeveloper": True})
    assert [x["task Id"] for x in r.json()] == ["developer", "user"]


def test_sorting_on_time_taken_and_the_other_fields(world, db, bot):
    for n, (taken, model) in enumerate([(300, "b"), (100, "c"), (200, "a")]):
        add_record(db, bot, at(10 + n), time_taken_ms=taken, model_name=model, task_id=f"t{n}")
    token = sign(db, bot.owner)

    def order(field, direction=None):  # type: ignore[no-untyped-def]
        sort = {"field": field} if direction is None else {"field": field, "order": direction}
        r = usage_logs(world, bot.id, token, {**MARCH, "sort": sort})
        assert r.status_code == 200, r.text
        return [x["task Id"] for x in r.json()]

    assert order("Time Taken", "asc") == ["t1", "t2", "t0"]
    assert (
        order("Time Taken", "desc")
        == order("Time Taken")
        == order(" time taken ", "DESC")
        == ["t0", "t2", "t1"]
    )
    assert order("start Date", "asc") == ["t0", "t1", "t2"]
    assert order("End Date", "desc") == ["t2", "t1", "t0"]
    assert order("Model Name", "asc") == ["t2", "t0", "t1"]
    assert order("Feature Name ", "asc") == ["t0", "t1", "t2"]  # ties keep record order
    for field in (
        "statusCode",
        "Status",
        "Prompt Name",
        "Integration",
        "User ID",
        "task Id",
        "Request Tokens",
    ):
        assert sorted(order(field)) == ["t0", "t1", "t2"]


def test_paging_with_numbers_or_numeric_strings(world, db, bot):
    for n in range(5):
        add_record(db, bot, at(1 + n), task_id=f"p{n}")
    token = sign(db, bot.owner)
    pages = []
    for skip in range(0, 6, 2):
        body = {**MARCH, "limit": 2, "skip": skip, "sort": {"field": "start Date", "order": "asc"}}
        pages.append([x["task Id"] for x in usage_logs(world, bot.id, token, body).json()])
    assert pages == [["p0", "p1"], ["p2", "p3"], ["p4"]]
    body = {**MARCH, "limit": " 2 ", "skip": "2", "sort": {"field": "start Date", "order": "asc"}}
    assert [x["task Id"] for x in usage_logs(world, bot.id, token, body).json()] == ["p2", "p3"]
    # limit defaults to 50; skip to 0.
    assert len(usage_logs(world, bot.id, token, MARCH).json()) == 5


def test_date_windows(world, db, bot):
    add_record(db, bot, at(9, 0, 0), task_id="midnight")
    add_record(db, bot, at(9, 23, 59), task_id="late")
    add_record(db, bot, at(10, 0, 0), task_id="next day")
    token = sign(db, bot.owner)

    def window(date_from, date_to):  # type: ignore[no-untyped-def]
        r = usage_logs(world, bot.id, token, {"dateFrom": date_from, "dateTo": date_to})
        assert r.status_code == 200, r.text
        return [x["task Id"] for x in r.json()]

    # A date-only dateTo includes its whole day; an ISO time is itself the end (inclusive).
    assert window("2024-03-09", "2024-03-09") == ["late", "midnight"]
    assert window("2024-03-09T00:00:00Z", "2024-03-09T23:59:00Z") == ["late", "midnight"]
    assert window("2024-03-09T01:00:00+01:00", "2024-03-10T01:00:00+01:00") == [
        "next day",
        "late",
        "midnight",
    ]
    assert window("2024-03-09T00:00:01", "2024-03-10") == ["next day", "late"]
    # Exactly 90 days apart is allowed.
    assert window("2023-12-11", "2024-03-10") == ["next day", "late", "midnight"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"dateTo": "2024-03-09"}, "dateFrom"),
        ({"dateFrom": "2024-03-09"}, "dateTo"),
        ({"dateFrom": "2024-01-01", "dateTo": "2024-03-31T00:00:01Z"}, "90 days"),
        ({"dateFrom": "2023-12-10", "dateTo": "2024-03-10"}, "90 days"),
        ({"dateFrom": "2024-03-10", "dateTo": "2024-03-09"}, "after"),
        ({"dateFrom": "yesterday", "dateTo": "2024-03-09"}, "dateFrom"),
        ({"dateFrom": 20240301, "dateTo": "2024-03-09"}, "dateFrom"),
        ({**MARCH, "limit": "fifty"}, "limit"),
        ({**MARCH, "limit": -1}, "limit"),
        ({**MARCH, "limit": 0}, "limit"),
        ({**MARCH, "limit": 501}, "limit"),
        ({**MARCH, "limit": 2.5}, "limit"),
        ({**MARCH, "limit": True}, "limit"),
        ({**MARCH, "skip": "-5"}, "skip"),
        ({**MARCH, "channel": 5}, "channel"),
        ({**MARCH, "userIds": [{"id": 1}]}, "userIds"),
        ({**MARCH, "sort": {"field": "Payload Details"}}, "sort.field"),
        ({**MARCH, "sort": {"field": "Time Taken", "order": "up"}}, "sort.order"),
        ({**MARCH, "sort": "Time Taken"}, "sort"),
        ({**MARCH, "isDeveloper": "maybe"}, "isDeveloper"),
        ({**MARCH, "channel": [f"c{n}" for n in range(1001)]}, "at most"),
        ({**MARCH, "channel": "a\u0000b"}, "channel"),
        ({**MARCH, "taskId": ["t", "a\u0000b"]}, "taskId"),
        (["not", "an", "object"], None),
    ],
)
def test_bad_requests_are_400_and_count_nothing(world, db, bot, body, message):
    add_record(db, bot, at(8))
    r = usage_logs(world, bot.id, sign(db, bot.owner), body)
    error = assert_kore_error(r, 400)
    if message:
        assert message in error["msg"]
    assert counted(db, bot) == {}


def test_malformed_json_is_400_in_kore_shape(world, db, bot):
    r = world.client.post(
        f"/api/1.1/public/bot/{bot.id}/getLLMUsageLogs",
        headers={"auth": sign(db, bot.owner), "Content-Type": "application/json"},
        content=b'{"dateFrom": ',
    )
    assert_kore_error(r, 400)


def test_only_post(world, db, bot):
    for method in ("GET", "PUT", "DELETE"):
        r = world.client.request(method, f"/api/1.1/public/bot/{bot.id}/getLLMUsageLogs")
        assert_kore_error(r, 405)


def test_another_organisations_bot_or_an_unknown_one_is_not_found(world, db, bot):
    add_record(db, bot, at(8), description="secret pizza")
    other = world.user(world.org("Other"), admin=True)
    token = sign(db, other)
    for bot_id in (bot.id, str(bot.agent.id), "st-999999", "st-abc", "bogus", "st-99999999999999999999"):
        r = usage_logs(world, bot_id, token, MARCH)
        assert_kore_error(r, 404)
        assert "secret pizza" not in r.text
    # The other organisation's own bot sees none of these records.
    team = world.team(world.reload(Organization, other.org_id), {other: "Owner"})
    theirs = make_agent(db, other, world.project(team))
    assert usage_logs(world, f"st-{theirs.id}", token, MARCH).json() == []


def test_logs_are_for_those_who_may_edit_the_bot(world, db, bot):
    add_record(db, bot, at(8))
    public = make_agent(
        db, bot.owner, world.project(world.team(bot.org, {bot.owner: "Owner"})), access="Public"
    )
    add_record(db, bot, at(8), agent_id=public.id)
    colleague = world.user(bot.org)
    admin = world.user(bot.org, admin=True)
    # A colleague sees the public bot but may not read its logs; the private one is not found.
    assert_kore_error(usage_logs(world, f"st-{public.id}", sign(db, colleague), MARCH), 403)
    assert_kore_error(usage_logs(world, bot.id, sign(db, colleague), MARCH), 404)
    assert len(usage_logs(world, f"st-{public.id}", sign(db, admin), MARCH).json()) == 1
    assert len(usage_logs(world, bot.id, sign(db, admin), MARCH).json()) == 1


def test_records_of_other_bots_are_not_listed(world, db, bot):
    sibling = make_agent(db, bot.owner, world.project(world.team(bot.org, {bot.owner: "Owner"})))
    add_record(db, bot, at(8), task_id="mine")
    add_record(db, bot, at(8), task_id="sibling", agent_id=sibling.id)
    assert [x["task Id"] for x in usage_logs(world, bot.id, sign(db, bot.owner), MARCH).json()] == ["mine"]


def test_read_only_and_restricted_keys(world, db, bot):
    add_record(db, bot, at(8))
    read_only = world.key_for(bot.owner, "read_only")
    allowed = world.key_for(bot.owner, "restricted", {"usage_logs": "read"})
    refused = world.key_for(bot.owner, "restricted", {"agents": "write"})
    assert len(usage_logs(world, bot.id, sign(db, read_only), MARCH).json()) == 1
    assert len(usage_logs(world, bot.id, sign(db, allowed), MARCH).json()) == 1
    assert_kore_error(usage_logs(world, bot.id, sign(db, refused), MARCH), 403)


def test_rate_limits_per_bot(world, db, bot):
    token = sign(db, bot.owner)
    for _ in range(60):
        assert usage_logs(world, bot.id, token, MARCH).status_code == 200
    r = usage_logs(world, bot.id, token, MARCH)
    assert_kore_error(
        r, 429, msg="Rate limit for this API has been reached. Please try again after some time."
    )
    assert 1 <= int(r.headers["Retry-After"]) <= 60
    # Another bot of the same caller has its own budget.
    other_bot = make_agent(db, bot.owner, world.project(world.team(bot.org, {bot.owner: "Owner"})))
    assert usage_logs(world, f"st-{other_bot.id}", token, MARCH).status_code == 200


def test_the_hourly_window_and_configured_limits(world, db, bot):
    agent = db.get(Agent, bot.agent.id)
    agent.settings = {"kore_rate_limits": {"per_minute": 100, "per_hour": 3}}
    db.commit()
    token = sign(db, bot.owner)
    for _ in range(3):
        assert usage_logs(world, bot.id, token, MARCH).status_code == 200
    r = usage_logs(world, bot.id, token, MARCH)
    assert_kore_error(r, 429)
    assert 1 <= int(r.headers["Retry-After"]) <= 3600
    assert counted(db, bot) == {"minute": 3, "hour": 3}  # refusals not counted


def test_reads_never_write_the_agent_row(world, db, bot):
    """The counts live in kore_rate_windows: a read with a read-only key leaves the agent as it
    was (on PostgreSQL not even a new row version)."""
    token = sign(db, world.key_for(bot.owner, "read_only"))
    before = db.execute(select(Agent.settings, Agent.modified_on).where(Agent.id == bot.agent.id)).one()
    version = _row_version(db, bot)
    for _ in range(3):
        assert usage_logs(world, bot.id, token, MARCH).status_code == 200
    assert (
        db.execute(select(Agent.settings, Agent.modified_on).where(Agent.id == bot.agent.id)).one() == before
    )
    assert _row_version(db, bot) == version
    assert counted(db, bot) == {"minute": 3, "hour": 3}


def _row_version(db, bot) -> str | None:
    if db.get_bind().dialect.name != "postgresql":
        return None
    return db.scalar(text("SELECT xmin::text FROM agents WHERE id = :id"), {"id": bot.agent.id})


def test_a_call_whose_read_fails_counts_nothing(world, db, bot, monkeypatch):
    """Counted only once its records were read: a query the database refuses is not a call."""

    def refused(*args, **kwargs):
        raise DataError("SELECT", {}, Exception("invalid byte sequence"))

    monkeypatch.setattr(service, "find_records", refused)
    assert_kore_error(usage_logs(world, bot.id, sign(db, bot.owner), MARCH), 400)
    assert counted(db, bot) == {}


def test_windows_start_over_and_a_refused_count_is_rolled_back(world, db, bot):
    """Fixed clock windows: a full minute refuses until the next one, which counts from one;
    the count that crosses a limit is rolled back with the refusal."""
    write_sessions = world.client.app.state.write_sessions
    limits = {"minute": 2, "hour": 10}
    start = 1_700_000_040.0  # a whole minute

    def consume(now: float) -> int | None:
        try:
            with session_scope(write_sessions) as session:
                rate_limit.consume(session, bot.agent.id, limits, now)
        except RateLimitedError as refusal:
            return refusal.retry_after
        return None

    assert consume(start) is None and consume(start + 10) is None
    assert consume(start + 15) == 45
    assert counted(db, bot) == {"minute": 2, "hour": 2}
    with session_scope(world.client.app.state.read_sessions) as session:
        with pytest.raises(RateLimitedError):
            rate_limit.refuse_when_spent(session, bot.agent.id, limits, start + 59)
        rate_limit.refuse_when_spent(session, bot.agent.id, limits, start + 60)
    assert consume(start + 60) is None
    assert counted(db, bot) == {"minute": 1, "hour": 3}


def test_numbers_as_strings_and_every_scalar_form_of_the_sample(world, db, bot):
    _seed_records(db, bot, count=3)
    token = sign(db, bot.owner)
    body = {
        **SEED_BODY,
        "limit": 10,
        "skip": 0,
        "channel": ["msteams"],
        "featureName": "dynamicEntity",
        "taskId": [SEED_TASK],
        "channelUIds": SEED_CHANNEL_USER,
        "userIds": [],
        "userId": [f"u-{bot.owner.id}"],
    }
    r = usage_logs(world, bot.id, token, body)
    assert [x["Time Taken"] for x in r.json()] == [1200, 1100, 1000]
    assert all(x["Channel Name"] == "msteams" for x in r.json())
    future = {**SEED_BODY, "dateFrom": "2024-03-09", "dateTo": "2024-03-10", "userIds": [f"u-{bot.owner.id}"]}
    assert usage_logs(world, bot.id, token, future).json() == []


def test_every_sqlite_plan_returns_the_same_page(world, db, bot):
    """The plans steering SQLite's index choice (a user filter; time taken over a window of many
    records) give exactly the records and order the plain query gives."""
    rng = random.Random(3)
    users = [bot.owner.id, world.user(bot.org).id]
    rows = [
        {
            "org_id": bot.org.id,
            "agent_id": bot.agent.id,
            "user_id": rng.choice(users),
            "task_id": f"bulk-{n}",
            "start_time": at(1) + timedelta(minutes=7 * n),
            "end_time": at(1) + timedelta(minutes=7 * n),
            "time_taken_ms": rng.randint(1, 500),
            "is_developer": n % 50 == 0,
            "request_payload": {},
            "response_payload": {},
        }
        for n in range(service.SORT_IN_MEMORY + 100)
    ]
    db.execute(insert(LLMUsageRecord), rows)
    db.commit()
    in_window = [r for r in rows if not r["is_developer"] and r["start_time"] < at(31)]
    expected_plan = service.BY_TIME_TAKEN if db.get_bind().dialect.name == "sqlite" else None

    def page(body):  # type: ignore[no-untyped-def]
        query = service.parse_query(service.UsageLogsBody.model_validate(body), 500)
        plan = service.sqlite_plan(db, bot.org.id, bot.agent.id, query)
        r = usage_logs(world, bot.id, sign(db, bot.owner), body)
        assert r.status_code == 200, r.text
        return plan, [x["task Id"] for x in r.json()]

    def slowest(records, skip=0):  # type: ignore[no-untyped-def]
        ordered = sorted(records, key=lambda r: (r["time_taken_ms"], r["task_id"].split("-")[1].zfill(6)))
        return [r["task_id"] for r in reversed(ordered)][skip : skip + 50]

    body = {**MARCH, "limit": 50, "skip": 10, "sort": {"field": "Time Taken"}}
    assert page(body) == (expected_plan, slowest(in_window, skip=10))
    mine = [r for r in in_window if r["user_id"] == bot.owner.id]
    user_plan = service.BY_USER if expected_plan else None
    assert page({**body, "skip": 0, "userIds": [f"u-{bot.owner.id}"]}) == (user_plan, slowest(mine))
    # A narrow window is sorted in memory.
    narrow = {**body, "skip": 0, "dateFrom": "2024-03-02", "dateTo": "2024-03-02"}
    day = [r for r in in_window if at(2, 0) <= r["start_time"] < at(3, 0)]
    assert page(narrow) == (None, slowest(day))
