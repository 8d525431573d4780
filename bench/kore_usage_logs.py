"""Kore.ai getLLMUsageLogs over a million usage records.

    python bench/kore_usage_logs.py [--records 1000000] [--runs 200] [--database-url URL] [--explain]

Builds a fresh database (SQLite in a temporary folder unless ``--database-url`` names an empty
PostgreSQL database) with one organisation of 100 users and one bot (agent) that holds every
record: ``--records`` model calls spread over the last 180 days (three features, four channels,
2% developer records, 200–8,000 ms each, a ~1.3 kB request payload and a ~0.4 kB response
payload, as the answer path writes them). Nothing is ANALYZEd on SQLite (Parley never does).

It then times a page of 50 of the bot's records, each run with a random user and a random
window, through the service functions the endpoint calls (query + serialisation, in a read
transaction) and through HTTP (the app in-process, a real HS256 JWT, rate limits raised for
the run so every call is answered), and prints p50 / p95 / max per case. Each call draws its
own user and window, so neither path reads pages the other has just warmed. ``--explain``
prints the query plan of each case; ``--sqlite-mmap-mb N`` also sets ``PRAGMA mmap_size`` on
every SQLite connection (not Parley's configuration: to show what the page cache costs).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import sqlite3
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

USERS = 100
DAYS = 180
BATCH = 20_000
PAGE = 50
FEATURES = ["generation"] * 6 + ["followups"] * 3 + ["query_rewrite"]
CHANNELS = ["web"] * 6 + ["superoffice"] * 2 + ["msteams", "slack"]
SYSTEM = "Answer the question using only the numbered sources below. Cite them as [1], [2]. " * 4
SOURCE = "Customers may return goods within thirty days of delivery for a full refund. " * 12


def build(sessions, settings, records: int) -> tuple[int, int, list[int], str, str]:  # type: ignore[no-untyped-def]
    """The organisation, its users, the bot and its records; returns the org id, the bot id,
    the user ids, and the client id and secret of the bot owner's API key."""
    from sqlalchemy import insert, select

    from parley.accounts import service as accounts
    from parley.accounts.models import Team, User
    from parley.agents.models import Agent, AgentType
    from parley.db.engine import session_scope
    from parley.projects.models import Project
    from parley.usage.models import LLMUsageRecord

    rng = random.Random(7)
    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Bench")
        owner = accounts.create_user(session, org_id=org.id, email="owner@bench.example.com", password=None)
        key, secret = accounts.create_api_key(session, user=owner, settings=settings, name="bench")
        session.execute(
            insert(User),
            [
                {"org_id": org.id, "email": f"user{n}@bench.example.com", "first_name": "", "last_name": ""}
                for n in range(USERS - 1)
            ],
        )
        user_ids = list(session.scalars(select(User.id).where(User.org_id == org.id).order_by(User.id)))
        team = Team(org_id=org.id, team_name="Bench")
        session.add(team)
        session.flush()
        project = Project(org_id=org.id, team_id=team.id, project_name="Bench")
        session.add(project)
        session.flush()
        bot = Agent(
            org_id=org.id,
            project_id=project.id,
            user_id=owner.id,
            agent_type_id=session.scalar(select(AgentType.id).where(AgentType.name == "QnA")),
            agent_name="Bench bot",
            # The run calls the bot far more often than Kore's 60 a minute.
            settings={"kore_rate_limits": {"per_minute": 10**9, "per_hour": 10**9}},
        )
        session.add(bot)
        session.flush()
        org_id, bot_id, client_id = org.id, bot.id, key.client_id

    now = datetime.now(UTC)
    first = now - timedelta(days=DAYS)
    offsets = sorted(rng.random() * DAYS * 86_400 for _ in range(records))
    for start in range(0, records, BATCH):
        rows = []
        for offset in offsets[start : start + BATCH]:
            began = first + timedelta(seconds=offset)
            taken = rng.randint(200, 8000)
            prompt, completion = rng.randint(300, 3000), rng.randint(20, 400)
            rows.append(
                {
                    "org_id": org_id,
                    "agent_id": bot_id,
                    "user_id": rng.choice(user_ids),
                    "agent_response_id": None,
                    "llm_config_id": None,
                    "prompt_name": "answer",
                    "integration": "openai",
                    "feature_name": rng.choice(FEATURES),
                    "model_name": "gpt-4o-mini",
                    "channel": rng.choice(CHANNELS),
                    "channel_user_id": "",
                    "session_id": "",
                    "task_id": f"run-{start}-{offset:.3f}",
                    "description": f"generation for agent {bot_id}",
                    "start_time": began,
                    "end_time": began + timedelta(milliseconds=taken),
                    "time_taken_ms": taken,
                    "status_code": 200,
                    "status": "success",
                    "error": "",
                    "request_payload": {
                        "model": "gpt-4o-mini",
                        "temperature": 0.2,
                        "max_tokens": 800,
                        "messages": [
                            {"role": "system", "content": SYSTEM},
                            {
                                "role": "user",
                                "content": f"Sources:\n[1] {SOURCE}\n\nQuestion: refunds? {offset}",
                            },
                        ],
                    },
                    "response_payload": {
                        "id": f"chatcmpl-{offset:.3f}",
                        "model": "gpt-4o-mini",
                        "choices": [{"text": SOURCE[:240], "finish_reason": "stop"}],
                        "usage": {
                            "prompt_tokens": prompt,
                            "completion_tokens": completion,
                            "total_tokens": prompt + completion,
                        },
                    },
                    "request_tokens": prompt,
                    "response_tokens": completion,
                    "cost": 0,
                    "is_developer": rng.random() < 0.02,
                }
            )
        with session_scope(sessions) as session:
            session.execute(insert(LLMUsageRecord), rows)
    return org_id, bot_id, user_ids, client_id, secret


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=200, help="timed calls per case and path")
    parser.add_argument("--database-url", default=None, help="an empty PostgreSQL database; default SQLite")
    parser.add_argument("--explain", action="store_true", help="print each case's query plan")
    parser.add_argument("--sqlite-mmap-mb", type=int, default=0, help="PRAGMA mmap_size for SQLite")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")
    if args.sqlite_mmap_mb:
        from sqlalchemy import Engine, event

        @event.listens_for(Engine, "connect")
        def _mmap(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
            if isinstance(dbapi_connection, sqlite3.Connection):
                dbapi_connection.execute(f"PRAGMA mmap_size={args.sqlite_mmap_mb * 2**20}")

    import jwt
    from fastapi.testclient import TestClient

    from parley.app import create_app, prepare_database
    from parley.db.engine import create_db_engine, create_session_factory
    from parley.settings import IngestSettings, Settings
    from parley.surfaces.kore import service

    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-kore-"))
    settings = Settings(
        data_dir=data_dir,
        database_url=args.database_url,
        environment="development",
        ingest=IngestSettings(workers=0),
    )
    prepare_database(settings)
    engine = create_db_engine(settings)
    started = time.perf_counter()
    org_id, bot_id, user_ids, client_id, secret = build(
        create_session_factory(engine), settings, args.records
    )
    build_seconds = time.perf_counter() - started
    if engine.dialect.name == "postgresql":  # autovacuum's job after a bulk load
        with engine.begin() as conn:
            conn.exec_driver_sql("ANALYZE")

    rng = random.Random(11)
    today = datetime.now(UTC).date()

    def window(days: int) -> tuple[str, str]:
        end = today - timedelta(days=rng.randint(0, DAYS - days))
        return str(end - timedelta(days=days)), str(end)

    def by_user(days: int, sort: str = "Time Taken") -> dict[str, Any]:
        date_from, date_to = window(days)
        return {
            "dateFrom": date_from,
            "dateTo": date_to,
            "limit": PAGE,
            "userIds": [f"u-{rng.choice(user_ids)}"],
            "sort": {"field": sort, "order": "desc"},
        }

    def without_user(days: int, sort: str) -> dict[str, Any]:
        date_from, date_to = window(days)
        return {
            "dateFrom": date_from,
            "dateTo": date_to,
            "limit": PAGE,
            "sort": {"field": sort, "order": "desc"},
        }

    cases = [
        ("user, 30 days, by Time Taken", lambda: by_user(30)),
        ("user, 90 days, by Time Taken", lambda: by_user(90)),
        ("user, 30 days, by start Date", lambda: by_user(30, "start Date")),
        ("no user, 30 days, by start Date", lambda: without_user(30, "start Date")),
        ("no user, 30 days, by Time Taken", lambda: without_user(30, "Time Taken")),
    ]
    reads = create_session_factory(engine, writes=False)
    app = create_app(settings)
    token = jwt.encode({"sub": "bench", "appId": client_id}, secret, algorithm="HS256")
    path = f"/api/1.1/public/bot/st-{bot_id}/getLLMUsageLogs"
    results = []
    with TestClient(app) as client:
        for label, make_body in cases:
            service_ms: list[float] = []
            http_ms: list[float] = []
            rows = 0
            for _ in range(args.runs):
                query = service.parse_query(service.UsageLogsBody.model_validate(make_body()), 500)
                with reads() as session:
                    t0 = time.perf_counter()
                    page = [
                        service.record_view(r) for r in service.find_records(session, org_id, bot_id, query)
                    ]
                    service_ms.append((time.perf_counter() - t0) * 1000)
                rows += len(page)
                body = make_body()
                t0 = time.perf_counter()
                response = client.post(path, headers={"auth": token}, json=body)
                http_ms.append((time.perf_counter() - t0) * 1000)
                assert response.status_code == 200, response.text
            results.append((label, service_ms, http_ms, rows / args.runs))
            if args.explain:
                query = service.parse_query(service.UsageLogsBody.model_validate(make_body()), 500)
                with reads() as session:
                    plan = service.sqlite_plan(session, org_id, bot_id, query)
                stmt = service.records_query(org_id, bot_id, query, plan)
                compiled = stmt.compile(engine, compile_kwargs={"literal_binds": True})
                explain = "EXPLAIN QUERY PLAN " if engine.dialect.name == "sqlite" else "EXPLAIN ANALYZE "
                with engine.connect() as conn:
                    print(f"\n-- {label}")
                    for row in conn.exec_driver_sql(explain + str(compiled)):
                        print("   ", row[-1])

        # What the in-process client itself costs: an endpoint that does nothing.
        baseline = []
        for _ in range(args.runs):
            t0 = time.perf_counter()
            client.get("/healthz")
            baseline.append((time.perf_counter() - t0) * 1000)

    print(
        f"\nrecords {args.records:,}, backend {engine.dialect.name}, mmap {args.sqlite_mmap_mb} MB, "
        f"built in {build_seconds:.0f} s, "
        f"{args.runs} runs per case, page of {PAGE} (ms)"
    )
    print(
        f"  {'case':34} {'service p50':>11} {'p95':>6} {'max':>6}   "
        f"{'HTTP p50':>8} {'p95':>6} {'max':>6}  rows"
    )
    for label, service_ms, http_ms, rows in results:
        print(
            f"  {label:34} {statistics.median(service_ms):11.1f} {percentile(service_ms, 0.95):6.1f} "
            f"{max(service_ms):6.1f}   {statistics.median(http_ms):8.1f} {percentile(http_ms, 0.95):6.1f} "
            f"{max(http_ms):6.1f}  {rows:.0f}"
        )
    print(
        f"  {'GET /healthz (client overhead)':34} {'':11} {'':6} {'':6}   {statistics.median(baseline):8.1f} "
        f"{percentile(baseline, 0.95):6.1f} {max(baseline):6.1f}"
    )
    engine.dispose()
    shutil.rmtree(data_dir, ignore_errors=True)  # a million records take a few GB


if __name__ == "__main__":
    main()
