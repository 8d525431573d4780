"""OpenAI-compatible endpoints: list and retrieve models, create chat completions (JSON or SSE).

Paths and choices: docs/api/openai.md; the translation itself is in ``service``.
"""

from __future__ import annotations

import json
from collections.abc import Generator
from contextlib import closing
from typing import Any

from fastapi import APIRouter, Request

from parley.http.deps import CurrentPrincipal, ReadingPrincipal, ReadSessionDep, SessionDep, api_category
from parley.http.errors import format_error_body
from parley.http.streaming import EventStream, stream_failure
from parley.surfaces.openai import service
from parley.surfaces.openai.schemas import ChatCompletionBody

models_router = APIRouter(tags=["OpenAI: Models"], dependencies=[api_category("agents")])
# Answering runs its own short transactions around the model call (see AnswerService).
chat_router = APIRouter(
    tags=["OpenAI: Chat"], dependencies=[api_category("agent_responses", own_transactions=True)]
)


@models_router.get("/v1/models")
def list_models(session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return service.list_models(session, principal)


@models_router.get("/v1/models/{model}")
def retrieve_model(model: str, session: SessionDep, principal: CurrentPrincipal) -> dict[str, Any]:
    return service.get_model(session, principal, model)


def _sse(chunks: Generator[dict[str, Any], None, None], path: str) -> Generator[str, None, None]:
    """``data:`` frames ending with ``[DONE]``; a failure after the stream opened becomes an
    error frame (which the SDK raises as an APIError) before ``[DONE]``."""
    try:
        with closing(chunks):
            for chunk in chunks:
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except Exception as exc:
        body, _ = format_error_body(path, *stream_failure(exc))
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
    yield "data: [DONE]\n\n"


@chat_router.post("/v1/chat/completions", response_model=None)
def create_chat_completion(
    request: Request, body: ChatCompletionBody, principal: ReadingPrincipal, session: ReadSessionDep
) -> dict[str, Any] | EventStream:
    plan = service.plan_completion(session, principal, body)
    answers = request.app.state.answers
    if not body.stream:
        return service.complete(answers, principal, plan)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = service.stream_completion(answers, principal, plan, include_usage)
    return EventStream(_sse(chunks, request.url.path))


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(models_router)
    router.include_router(chat_router)
    return router
