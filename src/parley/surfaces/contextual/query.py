"""Contextual AI query, retrieval info and feedback.

Paths and choices: docs/api/contextual.md; the translation itself is in ``answers``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from parley.answers.service import AnswerService
from parley.db.engine import session_scope
from parley.http.deps import CurrentPrincipal, ReadingPrincipal, SessionDep, api_category
from parley.http.middleware import request_id_var
from parley.http.streaming import EventStream
from parley.surfaces.contextual import answers, ids, service
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.schemas import FeedbackBody, PublicId, QueryBody

# Answering runs its own short transactions around the model call (see AnswerService).
answers_router = APIRouter(
    tags=["Contextual AI: Query"], dependencies=[api_category("agent_responses", own_transactions=True)]
)
router = APIRouter(tags=["Contextual AI: Query"], dependencies=[api_category("agent_responses")])


def _service(request: Request) -> AnswerService:
    return request.app.state.answers


@answers_router.post("/v1/agents/{agent_id}/query", response_model=None)
def query(
    request: Request,
    agent_id: str,
    body: QueryBody,
    principal: ReadingPrincipal,
    retrievals_only: bool = False,
    include_retrieval_content_text: bool = False,
) -> dict | EventStream:
    if retrievals_only:
        return answers.retrievals_only(_service(request), principal, agent_id, body)
    # Checked in a short read transaction of its own: none stays open while the model runs.
    with session_scope(_service(request).read_sessions) as session:
        plan = answers.plan_query(session, principal, agent_id, body)
    # The SDK sends "Accept: application/json" even when streaming: the body flag decides.
    if body.stream:
        events = answers.answer_stream(
            _service(request), principal, plan, include_retrieval_content_text, request_id_var.get()
        )
        return EventStream(events)
    return answers.answer_json(_service(request), principal, plan, include_retrieval_content_text)


@router.get("/v1/agents/{agent_id}/query/{message_id}/retrieval/info")
def retrieval_info(
    agent_id: str,
    message_id: str,
    content_ids: Annotated[list[PublicId], Query(min_length=1, max_length=100)],
    session: SessionDep,
    principal: CurrentPrincipal,
) -> dict:
    return answers.retrieval_info(session, principal, agent_id, message_id, content_ids)


@router.post("/v1/agents/{agent_id}/feedback")
def feedback(agent_id: str, body: FeedbackBody, session: SessionDep, principal: CurrentPrincipal) -> dict:
    vote = service.give_feedback(
        session, principal, agent_id, body.message_id, body.feedback, body.content_id, body.explanation
    )
    return {"feedback_id": ids.encode(Kind.FEEDBACK, vote.id)}
