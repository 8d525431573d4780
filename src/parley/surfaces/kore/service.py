"""Kore.ai usage logs: the request's filters as one SQL query over ``llm_usage_records``, and
each record in Kore's exact keys (``"Feature Name "`` with its trailing space included).

Id mapping: a bot is a Parley agent, ``botId`` = ``st-<agent id>`` (the bare id works too);
``"User ID"`` is ``u-<user id>``. Choices and field mappings: docs/api/kore.md.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, StrictStr, StringConstraints
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.sql.functions import FunctionElement

from parley.access.principal import Principal
from parley.agents import service as agents
from parley.agents.models import Agent
from parley.db.engine import session_scope
from parley.errors import InvalidInputError, NotFoundError
from parley.surfaces.kore import rate_limit
from parley.usage.models import LLMUsageRecord

MAX_WINDOW = timedelta(days=90)
DEFAULT_LIMIT = 50
BOT_PREFIX = "st-"
USER_PREFIX = "u-"
MAX_FILTER_VALUES = 1000
# Up to this many records in the window, sorting them beats walking the time-taken index.
SORT_IN_MEMORY = 5000

# Feature names are an open set. Each group lists equal names, its display name first: Kore's
# renames (GenAI Node → Agent Node, GenAI Prompt → Prompt Node; dynamicEntity is the old key)
# and the features of Parley's own answer path (stored under their internal keys).
FEATURE_GROUPS: tuple[tuple[str, ...], ...] = (
    ("Agent Node", "GenAI Node", "Dynamic Entity", "dynamicEntity"),
    ("Prompt Node", "GenAI Prompt"),
    ("Answer Generation", "generation"),
    ("Rephrase User Query", "query_rewrite"),
    ("Follow-up Suggestions", "followups"),
)
_FEATURE_GROUP = {name.lower(): group for group in FEATURE_GROUPS for name in group}
INTEGRATIONS = {"openai": "OpenAI", "azure": "Azure OpenAI", "llamacpp": "llama.cpp", "offline": "Parley"}

# Sortable record keys (compared trimmed and case-insensitively) and their columns.
SORT_COLUMNS: dict[str, Any] = {
    "time taken": LLMUsageRecord.time_taken_ms,
    "start date": LLMUsageRecord.start_time,
    "end date": LLMUsageRecord.end_time,
    "statuscode": LLMUsageRecord.status_code,
    "status": LLMUsageRecord.status,
    "prompt name": LLMUsageRecord.prompt_name,
    "integration": LLMUsageRecord.integration,
    "bot id": LLMUsageRecord.agent_id,
    "user id": LLMUsageRecord.user_id,
    "feature name": LLMUsageRecord.feature_name,
    "model name": LLMUsageRecord.model_name,
    "channel name": LLMUsageRecord.channel,
    "description": LLMUsageRecord.description,
    "task id": LLMUsageRecord.task_id,
    "request tokens": LLMUsageRecord.request_tokens,
    "response tokens": LLMUsageRecord.response_tokens,
}


def _without_nul(value: str) -> str:
    # PostgreSQL cannot hold a NUL in text: refused here, the same on both backends.
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


FilterText = Annotated[str, StringConstraints(max_length=200), AfterValidator(_without_nul)]
OneOrMany = FilterText | list[FilterText]


class SortSpec(BaseModel):
    field: StrictStr
    order: StrictStr = "desc"


class UsageLogsBody(BaseModel):
    """The request as Kore documents it, with both spellings where its table and sample differ."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    date_from: StrictStr = Field(alias="dateFrom")
    date_to: StrictStr = Field(alias="dateTo")
    # Numbers or numeric strings (both Kore samples send strings); checked by _count.
    limit: StrictInt | StrictStr | None = None
    skip: StrictInt | StrictStr | None = None
    is_developer: bool = Field(default=False, alias="isDeveloper")
    channel: OneOrMany | None = None
    feature_name: OneOrMany | None = Field(default=None, alias="featureName")
    task_id: OneOrMany | None = Field(default=None, alias="taskId")
    channel_user_ids: OneOrMany | None = Field(default=None, alias="channelUserIds")
    channel_uids: OneOrMany | None = Field(default=None, alias="channelUIds")
    user_ids: OneOrMany | None = Field(default=None, alias="userIds")
    user_id: OneOrMany | None = Field(default=None, alias="userId")
    session_ids: OneOrMany | None = Field(default=None, alias="sessionIds")
    sort: SortSpec | None = None


