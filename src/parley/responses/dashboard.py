"""The agent response dashboard: totals, a daily series and breakdowns by agent, project, user
and query source over a date range, computed by the database with GROUP BY; no response row is
ever loaded.

- Whole UTC days come from the daily rollups (parley/responses/models.py, migration 0005), which
  triggers keep in step with every write. Each statement reads the smallest rollup that has the
  dimensions it needs (its grouping, its filters, the caller's scope): the per-organisation
  table for the unfiltered totals and daily series, the per-user one for users, the per-agent
  one (agent, project, query source) for those breakdowns, and the table with every dimension
  when filters or distinct users need more. Every breakdown but the daily series reads the whole
  calendar months of a range from the monthly per-user and per-agent rollups (migration 0006)
  and only the days around them from the daily ones. Partial days at the ends of a range with a
  time of day are read from the responses themselves and added (UNION ALL) to the days, so every
  figure is exactly what the responses give.
- Distinct users are exact: they are counted from a rollup keyed by user as well, in a second
  statement beside the sums (which read a smaller table), or in the same one when the scope or
  filters name users. Unfiltered, in all and by agent, project or query source, when the whole
  days hold more responses than the days after them, the user chains (migration 0006) give each
  (group, user) pair of the range once instead of once per day: a year of a million responses
  is read as about one row per pair.
- Latency is ``latency_ms`` of the responses that measured one (the answer path does; logged
  responses carry 0 and are left out). The average is given everywhere. The 95th percentile
  (``percentile_cont``) is given by PostgreSQL for the totals and the daily series, and is None
  elsewhere: SQLite has no percentile aggregate, and a percentile needs every value, so it is the
  one figure still read from the responses (one statement for both, GROUPING SETS).
- Costs are summed in units of 10^-8 (the column's scale), so SQLite's floating-point numerics
  add up exactly too.
- Votes are the ``response_feedback`` rows of the counted responses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Date,
    and_,
    case,
    cast,
    distinct,
    func,
    literal,
    or_,
    select,
    tuple_,
    union_all,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement

from parley.access.capabilities import require_capability
from parley.access.policy import (
    agent_editable,
    agent_visible,
    load_all_visible,
    project_visible,
    user_visible,
)
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents import service as agents
from parley.agents.models import Agent
from parley.db.base import utcnow
from parley.errors import InvalidInputError, PermissionDeniedError
from parley.projects.models import Project
from parley.responses.models import (
    CHAIN_END,
    ROLLUP_MEASURES,
    AgentResponse,
    ResponseDailyAgentRollup,
    ResponseDailyOrgRollup,
    ResponseDailyRollup,
    ResponseDailyUserRollup,
    ResponseFeedback,
    ResponseMonthlyAgentRollup,
    ResponseMonthlyUserRollup,
    ResponseUserChainAgent,
    ResponseUserChainOrg,
    ResponseUserChainProject,
    ResponseUserChainSource,
)
from parley.usage.service import cost_from_units, cost_units

GROUPINGS = ("day", "agent", "project", "user", "query_source")
DEFAULT_DAYS = 30
MAX_DAYS = 731
MAX_GROUPS = 1000


class UtcDay(FunctionElement[date]):
    """The UTC calendar day of a timestamp column."""

    type = Date()
    name = "utc_day"
    inherit_cache = True


@compiles(UtcDay, "sqlite")
def _utc_day_sqlite(element: UtcDay, compiler: Any, **kw: Any) -> str:
    # SQLite holds UTC timestamps as ISO text ("2025-03-01 08:00:00.000000"), which the range
    # filters compare as text too; the day is its first ten characters, as dates are stored.
    return f"substr({compiler.process(element.clauses, **kw)}, 1, 10)"


@compiles(UtcDay, "postgresql")
def _utc_day_postgresql(element: UtcDay, compiler: Any, **kw: Any) -> str:
    return f"CAST(({compiler.process(element.clauses, **kw)}) AT TIME ZONE 'UTC' AS DATE)"


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
    return start.astimezone(UTC), end.astimezone(UTC)


# -- what is counted ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scope:
    """The live responses the caller counts: an organisation's, or one agent's; with
    ``user_id``, only that user's (an agent's users who do not edit it see their own)."""

    org_id: int
    agent_id: int | None = None
    user_id: int | None = None


@dataclass(frozen=True)
class _Plan:
    scope: _Scope
    filters: DashboardFilters
    start: datetime
    end: datetime
    days: tuple[date, date] | None  # whole days [first, last) read from the rollups
    edges: tuple[tuple[datetime, datetime], ...]  # the rest of [start, end), read from responses
    chains: bool = False  # distinct users of whole days from the user chains

    @property
    def dimensions(self) -> set[str]:
        """The rollup dimensions the scope and filters restrict."""
        wanted = {
            "agent_id": self.scope.agent_id is not None or bool(self.filters.agent_ids),
            "project_id": bool(self.filters.project_ids),
            "user_id": self.scope.user_id is not None or bool(self.filters.user_ids),
            "query_source": bool(self.filters.query_sources),
        }
        return {dimension for dimension, needed in wanted.items() if needed}

    def conditions(self, columns: Any) -> list[ColumnElement[bool]]:
        """The scope and filters on a rollup model or on AgentResponse (same column names).
        When agents or users are named (all of them the caller's organisation's) the
        organisation is left out: SQLite's planner, which works without statistics, would walk
        the organisation's index instead of the agent's or user's."""
        scope, filters = self.scope, self.filters
        named = scope.agent_id or scope.user_id or filters.agent_ids or filters.user_ids
        found = [] if named else [columns.org_id == scope.org_id]
        if scope.agent_id is not None:
            found.append(columns.agent_id == scope.agent_id)
        if scope.user_id is not None:
            found.append(columns.user_id == scope.user_id)
        for name, values in (
            ("agent_id", filters.agent_ids),
            ("project_id", filters.project_ids),
            ("user_id", filters.user_ids),
            ("query_source", filters.query_sources),
        ):
            if values:
                found.append(getattr(columns, name).in_(values))
        return found


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=UTC)


