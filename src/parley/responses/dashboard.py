"""The agent response dashboard: totals, a daily series and breakdowns by agent, project, user
and query source over a date range, computed by the database with GROUP BY (a few aggregate
statements per grouping); no response row is ever loaded.

- Days are UTC calendar days, bucketed by each backend's own date function (``UtcDay``).
- Distinct users: PostgreSQL aggregates per (group, user) first and then per group, which it
  hashes in parallel; for ``count(DISTINCT)`` its plans sort or walk an index instead, ten times
  slower on a million responses. SQLite sorts for every GROUP BY anyway, and there the plain
  ``count(DISTINCT)`` is the faster form.
- Latency is ``latency_ms`` of the responses that measured one (the answer path does; logged
  responses carry 0 and are left out). The average is given everywhere. The 95th percentile
  (``percentile_cont``) is given by PostgreSQL for the totals and the daily series, and is None
  elsewhere: SQLite has no percentile aggregate, and per agent or user PostgreSQL sorts every
  response of the range again (seconds on a million).
- Costs are summed in units of 10^-8 (the column's scale), so SQLite's floating-point numerics
  add up exactly too.
- Votes: ``response_feedback`` summed per response, left-joined to the responses (one row per
  response at most, so the other sums are not multiplied).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Numeric, Select, String, case, distinct, func, select
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from parley.access.capabilities import require_capability
from parley.access.policy import agent_visible, load_all_visible, project_visible, user_visible
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents import service as agents
from parley.agents.models import Agent
from parley.db.base import utcnow
from parley.errors import InvalidInputError, PermissionDeniedError
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.responses.service import agent_response_visible, response_visible
from parley.usage.service import COST_STEP

GROUPINGS = ("day", "agent", "project", "user", "query_source")
DEFAULT_DAYS = 30
MAX_DAYS = 731
MAX_GROUPS = 1000
_COST_UNITS = 10**8


class UtcDay(FunctionElement[str]):
    """The UTC calendar day of a timestamp column, as ``YYYY-MM-DD`` text."""

    type = String()
    name = "utc_day"
    inherit_cache = True


@compiles(UtcDay, "sqlite")
def _utc_day_sqlite(element: UtcDay, compiler: Any, **kw: Any) -> str:
    # SQLite holds UTC timestamps as ISO text ("2025-03-01 08:00:00.000000"), which the range
    # filters compare as text too; the day is its first ten characters.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(UtcDay, "postgresql")
def _utc_day_postgresql(element: UtcDay, compiler: Any, **kw: Any) -> str:
    return f"to_char(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC', 'YYYY-MM-DD')"


@dataclass(frozen=True)
class DashboardFilters:
    """What the dashboard covers: ``[start, end)`` in UTC and the filters (empty ones do not
    restrict); ``groupings`` chooses the breakdowns beside the totals."""

    start: datetime | None = None
    end: datetime | None = None
    groupings: Sequence[str] = GROUPINGS
    agent_ids: Sequence[int] = ()
    project_ids: Sequence[int] = ()
    user_ids: Sequence[int] = ()
    query_sources: Sequence[str] = ()
    limit: int = 100  # groups per breakdown, the busiest first (the daily series is never cut)


@dataclass(frozen=True)
class Metrics:
    responses: int = 0
    users: int = 0
    total_tokens: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost: Decimal = Decimal(0)
    avg_latency_ms: float | None = None
    p95_latency_ms: float | None = None
    cache_hits: int = 0
    upvotes: int = 0
    downvotes: int = 0


@dataclass(frozen=True)
class Group:
    key: int | str | None  # a day, an agent/project/user id, or a query source
    label: str | None  # the agent's or project's name, the user's email
    metrics: Metrics


@dataclass(frozen=True)
class Dashboard:
    start: datetime
    end: datetime
    totals: Metrics
    groups: dict[str, list[Group]] = field(default_factory=dict)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    """The range to cover: by default the 30 days up to the end of today (UTC)."""
    if end is None:
        end = datetime.combine(utcnow().date() + timedelta(days=1), time(), tzinfo=UTC)
    if start is None:
        start = end - timedelta(days=DEFAULT_DAYS)
    if start >= end:
        raise InvalidInputError("start_date must not be after end_date.")
    if end - start > timedelta(days=MAX_DAYS):
        raise InvalidInputError(f"The date range may cover at most {MAX_DAYS} days.")
    return start, end


# -- SQL --------------------------------------------------------------------------------------

_MEASURED_LATENCY = case((AgentResponse.latency_ms > 0, AgentResponse.latency_ms))
_VOTES = (
    select(
        ResponseFeedback.agent_response_id,
        func.sum(case((ResponseFeedback.is_upvote.is_(True), 1), else_=0)).label("upvotes"),
        func.sum(case((ResponseFeedback.is_downvote.is_(True), 1), else_=0)).label("downvotes"),
    )
    .group_by(ResponseFeedback.agent_response_id)
    .subquery("votes")
)
# Summable per group, so they also add up across the per-user partial groups.
_SUMS = (
    func.count(AgentResponse.id).label("responses"),
    func.sum(AgentResponse.total_tokens).label("total_tokens"),
    func.sum(AgentResponse.prompt_tokens).label("prompt_tokens"),
    func.sum(AgentResponse.completion_tokens).label("completion_tokens"),
    func.sum(func.round(AgentResponse.cost * _COST_UNITS), type_=Numeric(38, 0)).label("cost_units"),
    func.sum(_MEASURED_LATENCY).label("latency_sum"),
    func.count(_MEASURED_LATENCY).label("latency_count"),
    func.sum(case((AgentResponse.cache_hit.is_(True), 1), else_=0)).label("cache_hits"),
    func.sum(_VOTES.c.upvotes).label("upvotes"),
    func.sum(_VOTES.c.downvotes).label("downvotes"),
)


def _key(kind: str) -> ColumnElement[Any]:
    return {
        "day": UtcDay(AgentResponse.created_on),
        "agent": AgentResponse.agent_id,
        "project": AgentResponse.project_id,
        "user": AgentResponse.user_id,
        "query_source": AgentResponse.query_source,
    }[kind]


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _responses(*columns: Any) -> Select[Any]:
    """SELECT ``columns`` FROM the responses with their votes."""
    return (
        select(*columns)
        .select_from(AgentResponse)
        .outerjoin(_VOTES, _VOTES.c.agent_response_id == AgentResponse.id)
    )


def _metrics_statement(
    session: Session, key: ColumnElement[Any] | None, where: list[ColumnElement[bool]]
) -> Select[Any]:
    """One row per group (one in all without ``key``): ``group_key``, ``users`` and _SUMS."""
    keys = [key.label("group_key")] if key is not None else []
    if not _is_postgresql(session):
        stmt = _responses(*keys, func.count(distinct(AgentResponse.user_id)).label("users"), *_SUMS)
        stmt = stmt.where(*where)
        return stmt.group_by(key) if key is not None else stmt
    per_user = (
        _responses(*keys, AgentResponse.user_id, *_SUMS)
        .where(*where)
        .group_by(*([key] if key is not None else []), AgentResponse.user_id)
        .subquery()
    )
    group = [per_user.c.group_key] if key is not None else []
    stmt = select(
        *group,
        func.count().label("users"),
        *(func.sum(per_user.c[column.name]).label(column.name) for column in _SUMS),
    )
    return stmt.group_by(*group) if group else stmt


def _p95(session: Session, where: list[ColumnElement[bool]], *key: ColumnElement[Any]) -> dict[Any, float]:
    """The 95th percentile of measured latency per ``key`` (PostgreSQL; empty elsewhere)."""
    if not _is_postgresql(session):
        return {}
    stmt = select(*key, func.percentile_cont(0.95).within_group(_MEASURED_LATENCY)).where(*where)
    if not key:
        return {None: session.scalar(stmt)}
    return dict(session.execute(stmt.group_by(*key)).all())  # type: ignore[arg-type]


def _metrics(row: RowMapping, p95: float | None) -> Metrics:
    measured = int(row["latency_count"] or 0)
    return Metrics(
        responses=int(row["responses"] or 0),  # a sum of partial counts is NULL over no rows
        users=int(row["users"]),
        total_tokens=int(row["total_tokens"] or 0),
        prompt_tokens=int(row["prompt_tokens"] or 0),
        completion_tokens=int(row["completion_tokens"] or 0),
        cost=(Decimal(row["cost_units"] or 0) / _COST_UNITS).quantize(COST_STEP),
        avg_latency_ms=round(float(row["latency_sum"]) / measured, 1) if measured else None,
        p95_latency_ms=round(float(p95), 1) if p95 is not None else None,
        cache_hits=int(row["cache_hits"] or 0),
        upvotes=int(row["upvotes"] or 0),
        downvotes=int(row["downvotes"] or 0),
    )


def _totals(session: Session, where: list[ColumnElement[bool]]) -> Metrics:
    row = session.execute(_metrics_statement(session, None, where)).mappings().one()
    return _metrics(row, _p95(session, where).get(None))


def _grouped(
    session: Session, kind: str, where: list[ColumnElement[bool]], limit: int
) -> list[tuple[Any, Metrics]]:
    key = _key(kind)
    stmt = _metrics_statement(session, key, where)
    group_key, responses = stmt.selected_columns.group_key, stmt.selected_columns.responses
    if kind == "day":
        stmt = stmt.order_by(group_key)
    else:
        stmt = stmt.order_by(responses.desc(), group_key.asc().nulls_last()).limit(limit)
    p95 = _p95(session, where, key) if kind == "day" else {}
    return [
        (row["group_key"], _metrics(row, p95.get(row["group_key"])))
        for row in session.execute(stmt).mappings()
    ]


def _labels(session: Session, kind: str, keys: list[Any]) -> dict[Any, str]:
    ids = [k for k in keys if k is not None]
    if kind not in ("agent", "project", "user") or not ids:
        return {}
    model, column = {
        "agent": (Agent, Agent.agent_name),
        "project": (Project, Project.project_name),
        "user": (User, User.email),
    }[kind]
    return dict(session.execute(select(model.id, column).where(model.id.in_(ids))).all())  # type: ignore[attr-defined]


def _every_day(start: datetime, end: datetime, found: list[tuple[Any, Metrics]]) -> list[Group]:
    """The daily series with the days that had no response as zeros."""
    by_day = dict(found)
    first: date = start.astimezone(UTC).date()
    last: date = (end - timedelta(microseconds=1)).astimezone(UTC).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [Group(d.isoformat(), None, by_day.get(d.isoformat(), Metrics())) for d in days]


def _dashboard(session: Session, scope: list[ColumnElement[bool]], filters: DashboardFilters) -> Dashboard:
    start, end = _window(filters.start, filters.end)
    where = [*scope, AgentResponse.created_on >= start, AgentResponse.created_on < end]
    if filters.agent_ids:
        where.append(AgentResponse.agent_id.in_(filters.agent_ids))
    if filters.project_ids:
        where.append(AgentResponse.project_id.in_(filters.project_ids))
    if filters.user_ids:
        where.append(AgentResponse.user_id.in_(filters.user_ids))
    if filters.query_sources:
        where.append(AgentResponse.query_source.in_(filters.query_sources))
    groups: dict[str, list[Group]] = {}
    for kind in dict.fromkeys(filters.groupings):
        found = _grouped(session, kind, where, filters.limit)
        if kind == "day":
            groups[kind] = _every_day(start, end, found)
        else:
            labels = _labels(session, kind, [k for k, _ in found])
            groups[kind] = [Group(k, labels.get(k), m) for k, m in found]
    return Dashboard(start, end, _totals(session, where), groups)


def _check_filters(session: Session, principal: Principal, filters: DashboardFilters) -> None:
    """Every id a filter names must be visible to the caller (else 404, like any other id)."""
    if filters.agent_ids:
        load_all_visible(session, Agent, filters.agent_ids, agent_visible(principal), "Agent")
    if filters.project_ids:
        load_all_visible(session, Project, filters.project_ids, project_visible(principal), "Project")
    if filters.user_ids:
        load_all_visible(session, User, filters.user_ids, user_visible(principal), "User")


# -- entry points -------------------------------------------------------------------------------


def agent_dashboard(
    session: Session, principal: Principal, agent_id: int, filters: DashboardFilters
) -> Dashboard:
    """One agent's dashboard over the responses the caller may see: all of the agent's for its
    editors and org admins, the caller's own for its other users. Needs ``view_dashboard``."""
    agent = agents.get_agent(session, principal, agent_id)
    require_capability(session, principal, "view_dashboard")
    if filters.agent_ids:
        raise InvalidInputError("agent_ids is only accepted by the organization dashboard.")
    _check_filters(session, principal, filters)
    return _dashboard(session, [agent_response_visible(principal, agent)], filters)


def organization_dashboard(session: Session, principal: Principal, filters: DashboardFilters) -> Dashboard:
    """Every live response of the organisation; for organisation admins only."""
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can view the organization dashboard.")
    _check_filters(session, principal, filters)
    return _dashboard(session, [response_visible(principal)], filters)
