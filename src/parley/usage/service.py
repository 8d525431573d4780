"""Usage records: what one model call cost and how it went.

Every model call (answer generation, query rewrite, follow-ups, remote embeddings, tool calls)
is recorded once with :func:`record_call`; the answer path writes them and the usage-log
endpoints read them.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import ColumnElement, func
from sqlalchemy.orm import InstrumentedAttribute, Session

from parley.accounts.models import Organization
from parley.llm.models import LLMConfig
from parley.usage.models import LLMUsageRecord

# Costs are stored as Numeric(18, 8); rounding half up, as invoices do.
COST_STEP = Decimal("0.00000001")
# Sums of costs are taken in whole units of COST_STEP, so SQLite's float numerics add up exactly.
_COST_UNITS = 10**8


def cost_units(column: ColumnElement[Decimal] | InstrumentedAttribute[Decimal]) -> ColumnElement[int]:
    """A cost column in whole units of :data:`COST_STEP`, to be summed in SQL."""
    return func.round(column * _COST_UNITS)


def cost_from_units(units: int | Decimal | None) -> Decimal:
    """A sum of :func:`cost_units` back as a cost."""
    return (Decimal(units or 0) / _COST_UNITS).quantize(COST_STEP)


_MILLION = Decimal(1_000_000)
# Organization.settings key: when true, the organisation's usage records keep their payloads'
# shape and numbers but none of their text (prompts and answers may hold personal data).
REDACT_PAYLOADS = "redact_usage_payloads"
REDACTED = "[redacted]"


def price(config: LLMConfig | None, prompt_tokens: int, completion_tokens: int) -> Decimal:
    """The cost of one call at the config's prices per million tokens, to 8 decimals. The
    built-in offline answerer (no config, or the ``offline`` provider) costs nothing.

    Format the result with ``format(cost, "f")``: a zero prints as ``0E-8`` through ``str``.
    """
    if prompt_tokens < 0 or completion_tokens < 0:
        raise ValueError("token counts cannot be negative")
    if config is None or config.provider == "offline":
        return Decimal(0).quantize(COST_STEP)
    cost = (
        prompt_tokens * Decimal(config.price_input_per_million)
        + completion_tokens * Decimal(config.price_output_per_million)
    ) / _MILLION
    return cost.quantize(COST_STEP, rounding=ROUND_HALF_UP)


def cost_text(cost: Decimal | None) -> str:
    """A cost as the APIs show it: a plain decimal string without trailing zeros ("0.02404")."""
    return format(Decimal(cost or 0).normalize(), "f")


def _fit(name: str, value: str) -> str:
    """Cut a label to its column: a long label must not make the call's record fail."""
    limit = LLMUsageRecord.__table__.c[name].type.length  # type: ignore[attr-defined]
    return value[:limit]


def redacted(value: Any) -> Any:
    """``value`` with every string replaced; keys, numbers and booleans stay readable."""
    if isinstance(value, str):
        return REDACTED
    if isinstance(value, dict):
        return {key: redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value


def set_payload_redaction(session: Session, org_id: int, redact: bool) -> None:
    org = session.get(Organization, org_id)
    assert org is not None  # the caller found it
    org.settings = {**(org.settings or {}), REDACT_PAYLOADS: redact}


def redacts_payloads(session: Session, org_id: int) -> bool:
    org = session.get(Organization, org_id)
    return bool(org is not None and (org.settings or {}).get(REDACT_PAYLOADS))


def record_call(
    session: Session,
    *,
    org_id: int,
    user_id: int | None,
    agent_id: int | None,
    llm_config: LLMConfig | None,
    prompt_name: str,
    feature_name: str,
    model_name: str,
    channel: str,
    started: datetime,
    ended: datetime,
    status_code: int,
    error: str,
    request_payload: dict,
    response_payload: dict,
    request_tokens: int,
    response_tokens: int,
    agent_response_id: int | None = None,
    task_id: str = "",
    description: str = "",
    integration: str = "",
    session_id: str = "",
    channel_user_id: str = "",
    is_developer: bool = False,
) -> LLMUsageRecord:
    """Add one usage record (flushed, so it has an id). A call failed when it has an error or an
    HTTP status of 400 or more; ``integration`` defaults to the config's provider. Payloads are
    stored redacted when the organisation's settings ask for it."""
    if redacts_payloads(session, org_id):
        request_payload, response_payload = redacted(request_payload), redacted(response_payload)
    labels = {
        "prompt_name": prompt_name,
        "integration": integration or (llm_config.provider if llm_config else "offline"),
        "feature_name": feature_name,
        "model_name": model_name,
        "channel": channel,
        "channel_user_id": channel_user_id,
        "session_id": session_id,
        "task_id": task_id,
    }
    record = LLMUsageRecord(
        org_id=org_id,
        agent_id=agent_id,
        user_id=user_id,
        agent_response_id=agent_response_id,
        llm_config_id=llm_config.id if llm_config else None,
        description=description,
        start_time=started,
        end_time=ended,
        time_taken_ms=max(0, (ended - started) // timedelta(milliseconds=1)),
        status_code=status_code,
        status="failure" if error or status_code >= 400 else "success",
        error=error,
        request_payload=request_payload,
        response_payload=response_payload,
        request_tokens=request_tokens,
        response_tokens=response_tokens,
        cost=price(llm_config, request_tokens, response_tokens),
        is_developer=is_developer,
        **{name: _fit(name, value) for name, value in labels.items()},
    )
    session.add(record)
    session.flush()
    return record