def _plan(scope: _Scope, filters: DashboardFilters) -> _Plan:
    """Split the range into whole days and the partial days at its ends."""
    start, end = _window(filters.start, filters.end)
    last = end.date()  # the whole days end at the midnight at or before ``end``
    first: date | None = start.date()
    if start != _midnight(start.date()):
        first = start.date() + timedelta(days=1) if start.date() < last else None
    if first is None or first >= last:
        return _Plan(scope, filters, start, end, None, ((start, end),))
    edges = [(start, _midnight(first))] if start < _midnight(first) else []
    if _midnight(last) < end:
        edges.append((_midnight(last), end))
    return _Plan(scope, filters, start, end, (first, last), tuple(edges))


# -- SQL --------------------------------------------------------------------------------------

# Smallest first: the first rollup with every dimension a statement needs is read.
_ROLLUPS: tuple[tuple[Any, frozenset[str]], ...] = (
    (ResponseDailyOrgRollup, frozenset()),
    (ResponseDailyUserRollup, frozenset({"user_id"})),
    (ResponseDailyAgentRollup, frozenset({"agent_id", "project_id", "query_source"})),
    (ResponseDailyRollup, frozenset({"agent_id", "project_id", "query_source", "user_id"})),
)
# The monthly rollup of a daily one, for the whole months of a range.
_MONTHLY: dict[Any, Any] = {
    ResponseDailyUserRollup: ResponseMonthlyUserRollup,
    ResponseDailyAgentRollup: ResponseMonthlyAgentRollup,
}
# Distinct users per group: the chain keyed by the group's dimension (none: in all).
_CHAINS: tuple[tuple[Any, frozenset[str]], ...] = (
    (ResponseUserChainOrg, frozenset({"user_id"})),
    (ResponseUserChainAgent, frozenset({"agent_id", "user_id"})),
    (ResponseUserChainProject, frozenset({"project_id", "user_id"})),
    (ResponseUserChainSource, frozenset({"query_source", "user_id"})),
)
_DIMENSION = {
    "day": None,
    "agent": "agent_id",
    "project": "project_id",
    "user": "user_id",
    "query_source": "query_source",
}
_MEASURED_LATENCY = case((AgentResponse.latency_ms > 0, AgentResponse.latency_ms))


def _votes(flag: ColumnElement[bool]) -> Any:
    return (
        select(func.count())
        .where(ResponseFeedback.agent_response_id == AgentResponse.id, flag)
        .scalar_subquery()
    )


