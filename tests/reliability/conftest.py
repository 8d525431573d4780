"""The reliability tests' shared world: populating two organisations through every surface takes
seconds, so the isolation and bad-input tests share one per backend (and check what they write)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, inspect, select, table
from sqlalchemy.orm import Session

from parley.app import create_app
from parley.db.engine import create_db_engine
from parley.settings import Settings
from tests.conftest import BACKENDS, fresh_database, make_settings
from tests.reliability.tenants import Tenant, populate
from tests.support.world import World


@dataclass
class Tenancy:
    backend: str
    app: FastAPI
    settings: Settings
    client: TestClient
    db: Session
    alpha: Tenant
    bravo: Tenant

    def row_counts(self, *, except_answers: bool = False) -> dict[str, int]:
        """Rows per table: what a refused request must leave unchanged. ``except_answers`` leaves
        out what answering a question writes (a read through an answer route may answer)."""
        self.db.rollback()
        names = inspect(self.db.get_bind()).get_table_names()
        return {
            name: self.db.scalar(select(func.count()).select_from(table(name))) or 0
            for name in sorted(names)
            if name != "alembic_version" and not (except_answers and written_by_answers(name))
        }


# Answers write the response, its thread, usage records, the "recent" marks, notifications and
# the dashboards' rollups of responses and their chains of distinct users; an accepted Kore
# usage-log read counts toward its bot's rate-limit window.
ANSWER_TABLES = frozenset(
    {
        "agent_responses",
        "kore_rate_windows",
        "chat_threads",
        "llm_usage_records",
        "recent_agents",
        "surface_turns",
        "notifications",
    }
)


def written_by_answers(name: str) -> bool:
    return name in ANSWER_TABLES or "rollup" in name or name.startswith("response_user_chain")


def open_world(url: str, folder: Path) -> Iterator[World]:
    """An app on ``url`` (its in-process workers running) and a session on the same database."""
    settings = make_settings(url, folder)
    app = create_app(settings)
    engine = create_db_engine(settings)
    db = Session(bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            yield World(db, settings, client)
    finally:
        db.close()
        engine.dispose()


@pytest.fixture(scope="package", params=BACKENDS)
def tenancy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenancy]:
    """Two populated organisations, alpha and bravo, on each backend."""
    folder = tmp_path_factory.mktemp(f"tenancy-{request.param}")
    for world in (
        world for url in fresh_database(request, request.param, folder) for world in open_world(url, folder)
    ):
        alpha = populate(world, world.db, "alphaqz")
        bravo = populate(world, world.db, "bravoqz")
        app = world.client.app
        assert isinstance(app, FastAPI)
        yield Tenancy(request.param, app, world.settings, world.client, world.db, alpha, bravo)
