"""OpenAI-compatible endpoints: list and retrieve models, create chat completions (JSON or SSE).

Paths and choices: docs/api/openai.md; the translation itself is in ``service``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from parley.errors import ParleyError
from parley.http.deps import CurrentPrincipal, ReadingPrincipal, ReadSessionDep, SessionDep, api_category
from parley.http.errors import format_error_body
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


def _sse(chunks: Iterator[dict[str, Any]], path: str) -> Iterator[str]:
    """``data:`` frames ending with ``[DONE]``; a failure after the stream opened becomes an
    error frame, which the SDK raises as an APIError."""
    try:
        for chunk in chunks:
            yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
    except ParleyError as exc:
        body, _ = format_error_body(path, exc.status_code, exc.message)
        yield f"data: {json.dumps(body, ensure_ascii=False)}\n\n"
        return
    yield "data: [DONE]\n\n"


@chat_router.post("/v1/chat/completions", response_model=None)
def create_chat_completion(
    request: Request, body: ChatCompletionBody, principal: ReadingPrincipal, session: ReadSessionDep
) -> dict[str, Any] | StreamingResponse:
    plan = service.plan_completion(session, principal, body)
    answers = request.app.state.answers
    if not body.stream:
        return service.complete(answers, principal, plan)
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = service.stream_completion(answers, principal, plan, include_usage)
    return StreamingResponse(
        _sse(chunks, request.url.path),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(models_router)
    router.include_router(chat_router)
    return router