def _raw_columns() -> dict[str, Any]:
    """What one response adds to its rollup cell (the triggers' formulas)."""
    return {
        "day": UtcDay(AgentResponse.created_on),
        "agent_id": AgentResponse.agent_id,
        "project_id": func.coalesce(AgentResponse.project_id, 0),
        "query_source": AgentResponse.query_source,
        "user_id": AgentResponse.user_id,
        "responses": literal(1),
        "total_tokens": AgentResponse.total_tokens,
        "prompt_tokens": AgentResponse.prompt_tokens,
        "completion_tokens": AgentResponse.completion_tokens,
        "cost_units": cast(cost_units(AgentResponse.cost), BigInteger),
        "latency_sum": case((AgentResponse.latency_ms > 0, AgentResponse.latency_ms), else_=0),
        "latency_count": case((AgentResponse.latency_ms > 0, 1), else_=0),
        "cache_hits": case((AgentResponse.cache_hit.is_(True), 1), else_=0),
        "upvotes": _votes(ResponseFeedback.is_upvote.is_(True)),
        "downvotes": _votes(ResponseFeedback.is_downvote.is_(True)),
    }


@dataclass(frozen=True)
class _Part:
    """Where some of a plan's responses are counted: rollup-shaped columns by name, and the
    conditions that select the plan's rows."""

    columns: dict[str, Any]
    where: tuple[ColumnElement[bool], ...]

    def key(self, kind: str | None) -> list[ColumnElement[Any]]:
        if kind is None:
            return []
        if kind == "project":  # 0 in the rollups is "no project"
            return [func.nullif(self.columns["project_id"], 0).label("group_key")]
        return [self.columns[_DIMENSION[kind] or "day"].label("group_key")]


def _chain_parts(plan: _Plan, chain: Any, has: frozenset[str], first: date, last: date) -> list[_Part]:
    """The (group, user) pairs of the whole days [first, last), each once: the pair's last row in
    them, whose next day is after them. Two index ranges: the pairs never seen again (next day
    CHAIN_END, a seek on the day), and the rows pointing past ``last`` (only as many as the
    pairs seen after the range and before it)."""
    columns = {name: getattr(chain, name) for name in ("day", *has)}
    days = (chain.day >= first, chain.day < last, *plan.conditions(chain))  # the organisation's
    return [
        _Part(columns, (chain.next_day == CHAIN_END, *days)),
        _Part(columns, (chain.next_day >= last, chain.next_day < CHAIN_END, *days)),
    ]


def _whole_months(first: date, last: date) -> tuple[date, date] | None:
    """The whole calendar months in the days [first, last), as [first month, end month)."""
    start = first if first.day == 1 else (first.replace(day=1) + timedelta(days=31)).replace(day=1)
    end = last.replace(day=1)
    return (start, end) if start < end else None


def _rollup_part(plan: _Plan, rollup: Any, needed: set[str], first: date, last: date) -> _Part:
    """The days (or months, of a monthly rollup) [first, last) of ``rollup``."""
    month = getattr(rollup, "month", None)
    time = rollup.day if month is None else month
    columns = {name: getattr(rollup, name) for name in [*needed, *ROLLUP_MEASURES]}
    return _Part({"day": time, **columns}, (time >= first, time < last, *plan.conditions(rollup)))


