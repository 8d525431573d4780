"""Call pricing and usage records (parley.usage.service)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from parley.accounts.service import create_organization
from parley.llm.models import LLMConfig
from parley.usage.models import LLMUsageRecord
from parley.usage.service import price, record_call


def config(provider: str = "openai", price_in: str = "2.5", price_out: str = "10") -> LLMConfig:
    return LLMConfig(
        name="GPT",
        provider=provider,
        model="gpt-4o",
        price_input_per_million=Decimal(price_in),
        price_output_per_million=Decimal(price_out),
    )


def test_price_is_per_million_tokens_to_eight_decimals():
    # 1,000 × 2.5 / 1M + 500 × 10 / 1M
    assert price(config(), 1_000, 500) == Decimal("0.0075")
    assert price(config(), 1_000_000, 1_000_000) == Decimal("12.5")
    assert price(config(), 0, 0) == 0
    assert price(config(), 1, 0).as_tuple().exponent == -8
    # Rounded half up at the eighth decimal: 0.005 / 1M = 0.000000005 -> 0.00000001.
    assert price(config(price_in="0.005", price_out="0"), 1, 0) == Decimal("0.00000001")
    assert price(config(price_in="0.004999", price_out="0"), 1, 0) == 0
    assert price(config(price_in="0.000001", price_out="0.000001"), 3, 4) == 0
    assert price(config(price_in="0.123456", price_out="7.654321"), 123_457, 98_765) == Decimal("0.77122052")
    # Large prices and counts stay exact.
    assert price(config(price_in="999999999999.999999", price_out="0"), 2_000_000, 0) == Decimal(
        "1999999999999.999998"
    )


def test_the_offline_answerer_costs_nothing():
    assert price(None, 10_000, 10_000) == 0
    assert price(config(provider="offline", price_in="5", price_out="5"), 10_000, 10_000) == 0
    # A local model can still carry a price (amortised hardware, say).
    assert price(config(provider="llamacpp", price_in="1", price_out="0"), 1_000_000, 5) == 1


def test_negative_token_counts_are_a_bug():
    for counts in ((-1, 0), (0, -1)):
        with pytest.raises(ValueError):
            price(config(), *counts)


def test_record_call_fills_duration_status_and_cost(db: Session):
    org = create_organization(db, "Usage Org")
    gpt = config()
    gpt.org_id = org.id
    db.add(gpt)
    db.commit()
    started = datetime(2024, 3, 8, 6, 38, 54, 8000, tzinfo=UTC)
    ended = started + timedelta(seconds=4, microseconds=378_900)
    common = {
        "org_id": org.id,
        "user_id": None,
        "agent_id": None,
        "prompt_name": "Default",
        "feature_name": "answer",
        "channel": "web",
        "started": started,
        "ended": ended,
        "request_payload": {"messages": [{"role": "user", "content": "Hi"}]},
        "response_payload": {"choices": []},
        "request_tokens": 614,
        "response_tokens": 74,
    }
    ok = record_call(
        db, **common, llm_config=gpt, model_name="gpt-4o", status_code=200, error="", task_id="t-1"
    )
    db.commit()
    db.expire_all()
    row = db.get(LLMUsageRecord, ok.id)
    assert row is not None
    assert (row.time_taken_ms, row.status, row.status_code, row.error) == (4378, "success", 200, "")
    # 614 × 2.5 / 1M + 74 × 10 / 1M
    assert row.cost == Decimal("0.002275") and row.llm_config_id == gpt.id
    assert (row.integration, row.model_name, row.prompt_name, row.task_id) == (
        "openai",
        "gpt-4o",
        "Default",
        "t-1",
    )
    assert row.start_time == started and row.end_time == ended
    assert row.request_payload == common["request_payload"] and row.response_payload == {"choices": []}
    assert (row.request_tokens, row.response_tokens, row.agent_response_id) == (614, 74, None)

    # Failures: an error or an HTTP error status; an offline call costs nothing.
    failed = record_call(
        db, **common, llm_config=None, model_name="m" * 300, status_code=200, error="timed out"
    )
    upstream = record_call(
        db, **common, llm_config=gpt, model_name="gpt-4o", status_code=429, error="", integration="Azure"
    )
    db.commit()
    assert (failed.status, failed.cost, failed.integration, failed.llm_config_id) == (
        "failure",
        0,
        "offline",
        None,
    )
    assert failed.model_name == "m" * 200  # cut to the column, so the record is still written
    assert (upstream.status, upstream.integration) == ("failure", "Azure")
    # A clock that went backwards never gives a negative duration.
    backwards = record_call(
        db,
        **{**common, "ended": started - timedelta(seconds=1)},
        llm_config=gpt,
        model_name="x",
        status_code=200,
        error="",
    )
    assert backwards.time_taken_ms == 0
