"""The dashboard's daily and monthly rollups and user chains: after varied writes (through the API,
the answer path and directly in the database) the tables hold exactly what the live responses
give, and every dashboard (whole months and days, time-of-day bounds, filters, scopes, limits)
equals a computation from the responses themselves, done here in Python."""

from __future__ import annotations

import math
import random
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from parley.accounts import service as accounts
from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.projects.models import Project
from parley.responses import dashboard
from parley.responses.models import (
    CHAIN_END,
    ROLLUP_MEASURES,
    AgentResponse,
    ResponseDailyAgentRollup,
    ResponseDailyOrgRollup,
    ResponseDailyRollup,
    ResponseDailyUserRollup,
    ResponseFeedback,
    ResponseMonthlyAgentRollup,
    ResponseMonthlyUserRollup,
    ResponseUserChainAgent,
    ResponseUserChainOrg,
    ResponseUserChainProject,
    ResponseUserChainSource,
)
from parley.usage.service import COST_STEP
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import fresh, make_agent, make_thread, succeeded

SOURCES = ["web", "slack-ejento", "teams-ejento"]  # distinct first letters: one order in any collation
FIRST_DAY = date(2025, 2, 24)
DAYS = 40  # to 4 April: March is a whole month, the first six days of it are the busiest


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    owner: Actor  # owns the agents
    users: list[Actor]  # alice, bob, carol
    projects: list[Project]
    agents: list[Agent]


def _moment(rng: random.Random) -> datetime:
    """A time in the days, midnights and the last microsecond of a day included."""
    offset = rng.randrange(DAYS) if rng.random() < 0.5 else 5 + rng.randrange(6)  # half in 1-6 March
    day = datetime.combine(FIRST_DAY + timedelta(days=offset), datetime.min.time(), UTC)
    edge = rng.random()
    if edge < 0.1:
        return day
    if edge < 0.2:
        return day + timedelta(days=1, microseconds=-1)
    return day + timedelta(seconds=rng.randrange(86_400), microseconds=rng.randrange(1_000_000))


def _arrange(world: World, db: Session, rng: random.Random) -> Tenant:
    org = world.org()
    admin, owner = world.user(org, admin=True), world.user(org)
    users = [world.user(org) for _ in range(3)]
    team = world.team(org, {owner: "Member", **{u: "Member" for u in users}})
    projects = [world.project(team), world.project(team)]
    agents = [make_agent(db, owner, projects[n % 2], access="Public") for n in range(3)]
    askers = [owner, *users]
    rows = []
    for _ in range(150):
        agent, user = rng.choice(agents), rng.choice(askers)
        prompt, completion = rng.randrange(0, 5000), rng.randrange(0, 900)
        rows.append(
            AgentResponse(
                org_id=org.id,
                agent_id=agent.id,
                project_id=None if rng.random() < 0.1 else agent.project_id,
                user_id=user.id,
                question="q",
                response={},
                prompt_tokens=prompt,
                completion_tokens=completion,
                total_tokens=prompt + completion,
                cost=Decimal(rng.randrange(0, 10**7)) / 10**8,
                latency_ms=0 if rng.random() < 0.2 else rng.randrange(1, 9000),
                cache_hit=rng.random() < 0.15,
                query_source=rng.choice(SOURCES),
                is_deleted=rng.random() < 0.1,
                created_by=user.email,
                created_on=_moment(rng),
            )
        )
    db.add_all(rows)
    db.commit()
    votes = []
    for row in rows:
        for voter in rng.sample(askers, rng.choice([0, 0, 1, 2, 3])):
            kind = rng.random()
            votes.append(
                ResponseFeedback(
                    agent_response_id=row.id,
                    user_id=voter.id,
                    is_upvote=kind < 0.6,
                    is_downvote=0.6 <= kind < 0.9,  # the rest: a withdrawn vote, neither
                    created_by=voter.email,
                )
            )
    db.add_all(votes)
    db.commit()
    return Tenant(org, admin, owner, users, projects, agents)


# -- what the responses give, computed here ---------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """A response as the dashboard counts it."""

    org_id: int
    agent_id: int
    project_id: int | None
    user_id: int
    query_source: str
    created_on: datetime
    cost_units: int
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    latency_ms: int
    cache_hit: bool
    upvotes: int
    downvotes: int


def _live_rows(db: Session) -> list[Row]:
    fresh(db)
    votes: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    for vote in db.scalars(select(ResponseFeedback)):
        votes[vote.agent_response_id][0] += vote.is_upvote
        votes[vote.agent_response_id][1] += vote.is_downvote
    return [
        Row(
            r.org_id,
            r.agent_id,
            r.project_id,
            r.user_id,
            r.query_source,
            r.created_on,
            int((r.cost * 10**8).to_integral_value()),
            r.total_tokens,
            r.prompt_tokens,
            r.completion_tokens,
            r.latency_ms,
            r.cache_hit,
            *votes[r.id],
        )
        for r in db.scalars(select(AgentResponse).where(AgentResponse.is_deleted.is_(False)))
    ]