@dataclass(frozen=True)
class UsageLogQuery:
    start: datetime
    end: datetime  # exclusive
    limit: int
    skip: int
    include_developer: bool
    channels: tuple[str, ...]
    features: tuple[str, ...]  # lower-case names, aliases expanded
    task_ids: tuple[str, ...]
    channel_user_ids: tuple[str, ...]
    user_ids: tuple[int, ...] | None  # None: no user filter
    session_ids: tuple[str, ...]
    sort_column: Any
    descending: bool


# -- the request -----------------------------------------------------------------------------


def _values(*fields: str | list[str] | None) -> tuple[str, ...]:
    """A filter given as one string or a list (under either spelling), de-duplicated."""
    values: dict[str, None] = {}
    for field in fields:
        for value in [field] if isinstance(field, str) else field or []:
            values[value.strip()] = None
    if len(values) > MAX_FILTER_VALUES:
        raise InvalidInputError(f"A filter takes at most {MAX_FILTER_VALUES} values.")
    return tuple(values)


def _count(value: int | str | None, name: str, default: int, minimum: int, maximum: int) -> int:
    if value is None:
        return default
    if isinstance(value, str):
        if not re.fullmatch(r"\s*\d{1,9}\s*", value):
            raise InvalidInputError(f"{name} must be a whole number.")
        value = int(value)
    if not minimum <= value <= maximum:
        raise InvalidInputError(f"{name} must be between {minimum} and {maximum}.")
    return value


def _instant(text: str, name: str) -> tuple[datetime, bool]:
    """A ``YYYY-MM-DD`` date (its UTC midnight) or an ISO-8601 time (UTC when it has no offset),
    and whether it was a date only."""
    text = text.strip()
    try:
        if re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC), True
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidInputError(f"{name} must be a date (YYYY-MM-DD) or an ISO-8601 time.") from exc
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)), False


def _features(names: Sequence[str]) -> tuple[str, ...]:
    wanted: dict[str, None] = {}
    for name in names:
        for equal in _FEATURE_GROUP.get(name.lower(), (name,)):
            wanted[equal.lower()] = None
    return tuple(wanted)


def _user_ids(values: Sequence[str]) -> tuple[int, ...] | None:
    """``u-<id>`` or a bare id; other values match nothing (an empty tuple filters all out)."""
    if not values:
        return None
    ids = (agents.parse_id(v.removeprefix(USER_PREFIX)) for v in values)
    return tuple(sorted({user_id for user_id in ids if user_id is not None}))


def _sort(spec: SortSpec | None) -> tuple[Any, bool]:
    if spec is None:
        return LLMUsageRecord.start_time, True
    column = SORT_COLUMNS.get(spec.field.strip().lower())
    if column is None:
        raise InvalidInputError(f"sort.field '{spec.field}' is not a record field that can be sorted on.")
    order = spec.order.strip().lower()
    if order not in ("asc", "desc"):
        raise InvalidInputError("sort.order must be 'asc' or 'desc'.")
    return column, order == "desc"


