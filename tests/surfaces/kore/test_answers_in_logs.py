"""The usage records real answers write, read back through Kore's usage logs: answers given
through the SuperOffice and Ejento surfaces, by the offline answerer and by a real
OpenAI-compatible model (whose raw request and response payloads the logs carry)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from parley.responses.models import AgentResponse
from parley.usage.models import LLMUsageRecord
from tests.support.llm_server import SERVED_MODEL_NAME, llama_server, require_llama_cpp
from tests.surfaces.ejento.factories import fresh, succeeded
from tests.surfaces.kore.conftest import RECORD_KEYS, sign, usage_logs
from tests.surfaces.superoffice.support import bearer, make_desk, so_post


def _today() -> dict[str, str]:
    today = datetime.now(UTC).date()
    return {"dateFrom": str(today - timedelta(days=1)), "dateTo": str(today + timedelta(days=1))}


def _ask_superoffice(world, desk, question: str, chat_id: str = "ticket-7", **extra: str) -> dict:  # type: ignore[no-untyped-def]
    body = {"ChatId": chat_id, "UserPrompt": question, **extra}
    r = so_post(bearer(desk.owner), world, "GetChatbotResponse", json=body)
    assert r.status_code == 200, r.text
    return r.json()


def test_answers_from_two_surfaces_show_in_the_bots_logs(world, db):
    desk = make_desk(world, db)
    _ask_superoffice(world, desk, "How long do customers have to return goods?")
    ejento = succeeded(
        desk.owner.post(
            f"/response-service/api/v2/agents/{desk.agent.id}/responses",
            json={"user_query": "When must vacation be requested?"},
        ),
        200,
        "Agent Response Created Successfully.",
    )
    fresh(db)
    rows = db.scalars(select(AgentResponse).order_by(AgentResponse.id)).all()
    bot_id = f"st-{desk.agent.id}"
    token = sign(db, desk.owner)
    # The agent's owner asked: developer interactions, left out unless asked for.
    assert usage_logs(world, bot_id, token, _today()).json() == []
    developer = {**_today(), "isDeveloper": True}
    r = usage_logs(world, bot_id, token, {**developer, "sort": {"field": "start Date", "order": "asc"}})
    assert r.status_code == 200, r.text
    records = r.json()
    assert [x["Channel Name"] for x in records] == ["superoffice", "web"]
    for record, row in zip(records, rows, strict=True):
        stored = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)).one()
        assert list(record) == RECORD_KEYS
        assert record["Feature Name "] == "Answer Generation" and record["Prompt Name"] == "answer"
        assert record["Model Name"] == row.response["model"] == "parley-extractive"
        assert (
            record["Integration"] == "Parley"
            and record["Status"] == "Success"
            and record["statusCode"] == 200
        )
        assert record["Bot ID"] == bot_id and record["User ID"] == f"u-{desk.owner.id}"
        assert record["task Id"] == row.run_id and record["Time Taken"] == stored.time_taken_ms
        assert record["start Date"] == stored.start_time.isoformat(timespec="milliseconds").replace(
            "+00:00", "Z"
        )
        details = record["Payload Details"]
        assert details["Request Tokens"] == row.prompt_tokens > 0
        assert details["Response Tokens"] == row.completion_tokens > 0
        assert details["Request Payload"] == stored.request_payload
        assert details["Response Payload"] == stored.response_payload
        assert stored.is_developer and stored.session_id == str(row.chat_thread_id)
    assert ejento["agent_response_id"] == rows[1].id
    # Filtered by the SuperOffice channel and the user, slowest first.
    body = {
        **developer,
        "channel": "superoffice",
        "userIds": [f"u-{desk.owner.id}"],
        "sort": {"field": "Time Taken"},
    }
    assert [x["task Id"] for x in usage_logs(world, bot_id, token, body).json()] == [rows[0].run_id]


@pytest.fixture(scope="module")
def llama_base_url() -> Iterator[str]:
    require_llama_cpp()
    with llama_server(n_ctx=2048) as base_url:
        yield base_url


def test_a_real_models_payloads_and_token_counts(world, db, llama_base_url):
    desk = make_desk(world, db)
    config = succeeded(
        desk.admin.post(
            "/v2/api/llm-config",
            json={
                "name": "local model",
                "provider": "openai",
                "model": SERVED_MODEL_NAME,
                "endpoint": llama_base_url,
                "max_output_tokens": 40,
                "context_window": 2048,
                "temperature": 0,
                "timeout_seconds": 120,
            },
        ),
        201,
        "LLM config created successfully.",
    )
    r = desk.admin.put(f"/v2/api/agent/{desk.agent.id}/llm-config", json={"llm_config_id": config["id"]})
    succeeded(r, 200, "Agent LLM config updated successfully.")
    _ask_superoffice(world, desk, "How long do customers have to return goods?", IsoLangCode="de")
    _ask_superoffice(world, desk, "And how are they paid?")  # history: the model rewrites the query
    body = {**_today(), "isDeveloper": True, "sort": {"field": "start Date", "order": "asc"}}
    records = usage_logs(world, f"st-{desk.agent.id}", sign(db, desk.owner, "HS512"), body).json()
    features = [x["Feature Name "] for x in records]
    assert features[:2] == ["Answer Generation", "Follow-up Suggestions"]
    assert "Rephrase User Query" in features[2:]
    for record in records:
        details = record["Payload Details"]
        assert record["Integration"] == "OpenAI" and record["Model Name"] == SERVED_MODEL_NAME
        assert (
            details["Request Payload"]["messages"]
            and details["Request Payload"]["model"] == SERVED_MODEL_NAME
        )
        usage = details["Response Payload"]["usage"]
        assert details["Request Tokens"] == usage["prompt_tokens"] > 0
        assert details["Response Tokens"] == usage["completion_tokens"] > 0
        assert details["Response Payload"]["choices"][0]["text"]
    generation = records[0]["Payload Details"]["Request Payload"]["messages"]
    assert "return goods" in generation[-1]["content"]
    # The reply language the client asked for is part of the model's instructions.
    assert "ISO code is 'de'" in generation[0]["content"]
    # Only rephrase records, by Kore's name for the feature.
    rephrase = usage_logs(
        world,
        f"st-{desk.agent.id}",
        sign(db, desk.owner),
        {**_today(), "isDeveloper": True, "featureName": ["Rephrase User Query"]},
    ).json()
    assert rephrase and {x["Feature Name "] for x in rephrase} == {"Rephrase User Query"}
