"""Test fixtures: every test that uses ``client`` runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from parley.app import create_app, prepare_database
from parley.db.engine import create_db_engine
from parley.settings import AuthSettings, Settings
from tests.support.databases import PostgresDatabases, embedded_postgres_server, external_postgres_url
from tests.support.world import World

BACKENDS = ["sqlite", "postgres"]
TEST_DATA = Path(__file__).resolve().parent / "data"  # sample files the tests read; sources in its README


# The cheapest argon2 cost: a production-strength hash takes ~0.3 s, and the suite makes thousands.
CHEAP_PASSWORD_HASHING = AuthSettings(password_hash_time_cost=1, password_hash_memory_kib=32)


def make_settings(database_url: str, data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {"auth": CHEAP_PASSWORD_HASHING, **overrides}
    return Settings(
        environment="test",
        database_url=database_url,
        data_dir=data_dir,
        run_migrations_on_start=False,
        **values,
    )


@pytest.fixture(scope="session")
def tmp_root() -> Iterator[Path]:
    root = Path(tempfile.mkdtemp(prefix="parley-tests-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def sqlite_template(tmp_root: Path) -> Path:
    path = tmp_root / "template.db"
    prepare_database(make_settings(f"sqlite:///{path}", tmp_root))
    return path


@pytest.fixture(scope="session")
def postgres_databases(tmp_root: Path) -> Iterator[PostgresDatabases]:
    external = external_postgres_url()
    if external:
        databases = PostgresDatabases(external)
        prepare_database(make_settings(databases.template_url, tmp_root))
        yield databases
        databases.close()
        return
    with embedded_postgres_server() as admin_url:
        databases = PostgresDatabases(admin_url)
        prepare_database(make_settings(databases.template_url, tmp_root))
        yield databases
        databases.close()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return request.param


def fresh_database(request: pytest.FixtureRequest, backend: str, folder: Path) -> Iterator[str]:
    """A fresh, migrated database on ``backend`` (a SQLite file in ``folder``), dropped afterwards."""
    if backend == "sqlite":
        path = folder / "parley.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    databases: PostgresDatabases = request.getfixturevalue("postgres_databases")
    name = databases.create()
    try:
        yield databases.url_for(name)
    finally:
        databases.drop(name)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database for one test."""
    yield from fresh_database(request, backend, tmp_path)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path)


@pytest.fixture
def app(settings: Settings):  # type: ignore[no-untyped-def]
    return create_app(settings)


@pytest.fixture
def client(app) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def db(settings: Settings) -> Iterator[Session]:
    """A session on the test database for arranging data and checking what was written."""
    engine = create_db_engine(settings)
    # Autocommit: every statement sees the latest committed data and holds no lock, so the
    # test's own reads never block the app or read a stale snapshot.
    session = Session(bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)
    try:
        yield session
    finally:
        session.close()
        engine.dispose()


@pytest.fixture
def world(db: Session, settings: Settings, client: TestClient) -> World:
    return World(db, settings, client)