def _parts(plan: _Plan, dimensions: set[str], coarse: bool = False, for_users: bool = False) -> list[_Part]:
    """The whole days from the smallest rollup that has ``dimensions`` (and those the scope and
    filters restrict), the partial days from the responses. When the days need not be told
    apart (``coarse``: every breakdown but the daily series) and nothing is filtered, whole months
    come from a monthly rollup, and distinct users from a user chain when the plan says they pay."""
    needed = dimensions | plan.dimensions
    parts = []
    chain = next(((model, has) for model, has in _CHAINS if has >= needed), None)
    if plan.days is not None and coarse and for_users and plan.chains and chain is not None:
        parts += _chain_parts(plan, *chain, *plan.days)
    elif plan.days is not None:
        rollup = next(model for model, has in _ROLLUPS if has >= needed)
        first, last = plan.days
        # Named agents or users are found by the daily rollups' indexes; the monthly ones have
        # none but the organisation's, and help only the organisation-wide reads.
        monthly = _MONTHLY.get(rollup) if coarse and not plan.dimensions else None
        months = _whole_months(first, last) if monthly is not None else None
        spans = [(first, last)]
        if monthly is not None and months is not None:
            parts.append(_rollup_part(plan, monthly, needed, *months))
            spans = [(a, b) for a, b in ((first, months[0]), (months[1], last)) if a < b]
        parts += [_rollup_part(plan, rollup, needed, a, b) for a, b in spans]
    if plan.edges:
        during = (and_(AgentResponse.created_on >= a, AgentResponse.created_on < b) for a, b in plan.edges)
        where = (AgentResponse.is_deleted.is_(False), *plan.conditions(AgentResponse), or_(*during))
        parts.append(_Part(_raw_columns(), where))
    return parts


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def _p95(session: Session, plan: _Plan, by_day: bool) -> dict[Any, float]:
    """The 95th percentile of measured latency in all (key None) and, ``by_day``, per day, in one
    pass over the responses (GROUPING SETS); PostgreSQL only, empty elsewhere."""
    if not _is_postgresql(session):
        return {}
    percentile = func.percentile_cont(0.95).within_group(_MEASURED_LATENCY)
    stmt = select(percentile).where(
        AgentResponse.is_deleted.is_(False),
        *plan.conditions(AgentResponse),
        AgentResponse.created_on >= plan.start,
        AgentResponse.created_on < plan.end,
    )
    if not by_day:
        return {None: session.scalar(stmt)}
    day = UtcDay(AgentResponse.created_on)
    stmt = stmt.add_columns(day, func.grouping(day)).group_by(func.grouping_sets(day, tuple_()))
    return {(None if total else key): value for value, key, total in session.execute(stmt)}


def _metrics(row: RowMapping, users: int, p95: float | None) -> Metrics:
    measured = int(row["latency_count"] or 0)
    return Metrics(
        responses=int(row["responses"] or 0),  # a sum over no rows is NULL
        users=users,
        total_tokens=int(row["total_tokens"] or 0),
        prompt_tokens=int(row["prompt_tokens"] or 0),
        completion_tokens=int(row["completion_tokens"] or 0),
        cost=cost_from_units(row["cost_units"]),
        avg_latency_ms=round(float(row["latency_sum"]) / measured, 1) if measured else None,
        p95_latency_ms=round(float(p95), 1) if p95 is not None else None,
        cache_hits=int(row["cache_hits"] or 0),
        upvotes=int(row["upvotes"] or 0),
        downvotes=int(row["downvotes"] or 0),
    )


def _users(session: Session, plan: _Plan, kind: str | None, dimensions: set[str]) -> dict[Any, int]:
    """Distinct users per group of ``kind`` (or in all), from a rollup keyed by user as well.
    PostgreSQL aggregates per (group, user) first and then per group, which it hashes; its plans
    for ``count(DISTINCT)`` sort instead, several times slower on a million rows. SQLite sorts
    for every GROUP BY anyway, and there the plain ``count(DISTINCT)`` is the faster form."""
    parts = _parts(plan, dimensions | {"user_id"}, coarse=kind != "day", for_users=True)
    postgresql = _is_postgresql(session)
    if len(parts) == 1 and not postgresql:
        part = parts[0]
        key = part.key(kind)
        found = select(*key, func.count(distinct(part.columns["user_id"]))).where(*part.where).group_by(*key)
    else:
        pairs = []
        for part in parts:
            key, user = part.key(kind), part.columns["user_id"]
            pair = select(*key, user.label("user_id")).where(*part.where)
            pairs.append(pair.group_by(*key, user) if postgresql else pair)
        every = union_all(*pairs).subquery("pairs") if len(pairs) > 1 else pairs[0].subquery("pairs")
        group = [every.c.group_key] if kind else []
        if postgresql:  # the same (group, user) may come from two parts
            if len(pairs) > 1:
                every = select(*group, every.c.user_id).group_by(*group, every.c.user_id).subquery("users")
                group = [every.c.group_key] if kind else []
            found = select(*group, func.count()).select_from(every).group_by(*group)
        else:
            found = select(*group, func.count(distinct(every.c.user_id))).group_by(*group)
    return {(row[0] if kind else None): int(row[-1]) for row in session.execute(found)}


def _sums(columns: Any) -> list[ColumnElement[Any]]:
    return [func.sum(columns[name]).label(name) for name in ROLLUP_MEASURES]


