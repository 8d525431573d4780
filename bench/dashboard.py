"""Agent response dashboard over a million responses.

    python bench/dashboard.py [--responses 1000000] [--repeat 3] [--database-url URL] [--explain]
                              [--data-dir DIR]

Builds a fresh database (SQLite in a temporary folder unless ``--database-url`` names an empty
PostgreSQL database) with one organisation of 1,000 users, 20 projects and 100 agents, then
inserts ``--responses`` agent responses in bulk, in time order over the last 365 days (latency
200–5,000 ms, 10% logged without one; 10% cache hits; four query sources), and a vote on 5% of
them; the database's triggers keep the daily rollups (migration 0005), the monthly rollups and
the user chains (0006) in step as they go in, so the build time includes maintaining them. Users
and agents are drawn uniformly, which makes almost every (day, agent, query source, user) cell
distinct: the worst case for the rollups and chains that count distinct users. It then times
``parley.responses.dashboard`` as the endpoints call it, as an organisation admin, and prints the
rollups' and chains' row counts and the best and median of
``--repeat`` runs per case, with the best CPU time of this process (on SQLite the whole work, so
a figure a loaded machine does not inflate much). ``--explain`` prints each SQL statement of one
organisation dashboard with the backend's query plan (on SQLite the time shown is only until the
first row). ``--data-dir`` keeps the SQLite database in DIR and reuses it when it already holds
responses (the build takes minutes at 1M); migrations still run, so a reused database gets new
ones (their backfill time is then in "built in").
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

USERS, PROJECTS, AGENTS = 1_000, 20, 100
SOURCES = ["web"] * 14 + ["slack-ejento"] * 3 + ["teams-ejento"] * 2 + ["app-ejento"]
BATCH = 20_000


def build(sessions, responses: int) -> tuple[int, list[int], list[int]]:  # type: ignore[no-untyped-def]
    """The organisation, its people and agents, and the responses; returns the admin's id, the
    user ids and the agent ids."""
    from sqlalchemy import func, insert, select

    from parley.accounts import service as accounts
    from parley.accounts.models import Team, User
    from parley.agents.models import Agent, AgentType
    from parley.db.engine import session_scope
    from parley.projects.models import Project
    from parley.responses.models import AgentResponse, ResponseFeedback

    rng = random.Random(7)
    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Bench")
        admin = accounts.create_user(
            session, org_id=org.id, email="admin@bench.example.com", password=None, is_superuser=True
        )
        session.execute(
            insert(User),
            [
                {"org_id": org.id, "email": f"user{n}@bench.example.com", "first_name": "", "last_name": ""}
                for n in range(USERS - 1)
            ],
        )
        user_ids = [
            admin.id,
            *session.scalars(select(User.id).where(User.org_id == org.id, User.id != admin.id)),
        ]
        team = Team(org_id=org.id, team_name="Bench")
        session.add(team)
        session.flush()
        projects = [
            Project(org_id=org.id, team_id=team.id, project_name=f"Project {n}") for n in range(PROJECTS)
        ]
        session.add_all(projects)
        session.flush()
        type_id = session.scalar(select(AgentType.id).where(AgentType.name == "QnA"))
        agents = [
            Agent(
                org_id=org.id,
                project_id=projects[n % PROJECTS].id,
                user_id=admin.id,
                agent_type_id=type_id,
                agent_name=f"Agent {n}",
                access="Public",
            )
            for n in range(AGENTS)
        ]
        session.add_all(agents)
        session.flush()
        org_id, admin_id = org.id, admin.id
        agent_projects = [(a.id, a.project_id) for a in agents]

    now = datetime.now(UTC)
    first = now - timedelta(days=365)
    offsets = sorted(rng.random() * 365 * 86_400 for _ in range(responses))
    for start in range(0, responses, BATCH):
        rows = []
        for offset in offsets[start : start + BATCH]:
            agent_id, project_id = rng.choice(agent_projects)
            prompt, completion = rng.randint(200, 6000), rng.randint(20, 800)
            rows.append(
                {
                    "org_id": org_id,
                    "agent_id": agent_id,
                    "project_id": project_id,
                    "user_id": rng.choice(user_ids),
                    "question": "How does RAG work?",
                    "response": {"answer": "It retrieves, then generates."},
                    "run_id": "",
                    "total_tokens": prompt + completion,
                    "prompt_tokens": prompt,
                    "completion_tokens": completion,
                    "cache_hit": rng.random() < 0.1,
                    "query_source": rng.choice(SOURCES),
                    "cost": Decimal(prompt * 25 + completion * 100) / 10_000_000,
                    "latency_ms": rng.randint(200, 5000) if rng.random() < 0.9 else 0,
                    "pinned": False,
                    "created_by": "bench",
                    "created_on": first + timedelta(seconds=offset),
                    "is_deleted": False,
                }
            )
        with session_scope(sessions) as session:
            session.execute(insert(AgentResponse), rows)
    with session_scope(sessions) as session:
        low, high = session.execute(select(func.min(AgentResponse.id), func.max(AgentResponse.id))).one()
        voted = rng.sample(range(low, high + 1), responses // 20)
        for start in range(0, len(voted), BATCH):
            up = [rng.random() < 0.7 for _ in voted[start : start + BATCH]]
            session.execute(
                insert(ResponseFeedback),
                [
                    {
                        "agent_response_id": response_id,
                        "user_id": rng.choice(user_ids),
                        "is_upvote": is_up,
                        "is_downvote": not is_up,
                        "comment": "",
                        "created_by": "bench",
                    }
                    for response_id, is_up in zip(voted[start : start + BATCH], up, strict=True)
                ],
            )
    return admin_id, user_ids, [agent_id for agent_id, _ in agent_projects]


def existing(sessions) -> tuple[int, list[int], list[int]]:  # type: ignore[no-untyped-def]
    """The admin's, users' and agents' ids of a database ``build`` made before."""
    from sqlalchemy import select

    from parley.accounts.models import User
    from parley.agents.models import Agent

    with sessions() as session:
        admin_id = session.scalar(select(User.id).where(User.email == "admin@bench.example.com"))
        org_id = session.scalar(select(User.org_id).where(User.id == admin_id))
        others = select(User.id).where(User.org_id == org_id, User.id != admin_id)
        user_ids = [admin_id, *session.scalars(others)]
        agent_ids = list(session.scalars(select(Agent.id).where(Agent.org_id == org_id).order_by(Agent.id)))
    return admin_id, user_ids, agent_ids


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--responses", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default SQLite")
    parser.add_argument("--explain", action="store_true", help="time and explain each statement once")
    parser.add_argument("--data-dir", type=Path, default=None, help="keep, and reuse, the database")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from sqlalchemy import event, func, select

    from parley.accounts import service as accounts
    from parley.accounts.models import User
    from parley.app import prepare_database
    from parley.db.engine import create_db_engine, create_session_factory
    from parley.responses import dashboard
    from parley.responses.models import (
        AgentResponse,
        ResponseDailyAgentRollup,
        ResponseDailyOrgRollup,
        ResponseDailyRollup,
        ResponseDailyUserRollup,
        ResponseMonthlyAgentRollup,
        ResponseMonthlyUserRollup,
        ResponseUserChainAgent,
        ResponseUserChainOrg,
        ResponseUserChainProject,
        ResponseUserChainSource,
    )
    from parley.settings import Settings

    rollups = (
        ResponseDailyOrgRollup,
        ResponseDailyUserRollup,
        ResponseDailyAgentRollup,
        ResponseDailyRollup,
        ResponseMonthlyUserRollup,
        ResponseMonthlyAgentRollup,
        ResponseUserChainOrg,
        ResponseUserChainAgent,
        ResponseUserChainProject,
        ResponseUserChainSource,
    )

    data_dir = args.data_dir
    if data_dir is None:
        data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-dashboard-"))
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)  # the SQLite file is ~550 MB
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = Settings(data_dir=data_dir, database_url=args.database_url)
    prepare_database(settings)
    engine = create_db_engine(settings)
    started = time.perf_counter()
    with create_session_factory(engine)() as session:
        built = session.scalar(select(func.count()).select_from(AgentResponse))
    if built:
        admin_id, user_ids, agent_ids = existing(create_session_factory(engine))
    else:
        admin_id, user_ids, agent_ids = build(create_session_factory(engine), args.responses)
    build_seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":  # autovacuum's job after a bulk load; Parley never runs
        with engine.begin() as conn:  # ANALYZE on SQLite, so its planner works without statistics
            conn.exec_driver_sql("ANALYZE")

    reads = create_session_factory(engine, writes=False)
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    year = {"start": today - timedelta(days=365), "end": today + timedelta(days=1)}
    month = {"start": today - timedelta(days=29), "end": today + timedelta(days=1)}
    org = dashboard.organization_dashboard
    cases = [
        ("org, 365 days, totals only", org, dashboard.DashboardFilters(**year, groupings=())),
        ("org, 365 days, every grouping", org, dashboard.DashboardFilters(**year)),
        ("org, 30 days, every grouping", org, dashboard.DashboardFilters(**month)),
        (
            "org, 365 days, web + 10 users, by day",
            org,
            dashboard.DashboardFilters(
                **year, groupings=("day",), query_sources=("web",), user_ids=user_ids[1:11]
            ),
        ),
        (
            "org, 365 days less 5 h and 3 h, every grouping",  # partial first and last days
            org,
            dashboard.DashboardFilters(
                start=year["start"] + timedelta(hours=5), end=year["end"] - timedelta(hours=3)
            ),
        ),
        (
            "one agent, 365 days, every grouping",
            lambda session, principal, filters: dashboard.agent_dashboard(
                session, principal, agent_ids[0], filters
            ),
            dashboard.DashboardFilters(**year),
        ),
    ]

    with reads() as session:
        principal = accounts.load_principal(session, session.get(User, admin_id))
    timings = {}
    for label, run, filters in cases:
        seconds, cpu = [], []
        for _ in range(args.repeat):
            with reads() as session:
                t0, c0 = time.perf_counter(), time.process_time()
                result = run(session, principal, filters)
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        timings[label] = (seconds, cpu, result.totals.responses)

    print(f"responses {args.responses:,}, backend {engine.dialect.name}, built in {build_seconds:.0f} s")
    with reads() as session:
        for model in rollups:
            rows = session.scalar(select(func.count()).select_from(model))
            print(f"  {model.__tablename__:40} {rows:>10,} rows")
    # CPU is this process's: all of the work on SQLite (whatever else loads the machine), only the
    # client's share on PostgreSQL.
    print(f"best / median of {args.repeat} wall-clock, best CPU (ms)")
    for label, (seconds, cpu, counted) in timings.items():
        best, median = min(seconds) * 1000, statistics.median(seconds) * 1000
        print(f"  {label:46} {best:8.0f} {median:8.0f} {min(cpu) * 1000:8.0f}   ({counted:,} responses)")

    if args.explain:
        statements: list[tuple[str, object, float]] = []

        def before(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            conn.info["t0"] = time.perf_counter()

        def after(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
            statements.append((statement, parameters, time.perf_counter() - conn.info["t0"]))

        event.listen(engine, "before_cursor_execute", before)
        event.listen(engine, "after_cursor_execute", after)
        with reads() as session:
            org(session, principal, dashboard.DashboardFilters(**year))
        event.remove(engine, "before_cursor_execute", before)
        event.remove(engine, "after_cursor_execute", after)
        explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN "
        with engine.connect() as conn:
            for statement, parameters, seconds in statements:
                print(f"\n-- {seconds * 1000:.0f} ms\n{statement}")
                for row in conn.exec_driver_sql(explain + statement, parameters):  # type: ignore[arg-type]
                    print("   ", row[-1])


if __name__ == "__main__":
    main()
