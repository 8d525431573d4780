"""Streamed answers on every surface that streams (Ejento, Contextual AI, OpenAI-compatible):
bad input is refused before the stream opens; a failure after it opened is the surface's own
error event and a proper end, leaving no empty conversation; a stream the client abandons is
stored as a cancelled response with the text generated so far and the usage of every model call,
and its model stops generating."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.accounts.service import load_principal
from parley.answers.service import AnswerService, Delta, Question
from parley.responses.models import AgentResponse
from parley.surfaces.contextual import ids as contextual_ids
from parley.surfaces.contextual.ids import Kind
from parley.threads.models import ChatThread
from parley.usage.models import LLMUsageRecord
from tests.reliability.test_faults import use_error_server
from tests.reliability.test_scale_out import BOOTSTRAP, KEY, Api, make_desk, wait_completed
from tests.support.openai_error_server import OpenAIErrorServer
from tests.support.processes import ServerProcess, parley_env
from tests.support.world import World
from tests.surfaces.ejento.factories import count, fresh
from tests.surfaces.ejento.test_answers import REFUND, Desk, desk, sse_events  # noqa: F401 - desk is a fixture

QUESTION = "How long do customers have to return goods?"


def ejento_stream(office: Desk, question: str) -> httpx.Response:
    return office.owner.post(
        f"/response-service/api/v2/agents/{office.agent.id}/responses/stream", json={"user_query": question}
    )


def contextual_stream(office: Desk, question: str, **body: Any) -> httpx.Response:
    agent = contextual_ids.encode(Kind.AGENT, office.agent.id)
    messages = [{"role": "user", "content": question}]
    return office.owner.post(f"/v1/agents/{agent}/query", json={"messages": messages, "stream": True, **body})


def openai_stream(office: Desk, question: str) -> httpx.Response:
    messages = [{"role": "user", "content": question}]
    return office.owner.post(
        "/v1/chat/completions",
        json={"model": f"agent-{office.agent.id}", "messages": messages, "stream": True},
    )


def data_frames(text: str) -> list[Any]:
    """The ``data:`` payloads of a Contextual or OpenAI stream (``[DONE]`` as a string)."""
    blocks = [block[6:] for block in text.split("\n\n") if block.startswith("data: ")]
    return [block if block == "[DONE]" else json.loads(block) for block in blocks]


def answer_rows(db: Session) -> tuple[int, int, int]:
    fresh(db)
    return count(db, AgentResponse), count(db, ChatThread), count(db, LLMUsageRecord)


BAD_FILTERS = [
    {"field": "document_id", "operator": "equals", "value": "not a number"},
    {"field": "document_id", "operator": "startswith", "value": "1"},
    {"field": "document_id", "operator": "equals", "value": 10**30},
    {"field": "date_created", "operator": "gt", "value": 20240101},
    {"field": "year", "operator": "gt", "value": 10**30},
    {"field": "author", "operator": "equals", "value": "a\u0000b"},
    {"filters": [{"field": "author", "operator": "containsany", "value": ["x", "nul\u0000"]}]},
]


def test_bad_input_is_refused_before_a_stream_opens(desk: Desk, db: Session) -> None:  # noqa: F811
    """NUL characters (which PostgreSQL cannot store) and filters a column cannot compare are
    ordinary error responses, not streams that break; nothing is written."""
    before = answer_rows(db)
    for question in ("a\u0000b", "nul at the end\x00"):
        r = ejento_stream(desk, question)
        assert r.status_code == 400 and r.json()["success"] is False, r.text
        r = openai_stream(desk, question)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error", r.text
        r = contextual_stream(desk, question)
        assert r.status_code == 400 and "detail" in r.json(), r.text
    for bad in BAD_FILTERS:
        r = contextual_stream(desk, QUESTION, documents_filters=bad)
        assert r.status_code == 400 and "detail" in r.json(), (bad, r.text)
    assert answer_rows(db) == before


def test_a_failure_after_a_stream_opened_is_an_error_event_and_a_proper_end(
    desk: Desk,  # noqa: F811
    db: Session,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Whatever fails once the first byte is out (here the search itself) is reported in the
    surface's error event, the stream ends as the surface ends one, and no empty conversation
    is left behind."""

    def broken_search(*args: object) -> None:
        raise RuntimeError("the search index is unreadable")

    before = answer_rows(db)
    monkeypatch.setattr(AnswerService, "_search", broken_search)

    ejento = sse_events(ejento_stream(desk, QUESTION).text)
    assert ejento[0][0] == "start" and ejento[-1] == (
        "error",
        {"message": "Internal server error.", "success": False, "status": 500},
    )

    *_, error, end = data_frames(contextual_stream(desk, QUESTION).text)
    assert error == {"event": "error", "data": {"status": 500, "message": "Internal server error."}}
    assert end == {"event": "end", "data": {}}

    *_, error, done = data_frames(openai_stream(desk, QUESTION).text)
    assert error["error"]["type"] == "server_error" and done == "[DONE]"

    # The conversation the Contextual stream opened (to announce its id) was removed again.
    assert answer_rows(db) == before