def _cell(rows: Iterable[Row]) -> dict[str, int]:
    rows = list(rows)
    measured = [r.latency_ms for r in rows if r.latency_ms > 0]
    return {
        "responses": len(rows),
        "total_tokens": sum(r.total_tokens for r in rows),
        "prompt_tokens": sum(r.prompt_tokens for r in rows),
        "completion_tokens": sum(r.completion_tokens for r in rows),
        "cost_units": sum(r.cost_units for r in rows),
        "latency_sum": sum(measured),
        "latency_count": len(measured),
        "cache_hits": sum(r.cache_hit for r in rows),
        "upvotes": sum(r.upvotes for r in rows),
        "downvotes": sum(r.downvotes for r in rows),
    }


ROLLUPS = {
    ResponseDailyOrgRollup: (),
    ResponseDailyUserRollup: ("user_id",),
    ResponseDailyAgentRollup: ("agent_id", "project_id", "query_source"),
    ResponseDailyRollup: ("agent_id", "project_id", "query_source", "user_id"),
}


MONTHLY = {
    ResponseMonthlyUserRollup: ("user_id",),
    ResponseMonthlyAgentRollup: ("agent_id", "project_id", "query_source"),
}
CHAINS = {
    ResponseUserChainOrg: (),
    ResponseUserChainAgent: ("agent_id",),
    ResponseUserChainProject: ("project_id",),
    ResponseUserChainSource: ("query_source",),
}


def _values(r: Row, dims: tuple[str, ...]) -> tuple:
    values = {**asdict(r), "project_id": r.project_id or 0}
    return tuple(values[d] for d in dims)


def assert_rollups_hold_the_live_responses(db: Session) -> None:
    rows = _live_rows(db)
    for model, dims in {**ROLLUPS, **MONTHLY}.items():
        monthly = model in MONTHLY

        def key(r: Row, dims: tuple[str, ...] = dims, monthly: bool = monthly) -> tuple:
            day = r.created_on.date()
            return (r.org_id, day.replace(day=1) if monthly else day, *_values(r, dims))

        cells: dict[tuple, list[Row]] = defaultdict(list)
        for r in rows:
            cells[key(r)].append(r)
        expected = {k: _cell(group) for k, group in cells.items()}
        stored = {
            (cell.org_id, cell.month if monthly else cell.day, *(getattr(cell, d) for d in dims)): {
                m: getattr(cell, m) for m in ROLLUP_MEASURES
            }
            for cell in db.scalars(select(model))
        }
        assert stored == expected, model.__tablename__
    # Each chain: a row per (organisation, value, user) pair and day, pointing to the pair's next day.
    for model, dims in CHAINS.items():
        days: dict[tuple, dict[date, int]] = defaultdict(lambda: defaultdict(int))
        for r in rows:
            days[(r.org_id, *_values(r, dims), r.user_id)][r.created_on.date()] += 1
        expected_chain = {
            (*pair, day): (counts[day], following)
            for pair, counts in days.items()
            for day, following in zip(sorted(counts), [*sorted(counts)[1:], CHAIN_END], strict=True)
        }
        stored_chain = {
            (cell.org_id, *(getattr(cell, d) for d in dims), cell.user_id, cell.day): (
                cell.responses,
                cell.next_day,
            )
            for cell in db.scalars(select(model))
        }
        assert stored_chain == expected_chain, model.__tablename__


def _metrics(rows: list[Row], with_p95: bool) -> dict[str, Any]:
    cell = _cell(rows)
    measured = sorted(r.latency_ms for r in rows if r.latency_ms > 0)
    p95 = None
    if with_p95 and measured:  # percentile_cont: linear between the two nearest ranks
        rank = 0.95 * (len(measured) - 1)
        low, high = measured[math.floor(rank)], measured[math.ceil(rank)]
        p95 = round(low + (rank - math.floor(rank)) * (high - low), 1)
    return {
        "responses": cell["responses"],
        "users": len({r.user_id for r in rows}),
        "total_tokens": cell["total_tokens"],
        "prompt_tokens": cell["prompt_tokens"],
        "completion_tokens": cell["completion_tokens"],
        "cost": (Decimal(cell["cost_units"]) / 10**8).quantize(COST_STEP),
        "avg_latency_ms": round(cell["latency_sum"] / cell["latency_count"], 1) if measured else None,
        "p95_latency_ms": p95,
        "cache_hits": cell["cache_hits"],
        "upvotes": cell["upvotes"],
        "downvotes": cell["downvotes"],
    }


