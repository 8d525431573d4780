"""Per-bot rate limits of the usage-logs API, over rolling windows checked per minute and per
hour (Kore's documented limits for its analytics API family: 60 a minute, 1,800 an hour).

The counts are kept in the agent's ``settings`` JSON, so every API process behind a load
balancer sees the same counts (there is no rate-limit table; the schema is released). A bot's
counts are per-second buckets for the minute window and per-minute buckets for the hour
window (at most 120 small entries), updated in one short write transaction that locks the
agent row on PostgreSQL (SQLite's write transactions already take turns), committed there
without waiting for the disk. A refused call is
not counted. An operator may change a bot's limits with
``settings["kore_rate_limits"] = {"per_minute": n, "per_hour": n}``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from sqlalchemy import select, text, update
from sqlalchemy.orm import Session

from parley.agents.models import Agent
from parley.errors import RateLimitedError

USAGE_KEY = "kore_rate_usage"
LIMITS_KEY = "kore_rate_limits"
MESSAGE = "Rate limit for this API has been reached. Please try again after some time."


@dataclass(frozen=True)
class Window:
    name: str
    limit_key: str
    default_limit: int
    bucket_seconds: int
    buckets: int

    def bucket(self, now: float) -> int:
        return int(now // self.bucket_seconds)


WINDOWS = (
    Window("minute", "per_minute", 60, 1, 60),
    Window("hour", "per_hour", 1800, 60, 60),
)


def _limit(settings: dict, window: Window) -> int:
    configured = (settings.get(LIMITS_KEY) or {}).get(window.limit_key)
    is_count = isinstance(configured, int) and not isinstance(configured, bool) and configured > 0
    return configured if is_count else window.default_limit


def _live_buckets(usage: dict, window: Window, now: float) -> dict[int, int]:
    oldest = window.bucket(now) - window.buckets + 1
    stored = usage.get(window.name) or {}
    return {int(unit): int(count) for unit, count in stored.items() if int(unit) >= oldest}


def _retry_after(buckets: dict[int, int], window: Window, limit: int, now: float) -> int:
    """Seconds until enough of the oldest calls leave the window for one more to fit."""
    total = sum(buckets.values())
    for unit in sorted(buckets):
        total -= buckets[unit]
        if total < limit:
            leaves_at = (unit + window.buckets) * window.bucket_seconds
            return max(1, math.ceil(leaves_at - now))
    return window.buckets * window.bucket_seconds


def consume(session: Session, agent_id: int, now: float) -> None:
    """Count one call to the bot's usage logs, or raise RateLimitedError (nothing counted)."""
    if session.get_bind().dialect.name == "postgresql":
        # Bookkeeping: a crash may lose the last counts, so the commit need not wait for the disk.
        session.execute(text("SET LOCAL synchronous_commit TO OFF"))
    settings = session.scalar(select(Agent.settings).where(Agent.id == agent_id).with_for_update()) or {}
    usage = settings.get(USAGE_KEY) or {}
    kept: dict[str, dict[str, int]] = {}
    for window in WINDOWS:
        buckets = _live_buckets(usage, window, now)
        limit = _limit(settings, window)
        if sum(buckets.values()) >= limit:
            raise RateLimitedError(MESSAGE, _retry_after(buckets, window, limit, now))
        current = window.bucket(now)
        buckets[current] = buckets.get(current, 0) + 1
        kept[window.name] = {str(unit): count for unit, count in buckets.items()}
    # A bookkeeping write, not an edit of the agent: modified_on keeps its value.
    session.execute(
        update(Agent)
        .where(Agent.id == agent_id)
        .values(settings={**settings, USAGE_KEY: kept}, modified_on=Agent.modified_on)
    )
