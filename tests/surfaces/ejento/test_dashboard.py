"""Ejento V2 Get Agent Response Dashboard: the per-agent and organisation forms, checked against
the rows each test arranges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, UserPermission
from parley.agents.models import Agent
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseFeedback
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import assert_error, make_agent, make_feedback, succeeded

FOUND = "Agent Response Dashboard Found Successfully."
ORG_PATH = "/v2/api/agent-response/dashboard"
METRIC_KEYS = [
    "responses",
    "users",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "avg_latency_ms",
    "p95_latency_ms",
    "cache_hits",
    "upvotes",
    "downvotes",
]
ZERO = {k: 0 for k in METRIC_KEYS} | {"cost": "0", "avg_latency_ms": None, "p95_latency_ms": None}


def day(d: int, hour: int = 12, minute: int = 0) -> datetime:
    return datetime(2025, 3, d, hour, minute, tzinfo=UTC)


def add(
    db: Session,
    user: Actor,
    agent: Agent,
    when: datetime,
    *,
    tokens: tuple[int, int] = (0, 0),
    cost: str = "0",
    latency_ms: int = 0,
    cache_hit: bool = False,
    query_source: str = "web",
    is_deleted: bool = False,
) -> AgentResponse:
    row = AgentResponse(
        org_id=user.org_id,
        agent_id=agent.id,
        project_id=agent.project_id,
        user_id=user.id,
        question="q",
        response={},
        prompt_tokens=tokens[0],
        completion_tokens=tokens[1],
        total_tokens=sum(tokens),
        cost=Decimal(cost),
        latency_ms=latency_ms,
        cache_hit=cache_hit,
        query_source=query_source,
        is_deleted=is_deleted,
        created_by=user.email,
        created_on=when,
    )
    db.add(row)
    db.commit()
    return row


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    owner: Actor  # owns both agents
    alice: Actor
    bob: Actor
    project: Project
    support: Project
    helpdesk: Agent  # in ``project``
    billing: Agent  # in ``support``
    rows: dict[str, AgentResponse]


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    """Seven live responses over 1–4 March 2025 (one deleted beside them), with votes:

    ====  =======  ========  =====  ==========  =======  =======  =====  =============
    name  user     agent     day    tokens      cost     latency  cache  query source
    ====  =======  ========  =====  ==========  =======  =======  =====  =============
    a1    alice    helpdesk  1 Mar  (100, 20)   0.1      100      no     web
    a2    alice    helpdesk  1 Mar  (200, 40)   0.2      300      yes    web
    a3    alice    billing   3 Mar  (10, 5)     0.00001  0        no     slack-ejento
    b1    bob      helpdesk  1 Mar  (50, 10)    0.3      200      no     web
    b2    bob      billing   4 Mar  (1, 1)      0        500      no     teams-ejento
    o1    owner    helpdesk  3 Mar  (0, 0)      0.04     400      yes    web
    edge  alice    helpdesk  4 Mar 23:59:59.999999 (2, 2) 0.005 0 no   web
    ====  =======  ========  =====  ==========  =======  =======  =====  =============
    """
    org = world.org()
    admin = world.user(org, admin=True)
    owner, alice, bob = world.user(org), world.user(org), world.user(org)
    team = world.team(org, {owner: "Member", alice: "Member", bob: "Member"})
    project, support = world.project(team, "Main"), world.project(team, "Support")
    helpdesk = make_agent(db, owner, project, access="Public", name="Helpdesk")
    billing = make_agent(db, owner, support, access="Public", name="Billing")
    rows = {
        "a1": add(db, alice, helpdesk, day(1, 8), tokens=(100, 20), cost="0.1", latency_ms=100),
        "a2": add(
            db, alice, helpdesk, day(1, 9), tokens=(200, 40), cost="0.2", latency_ms=300, cache_hit=True
        ),
        "a3": add(db, alice, billing, day(3), tokens=(10, 5), cost="0.00001", query_source="slack-ejento"),
        "b1": add(db, bob, helpdesk, day(1, 0, 0), tokens=(50, 10), cost="0.3", latency_ms=200),
        "b2": add(db, bob, billing, day(4), tokens=(1, 1), latency_ms=500, query_source="teams-ejento"),
        "o1": add(db, owner, helpdesk, day(3), cost="0.04", latency_ms=400, cache_hit=True),
        "edge": add(
            db,
            alice,
            helpdesk,
            datetime(2025, 3, 4, 23, 59, 59, 999999, tzinfo=UTC),
            tokens=(2, 2),
            cost="0.005",
        ),
    }
    add(db, alice, helpdesk, day(2), tokens=(9999, 0), cost="9", latency_ms=9999, is_deleted=True)
    add(db, alice, helpdesk, datetime(2025, 3, 5, tzinfo=UTC), tokens=(7777, 0))  # just after the range
    add(db, alice, helpdesk, datetime(2025, 2, 28, 23, 59, 59, tzinfo=UTC), tokens=(5555, 0))  # just before
    make_feedback(db, alice, rows["a1"], up=True)
    make_feedback(db, owner, rows["a1"], up=True)
    make_feedback(db, bob, rows["a2"], up=False)
    make_feedback(db, alice, rows["b2"], up=False)
    db.add(ResponseFeedback(agent_response_id=rows["o1"].id, user_id=alice.id, created_by=alice.email))
    db.commit()
    return Tenant(org, admin, owner, alice, bob, project, support, helpdesk, billing, rows)


MARCH = {"start_date": "2025-03-01", "end_date": "2025-03-04"}


def agent_path(agent: Agent) -> str:
    return f"/v2/api/agent/{agent.id}/response/dashboard"


def dashboard(actor: Actor, path: str, body: dict) -> dict:
    return succeeded(actor.post(path, json=body), 200, FOUND)


def p95(backend: str, value: float) -> float | None:
    """PostgreSQL computes the 95th percentile; SQLite has no percentile aggregate."""
    return value if backend == "postgres" else None


def test_organization_dashboard_totals_days_and_every_breakdown(t: Tenant, backend: str):
    data = dashboard(t.admin, ORG_PATH, MARCH)
    assert list(data) == [
        "start",
        "end",
        "totals",
        "by_day",
        "by_agent",
        "by_project",
        "by_user",
        "by_query_source",
    ]
    assert (data["start"], data["end"]) == ("2025-03-01T00:00:00.000000Z", "2025-03-05T00:00:00.000000Z")
    assert list(data["totals"]) == METRIC_KEYS
    # Latency averages the responses that measured one: 100, 300, 200, 500, 400.
    assert data["totals"] == {
        "responses": 7,
        "users": 3,
        "total_tokens": 120 + 240 + 15 + 60 + 2 + 0 + 4,
        "prompt_tokens": 100 + 200 + 10 + 50 + 1 + 0 + 2,
        "completion_tokens": 20 + 40 + 5 + 10 + 1 + 0 + 2,
        "cost": "0.64501",
        "avg_latency_ms": 300.0,
        "p95_latency_ms": p95(backend, 480.0),
        "cache_hits": 2,
        "upvotes": 2,
        "downvotes": 2,
    }
    days = {d["date"]: d for d in data["by_day"]}
    assert list(days) == ["2025-03-01", "2025-03-02", "2025-03-03", "2025-03-04"]  # empty days as zeros
    assert days["2025-03-02"] == {"date": "2025-03-02", **ZERO}
    assert days["2025-03-01"] == {
        "date": "2025-03-01",
        "responses": 3,
        "users": 2,
        "total_tokens": 420,
        "prompt_tokens": 350,
        "completion_tokens": 70,
        "cost": "0.6",
        "avg_latency_ms": 200.0,
        "p95_latency_ms": p95(backend, 290.0),
        "cache_hits": 1,
        "upvotes": 2,
        "downvotes": 1,
    }
    assert (days["2025-03-03"]["responses"], days["2025-03-03"]["cost"]) == (2, "0.04001")
    assert (days["2025-03-04"]["responses"], days["2025-03-04"]["downvotes"]) == (2, 1)

    agents = data["by_agent"]
    assert [(a["agent_id"], a["agent_name"], a["responses"]) for a in agents] == [
        (t.helpdesk.id, "Helpdesk", 5),
        (t.billing.id, "Billing", 2),
    ]
    assert list(agents[0]) == ["agent_id", "agent_name", *METRIC_KEYS]
    assert (agents[0]["users"], agents[0]["cost"], agents[0]["upvotes"], agents[0]["downvotes"]) == (
        3,
        "0.645",
        2,
        1,
    )
    assert (agents[1]["total_tokens"], agents[1]["avg_latency_ms"], agents[1]["cache_hits"]) == (17, 500.0, 0)
    # The 95th percentile is for the totals and the daily series only.
    assert all(
        g["p95_latency_ms"] is None
        for kind in ("agent", "project", "user", "query_source")
        for g in data[f"by_{kind}"]
    )
    assert [(p["project_id"], p["project_name"], p["responses"]) for p in data["by_project"]] == [
        (t.project.id, "Main", 5),
        (t.support.id, "Support", 2),
    ]
    users = {u["user_id"]: u for u in data["by_user"]}
    assert [u["user_id"] for u in data["by_user"]] == [t.alice.id, t.bob.id, t.owner.id]  # busiest first
    assert (users[t.alice.id]["email"], users[t.alice.id]["responses"], users[t.alice.id]["users"]) == (
        t.alice.email,
        4,
        1,
    )
    assert (users[t.alice.id]["cost"], users[t.alice.id]["cache_hits"]) == ("0.30501", 1)
    assert (users[t.bob.id]["total_tokens"], users[t.bob.id]["downvotes"]) == (62, 1)
    assert users[t.owner.id]["avg_latency_ms"] == 400.0
    assert [(s["query_source"], s["responses"]) for s in data["by_query_source"]] == [
        ("web", 5),
        ("slack-ejento", 1),
        ("teams-ejento", 1),
    ]
    assert list(data["by_query_source"][0]) == ["query_source", *METRIC_KEYS]


def test_date_range_edges(t: Tenant):
    def total(body: dict) -> int:
        return dashboard(t.admin, ORG_PATH, {"group_by": [], **body})["totals"]["responses"]

    # A bare end date covers its whole day (the 23:59:59.999999 response); the next midnight is out.
    assert total(MARCH) == 7
    assert total({"start_date": "2025-03-04", "end_date": "2025-03-04"}) == 2
    assert total({"start_date": "2025-03-05", "end_date": "2025-03-05"}) == 1
    # A date-time end includes itself; a date-time start too.
    assert total({"start_date": "2025-03-01T08:00:00", "end_date": "2025-03-01T09:00:00"}) == 2
    assert total({"start_date": "2025-03-01T08:00:00.000001", "end_date": "2025-03-01T09:00:00"}) == 1
    assert total({"start_date": "2025-03-04T23:59:59.999999Z", "end_date": "2025-03-05"}) == 2
    assert total({"start_date": "2025-02-28", "end_date": "2025-02-28"}) == 1
    # Offsets are converted to UTC: 1 March 01:00+02:00 is 28 February 23:00 UTC.
    assert total({"start_date": "2025-03-01T01:00:00+02:00", "end_date": "2025-03-01T00:00:00"}) == 2
    data = dashboard(
        t.admin, ORG_PATH, {"start_date": "2025-03-01T12:00:00", "end_date": "2025-03-02", "group_by": "day"}
    )
    assert [d["date"] for d in data["by_day"]] == ["2025-03-01", "2025-03-02"]
    assert data["totals"]["responses"] == 0


def test_filters_group_by_and_limit(t: Tenant):
    data = dashboard(t.admin, ORG_PATH, {**MARCH, "agent_ids": [t.billing.id], "group_by": "user"})
    assert list(data) == ["start", "end", "totals", "by_user"]
    assert data["totals"]["responses"] == 2
    assert {u["user_id"]: u["responses"] for u in data["by_user"]} == {t.alice.id: 1, t.bob.id: 1}
    data = dashboard(t.admin, ORG_PATH, {**MARCH, "project_ids": [t.project.id], "user_ids": [t.alice.id]})
    assert (data["totals"]["responses"], data["totals"]["total_tokens"], data["totals"]["upvotes"]) == (
        3,
        364,
        2,
    )
    assert dashboard(t.admin, ORG_PATH, {**MARCH, "query_source": "web"})["totals"]["responses"] == 5
    both = dashboard(
        t.admin,
        ORG_PATH,
        {**MARCH, "query_source": ["slack-ejento", "teams-ejento"], "group_by": ["query_source", "day"]},
    )
    assert [s["query_source"] for s in both["by_query_source"]] == ["slack-ejento", "teams-ejento"]
    assert [d["responses"] for d in both["by_day"]] == [0, 0, 1, 1]
    limited = dashboard(t.admin, ORG_PATH, {**MARCH, "group_by": ["user", "user"], "limit": 1})
    assert [u["user_id"] for u in limited["by_user"]] == [t.alice.id] and limited["totals"]["responses"] == 7
    assert list(dashboard(t.admin, ORG_PATH, {**MARCH, "group_by": []})) == ["start", "end", "totals"]
    # Blank dates do not bound; by default the dashboard covers the 30 days up to today (UTC).
    default = dashboard(t.admin, ORG_PATH, {"start_date": "", "group_by": ["day"]})
    today = datetime.now(UTC).date()
    assert len(default["by_day"]) == 30 and default["by_day"][-1]["date"] == today.isoformat()
    assert default["by_day"][0]["date"] == (today - timedelta(days=29)).isoformat()
    assert default["totals"]["responses"] == 0


def test_agent_dashboard_follows_who_sees_which_responses(t: Tenant, world: World, db: Session):
    # The agent's owner (and org admins) count every user's responses.
    for caller in (t.owner, t.admin):
        data = dashboard(caller, agent_path(t.helpdesk), MARCH)
        assert (data["totals"]["responses"], data["totals"]["users"], data["totals"]["cost"]) == (
            5,
            3,
            "0.645",
        )
        assert [a["agent_id"] for a in data["by_agent"]] == [t.helpdesk.id]
    # Its other users count only their own.
    mine = dashboard(t.alice, agent_path(t.helpdesk), MARCH)
    assert (mine["totals"]["responses"], mine["totals"]["users"], mine["totals"]["upvotes"]) == (3, 1, 2)
    assert [u["user_id"] for u in mine["by_user"]] == [t.alice.id]
    assert (
        dashboard(t.bob, agent_path(t.helpdesk), {**MARCH, "user_ids": [t.alice.id]})["totals"]["responses"]
        == 0
    )
    filtered = dashboard(
        t.owner, agent_path(t.helpdesk), {**MARCH, "user_ids": [t.bob.id], "group_by": "day"}
    )
    assert [d["responses"] for d in filtered["by_day"]] == [1, 0, 0, 0]
    # The view_dashboard capability can be withheld; the org form is for admins only.
    db.add(UserPermission(org_id=t.org.id, user_id=t.alice.id, permission="view_dashboard", is_allowed=False))
    db.commit()
    assert_error(t.alice.post(agent_path(t.helpdesk), json=MARCH), 403)
    for member in (t.owner, t.bob):
        assert_error(member.post(ORG_PATH, json=MARCH), 403)
    private = make_agent(db, t.owner, t.project, access="Only me")
    assert_error(t.bob.post(agent_path(private), json=MARCH), 404, "Agent not found.")
    assert dashboard(t.owner, agent_path(private), MARCH)["totals"]["responses"] == 0


def test_bad_input_is_400_and_unknown_ids_404(t: Tenant):
    for body in (
        {"start_date": "2025-03-05", "end_date": "2025-03-01"},
        {"start_date": "2023-01-01", "end_date": "2025-03-01"},  # more than 731 days
        {"start_date": "yesterday"},
        {"end_date": "2025-02-30"},
        {"group_by": ["week"]},
        {"group_by": "agent,user"},
        {"limit": 0},
        {"limit": 1001},
        {"agent_ids": ["x"]},
        {"agent_ids": [0]},
        {"query_source": ""},
        {"query_source": 5},
        {"filters": {"agent_ids": [1]}},
        {"query_source": ["web"] * 51},
        {"group_by": ["day"] * 11},
        {"agent_ids": list(range(1, 502))},
        {"start_date": "2025-03-01\x00"},
    ):
        assert_error(t.admin.post(ORG_PATH, json=body), 400)
    assert_error(t.admin.post(ORG_PATH, content=b"{", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.owner.post(agent_path(t.helpdesk), json={"agent_ids": [t.helpdesk.id]}), 400)
    assert_error(t.owner.post("/v2/api/agent/abc/response/dashboard", json={}), 400)
    # No body at all is the default dashboard.
    assert t.owner.post(agent_path(t.helpdesk)).json()["data"]["totals"]["responses"] == 0
    assert_error(t.owner.post("/v2/api/agent/987654/response/dashboard", json={}), 404, "Agent not found.")
    assert_error(t.admin.post(ORG_PATH, json={"agent_ids": [t.helpdesk.id, 987654]}), 404, "Agent not found.")
    assert_error(t.admin.post(ORG_PATH, json={"project_ids": [987654]}), 404, "Project not found.")
    assert_error(t.owner.post(agent_path(t.helpdesk), json={"user_ids": [987654]}), 404, "User not found.")


def test_other_organisation_and_key_scopes(t: Tenant, world: World, db: Session):
    other = world.org()
    mallory = world.user(other, admin=True)
    own = make_agent(db, mallory, world.project(world.team(other)), access="Public")
    add(db, mallory, own, day(2), tokens=(1, 1))
    assert_error(mallory.post(agent_path(t.helpdesk), json=MARCH), 404, "Agent not found.")
    for field, value in (
        ("agent_ids", t.helpdesk.id),
        ("project_ids", t.project.id),
        ("user_ids", t.alice.id),
    ):
        assert_error(mallory.post(ORG_PATH, json={**MARCH, field: [value]}), 404)
    # Their organisation's dashboard counts only their own rows.
    data = dashboard(mallory, ORG_PATH, MARCH)
    assert data["totals"]["responses"] == 1 and [a["agent_id"] for a in data["by_agent"]] == [own.id]

    # A POST, so (as Ejento's key scopes go by method) it needs a key that may write the category.
    read_only = world.key_for(t.admin, "read_only")
    can_read = world.key_for(t.admin, "restricted", {"agent_responses": "read"})
    other_category = world.key_for(t.admin, "restricted", {"agents": "write"})
    can_write = world.key_for(t.admin, "restricted", {"agent_responses": "write"})
    for key in (read_only, can_read, other_category):
        assert_error(key.post(ORG_PATH, json=MARCH), 403)
        assert_error(key.post(agent_path(t.helpdesk), json=MARCH), 403)
    assert dashboard(can_write, ORG_PATH, MARCH)["totals"]["responses"] == 7
    assert dashboard(can_write, agent_path(t.helpdesk), MARCH)["totals"]["responses"] == 5