_KEYS: dict[str, Callable[[Row], Any]] = {
    "day": lambda r: r.created_on.date(),
    "agent": lambda r: r.agent_id,
    "project": lambda r: r.project_id,
    "user": lambda r: r.user_id,
    "query_source": lambda r: r.query_source,
}


def expected_dashboard(
    rows: list[Row], counted: Callable[[Row], bool], filters: dashboard.DashboardFilters, postgres: bool
) -> dict[str, Any]:
    assert filters.start is not None and filters.end is not None
    start, end = filters.start, filters.end
    chosen = [
        r
        for r in rows
        if counted(r)
        and start <= r.created_on < end
        and (not filters.agent_ids or r.agent_id in filters.agent_ids)
        and (not filters.project_ids or r.project_id in filters.project_ids)
        and (not filters.user_ids or r.user_id in filters.user_ids)
        and (not filters.query_sources or r.query_source in filters.query_sources)
    ]
    found: dict[str, Any] = {"totals": _metrics(chosen, postgres)}
    for kind in filters.groupings:
        groups: dict[Any, list[Row]] = defaultdict(list)
        for r in chosen:
            groups[_KEYS[kind](r)].append(r)
        if kind == "day":
            days = [start.date() + timedelta(days=n) for n in range((end - start).days + 2)]
            last = (end - timedelta(microseconds=1)).date()
            found[kind] = [(d.isoformat(), _metrics(groups[d], postgres)) for d in days if d <= last]
        else:
            busiest = sorted(groups, key=lambda k: (-len(groups[k]), k is None, k or 0))[: filters.limit]
            found[kind] = [(k, _metrics(groups[k], False)) for k in busiest]
    return found


def _shown(result: dashboard.Dashboard) -> dict[str, Any]:
    found: dict[str, Any] = {"totals": asdict(result.totals)}
    for kind, groups in result.groups.items():
        found[kind] = [(g.key, asdict(g.metrics)) for g in groups]
    return found


def assert_same(found: dict[str, Any], expected: dict[str, Any]) -> None:
    """Equal, the 95th percentile within its rounding (PostgreSQL's float arithmetic and Python's
    may part in the last bit before rounding to one decimal)."""

    def split(metrics: dict[str, Any]) -> tuple[dict[str, Any], float | None]:
        rest = dict(metrics)
        return rest, rest.pop("p95_latency_ms")

    def flat(data: dict[str, Any]) -> list[tuple[str, Any, dict[str, Any], float | None]]:
        items = [("totals", None, *split(data["totals"]))]
        for kind, groups in data.items():
            if kind != "totals":
                items += [(kind, key, *split(metrics)) for key, metrics in groups]
        return items

    got, want = flat(found), flat(expected)
    assert [item[:3] for item in got] == [item[:3] for item in want]
    for (_, _, _, p95), (_, _, _, wanted) in zip(got, want, strict=True):
        assert (p95 is None) == (wanted is None) and (p95 is None or abs(p95 - wanted) <= 0.051)


# -- the cases ------------------------------------------------------------------------------------


