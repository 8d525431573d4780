"""Create Agent Response (legacy and response-service forms, JSON and Server-Sent Events) on the
offline default and on a real OpenAI-compatible server, and Create Agent Response Log."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.answers.extractive import NOT_FOUND_ANSWER
from parley.app import create_app
from parley.corpora.models import AgentCorpus, Chunk, Corpus, CorpusPermission
from parley.responses.models import AgentResponse
from parley.settings import IngestSettings
from parley.threads.models import ChatThread
from parley.usage import service as usage_service
from parley.usage.models import LLMUsageRecord
from tests.conftest import make_settings
from tests.support.llm_server import SERVED_MODEL_NAME, llama_server, require_llama_cpp
from tests.support.openai_error_server import OpenAIErrorServer
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    _save,
    add_text,
    assert_error,
    count,
    fresh,
    make_agent,
    make_corpus,
    make_thread,
    poll,
    succeeded,
)

ANSWERED = "Agent Response Created Successfully."
REFUND = (
    "Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund. "
    "Refunds are paid to the original card within five working days.\n"
)
LEAVE = (
    "Leave rules\n\nEmployees request vacation two weeks in advance through the HR portal. "
    "Unused vacation days expire at the end of March.\n"
)
PAYLOAD_KEYS = {
    "answer", "sources", "followup_questions", "indexes", "query", "total_tokens", "prompt_tokens",
    "completion_tokens", "cache_hit", "history", "prompt_prefix", "instructions", "agent_mode", "references",
    "success", "corpus_ids", "run_id", "chat_thread_name", "thread_id", "agent_response_id", "data_points",
    "thoughts", "attributions", "groundedness_scores", "groundedness", "model", "timings",
}  # fmt: skip


@dataclass
class Desk:
    org: Organization
    owner: Actor
    agent: Agent
    corpus: Corpus


@pytest.fixture
def desk(world: World, db: Session) -> Desk:
    """An agent whose one enabled corpus holds a refund policy and leave rules, indexed."""
    org = world.org("Acme")
    owner = world.user(org)
    project = world.project(world.team(org, {owner: "Owner"}))
    agent = make_agent(db, owner, project, name="Helpdesk")
    corpus = make_corpus(db, owner, name="Policies")
    _save(db, AgentCorpus(org_id=org.id, agent_id=agent.id, corpus_id=corpus.id, connected_by=owner.id))
    for text in (REFUND, LEAVE):
        assert poll(owner, add_text(owner, corpus.id, text)["id"])["status"] == "completed"
    return Desk(org, owner, agent, corpus)


def ask(actor: Actor, agent_id: int, question: str, **body: object):  # type: ignore[no-untyped-def]
    return actor.post(
        f"/response-service/api/v2/agents/{agent_id}/responses", json={"user_query": question, **body}
    )


def sse_events(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


# -- offline default ---------------------------------------------------------------------------


def test_offline_answer_is_cited_grounded_and_recorded(desk, db):
    data = succeeded(
        ask(desk.owner, desk.agent.id, "How long do customers have to return goods?"), 200, ANSWERED
    )
    assert set(data) == PAYLOAD_KEYS
    assert "thirty days" in data["answer"] and "[1]" in data["answer"]
    assert data["references"][0]["order"] == 1
    cited = data["data_points"][data["references"][0]["number"] - 1]
    assert "return goods" in cited["content"] and cited["corpus_id"] == desk.corpus.id
    assert data["indexes"] == [r["number"] for r in data["references"]]
    assert data["sources"] == "".join(f"[{n}]" for n in data["indexes"])
    assert data["corpus_ids"] == [desk.corpus.id] and data["agent_mode"] == "QnA" and data["success"] is True
    assert data["prompt_tokens"] > 0 and data["completion_tokens"] > 0
    assert data["total_tokens"] == data["prompt_tokens"] + data["completion_tokens"]
    # Attributions and groundedness index the answer text exactly; a quoted answer is grounded.
    for span in data["attributions"]:
        assert 0 <= span["start_idx"] < span["end_idx"] <= len(data["answer"]) and span["content_ids"]
    assert data["groundedness_scores"] and data["groundedness"] > 0.8
    # A new thread, named by the question, and one response row with the payload.
    thread = fresh(db) or db.get(ChatThread, data["thread_id"])
    assert thread.user_id == desk.owner.id and thread.title == "How long do customers have to return goods?"
    assert data["chat_thread_name"] == thread.title
    row = db.get(AgentResponse, data["agent_response_id"])
    assert row.chat_thread_id == thread.id and row.question.startswith("How long")
    assert row.response["answer"] == data["answer"] and row.total_tokens == data["total_tokens"]
    assert row.cost == Decimal(0) and row.llm_config_id is None and row.latency_ms >= 0
    usage = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)).all()
    assert [u.feature_name for u in usage] == ["generation"]
    assert usage[0].status == "success" and usage[0].request_tokens == data["prompt_tokens"]
    assert usage[0].model_name == data["model"] and usage[0].user_id == desk.owner.id
    # Logged as any model's call: what the offline answerer was given and what it returned.
    request, response = usage[0].request_payload, usage[0].response_payload
    assert request["question"] == "How long do customers have to return goods?"
    assert [p["chunk_id"] for p in request["passages"]] == [p["chunk_id"] for p in data["data_points"]]
    assert "return goods" in request["passages"][0]["text"]
    assert response["answer"] == data["answer"] and response["found"] is True
    assert [c["number"] for c in response["citations"]] == data["indexes"]


def test_offline_answer_payloads_are_redacted_for_an_organisation_that_asks(desk, db):
    usage_service.set_payload_redaction(db, desk.org.id, True)
    db.commit()
    data = succeeded(ask(desk.owner, desk.agent.id, "When must vacation be requested?"), 200, ANSWERED)
    fresh(db)
    (record,) = db.scalars(
        select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == data["agent_response_id"])
    ).all()
    assert record.request_payload["question"] == "[redacted]"
    assert {p["text"] for p in record.request_payload["passages"]} == {"[redacted]"}
    assert record.response_payload["answer"] == "[redacted]" and "two weeks" not in json.dumps(
        record.response_payload
    )


def test_legacy_form_takes_the_question_from_history_and_keeps_the_thread(desk, db):
    thread = make_thread(db, desk.owner, desk.agent)
    body = {
        "history": [{"user": "When must vacation be requested?"}],
        "model": "gpt4-o",
        "chat_thread_id": thread.id,
        "overrides": {"sources": True},
        "query_source": "web",
    }
    first = succeeded(desk.owner.post(f"/v2/api/agent/{desk.agent.id}/response", json=body), 200, ANSWERED)
    assert "two weeks" in first["answer"] and first["thread_id"] == thread.id and first["history"] == []
    # The second question leans on the first: the offline rewrite adds the last turn's words,
    # and the thread's own history is used when the request sends none.
    second = succeeded(
        ask(desk.owner, desk.agent.id, "And when do they expire?", chat_thread_id=thread.id), 200, ANSWERED
    )
    assert second["history"] == [{"user": "When must vacation be requested?", "bot": first["answer"]}]
    assert "vacation" in second["query"] and "March" in second["answer"]
    assert count(db, AgentResponse, AgentResponse.chat_thread_id == thread.id) == 2
    assert count(db, ChatThread) == 1


def test_a_follow_up_that_opens_with_and_or_what_about_is_searched_with_the_last_turn(desk):
    for follow_up in ("And where do employees send the request?", "What about days nobody used by spring?"):
        first = succeeded(ask(desk.owner, desk.agent.id, "When must vacation be requested?"), 200, ANSWERED)
        data = succeeded(
            ask(desk.owner, desk.agent.id, follow_up, chat_thread_id=first["thread_id"]), 200, ANSWERED
        )
        assert data["query"] == f"{follow_up} When must vacation be requested?"
    # A question that stands on its own is searched as it is.
    alone = "How many working days until a refund reaches the card?"
    data = succeeded(ask(desk.owner, desk.agent.id, alone, chat_thread_id=data["thread_id"]), 200, ANSWERED)
    assert data["query"] == alone and "five working days" in data["answer"]


def test_streaming_sends_start_status_tokens_and_the_full_output(desk, db):
    r = desk.owner.post(
        f"/response-service/api/v2/agents/{desk.agent.id}/responses/stream",
        json={"user_query": "How are refunds paid?"},
        headers={"Accept": "text/event-stream"},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    events = sse_events(r.text)
    assert events[0] == ("start", {"message": "Analyzing...", "step": "start"})
    assert [d["step"] for e, d in events if e == "status"] == ["query_rewrite_start", "assistant_start"]
    tokens = [d["delta"] for e, d in events if e == "token"]
    name, end = events[-1]
    assert name == "end" and end["success"] is True and end["step"] == "end"
    assert len(tokens) > 1 and "".join(tokens) == end["output"]["answer"]
    assert "five working days" in end["output"]["answer"] and end["output"]["blocked"] is False
    assert db.get(AgentResponse, end["output"]["agent_response_id"]) is not None
    # The legacy path streams too when the client asks for events.
    legacy = desk.owner.post(
        f"/v2/api/agent/{desk.agent.id}/response",
        json={"history": [{"user": "How are refunds paid?"}], "model": "x", "chat_thread_id": None},
        headers={"Accept": "text/event-stream"},
    )
    assert sse_events(legacy.text)[-1][0] == "end"


def test_nothing_relevant_means_saying_so(desk):
    data = succeeded(
        ask(desk.owner, desk.agent.id, "Which planet has the largest moon in the solar system?"),
        200,
        ANSWERED,
    )
    assert data["answer"] == NOT_FOUND_ANSWER
    assert data["references"] == [] and data["followup_questions"] == []
    assert data["groundedness"] is None and data["groundedness_scores"] == []


def test_only_enabled_corpora_the_caller_may_read_are_searched(desk, world, db):
    # A teammate who may use the agent but not read its private corpus gets no answer from it.
    teammate = world.user(desk.org)
    shared_agent = make_agent(
        db,
        desk.owner,
        world.project(world.team(desk.org, {desk.owner: "Owner", teammate: "Member"})),
        access="Only team",
    )
    _save(
        db,
        AgentCorpus(
            org_id=desk.org.id, agent_id=shared_agent.id, corpus_id=desk.corpus.id, connected_by=desk.owner.id
        ),
    )
    question = "How long do customers have to return goods?"
    assert succeeded(ask(teammate, shared_agent.id, question), 200, ANSWERED)["answer"] == NOT_FOUND_ANSWER
    _save(
        db, CorpusPermission(corpus_id=desk.corpus.id, user_id=teammate.id, permission="read", created_by="t")
    )
    assert "thirty days" in succeeded(ask(teammate, shared_agent.id, question), 200, ANSWERED)["answer"]
    # A disabled link, or an override naming another corpus, leaves nothing to search.
    other = make_corpus(db, desk.owner, name="Empty")
    assert (
        succeeded(
            ask(desk.owner, desk.agent.id, question, overrides={"corpus_ids": [other.id]}), 200, ANSWERED
        )["answer"]
        == NOT_FOUND_ANSWER
    )
    link = db.scalars(select(AgentCorpus).where(AgentCorpus.agent_id == desk.agent.id)).one()
    link.is_enabled = False
    db.commit()
    assert succeeded(ask(desk.owner, desk.agent.id, question), 200, ANSWERED)["corpus_ids"] == []


def test_bad_questions_are_refused_and_write_nothing(desk, world, db):
    legacy = f"/v2/api/agent/{desk.agent.id}/response"
    assert_error(desk.owner.post(legacy, json={"history": [], "model": "x"}), 400)
    assert_error(desk.owner.post(legacy, json={"history": [{"user": "hi", "bot": "hello"}]}), 400)
    assert_error(desk.owner.post(legacy, json={"history": [{"user": "  "}]}), 400)
    assert_error(ask(desk.owner, desk.agent.id, ""), 400)
    assert_error(ask(desk.owner, desk.agent.id, "x" * 20_001), 400)
    assert_error(desk.owner.post(f"/response-service/api/v2/agents/{desk.agent.id}/responses", json={}), 400)
    assert_error(ask(desk.owner, 999_999, "What is the refund policy?"), 404)
    # Another user's thread, and a thread of another agent, are not found.
    stranger = world.user(desk.org)
    their_thread = make_thread(db, stranger, desk.agent)
    assert_error(ask(desk.owner, desk.agent.id, "Refunds?", chat_thread_id=their_thread.id), 404)
    fresh(db)
    assert count(db, AgentResponse) == 0 and count(db, LLMUsageRecord) == 0
    assert count(db, ChatThread) == 1


def test_another_organisation_cannot_use_the_agent_or_its_threads(desk, other, db):
    thread = make_thread(db, desk.owner, desk.agent)
    assert_error(ask(other, desk.agent.id, "Refunds?"), 404)
    assert_error(
        other.post(f"/v2/api/agent/{desk.agent.id}/response", json={"history": [{"user": "Refunds?"}]}), 404
    )
    r = other.post(
        f"/response-service/api/v2/agents/{desk.agent.id}/responses/stream", json={"user_query": "Refunds?"}
    )
    assert_error(r, 404)
    assert_error(ask(other, desk.agent.id, "Refunds?", chat_thread_id=thread.id), 404)
    fresh(db)
    assert count(db, AgentResponse) == 0


def test_read_only_keys_cannot_ask(desk, world):
    reader = world.key_for(desk.owner, "read_only")
    assert_error(ask(reader, desk.agent.id, "Refunds?"), 403)
    limited = world.key_for(desk.owner, "restricted", {"agents": "write"})
    assert_error(ask(limited, desk.agent.id, "Refunds?"), 403)
    allowed = world.key_for(desk.owner, "restricted", {"agent_responses": "write"})
    assert succeeded(ask(allowed, desk.agent.id, "How are refunds paid?"), 200, ANSWERED)["answer"]


# -- an OpenAI-compatible model --------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama_base_url() -> Iterator[str]:
    require_llama_cpp()
    with llama_server(n_ctx=2048) as base_url:
        yield base_url


def use_model(world: World, desk: Desk, endpoint: str) -> int:
    """An admin points the agent at a model served at ``endpoint``, priced per million tokens."""
    admin = world.user(desk.org, admin=True)
    config = succeeded(
        admin.post(
            "/v2/api/llm-config",
            json={
                "name": "local model",
                "provider": "openai",
                "model": SERVED_MODEL_NAME,
                "endpoint": endpoint,
                "max_output_tokens": 40,
                "context_window": 2048,
                "temperature": 0,
                "timeout_seconds": 120,
                "price_input_per_million": "2.5",
                "price_output_per_million": "10",
            },
        ),
        201,
        "LLM config created successfully.",
    )
    r = admin.put(f"/v2/api/agent/{desk.agent.id}/llm-config", json={"llm_config_id": config["id"]})
    succeeded(r, 200, "Agent LLM config updated successfully.")
    return config["id"]


def test_an_openai_compatible_model_answers_streams_and_every_call_is_priced(desk, world, db, llama_base_url):
    config_id = use_model(world, desk, llama_base_url)
    data = succeeded(
        ask(desk.owner, desk.agent.id, "How long do customers have to return goods?"), 200, ANSWERED
    )
    assert data["answer"].strip() and data["model"] == SERVED_MODEL_NAME
    row = fresh(db) or db.get(AgentResponse, data["agent_response_id"])
    assert row.llm_config_id == config_id
    calls = db.scalars(
        select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id).order_by(LLMUsageRecord.id)
    ).all()
    assert [c.feature_name for c in calls] == ["generation", "followups"]
    for call in calls:
        assert call.status == "success" and call.request_tokens > 0 and call.response_tokens > 0
        assert call.llm_config_id == config_id and call.integration == "openai"
        expected = (
            Decimal(call.request_tokens) * Decimal("2.5") + Decimal(call.response_tokens) * 10
        ) / 10**6
        assert call.cost == expected.quantize(Decimal("0.00000001"))
        assert call.request_payload["messages"] and "api_key" not in json.dumps(call.request_payload)
    generation = calls[0]
    assert "[1]" in generation.request_payload["messages"][-1]["content"]  # numbered sources
    assert "return goods" in generation.request_payload["messages"][-1]["content"]
    assert row.cost == sum(c.cost for c in calls)
    assert row.prompt_tokens == sum(c.request_tokens for c in calls)
    # Streaming through the same model: the deltas add up to the stored answer.
    r = desk.owner.post(
        f"/response-service/api/v2/agents/{desk.agent.id}/responses/stream",
        json={"user_query": "How are refunds paid?", "chat_thread_id": data["thread_id"]},
    )
    events = sse_events(r.text)
    name, end = events[-1]
    assert name == "end", events[-3:]
    assert "".join(d["delta"] for e, d in events if e == "token") == end["output"]["answer"]
    # With history, the model rewrites the question first: one more recorded call.
    fresh(db)
    features = db.scalars(
        select(LLMUsageRecord.feature_name).where(
            LLMUsageRecord.agent_response_id == end["output"]["agent_response_id"]
        )
    ).all()
    assert features[0] == "query_rewrite" and "generation" in features


def test_a_failing_model_is_recorded_and_nothing_else_is_written(desk, world, db):
    with OpenAIErrorServer(fail_forever=500) as server:
        use_model(world, desk, server.base_url)
        body = assert_error(
            ask(desk.owner, desk.agent.id, "How long do customers have to return goods?"), 502
        )
        stream = desk.owner.post(
            f"/response-service/api/v2/agents/{desk.agent.id}/responses/stream",
            json={"user_query": "Refunds?"},
        )
    assert "500" in body["message"] or body["message"]
    name, error = sse_events(stream.text)[-1]
    assert name == "error" and error["success"] is False and error["status"] == 502
    fresh(db)
    assert count(db, AgentResponse) == 0 and count(db, ChatThread) == 0
    failures = db.scalars(select(LLMUsageRecord)).all()
    assert len(failures) == 2
    for failure in failures:
        assert failure.status == "failure" and failure.status_code == 500 and failure.error
        assert failure.feature_name == "generation" and failure.agent_response_id is None
        assert failure.request_payload["messages"] and failure.cost == 0


def test_a_remote_embedding_endpoint_indexes_and_its_query_calls_are_logged(database_url, tmp_path, db):
    require_llama_cpp()
    with llama_server(embedding=True) as base_url:
        ingest = IngestSettings(
            embedder="openai", embedder_base_url=base_url, embedder_model=SERVED_MODEL_NAME
        )
        with TestClient(create_app(make_settings(database_url, tmp_path, ingest=ingest))) as client:
            world = World(db, make_settings(database_url, tmp_path), client)
            org = world.org("Remote")
            owner = world.user(org)
            agent = make_agent(db, owner, world.project(world.team(org, {owner: "Owner"})))
            corpus = make_corpus(db, owner)
            _save(
                db, AgentCorpus(org_id=org.id, agent_id=agent.id, corpus_id=corpus.id, connected_by=owner.id)
            )
            assert poll(owner, add_text(owner, corpus.id, REFUND)["id"])["status"] == "completed"
            data = succeeded(
                ask(owner, agent.id, "How long do customers have to return goods?"), 200, ANSWERED
            )
    fresh(db)
    chunk = db.scalars(select(Chunk).where(Chunk.corpus_id == corpus.id)).first()
    assert chunk.embedding_model == SERVED_MODEL_NAME and chunk.embedding_dim != 384
    assert data["data_points"] and "thirty days" in data["answer"]
    embedding = db.scalars(
        select(LLMUsageRecord).where(
            LLMUsageRecord.agent_response_id == data["agent_response_id"],
            LLMUsageRecord.feature_name == "embedding",
        )
    ).one()
    assert embedding.model_name == SERVED_MODEL_NAME and embedding.integration == "openai-embeddings"
    assert embedding.request_tokens > 0 and embedding.status == "success" and embedding.cost == 0
    assert embedding.request_payload["input"] == [data["query"]]


# -- Create Agent Response Log ---------------------------------------------------------------------


SEED_RESPONSE = {
    "query": "Explain how Retrieval-Augmented Generation (RAG) works.",
    "answer": "Retrieval-Augmented Generation (RAG) is a technique in natural language processing...\n",
    "run_id": "bb7b49f8-fa06-4504-9e39-dec8f10cb0b9",
    "history": [{"bot": "Hello! How can I assist you today?", "user": "hi"}],
    "indexes": [0],
    "sources": "[0]",
    "success": True,
    "thoughts": "",
    "cache_hit": False,
    "agent_mode": "QnA",
    "corpus_ids": [645],
    "references": [{"url": "Introduction to RAG1738098993.txt", "order": 1, "number": 0}],
    "data_points": [{}],
    "instructions": [""],
    "total_tokens": 4809,
    "prompt_tokens": 4329,
    "completion_tokens": 480,
    "followup_questions": ["What are the components involved in the RAG process?"],
}


def seed_log(thread_id: int, user: Actor, config_id: int | None) -> dict:
    return {
        "chat_thread_id": thread_id,
        "user_id": user.id,
        "question": "Can you tell me how RAG works from the sources given?",
        "response": SEED_RESPONSE,
        "total_tokens": 4809,
        "prompt_tokens": 4329,
        "completion_tokens": 480,
        "created_by": user.email,
        "cache_hit": False,
        "query_source": "web",
        "llm_config_id": config_id,
    }


def test_the_seed_response_log_is_stored_and_priced(desk, world, db):
    admin = world.user(desk.org, admin=True)
    config = succeeded(
        admin.post(
            "/v2/api/llm-config",
            json={
                "name": "gpt",
                "provider": "offline",
                "price_input_per_million": "5",
                "price_output_per_million": "5",
            },
        ),
        201,
        "LLM config created successfully.",
    )
    thread = make_thread(db, desk.owner, desk.agent)
    r = desk.owner.post(
        f"/v2/api/agent/{desk.agent.id}/response/log", json=seed_log(thread.id, desk.owner, config["id"])
    )
    data = succeeded(r, 201, "Response Log Created Successfully.")
    assert set(data) == {
        "id", "question", "response", "created_by", "created_on", "is_deleted", "total_tokens",
        "prompt_tokens", "completion_tokens", "cache_hit", "query_source", "message_id", "cost", "pinned",
        "chat_thread", "agent", "user", "llm_config",
    }  # fmt: skip
    assert data["response"] == SEED_RESPONSE and data["question"].startswith("Can you tell me")
    assert (data["chat_thread"], data["agent"], data["user"], data["llm_config"]) == (
        thread.id,
        desk.agent.id,
        desk.owner.id,
        config["id"],
    )
    assert data["created_by"] == desk.owner.email and data["is_deleted"] is False and data["pinned"] is False
    assert data["message_id"] is None and data["cache_hit"] is False and data["query_source"] == "web"
    # The offline provider is free whatever its prices say; a priced provider is charged.
    assert data["cost"] == "0"
    priced = succeeded(
        admin.post(
            "/v2/api/llm-config",
            json={
                "name": "priced", "provider": "openai", "endpoint": "http://127.0.0.1:9/v1",
                "model": "gpt-4o",
                "price_input_per_million": "5", "price_output_per_million": "5",
            },
        ),
        201,
        "LLM config created successfully.",
    )  # fmt: skip
    r = desk.owner.post(
        f"/v2/api/agent/{desk.agent.id}/response/log", json=seed_log(thread.id, desk.owner, priced["id"])
    )
    assert succeeded(r, 201, "Response Log Created Successfully.")["cost"] == "0.024045"
    fresh(db)
    assert count(db, AgentResponse, AgentResponse.chat_thread_id == thread.id) == 2


def test_response_log_refuses_what_the_caller_cannot_log(desk, world, other, db):
    path = f"/v2/api/agent/{desk.agent.id}/response/log"
    thread = make_thread(db, desk.owner, desk.agent)
    colleague = world.user(desk.org)
    their_thread = make_thread(db, colleague, desk.agent)
    # Someone else's answer (only admins log for others), a thread that is not theirs, unknown ids.
    assert_error(desk.owner.post(path, json=seed_log(their_thread.id, colleague, None)), 403)
    assert_error(desk.owner.post(path, json=seed_log(their_thread.id, desk.owner, None)), 404)
    assert_error(desk.owner.post(path, json=seed_log(thread.id, desk.owner, 999_999)), 404)
    assert_error(
        desk.owner.post(path, json={**seed_log(thread.id, desk.owner, None), "created_by": colleague.email}),
        400,
    )
    assert_error(
        desk.owner.post(path, json={**seed_log(thread.id, desk.owner, None), "total_tokens": -1}), 400
    )
    assert_error(
        desk.owner.post(
            path, json={k: v for k, v in seed_log(thread.id, desk.owner, None).items() if k != "question"}
        ),
        400,
    )
    assert_error(other.post(path, json=seed_log(thread.id, other, None)), 404)
    admin = world.user(desk.org, admin=True)
    assert (
        succeeded(
            admin.post(path, json=seed_log(their_thread.id, colleague, None)),
            201,
            "Response Log Created Successfully.",
        )["user"]
        == colleague.id
    )
    fresh(db)
    assert count(db, AgentResponse) == 1