def principal_of(world: World, office: Desk) -> Principal:
    with Session(world.db.get_bind()) as session:
        return load_principal(session, session.merge(office.owner.user))


def test_an_answer_closed_after_its_first_words_is_stored_as_cancelled(
    desk: Desk,  # noqa: F811
    world: World,
    db: Session,
    app: Any,
) -> None:
    """The offline answerer: closing the answer (what a stream does when its client leaves)
    stores the words sent so far, marked cancelled, with the usage of its model calls."""
    service: AnswerService = app.state.answers
    before = answer_rows(db)
    answer = service.answer(service.prepare(principal_of(world, desk), desk.agent.id, Question(QUESTION)))
    first = next(event for event in answer if isinstance(event, Delta))
    answer.close()

    fresh(db)
    row = db.scalars(select(AgentResponse).order_by(AgentResponse.id.desc())).first()
    assert row is not None and row.status == "cancelled"
    assert row.response["answer"] == first.text and first.text.strip()
    calls = db.scalars(select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)).all()
    assert calls and row.completion_tokens == sum(call.response_tokens for call in calls)
    thread = db.get(ChatThread, row.chat_thread_id)
    assert thread is not None and thread.title == QUESTION
    assert answer_rows(db)[:2] == (before[0] + 1, before[1] + 1)


# -- a real server whose clients walk away -------------------------------------------------------

ABANDONED = 10


def abandon_after_first_token(api: Api, method_path_body: tuple[str, str, dict], token: str) -> None:
    """Open a stream, read until the first text arrives, then close the connection."""
    method, path, body = method_path_body
    headers = {"Authorization": f"Bearer {KEY}"}
    with (
        httpx.Client(base_url=api.base_url, headers=headers, timeout=60) as http,
        http.stream(method, path, json=body) as stream,
    ):
        for line in stream.iter_lines():
            if token in line:
                return
    raise AssertionError(f"{path}: the stream ended before its first token")


@pytest.mark.slow
def test_streams_abandoned_after_the_first_token_are_stored_cancelled_with_their_usage(
    database_url: str, tmp_path: Path
) -> None:
    """Ten streams on a real server (Ejento, Contextual and OpenAI-compatible), each abandoned
    after its first token while a streaming model server is still generating: each leaves a
    cancelled response with the text it had, the usage of every model call, and a model stream
    that was closed before its end."""
    env = parley_env(database_url, tmp_path, **BOOTSTRAP)
    with OpenAIErrorServer(chunk_seconds=0.4) as model, ServerProcess(env) as server:
        api = Api(server.base_url)
        try:
            office = make_desk(api)
            document = api.upload(office.corpus_id, REFUND)
            assert wait_completed(api, [document], 120) == {document: "completed"}
            use_error_server(api, office.agent_id, model, timeout=60)
            messages = [{"role": "user", "content": QUESTION}]
            contextual_agent = contextual_ids.encode(Kind.AGENT, office.agent_id)
            streams = [
                (
                    (
                        "POST",
                        f"/response-service/api/v2/agents/{office.agent_id}/responses/stream",
                        {"user_query": QUESTION},
                    ),
                    "event: token",
                ),
                (
                    ("POST", f"/v1/agents/{contextual_agent}/query", {"messages": messages, "stream": True}),
                    "message_delta",
                ),
                (
                    (
                        "POST",
                        "/v1/chat/completions",
                        {"model": f"agent-{office.agent_id}", "messages": messages, "stream": True},
                    ),
                    '"content": "Hello"',
                ),
            ]
            for n in range(ABANDONED):
                request, token = streams[n % len(streams)]
                abandon_after_first_token(api, request, token)
            deadline = time.monotonic() + 30
            while model.streams_cut < ABANDONED and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            api.close()
        # The model streams were closed long before their end (each would last seconds more).
        assert model.streams_cut == ABANDONED

    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.scalars(select(AgentResponse)).all()
            assert len(rows) == ABANDONED and {row.status for row in rows} == {"cancelled"}
            for row in rows:
                assert row.response["answer"].startswith("Hello"), row.response["answer"]
                calls = session.scalars(
                    select(LLMUsageRecord).where(LLMUsageRecord.agent_response_id == row.id)
                ).all()
                generation = [call for call in calls if call.feature_name == "generation"]
                assert len(generation) == 1 and generation[0].response_tokens > 0
                cut = generation[0].response_payload
                assert cut["finish_reason"] == "cancelled" and cut["usage"]["estimated"] is True
                assert row.completion_tokens == sum(call.response_tokens for call in calls)
                assert row.prompt_tokens == sum(call.request_tokens for call in calls) > 0
            # Every conversation holds its cancelled answer: none was left empty.
            threads = session.scalars(select(ChatThread)).all()
            assert {thread.id for thread in threads} == {row.chat_thread_id for row in rows}
    finally:
        engine.dispose()
