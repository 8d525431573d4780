"""``POST /v1/chat/completions`` through the app: the answer path, its records, the stream frames,
bad input, other tenants and API key scopes."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.responses.models import AgentResponse
from parley.threads.models import ChatThread
from parley.usage.models import LLMUsageRecord
from tests.support.openai_error_server import OpenAIErrorServer
from tests.support.world import World
from tests.surfaces.contextual.helpers import Caller, ok
from tests.surfaces.ejento.factories import count, fresh
from tests.surfaces.ejento.test_answers import use_model
from tests.surfaces.openai.conftest import Desk, ask, assert_openai_error, model, user

QUESTION = "How long do customers have to return goods?"
CITATION_KEYS = {"number", "document_id", "document_name", "url", "corpus_id", "chunk_id", "page", "text"}


def nothing_written(db: Session) -> bool:
    fresh(db)
    return count(db, AgentResponse) == 0 and count(db, ChatThread) == 0 and count(db, LLMUsageRecord) == 0


def frames(text: str) -> list[Any]:
    """The ``data:`` payloads of a stream, ``[DONE]`` as a string."""
    blocks = [block for block in text.split("\n\n") if block]
    assert all(block.startswith("data: ") and "\n" not in block for block in blocks), text
    return [block[6:] if block == "data: [DONE]" else json.loads(block[6:]) for block in blocks]


def test_a_completion_is_the_agents_cited_answer_and_is_recorded(stocked: Desk, db: Session):
    history = [
        {"role": "system", "content": "You are terse."},
        user("When must vacation be requested?"),
        {"role": "assistant", "content": [{"type": "text", "text": "Two weeks in advance [1]."}]},
    ]
    body = ok(
        ask(
            stocked.owner,
            stocked.agent.alias,
            *history,
            user(QUESTION),
            temperature=0.2,
            top_p=1,
            user="teams:29:1ab",
        )
    )

    assert set(body) == {
        "id", "object", "created", "model", "system_fingerprint", "choices", "usage",
        "citations", "attributions", "groundedness", "groundedness_scores", "agent_response_id", "thread_id",
    }  # fmt: skip
    assert body["id"].startswith("chatcmpl-") and body["object"] == "chat.completion"
    assert body["model"] == model(stocked.agent) and isinstance(body["created"], int)
    (choice,) = body["choices"]
    assert choice["index"] == 0 and choice["finish_reason"] == "stop" and choice["logprobs"] is None
    message = choice["message"]
    assert message == {"role": "assistant", "content": message["content"], "refusal": None}
    assert "thirty days" in message["content"] and "[1]" in message["content"]
    usage = body["usage"]
    assert usage["prompt_tokens"] > 0 and usage["completion_tokens"] > 0
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"]

    # What [1] cites: the refund policy's chunk, with its document.
    first = body["citations"][0]
    assert set(first) == CITATION_KEYS and first["number"] == 1
    assert "return goods" in first["text"] and first["corpus_id"] == stocked.corpus.id
    # A text upload has a name but no web address.
    assert first["document_name"] == "Refund policy" and first["url"] is None and first["page"] is None
    for span in body["attributions"]:
        assert 0 <= span["start_idx"] < span["end_idx"] <= len(message["content"])
        assert span["numbers"] and len(span["numbers"]) == len(span["chunk_ids"])
    assert first["chunk_id"] in body["attributions"][0]["chunk_ids"]
    assert body["groundedness"] > 0.8 and body["groundedness_scores"]

    # Recorded like every other surface's answer, with the messages as the history.
    fresh(db)
    row = db.get(AgentResponse, body["agent_response_id"])
    assert row.query_source == "openai" and row.question == QUESTION and row.user_id == stocked.owner.id
    assert row.chat_thread_id == body["thread_id"] and row.response["answer"] == message["content"]
    assert row.response["history"] == [
        {"user": "When must vacation be requested?", "bot": "Two weeks in advance [1]."}
    ]
    assert (row.prompt_tokens, row.completion_tokens) == (usage["prompt_tokens"], usage["completion_tokens"])
    thread = db.get(ChatThread, body["thread_id"])
    assert thread.query_source == "openai" and thread.title == QUESTION
    calls = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)).all()
    assert calls and {c.channel for c in calls} == {"openai"}
    # OpenAI's ``user`` is the end user on the client's channel; the thread is the session.
    assert {(c.channel_user_id, c.session_id) for c in calls} == {("teams:29:1ab", str(row.chat_thread_id))}
    assert sum(c.request_tokens for c in calls) == usage["prompt_tokens"]


def test_a_stream_sends_chunks_then_the_sources_then_usage_then_done(stocked: Desk, db: Session):
    r = ask(
        stocked.owner,
        model(stocked.agent),
        user(QUESTION),
        stream=True,
        stream_options={"include_usage": True},
    )
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    *chunks, final, usage, done = frames(r.text)
    assert done == "[DONE]"
    assert len({c["id"] for c in [*chunks, final, usage]}) == 1
    for chunk in [*chunks, final]:
        assert chunk["object"] == "chat.completion.chunk" and chunk["model"] == model(stocked.agent)
        assert chunk["usage"] is None and len(chunk["choices"]) == 1
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert all(c["choices"][0]["finish_reason"] is None for c in chunks)
    text = "".join(c["choices"][0]["delta"]["content"] for c in chunks)
    assert final["choices"][0] == {"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}
    assert final["citations"][0]["number"] == 1 and "return goods" in final["citations"][0]["text"]
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0

    fresh(db)
    row = db.get(AgentResponse, final["agent_response_id"])
    assert row.response["answer"] == text and "thirty days" in text
    assert row.total_tokens == usage["usage"]["total_tokens"] and row.query_source == "openai"

    # Without include_usage no chunk carries a usage field.
    plain = frames(ask(stocked.owner, model(stocked.agent), user(QUESTION), stream=True).text)
    assert plain[-1] == "[DONE]" and all("usage" not in f for f in plain[:-1])
    assert plain[-2]["choices"][0]["finish_reason"] == "stop"


BAD_BODIES: list[tuple[dict[str, Any], str | None]] = [
    ({"messages": [user("Refunds?")]}, "model"),
    ({"model": "", "messages": [user("Refunds?")]}, "model"),
    ({"model": "M", "messages": []}, "messages"),
    ({"model": "M", "messages": "Refunds?"}, "messages"),
    ({"model": "M", "messages": [{"role": "wizard", "content": "Refunds?"}]}, "messages.0.role"),
    ({"model": "M", "messages": [{"role": "user", "content": 5}]}, "messages.0.content.str"),
    (
        {"model": "M", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "messages.0.content",
    ),
    ({"model": "M", "messages": [user("x" * 20_001)]}, "messages.0"),
    ({"model": "M", "messages": [user("Refunds?")], "n": 2}, "n"),
    ({"model": "M", "messages": [user("Refunds?")], "temperature": 2.5}, "temperature"),
    ({"model": "M", "messages": [user("Refunds?")], "max_tokens": 0}, "max_tokens"),
    ({"model": "M", "messages": [user("Refunds?")], "stream": "sometimes"}, "stream"),
    # Checked by the surface and the answer service rather than by the body's schema.
    ({"model": "M", "messages": [user("Refunds?")], "stream_options": {"include_usage": True}}, None),
    ({"model": "M", "messages": [user("Refunds?"), {"role": "assistant", "content": "Yes."}]}, None),
    ({"model": "M", "messages": [user("   ")]}, None),
]


def test_bad_input_is_a_400_in_openais_shape_and_writes_nothing(desk: Desk, db: Session):
    for body, param in BAD_BODIES:
        if body.get("model") == "M":
            body = {**body, "model": model(desk.agent)}
        assert_openai_error(desk.owner.post("/v1/chat/completions", json=body), 400, param=param)
    malformed = desk.owner.post(
        "/v1/chat/completions", content=b'{"model": ', headers={"Content-Type": "application/json"}
    )
    assert assert_openai_error(malformed, 400)["message"] == "Malformed JSON body."
    huge = ask(desk.owner, model(desk.agent), user("x" * (3 * 1024 * 1024)))
    assert_openai_error(huge, 413)
    assert nothing_written(db)


def test_unknown_models_and_other_organisations_agents_are_404(desk: Desk, other: Caller, db: Session):
    for name in (model(desk.agent), str(desk.agent.id), desk.agent.alias):
        for stream in (False, True):
            r = ask(other, name, user("Refunds?"), stream=stream)
            assert name in assert_openai_error(r, 404, "model_not_found")["message"]
    assert_openai_error(ask(desk.owner, "gpt-4o", user("Refunds?")), 404, "model_not_found")
    assert_openai_error(ask(desk.owner, "agent-999999", user("Refunds?")), 404, "model_not_found")
    assert nothing_written(db)


def test_answering_needs_a_key_that_may_write_agent_responses(desk: Desk, world: World, db: Session):
    # As on Ejento: an answer writes a response row, so read-only keys cannot ask.
    assert_openai_error(desk.owner.client.post("/v1/chat/completions", json={}), 401, "invalid_api_key")
    reader = Caller(world.key_for(desk.owner.actor, "read_only"))
    assert_openai_error(ask(reader, model(desk.agent), user("Refunds?")), 403, "insufficient_permissions")
    agents_only = Caller(world.key_for(desk.owner.actor, "restricted", {"agents": "write"}))
    assert_openai_error(
        ask(agents_only, model(desk.agent), user("Refunds?")), 403, "insufficient_permissions"
    )
    assert nothing_written(db)
    answerer = Caller(world.key_for(desk.owner.actor, "restricted", {"agent_responses": "write"}))
    body = ok(ask(answerer, model(desk.agent), user("Refunds?")))
    # The corpus is empty: the agent says so, and cites nothing.
    assert body["choices"][0]["message"]["content"] and body["citations"] == []
    assert count(db, AgentResponse) == 1


def test_a_failing_model_is_a_502_or_an_error_frame_and_records_only_the_failed_calls(
    stocked: Desk, world: World, db: Session
):
    with OpenAIErrorServer(fail_forever=500) as server:
        use_model(world, stocked, server.base_url)
        failed = ask(stocked.owner, model(stocked.agent), user(QUESTION))
        streamed = ask(stocked.owner, model(stocked.agent), user(QUESTION), stream=True)
    assert_openai_error(failed, 502)
    first, error, done = frames(streamed.text)
    assert first["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert done == "[DONE]"
    assert set(error) == {"error"} and error["error"]["type"] == "server_error"
    fresh(db)
    assert count(db, AgentResponse) == 0 and count(db, ChatThread) == 0
    assert {u.status for u in db.scalars(select(LLMUsageRecord))} == {"failure"}
