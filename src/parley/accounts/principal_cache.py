"""A short-lived, per-application cache of credential digest -> resolved credential.

Resolving a login token or API key takes a read of the credential, its user and the user's
team roles; an authenticated request that finds its credential here needs no database work and
no thread-pool hop to authenticate.

Invalidation, in this process: every SQL statement that writes one of the tables a principal is
built from (through any engine or session of the process, ORM or not) marks its connection, and
when that connection goes back to the pool (after its commit or rollback) every cache entry
filled before is dropped. While such a write is in flight nothing is cached, so a lookup that
read the old rows cannot store them after the write commits. Other processes (several API
workers on one PostgreSQL) forget an entry only when its TTL runs out, which is why the TTL is a
few seconds (``auth.principal_cache_ttl_seconds``, docs/reliability.md).
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from parley.access.principal import Principal
from parley.db.base import utcnow

# Execution option for a write that changes no principal (recording an API key's last use):
# without it, every key's periodic last_used_on update would empty the cache.
PRINCIPAL_NEUTRAL = "parley_principal_neutral"

# Tables a principal is read from, and those whose deletes cascade into them.
_PRINCIPAL_TABLES = re.compile(r"\b(api_keys|auth_tokens|users|team_members|teams|organizations)\b", re.I)
_READ_VERBS = frozenset(
    {"SELECT", "BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SHOW", "EXPLAIN", "SET"}
)
_FIRST_WORD = re.compile(r"\s*(\w+)")
_DML = re.compile(r"\b(INSERT|UPDATE|DELETE)\b", re.I)
_PENDING_FLAG = "parley_principal_write"


class _Generation:
    """Process-wide: bumped by every principal-changing write; counts writes not yet finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.value = 0
        self.pending = 0

    def bump(self, *, pending: int = 0) -> None:
        with self.lock:
            self.value += 1
            self.pending += pending


_generation = _Generation()


def _writes_principal_tables(statement: str) -> bool:
    first = _FIRST_WORD.match(statement)
    verb = first.group(1).upper() if first else ""
    if verb in _READ_VERBS or (verb == "WITH" and _DML.search(statement) is None):
        return False
    return _PRINCIPAL_TABLES.search(statement) is not None


def watch_principal_writes() -> None:
    """Listen to the statements of every engine and the check-ins of every pool in the process
    (idempotent; called when an app starts, never on import)."""
    if not event.contains(Engine, "after_cursor_execute", _note_write):
        event.listen(Engine, "after_cursor_execute", _note_write)
        event.listen(Pool, "checkin", _finish_write)


def _note_write(  # type: ignore[no-untyped-def]
    conn: Connection, cursor, statement: str, parameters, context, executemany: bool
) -> None:
    if context is not None and context.execution_options.get(PRINCIPAL_NEUTRAL):
        return
    if not _writes_principal_tables(statement):
        return
    if conn.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        _generation.bump()  # already committed: nothing stays pending
    elif not conn.info.get(_PENDING_FLAG):
        conn.info[_PENDING_FLAG] = True
        _generation.bump(pending=1)
    else:
        _generation.bump()


def _finish_write(dbapi_connection, connection_record) -> None:  # type: ignore[no-untyped-def]
    # Back in the pool means committed or rolled back: the change is visible (or gone) now.
    if connection_record is not None and connection_record.info.pop(_PENDING_FLAG, False):
        _generation.bump(pending=-1)


@dataclass(frozen=True)
class Credential:
    """What a login token or API key secret resolves to, as read from the database."""

    principal: Principal
    api_key_id: int | None = None
    expires_on: datetime | None = None
    last_used_on: datetime | None = None


@dataclass
class CachedCredential:
    credential: Credential
    generation: int
    fresh_until: float  # time.monotonic()
    # When the key's last_used_on is next due for an update (monotonic; API keys only).
    use_due_at: float

    def use_is_due(self) -> bool:
        return self.credential.api_key_id is not None and time.monotonic() >= self.use_due_at


class PrincipalCache:
    """Entries live ``ttl_seconds`` at most, never past the credential's own expiry, and are
    keyed by the credential's digest: a credential belongs to one user of one organisation."""

    def __init__(self, ttl_seconds: float, use_resolution: timedelta, max_entries: int = 10_000) -> None:
        self.ttl_seconds = ttl_seconds
        self.use_resolution = use_resolution.total_seconds()
        self.max_entries = max_entries
        self._entries: dict[str, CachedCredential] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> CachedCredential | None:
        entry = self._entries.get(digest)
        if entry is None or entry.generation != _generation.value or time.monotonic() >= entry.fresh_until:
            return None
        return entry

    @staticmethod
    def fill_token() -> int | None:
        """Taken before reading a credential; None while a write that may change one is in flight."""
        return None if _generation.pending else _generation.value

    def put(self, digest: str, credential: Credential, token: int | None) -> CachedCredential | None:
        """Store what was read, unless a principal-changing write started since ``token``."""
        if token is None or self.ttl_seconds <= 0:
            return None
        now = time.monotonic()
        fresh_until = now + self.ttl_seconds
        if credential.expires_on is not None:
            fresh_until = min(fresh_until, now + (credential.expires_on - utcnow()).total_seconds())
        use_due_at = now
        if credential.last_used_on is not None:
            use_due_at = now + self.use_resolution - (utcnow() - credential.last_used_on).total_seconds()
        entry = CachedCredential(credential, token, fresh_until, use_due_at)
        with self._lock:
            if _generation.pending or _generation.value != token:
                return None
            if len(self._entries) >= self.max_entries:
                self._entries.clear()  # a burst of distinct credentials; refilled on demand
            self._entries[digest] = entry
        return entry

    def claim_use(self, entry: CachedCredential) -> bool:
        """True for one caller when the key's last_used_on is due, which then records it."""
        with self._lock:
            if not entry.use_is_due():
                return False
            entry.use_due_at = time.monotonic() + self.use_resolution
            return True
