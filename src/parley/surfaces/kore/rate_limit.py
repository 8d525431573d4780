"""Per-bot rate limits of the usage-logs API, per minute and per hour (Kore's documented limits
for its analytics API family: 60 a minute, 1,800 an hour).

The windows are fixed: a clock minute and a clock hour (Unix time), counted in the
``kore_rate_windows`` table, one row per bot and window kind, never in the agent's row, so a
read of the logs writes nothing the agent owns. Each count is one ``INSERT ... ON CONFLICT DO
UPDATE ... RETURNING`` (the same statement on SQLite and PostgreSQL), atomic however many API
processes count at once. A call is counted only after it was validated and its records read; a
call over the limit is refused before its query runs, and one that crosses the limit while
counting is rolled back, so a refused call counts nothing. An operator may change a bot's
limits with ``settings["kore_rate_limits"] = {"per_minute": n, "per_hour": n}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import case, select, text
from sqlalchemy.orm import Session

from parley.db.rows import upsert
from parley.errors import RateLimitedError
from parley.surfaces.kore.models import KoreRateWindow

LIMITS_KEY = "kore_rate_limits"
MESSAGE = "Rate limit for this API has been reached. Please try again after some time."


@dataclass(frozen=True)
class Window:
    name: str
    limit_key: str
    default_limit: int
    seconds: int

    def start(self, now: float) -> int:
        return int(now // self.seconds) * self.seconds

    def retry_after(self, now: float) -> int:
        """Seconds until the next window opens."""
        return max(1, math.ceil(self.start(now) + self.seconds - now))


WINDOWS = (
    Window("minute", "per_minute", 60, 60),
    Window("hour", "per_hour", 1800, 3600),
)
WINDOW_BY_NAME = {window.name: window for window in WINDOWS}


def limits(agent_settings: dict | None) -> dict[str, int]:
    """The bot's limit per window name: its configured count, else Kore's default."""
    configured = (agent_settings or {}).get(LIMITS_KEY) or {}
    found = {}
    for window in WINDOWS:
        value = configured.get(window.limit_key)
        is_count = isinstance(value, int) and not isinstance(value, bool) and value > 0
        found[window.name] = value if is_count else window.default_limit
    return found


def _refuse(over: list[Window], now: float) -> None:
    if over:
        raise RateLimitedError(MESSAGE, max(window.retry_after(now) for window in over))


def refuse_when_spent(session: Session, agent_id: int, bot_limits: dict[str, int], now: float) -> None:
    """RateLimitedError when a window of the bot is already full (a read: nothing counted)."""
    rows = session.execute(
        select(KoreRateWindow.window, KoreRateWindow.window_start, KoreRateWindow.calls).where(
            KoreRateWindow.agent_id == agent_id
        )
    ).all()
    current = {name: calls for name, start, calls in rows if start == WINDOW_BY_NAME[name].start(now)}
    _refuse([w for w in WINDOWS if current.get(w.name, 0) >= bot_limits[w.name]], now)


def consume(session: Session, agent_id: int, bot_limits: dict[str, int], now: float) -> None:
    """Count one call in each window, or raise RateLimitedError when that would exceed a limit;
    the caller's transaction must then roll back (``session_scope`` does), undoing the counts."""
    if session.get_bind().dialect.name == "postgresql":
        # Bookkeeping: a crash may lose the last counts, so the commit need not wait for the disk.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    table = KoreRateWindow.__table__
    over = []
    for window in WINDOWS:
        insert = upsert(session, KoreRateWindow).values(
            agent_id=agent_id, window=window.name, window_start=window.start(now), calls=1
        )
        later = insert.excluded.window_start > table.c.window_start
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.agent_id, table.c.window],
            set_={
                "window_start": case((later, insert.excluded.window_start), else_=table.c.window_start),
                "calls": case((later, 1), else_=table.c.calls + 1),
            },
        ).returning(table.c.calls)
        if session.scalar(statement) > bot_limits[window.name]:
            over.append(window)
    _refuse(over, now)