def _at(day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(2025, 3, day, hour, minute, tzinfo=UTC)


RANGES = [
    (_at(1), _at(7)),  # whole days only
    (_at(1, 6, 30), _at(5, 18)),  # partial first and last days around whole ones
    (_at(2, 10), _at(2, 15)),  # within one day
    (_at(2, 20), _at(3, 4)),  # across one midnight, no whole day
    (_at(3), _at(4, 12)),  # whole first day, partial last one
    (datetime(2025, 2, 25, 6, 30, tzinfo=UTC), datetime(2025, 4, 3, 18, tzinfo=UTC)),  # March whole
    (datetime(2025, 2, 24, tzinfo=UTC), datetime(2025, 4, 5, tzinfo=UTC)),  # every response
]


def assert_dashboards_match(db: Session, t: Tenant, backend: str, ranges=RANGES) -> None:  # type: ignore[no-untyped-def]
    rows = _live_rows(db)
    postgres = backend == "postgres"
    alice, bob, _ = t.users
    helpdesk = t.agents[0]
    admin = accounts.load_principal(db, t.admin.user)
    org_cases = [
        dashboard.DashboardFilters(),
        dashboard.DashboardFilters(agent_ids=[helpdesk.id]),
        dashboard.DashboardFilters(project_ids=[t.projects[1].id], query_sources=["web", "teams-ejento"]),
        dashboard.DashboardFilters(user_ids=[alice.id, bob.id], limit=2),
        dashboard.DashboardFilters(
            user_ids=[bob.id], query_sources=["slack-ejento"], agent_ids=[helpdesk.id]
        ),
    ]
    for start, end in ranges:
        for case in org_cases:
            filters = dashboard.DashboardFilters(**{**asdict(case), "start": start, "end": end})
            found = _shown(dashboard.organization_dashboard(db, admin, filters))
            assert_same(found, expected_dashboard(rows, lambda r: r.org_id == t.org.id, filters, postgres))
        # An agent's editor counts everyone's responses, another user of it only their own.
        for actor, counted in (
            (t.owner, lambda r: r.agent_id == helpdesk.id),
            (alice, lambda r: r.agent_id == helpdesk.id and r.user_id == alice.id),
        ):
            filters = dashboard.DashboardFilters(start=start, end=end)
            principal = accounts.load_principal(db, actor.user)
            found = _shown(dashboard.agent_dashboard(db, principal, helpdesk.id, filters))
            assert_same(found, expected_dashboard(rows, counted, filters, postgres))


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    tenant = _arrange(world, db, random.Random(11))
    _arrange(world, db, random.Random(12))  # another organisation's responses, never counted
    return tenant


def test_rollups_and_dashboards_follow_every_kind_of_write(
    t: Tenant, world: World, db: Session, backend: str
):
    assert_rollups_hold_the_live_responses(db)
    assert_dashboards_match(db, t, backend)

    alice, bob, carol = t.users
    ids = {
        who: list(
            db.scalars(
                select(AgentResponse.id)
                .where(AgentResponse.user_id == who.id, AgentResponse.is_deleted.is_(False))
                .order_by(AgentResponse.id)
            )
        )
        for who in (alice, bob, carol)
    }
    # Votes through the API: a new one, a changed one, a withdrawn one; a response deleted.
    for voter, response_id, body in (
        (t.owner, ids[alice][0], {"vote_type": "up"}),  # the agents' owner sees every response
        (t.owner, ids[alice][0], {"vote_type": "down"}),
        (carol, ids[carol][1], {"is_upvote": False, "is_downvote": False}),
        (t.admin, ids[bob][2], {"is_upvote": True}),
    ):
        path = f"/v2/api/agent-response/{response_id}/feedback"
        succeeded(voter.post(path, json=body), 201, "Agent Response Feedback Created Successfully.")
    succeeded(
        alice.delete(f"/v2/api/agent-response/{ids[alice][1]}"), 200, "Agent Response Deleted Successfully."
    )
    # Directly in the database: a hard delete (its votes cascade), edits of counted columns, a
    # deleted response restored, a vote moved to another response.
    db.execute(delete(AgentResponse).where(AgentResponse.id == ids[bob][0]))
    db.execute(
        update(AgentResponse)
        .where(AgentResponse.id == ids[carol][0])
        .values(created_on=_at(4, 23, 59), cost=Decimal("0.12345678"), latency_ms=777, query_source="web")
    )
    db.execute(update(AgentResponse).where(AgentResponse.is_deleted.is_(True)).values(is_deleted=False))
    vote = db.scalars(select(ResponseFeedback).where(ResponseFeedback.is_upvote.is_(True))).first()
    assert vote is not None
    db.execute(
        update(ResponseFeedback).where(ResponseFeedback.id == vote.id).values(agent_response_id=ids[carol][2])
    )
    db.commit()
    assert_rollups_hold_the_live_responses(db)
    assert_dashboards_match(db, t, backend)

    # Today's writes: Create Agent Response Log and an answer of the answer path.
    thread = make_thread(db, alice, t.agents[1])
    log = {
        "chat_thread_id": thread.id,
        "user_id": alice.id,
        "question": "Logged?",
        "response": {"answer": "Yes."},
        "total_tokens": 30,
        "prompt_tokens": 20,
        "completion_tokens": 10,
        "query_source": "teams-ejento",
    }
    succeeded(
        alice.post(f"/v2/api/agent/{t.agents[1].id}/response/log", json=log),
        201,
        "Response Log Created Successfully.",
    )
    answered = alice.post(
        f"/response-service/api/v2/agents/{t.agents[0].id}/responses", json={"user_query": "Anyone there?"}
    )
    assert answered.status_code == 200, answered.text
    assert_rollups_hold_the_live_responses(db)
    now = datetime.now(UTC)
    assert_dashboards_match(db, t, backend, [(now - timedelta(days=1, hours=3), now + timedelta(hours=1))])
    totals = dashboard.organization_dashboard(
        db,
        accounts.load_principal(db, t.admin.user),
        dashboard.DashboardFilters(
            start=now - timedelta(hours=1), end=now + timedelta(hours=1), groupings=()
        ),
    ).totals
    assert (totals.responses, totals.users, totals.total_tokens >= 30) == (2, 1, True)