def parse_query(body: UsageLogsBody, max_limit: int) -> UsageLogQuery:
    start, _ = _instant(body.date_from, "dateFrom")
    end, end_is_date = _instant(body.date_to, "dateTo")
    if start > end:
        raise InvalidInputError("dateFrom must not be after dateTo.")
    if end - start > MAX_WINDOW:
        raise InvalidInputError("dateFrom and dateTo may be at most 90 days apart.")
    sort_column, descending = _sort(body.sort)
    return UsageLogQuery(
        start=start,
        # A date-only dateTo includes its whole day; a time is included itself.
        end=end + (timedelta(days=1) if end_is_date else timedelta(microseconds=1)),
        limit=_count(body.limit, "limit", DEFAULT_LIMIT, 1, max_limit),
        skip=_count(body.skip, "skip", 0, 0, 10**9),
        include_developer=body.is_developer,
        channels=_values(body.channel),
        features=_features(_values(body.feature_name)),
        task_ids=_values(body.task_id),
        channel_user_ids=_values(body.channel_user_ids, body.channel_uids),
        user_ids=_user_ids(_values(body.user_ids, body.user_id)),
        session_ids=_values(body.session_ids),
        sort_column=sort_column,
        descending=descending,
    )


# -- the bot and its records -----------------------------------------------------------------


def logs_bot(session: Session, principal: Principal, bot_id: str) -> Agent:
    """The agent behind ``botId``: another organisation's (or an unknown) bot is not found; its
    logs are for those who may edit it (organisation admins, its owner and editors)."""
    agent_id = agents.parse_id(bot_id.removeprefix(BOT_PREFIX))
    if agent_id is None:
        raise NotFoundError("Bot")
    try:
        return agents.get_editable_agent(session, principal, agent_id, "read the usage logs of this bot")
    except NotFoundError as exc:
        raise NotFoundError("Bot") from exc


class NotIndexed(FunctionElement[Any]):
    """A column SQLite must not find rows by: ``+column`` there (SQLite's documented way to
    keep a term from using an index), the column itself elsewhere."""

    inherit_cache = True
    name = "not_indexed"

    def __init__(self, column: Any) -> None:
        super().__init__(column)
        self.type = column.type


@compiles(NotIndexed)
def _not_indexed(element: NotIndexed, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.clauses, **kw))


@compiles(NotIndexed, "sqlite")
def _not_indexed_sqlite(element: NotIndexed, compiler: Any, **kw: Any) -> str:
    return "+" + str(compiler.process(element.clauses, **kw))


# How SQLite should find a page, which its planner cannot tell without statistics (Parley never
# runs ANALYZE): left alone, it takes the bot's start-time index and then reads and sorts every
# record of the window.
BY_USER = "user"  # the user's start-time index: a user's share of the window is small
BY_TIME_TAKEN = "time_taken"  # the bot's time-taken index, read in order until a page is found


def _window(org_id: int, agent_id: int, query: UsageLogQuery, plan: str | None) -> list[ColumnElement[bool]]:
    """The bot's records in the date window."""
    record = LLMUsageRecord
    agent = NotIndexed(record.agent_id) if plan == BY_USER else record.agent_id
    start = NotIndexed(record.start_time) if plan == BY_TIME_TAKEN else record.start_time
    return [record.org_id == org_id, agent == agent_id, start >= query.start, start < query.end]


def _conditions(
    org_id: int, agent_id: int, query: UsageLogQuery, plan: str | None
) -> list[ColumnElement[bool]]:
    record = LLMUsageRecord
    conditions = _window(org_id, agent_id, query, plan)
    if not query.include_developer:
        conditions.append(record.is_developer.is_(False))
    if query.user_ids is not None:
        conditions.append(record.user_id.in_(query.user_ids))
    if query.features:
        conditions.append(func.lower(record.feature_name).in_(query.features))
    for column, values in (
        (record.channel, query.channels),
        (record.task_id, query.task_ids),
        (record.channel_user_id, query.channel_user_ids),
        (record.session_id, query.session_ids),
    ):
        if values:
            conditions.append(column.in_(values))
    return conditions


def records_query(
    org_id: int, agent_id: int, query: UsageLogQuery, plan: str | None = None
) -> Select[tuple[LLMUsageRecord]]:
    column = query.sort_column
    order = (column.desc(), LLMUsageRecord.id.desc()) if query.descending else (column, LLMUsageRecord.id)
    return (
        select(LLMUsageRecord)
        .where(*_conditions(org_id, agent_id, query, plan))
        .order_by(*order)
        .offset(query.skip)
        .limit(query.limit)
    )


