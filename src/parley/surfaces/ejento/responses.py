"""Ejento answer endpoints: Create Agent Response (legacy and response-service forms, JSON or
Server-Sent Events) and Create Agent Response Log.

Paths and choices: docs/api/ejento-answers.md.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import closing
from typing import Annotated

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from parley.answers.service import Answer, AnswerService, Delta, Question, Status, Turn
from parley.errors import InvalidInputError
from parley.http.deps import CurrentPrincipal, ReadingPrincipal, SessionDep, api_category
from parley.http.streaming import EventStream, stream_failure
from parley.responses import service as responses
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import PathId
from parley.surfaces.ejento.serializers import agent_response

ANSWERED = "Agent Response Created Successfully."
MAX_QUESTION = 20_000

Text = Annotated[str, StringConstraints(max_length=MAX_QUESTION)]
QuerySource = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]

# Answering runs its own short transactions around the model call; see AnswerService.
answers_router = APIRouter(
    tags=["Ejento: Agent Response"], dependencies=[api_category("agent_responses", own_transactions=True)]
)
router = APIRouter(tags=["Ejento: Agent Response"], dependencies=[api_category("agent_responses")])


class HistoryTurn(BaseModel):
    user: Text
    bot: Text | None = None


class Overrides(BaseModel):
    # Other keys Ejento clients send (sources, cache_skip, semantic_ranker, ...) are accepted.
    model_config = ConfigDict(extra="allow")

    corpus_ids: list[int] | None = Field(default=None, max_length=100)
    suggest_followup_questions: bool = True


class LegacyAnswerBody(BaseModel):
    """The old form: the question is the last history item, the one without ``bot``."""

    history: list[HistoryTurn] = Field(min_length=1, max_length=100)
    # Required by the old API; the agent's LLM config decides which model answers.
    model: str | None = None
    chat_thread_id: int | None = None
    overrides: Overrides | None = None
    query_source: QuerySource = "web"
    stream: bool = False


class AnswerBody(BaseModel):
    user_query: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION)
    ]
    chat_thread_id: int | None = None
    history: list[HistoryTurn] | None = Field(default=None, max_length=100)
    model: str | None = None
    overrides: Overrides | None = None
    query_source: QuerySource = "web"
    # Sent by Ejento's own clients; nothing to do with them here.
    created_by: str | None = None
    caching_enabled: bool | None = None
    is_file_attached: bool | None = None


class ResponseLogBody(responses.ResponseLog):
    model_config = ConfigDict(extra="forbid")

    chat_thread_id: int = Field(ge=1)
    user_id: int = Field(ge=1)
    question: Annotated[str, StringConstraints(min_length=1, max_length=MAX_QUESTION)]
    total_tokens: int = Field(ge=0)
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)
    query_source: QuerySource = "web"
    llm_config_id: int | None = Field(default=None, ge=1)


def _turns(history: list[HistoryTurn]) -> tuple[Turn, ...]:
    return tuple(Turn(t.user, t.bot or "") for t in history)


def _question(
    text: str,
    thread_id: int | None,
    history: tuple[Turn, ...] | None,
    overrides: Overrides | None,
    source: str,
) -> Question:
    overrides = overrides or Overrides()
    return Question(
        text=text,
        chat_thread_id=thread_id,
        history=history,
        corpus_ids=tuple(overrides.corpus_ids) if overrides.corpus_ids is not None else None,
        query_source=source,
        suggest_followups=overrides.suggest_followup_questions,
    )


def _legacy_question(body: LegacyAnswerBody) -> Question:
    last = body.history[-1]
    if last.bot:
        raise InvalidInputError("The last history item must be the question: a user message without bot.")
    if not last.user.strip():
        raise InvalidInputError("The question cannot be empty.")
    return _question(
        last.user, body.chat_thread_id, _turns(body.history[:-1]), body.overrides, body.query_source
    )


def _new_question(body: AnswerBody) -> Question:
    history = _turns(body.history) if body.history is not None else None
    return _question(body.user_query, body.chat_thread_id, history, body.overrides, body.query_source)


def _service(request: Request) -> AnswerService:
    return request.app.state.answers


def _wants_stream(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def _answer_json(service: AnswerService, principal, agent_id: int, question: Question):  # type: ignore[no-untyped-def]
    prepared = service.prepare(principal, agent_id, question)
    answer = next(event for event in service.answer(prepared) if isinstance(event, Answer))
    return ok(answer.payload, ANSWERED)


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _answer_stream(service: AnswerService, principal, agent_id: int, question: Question) -> EventStream:  # type: ignore[no-untyped-def]
    # Bad input (unknown agent or thread, empty question) is refused before the stream opens.
    prepared = service.prepare(principal, agent_id, question)

    def events() -> Generator[str, None, None]:
        yield _sse("start", {"message": "Analyzing...", "step": "start"})
        try:
            with closing(service.answer(prepared)) as answer_events:
                for event in answer_events:
                    if isinstance(event, Status):
                        yield _sse("status", {"message": event.message, "step": event.step})
                    elif isinstance(event, Delta):
                        yield _sse("token", {"delta": event.text, "step": "assistant_stream"})
                    elif isinstance(event, Answer):
                        output = {**event.payload, "blocked": False}
                        yield _sse(
                            "end", {"message": "Finished.", "step": "end", "output": output, "success": True}
                        )
        except Exception as exc:
            status, message = stream_failure(exc)
            yield _sse("error", {"message": message, "success": False, "status": status})

    return EventStream(events())


@answers_router.post("/v2/api/agent/{agent_id}/response")
def create_agent_response(
    request: Request, agent_id: PathId, body: LegacyAnswerBody, principal: ReadingPrincipal
):  # type: ignore[no-untyped-def]
    question = _legacy_question(body)
    if body.stream or _wants_stream(request):
        return _answer_stream(_service(request), principal, agent_id, question)
    return _answer_json(_service(request), principal, agent_id, question)


@answers_router.post("/response-service/api/v2/agents/{agent_id}/responses")
@answers_router.post("/api/v2/agents/{agent_id}/responses")
def create_response(request: Request, agent_id: PathId, body: AnswerBody, principal: ReadingPrincipal):  # type: ignore[no-untyped-def]
    if _wants_stream(request):
        return _answer_stream(_service(request), principal, agent_id, _new_question(body))
    return _answer_json(_service(request), principal, agent_id, _new_question(body))


@answers_router.post("/response-service/api/v2/agents/{agent_id}/responses/stream")
def stream_response(request: Request, agent_id: PathId, body: AnswerBody, principal: ReadingPrincipal):  # type: ignore[no-untyped-def]
    return _answer_stream(_service(request), principal, agent_id, _new_question(body))


@router.post("/v2/api/agent/{agent_id}/response/log")
def create_response_log(
    agent_id: PathId, body: ResponseLogBody, session: SessionDep, principal: CurrentPrincipal
):  # type: ignore[no-untyped-def]
    row = responses.log_response(session, principal, agent_id, body)
    return created(agent_response(row), "Response Log Created Successfully.")