def _grouped(
    session: Session, plan: _Plan, kind: str | None, limit: int, p95: dict[Any, float]
) -> list[tuple[Any, Metrics]]:
    """The metrics per group of ``kind`` (one row in all for None): the sums from the smallest
    rollup that can give them, distinct users from one keyed by user (the same one when the
    filters name users). Each part is aggregated on its own; only their results are added up."""
    dimension = _DIMENSION.get(kind or "day")
    dimensions = {dimension} if dimension else set()
    parts = _parts(plan, dimensions, coarse=kind != "day")
    selects = [
        select(*key, *_sums(part.columns)).where(*part.where).group_by(*key)
        for part in parts
        for key in [part.key(kind)]  # one expression: PostgreSQL matches GROUP BY by its text
    ]
    # Filtered to users already, the sums read a table keyed by user: count them there too.
    counted_here = "user_id" in plan.dimensions and len(parts) == 1
    if counted_here:
        selects[0] = selects[0].add_columns(func.count(distinct(parts[0].columns["user_id"])).label("users"))
    found = selects[0]
    if len(selects) > 1:
        union = union_all(*selects).subquery("parts")
        group = [union.c.group_key] if kind else []
        found = select(*group, *_sums(union.c)).group_by(*group)
    if kind == "day":
        found = found.order_by(found.selected_columns.group_key)
    elif kind:
        busiest = found.selected_columns.responses.desc()
        found = found.order_by(busiest, found.selected_columns.group_key.asc().nulls_last()).limit(limit)
    rows = session.execute(found).mappings().all()
    if counted_here:
        users = {row.get("group_key"): int(row["users"]) for row in rows}
    elif kind == "user":  # a user's own group has one user; a group exists only where responses do
        users = {row["group_key"]: 1 for row in rows}
    else:
        users = _users(session, plan, kind, dimensions)
    p95 = p95 if kind in (None, "day") else {}
    return [
        (group_key, _metrics(row, users.get(group_key, 0), p95.get(group_key)))
        for row in rows
        for group_key in [row.get("group_key")]
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
    first: date = start.date()
    last: date = (end - timedelta(microseconds=1)).date()
    days = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    return [Group(d.isoformat(), None, by_day.get(d, Metrics())) for d in days]


def _chains_pay(session: Session, plan: _Plan) -> bool:
    """Whether the user chains beat the rollups for the plan's whole days: they read about one
    row per pair, plus the rows of pairs seen again after the range; the rollups one per pair
    and day in it. The organisation's responses after and in the days are the measure of both.
    When the scope or filters name agents, projects, users or sources, the rollups' rows for
    them are few already, and their indexes find them."""
    if plan.days is None or plan.dimensions:
        return False
    first, last = plan.days
    rollup = ResponseDailyOrgRollup
    inside, after = session.execute(
        select(
            func.sum(case((rollup.day < last, rollup.responses), else_=0)),
            func.sum(case((rollup.day >= last, rollup.responses), else_=0)),
        ).where(rollup.org_id == plan.scope.org_id, rollup.day >= first)
    ).one()
    return (after or 0) < (inside or 0)


def _dashboard(session: Session, scope: _Scope, filters: DashboardFilters) -> Dashboard:
    plan = _plan(scope, filters)
    plan = replace(plan, chains=_chains_pay(session, plan))
    p95 = _p95(session, plan, by_day="day" in filters.groupings)
    groups: dict[str, list[Group]] = {}
    for kind in dict.fromkeys(filters.groupings):
        found = _grouped(session, plan, kind, filters.limit, p95)
        if kind == "day":
            groups[kind] = _every_day(plan.start, plan.end, found)
        else:
            labels = _labels(session, kind, [k for k, _ in found])
            groups[kind] = [Group(k, labels.get(k), m) for k, m in found]
    totals = _grouped(session, plan, None, 1, p95)[0][1]
    return Dashboard(plan.start, plan.end, totals, groups)


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
    # As agent_response_visible: all of the agent's responses for its editors, else the caller's.
    sees_all = principal.is_admin or session.scalar(
        select(Agent.id).where(Agent.id == agent.id, agent_editable(principal))
    )
    return _dashboard(
        session, _Scope(agent.org_id, agent.id, None if sees_all else principal.user_id), filters
    )


def organization_dashboard(session: Session, principal: Principal, filters: DashboardFilters) -> Dashboard:
    """Every live response of the organisation; for organisation admins only."""
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can view the organization dashboard.")
    _check_filters(session, principal, filters)
    return _dashboard(session, _Scope(principal.org_id), filters)
