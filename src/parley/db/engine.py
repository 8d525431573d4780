"""Engine and session factory for SQLite (embedded default) and PostgreSQL."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, Result, TextClause, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from parley.data_folder import FOLDER_MODE, private_folder, private_sqlite_database
from parley.db.base import MAX_ID
from parley.errors import InvalidInputError
from parley.settings import Settings

# FastAPI runs sync handlers and dependencies in AnyIO's thread pool, 40 threads by default. A
# request may hold one connection while it opens a second (an answering request's authentication
# session stays open while the answer path opens its own), so a pool no larger than the thread
# pool can be taken entirely by threads each waiting for their second connection (measured: 50
# concurrent streamed answers, and requests failed with the 30 s pool timeout). Connections above
# the pool size are opened for a burst and closed when returned.
POOL_OVERFLOW = 50
# Statements whose SQL text a request shapes (a metadata filter compiled into the query) stay
# out of the engine's compiled-statement cache, whose 500 entries would otherwise each keep one
# request's SQL and bound values for the life of the process.
_UNCACHED = {"compiled_cache": None}
# The drivers keep statements per connection too: pysqlite the last 128 prepared, ~9 bytes of
# memory per character of a filter's SQL (measured: 1.2 MB for a 140,000-character filter),
# psycopg the text of the last 100 it counted for preparing. A connection that ran a longer
# request-shaped statement is closed at its next checkout instead of reused.
LARGE_STATEMENT_CHARS = 8 * 1024


def execute_request_shaped(session: Session, statement: TextClause) -> Result:
    """Execute a statement whose SQL text the request shaped, without the process keeping it."""
    result = session.execute(statement, execution_options=_UNCACHED)
    if len(statement.text) > LARGE_STATEMENT_CHARS:
        session.connection().connection.invalidate(soft=True)
    return result


def create_db_engine(settings: Settings) -> Engine:
    url = make_url(settings.resolved_database_url)
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            database = Path(url.database).resolve()
            if database.parent == settings.data_dir.resolve():
                private_folder(database.parent)
            else:  # a folder named in PARLEY_DATABASE_URL: made private when Parley makes it
                database.parent.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
            private_sqlite_database(database)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 30},
            pool_size=20,
            max_overflow=POOL_OVERFLOW,
        )
        event.listen(engine, "connect", _configure_sqlite_connection)
        event.listen(engine, "before_cursor_execute", _refuse_nul_characters_and_integers_beyond_64_bits)
        # pysqlite's own transaction handling is turned off; emit BEGIN ourselves so that a
        # writing unit of work takes the write lock up front (BEGIN IMMEDIATE) instead of
        # failing with "database is locked" when a read transaction tries to upgrade.
        event.listen(engine, "begin", _begin_sqlite_transaction)
        return engine
    engine = create_engine(url, pool_size=10, max_overflow=POOL_OVERFLOW, pool_pre_ping=True)
    event.listen(engine, "before_cursor_execute", _refuse_integers_beyond_64_bits)
    return engine


def _configure_sqlite_connection(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    dbapi_connection.isolation_level = None  # let SQLAlchemy's "begin" listener issue BEGIN
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def _any_bound_value(parameters: object, test: Callable[[object], bool]) -> object:
    """The first value bound to a statement for which ``test`` holds, looking inside the rows
    of an executemany and the lists of an IN or ANY; ``_NOTHING`` when there is none."""
    if isinstance(parameters, dict):
        parameters = parameters.values()
    elif not isinstance(parameters, list | tuple):
        return parameters if test(parameters) else _NOTHING
    for item in parameters:
        found = _any_bound_value(item, test)
        if found is not _NOTHING:
            return found
    return _NOTHING


_NOTHING = object()


def _has_nul(value: object) -> bool:
    return isinstance(value, str) and "\x00" in value


def _beyond_64_bits(value: object) -> bool:
    return isinstance(value, int) and not -MAX_ID - 1 <= value <= MAX_ID


def _refuse_integer(value: object) -> None:
    """No column holds an integer outside signed 64 bits, so one can only be bad input: an id
    or a value a client sent. SQLite cannot even bind it (OverflowError, a 500) where
    PostgreSQL finds no row or refuses to store it; this is the one bound for every id and
    value on both backends, the same 400 wherever the number came from."""
    if value is not _NOTHING:
        raise InvalidInputError(f"Integers must lie between {-MAX_ID - 1} and {MAX_ID}.")


def _refuse_nul_characters_and_integers_beyond_64_bits(  # type: ignore[no-untyped-def]
    conn, cursor, statement, parameters, context, executemany
) -> None:
    """SQLite stores NUL characters in text where PostgreSQL refuses them (DataError); refuse
    them on SQLite too, so both backends accept the same data. One walk over the bound values
    checks both, since it runs before every statement."""
    bad = _any_bound_value(parameters, lambda value: _has_nul(value) or _beyond_64_bits(value))
    if isinstance(bad, str):
        raise sqlite3.DataError("A text value contains a NUL character.")
    _refuse_integer(bad)


def _refuse_integers_beyond_64_bits(  # type: ignore[no-untyped-def]
    conn, cursor, statement, parameters, context, executemany
) -> None:
    _refuse_integer(_any_bound_value(parameters, _beyond_64_bits))


def _begin_sqlite_transaction(conn) -> None:  # type: ignore[no-untyped-def]
    options = conn.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return
    mode = options.get("sqlite_begin", "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_session_factory(engine: Engine, *, writes: bool = True) -> sessionmaker[Session]:
    """Sessions for units of work; ``writes=False`` gives read-only work a deferred BEGIN."""
    bind = engine.execution_options(sqlite_begin="IMMEDIATE" if writes else "DEFERRED")
    return sessionmaker(bind=bind, expire_on_commit=False, autoflush=True)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A unit of work: commit on success, roll back on any error."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