def _window_holds_many(session: Session, org_id: int, agent_id: int, query: UsageLogQuery) -> bool:
    """Whether the bot has at least SORT_IN_MEMORY records in the window (counted on the
    index of the bot's start times, stopping there)."""
    probe = select(LLMUsageRecord.id).where(*_window(org_id, agent_id, query, None)).limit(SORT_IN_MEMORY)
    return (session.scalar(select(func.count()).select_from(probe.subquery())) or 0) >= SORT_IN_MEMORY


def sqlite_plan(session: Session, org_id: int, agent_id: int, query: UsageLogQuery) -> str | None:
    """BY_USER with a user filter; BY_TIME_TAKEN when sorting by time taken over a window of
    many records and nothing else narrows it (with W of the bot's N records in the window,
    about 50·N/W index entries are read instead of W records sorted); else the planner's
    choice. PostgreSQL has statistics and chooses by itself."""
    if session.get_bind().dialect.name != "sqlite":
        return None
    if query.user_ids is not None:
        return BY_USER
    narrowed = (
        query.channels or query.features or query.task_ids or query.channel_user_ids or query.session_ids
    )
    by_time_taken = query.sort_column is LLMUsageRecord.time_taken_ms and not narrowed
    if by_time_taken and _window_holds_many(session, org_id, agent_id, query):
        return BY_TIME_TAKEN
    return None


def find_records(session: Session, org_id: int, agent_id: int, query: UsageLogQuery) -> list[LLMUsageRecord]:
    if query.user_ids == ():  # a user filter naming no Parley user
        return []
    plan = sqlite_plan(session, org_id, agent_id, query)
    return list(session.scalars(records_query(org_id, agent_id, query, plan)))


def _time(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def record_view(record: LLMUsageRecord) -> dict[str, Any]:
    """One record with exactly the documented keys, in the documented order."""
    return {
        "Prompt Name": record.prompt_name,
        "Integration": INTEGRATIONS.get(record.integration, record.integration),
        "start Date": _time(record.start_time),
        "End Date": _time(record.end_time),
        "Time Taken": record.time_taken_ms,
        "statusCode": record.status_code,
        "Bot ID": f"{BOT_PREFIX}{record.agent_id}",
        "User ID": f"{USER_PREFIX}{record.user_id}" if record.user_id is not None else "",
        "Feature Name ": _FEATURE_GROUP.get(record.feature_name.lower(), (record.feature_name,))[0],
        "Model Name": record.model_name,
        "Channel Name": record.channel,
        "Description": record.description,
        "task Id": record.task_id,
        "Status": "Failure" if record.status == "failure" else "Success",
        "Payload Details": {
            "Prompt Name": record.prompt_name,
            "Request Payload": record.request_payload or {},
            "Response Payload": record.response_payload or {},
            "Request Tokens": record.request_tokens,
            "Response Tokens": record.response_tokens,
        },
    }


def usage_logs(
    session: Session,
    write_sessions: sessionmaker[Session],
    principal: Principal,
    bot_id: str,
    body: UsageLogsBody,
    max_limit: int,
) -> list[dict[str, Any]]:
    """A page of the bot's usage records. A bot whose rate limit is spent is refused before
    the query runs; the call is counted only once its records were read, in a transaction of
    its own (so the read never holds a write lock), which a call crossing the limit rolls back."""
    agent = logs_bot(session, principal, bot_id)
    query = parse_query(body, max_limit)
    bot_limits = rate_limit.limits(agent.settings)
    now = time.time()
    rate_limit.refuse_when_spent(session, agent.id, bot_limits, now)
    records = find_records(session, principal.org_id, agent.id, query)
    with session_scope(write_sessions) as writes:
        rate_limit.consume(writes, agent.id, bot_limits, now)
    return [record_view(record) for record in records]
