"""Parley-native read endpoints the console needs and no compatible surface offers: the
organisation's model calls (usage records) for its administrators. The Kore.ai surface reads
the same records, but per bot and with a bot's signed JWT, not a console login.

Errors use Parley's own format ``{"error": {"message", "detail"}}``. Paths and choices:
docs/console.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import iso
from parley.surfaces.ejento.params import DateRangeQuery, IdsQuery, PathId, id_list
from parley.usage import calls as usage_calls
from parley.usage.service import cost_text

router = APIRouter(tags=["Parley: usage"], dependencies=[api_category("usage_logs")])

MAX_PAGE = 200
Label = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00]*$")]


def _filters(
    dates: DateRangeQuery,
    agent_ids: IdsQuery,
    user_ids: IdsQuery,
    model: Label,
    feature: Label,
    status: usage_calls.CallStatus | None,
) -> usage_calls.CallFilters:
    return usage_calls.CallFilters(
        start=dates.start,
        end=dates.end,
        agent_ids=tuple(id_list(agent_ids, "agent_ids")),
        user_ids=tuple(id_list(user_ids, "user_ids")),
        model=model or None,
        feature=feature or None,
        status=status,
    )


def call_view(call: usage_calls.Call, *, payloads: bool = False) -> dict[str, Any]:
    record = call.record
    view: dict[str, Any] = {
        "id": record.id,
        "start_time": iso(record.start_time),
        "end_time": iso(record.end_time),
        "time_taken_ms": record.time_taken_ms,
        "status": record.status,
        "status_code": record.status_code,
        "error": record.error,
        "feature_name": record.feature_name,
        "prompt_name": record.prompt_name,
        "model_name": record.model_name,
        "integration": record.integration,
        "channel": record.channel,
        "agent": {"id": record.agent_id, "agent_name": call.agent_name} if record.agent_id else None,
        "user": {"id": record.user_id, "email": call.user_email} if record.user_id else None,
        "agent_response_id": record.agent_response_id,
        "llm_config_id": record.llm_config_id,
        "request_tokens": record.request_tokens,
        "response_tokens": record.response_tokens,
        "cost": cost_text(record.cost),
        "task_id": record.task_id,
        "session_id": record.session_id,
        "description": record.description,
        "is_developer": record.is_developer,
    }
    if payloads:
        view["request_payload"] = record.request_payload or {}
        view["response_payload"] = record.response_payload or {}
    return view


@router.get("/parley/v1/usage/calls")
def list_calls(
    principal: CurrentPrincipal,
    session: SessionDep,
    dates: DateRangeQuery,
    agent_ids: IdsQuery = None,
    user_ids: IdsQuery = None,
    model: Label = None,
    feature: Label = None,
    status: usage_calls.CallStatus | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> dict[str, Any]:
    """The organisation's model calls, newest first, without payloads."""
    filters = _filters(dates, agent_ids, user_ids, model, feature, status)
    calls, has_more = usage_calls.list_calls(session, principal, filters, limit, offset)
    return {
        "calls": [call_view(call) for call in calls],
        "limit": limit,
        "offset": offset,
        "has_more": has_more,
    }


@router.get("/parley/v1/usage/models")
def usage_by_model(
    principal: CurrentPrincipal,
    session: SessionDep,
    dates: DateRangeQuery,
    agent_ids: IdsQuery = None,
    user_ids: IdsQuery = None,
    feature: Label = None,
    status: usage_calls.CallStatus | None = None,
) -> dict[str, Any]:
    """Calls summed per model over the same filters as the list, and the features seen."""
    summary = usage_calls.model_summary(
        session, principal, _filters(dates, agent_ids, user_ids, None, feature, status)
    )
    return {
        # Every feature of the range, whichever one is chosen, so the choice can be changed.
        "features": summary.features,
        "models": [
            {
                "model_name": row.model_name,
                "calls": row.calls,
                "failures": row.failures,
                "request_tokens": row.request_tokens,
                "response_tokens": row.response_tokens,
                "cost": cost_text(row.cost),
                "avg_time_taken_ms": row.avg_time_taken_ms,
            }
            for row in summary.models
        ],
    }


@router.get("/parley/v1/usage/calls/{call_id}")
def get_call(call_id: PathId, principal: CurrentPrincipal, session: SessionDep) -> dict[str, Any]:
    """One call with its request and response payloads."""
    return call_view(usage_calls.get_call(session, principal, call_id), payloads=True)
