"""Reading usage records for an organisation's administrators: a filtered, paged list of model
calls (payloads left out), one call with its payloads, and the calls summed per model.

Every query is confined to the caller's organisation and newest first on
``ix_usage_org_start (org_id, start_time)``. The Kore.ai surface reads the same table per bot,
with Kore's filters and field names (``surfaces/kore/service.py``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from typing import Literal

from sqlalchemy import ColumnElement, Numeric, Select, case, func, select
from sqlalchemy.orm import Session, defer

from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents.models import Agent
from parley.errors import NotFoundError, PermissionDeniedError
from parley.usage.models import LLMUsageRecord
from parley.usage.service import cost_from_units, cost_units

CallStatus = Literal["success", "failure"]


@dataclass(frozen=True)
class CallFilters:
    """Empty filters do not restrict; ``[start, end)`` in UTC."""

    start: datetime | None = None
    end: datetime | None = None
    agent_ids: tuple[int, ...] = ()
    user_ids: tuple[int, ...] = ()
    model: str | None = None
    feature: str | None = None
    status: CallStatus | None = None


@dataclass(frozen=True)
class Call:
    """A usage record with the names of its agent and user (None when it has none)."""

    record: LLMUsageRecord
    agent_name: str | None
    user_email: str | None


@dataclass(frozen=True)
class ModelUsage:
    model_name: str
    calls: int
    failures: int
    request_tokens: int
    response_tokens: int
    cost: Decimal
    avg_time_taken_ms: float


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can read usage records.")


def _conditions(principal: Principal, filters: CallFilters) -> list[ColumnElement[bool]]:
    record = LLMUsageRecord
    conditions = [record.org_id == principal.org_id]
    if filters.start is not None:
        conditions.append(record.start_time >= filters.start)
    if filters.end is not None:
        conditions.append(record.start_time < filters.end)
    if filters.agent_ids:
        conditions.append(record.agent_id.in_(filters.agent_ids))
    if filters.user_ids:
        conditions.append(record.user_id.in_(filters.user_ids))
    if filters.model:
        conditions.append(record.model_name == filters.model)
    if filters.feature:
        conditions.append(record.feature_name == filters.feature)
    if filters.status:
        conditions.append(record.status == filters.status)
    return conditions


def _with_names(principal: Principal) -> Select[tuple[LLMUsageRecord, str | None, str | None]]:
    # Outer joins: embedding calls have no agent, and a record outlives its agent's deletion.
    return (
        select(LLMUsageRecord, Agent.agent_name, User.email)
        .outerjoin(Agent, (Agent.id == LLMUsageRecord.agent_id) & (Agent.org_id == principal.org_id))
        .outerjoin(User, (User.id == LLMUsageRecord.user_id) & (User.org_id == principal.org_id))
    )


def list_calls(
    session: Session, principal: Principal, filters: CallFilters, limit: int, offset: int
) -> tuple[list[Call], bool]:
    """A page of calls, newest first, without their payloads, and whether more follow."""
    _require_admin(principal)
    stmt = (
        _with_names(principal)
        .options(defer(LLMUsageRecord.request_payload), defer(LLMUsageRecord.response_payload))
        .where(*_conditions(principal, filters))
        .order_by(LLMUsageRecord.start_time.desc(), LLMUsageRecord.id.desc())
        .offset(offset)
        .limit(limit + 1)  # one more tells whether there is a next page, without counting them all
    )
    rows = session.execute(stmt).all()
    return [Call(*row) for row in rows[:limit]], len(rows) > limit


def get_call(session: Session, principal: Principal, call_id: int) -> Call:
    """One call with its payloads; another organisation's id is not found."""
    _require_admin(principal)
    row = session.execute(
        _with_names(principal).where(LLMUsageRecord.id == call_id, LLMUsageRecord.org_id == principal.org_id)
    ).first()
    if row is None:
        raise NotFoundError("Usage record")
    return Call(*row)


@dataclass(frozen=True)
class ModelSummary:
    models: list[ModelUsage]  # most called first
    features: list[str]  # every feature of the calls, whatever the feature filter


def model_summary(
    session: Session, principal: Principal, filters: CallFilters, limit: int = 100
) -> ModelSummary:
    """Calls, failures, tokens, cost and mean time per model, and the features seen.

    One scan: the calls are grouped by model and feature in SQL (a handful of groups) and the
    groups of the chosen feature summed here; a covering index would spare reading the wide
    rows (docs/console.md)."""
    _require_admin(principal)
    record = LLMUsageRecord
    cost_sum = func.sum(cost_units(record.cost), type_=Numeric(38, 0))
    stmt = (
        select(
            record.model_name,
            record.feature_name,
            func.count(),
            func.sum(case((record.status == "failure", 1), else_=0)),
            func.sum(record.request_tokens),
            func.sum(record.response_tokens),
            cost_sum,
            func.sum(record.time_taken_ms),
        )
        .where(*_conditions(principal, replace(filters, feature=None)))
        .group_by(record.model_name, record.feature_name)
    )
    totals: dict[str, list[int]] = {}
    features: set[str] = set()
    for model_name, feature_name, *sums in session.execute(stmt):
        features.add(feature_name)
        if filters.feature and feature_name != filters.feature:
            continue
        current = totals.setdefault(model_name, [0] * len(sums))
        for i, value in enumerate(sums):
            current[i] += int(value or 0)
    models = [
        ModelUsage(
            model_name=name,
            calls=calls,
            failures=failures,
            request_tokens=request_tokens,
            response_tokens=response_tokens,
            cost=cost_from_units(cost),
            avg_time_taken_ms=round(time_taken / calls, 1),
        )
        for name, (calls, failures, request_tokens, response_tokens, cost, time_taken) in totals.items()
    ]
    models.sort(key=lambda m: (-m.calls, m.model_name))
    return ModelSummary(models=models[:limit], features=sorted(features))
