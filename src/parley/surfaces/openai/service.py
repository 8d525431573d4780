"""OpenAI's models and chat completions as views of Parley's agents and answer path.

A model is an agent the caller may use, named ``agent-<id>`` (the plain id and the agent's
alias name it too). A chat completion is one answer of that agent: the last message is the
question, the user/assistant messages before it are the history, and the answer service
records it (a new chat thread, the agent response row, a usage record per model call, all
with ``query_source`` ``openai``) exactly as for the other surfaces. The answer text keeps
its ``[n]`` citation markers; what they cite, the attributions and the groundedness travel in
extra fields next to OpenAI's own. Choices: docs/api/openai.md.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Generator, Sequence
from contextlib import closing
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, select
from sqlalchemy.orm import Session

from parley.access.policy import agent_visible
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents.models import Agent
from parley.agents.service import parse_id
from parley.answers.service import Answer, AnswerService, Delta, Event, Question, Turn
from parley.errors import InvalidInputError, NotFoundError
from parley.surfaces.openai.schemas import ChatCompletionBody, ChatMessage

QUERY_SOURCE = "openai"
MODEL_PREFIX = "agent-"
_MODEL_ID = re.compile(rf"(?:{MODEL_PREFIX})?([0-9]+)", re.IGNORECASE)


@dataclass(frozen=True)
class CompletionPlan:
    agent_id: int
    model: str  # the agent's model id, echoed in every completion and chunk
    question: Question


# -- models -------------------------------------------------------------------------------------


def model_id(agent_id: int) -> str:
    return f"{MODEL_PREFIX}{agent_id}"


def _models(principal: Principal) -> Select[tuple[Agent, str]]:
    """The agents the caller may use, with their owner's email."""
    return select(Agent, User.email).join(User, User.id == Agent.user_id).where(agent_visible(principal))


def _model_view(agent: Agent, owner_email: str) -> dict[str, Any]:
    return {
        "id": model_id(agent.id),
        "object": "model",
        "created": int(agent.created_on.timestamp()),
        "owned_by": owner_email,
        # Not in OpenAI's Model: what a model picker can show, and the other name it answers to.
        "name": agent.agent_name,
        "alias": agent.alias,
    }


def list_models(session: Session, principal: Principal) -> dict[str, Any]:
    rows = session.execute(_models(principal).order_by(Agent.id))
    return {"object": "list", "data": [_model_view(agent, email) for agent, email in rows]}


def _find_model(session: Session, principal: Principal, model: str) -> tuple[Agent, str]:
    """``agent-<id>``, ``<id>`` or the alias (case-insensitive, as aliases are unique that way).
    Aliases are email addresses, so they never look like an id."""
    text = model.strip()
    match = _MODEL_ID.fullmatch(text)
    if match:
        agent_id = parse_id(match.group(1))
        wanted = Agent.id == agent_id if agent_id is not None else false()
    else:
        wanted = func.lower(Agent.alias) == text.lower()
    row = session.execute(_models(principal).where(wanted)).first()
    if row is None:
        raise NotFoundError("Model", f"The model `{model}` does not exist or you do not have access to it.")
    agent, owner_email = row
    return agent, owner_email


def get_model(session: Session, principal: Principal, model: str) -> dict[str, Any]:
    return _model_view(*_find_model(session, principal, model))


# -- chat completions ---------------------------------------------------------------------------


def plan_completion(session: Session, principal: Principal, body: ChatCompletionBody) -> CompletionPlan:
    """Everything checked before any model runs: bad input is refused with nothing written."""
    if body.stream_options is not None and not body.stream:
        raise InvalidInputError("The 'stream_options' parameter is only allowed when 'stream' is enabled.")
    *earlier, last = body.messages
    if last.role != "user":
        raise InvalidInputError("The last message must be a user message: it is the question.")
    agent, _ = _find_model(session, principal, body.model)
    question = Question(
        text=last.text,
        history=_turns(earlier),
        query_source=QUERY_SOURCE,
        channel_user_id=body.user or "",
        # OpenAI's response has no place for them, and with a chat model they cost a call.
        suggest_followups=False,
    )
    return CompletionPlan(agent.id, model_id(agent.id), question)


def _turns(messages: Sequence[ChatMessage]) -> tuple[Turn, ...]:
    """Each user message opens a turn; the assistant messages after it are its reply. System,
    developer and tool messages have no place in a turn: the agent's own prompt applies."""
    turns: list[Turn] = []
    for message in messages:
        if message.role == "user":
            turns.append(Turn(message.text, ""))
        elif message.role == "assistant" and turns:
            previous = turns[-1]
            reply = "\n\n".join(part for part in (previous.bot, message.text) if part)
            turns[-1] = Turn(previous.user, reply)
    return tuple(turns)


def complete(answers: AnswerService, principal: Principal, plan: CompletionPlan) -> dict[str, Any]:
    prepared = answers.prepare(principal, plan.agent_id, plan.question)
    answer = next(event for event in answers.answer(prepared) if isinstance(event, Answer))
    return {
        "id": _completion_id(),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": plan.model,
        "system_fingerprint": None,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer.payload["answer"], "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": _usage(answer),
        **_grounding(answer),
    }


def stream_completion(
    answers: AnswerService, principal: Principal, plan: CompletionPlan, include_usage: bool
) -> Generator[dict[str, Any], None, None]:
    """The ``chat.completion.chunk`` objects of one answer. Preparing happens now, so an unknown
    agent or an empty question is an error response rather than a broken stream."""
    prepared = answers.prepare(principal, plan.agent_id, plan.question)
    return _chunks(answers.answer(prepared), plan, include_usage)


def _chunks(
    events: Generator[Event, None, None], plan: CompletionPlan, include_usage: bool
) -> Generator[dict[str, Any], None, None]:
    common: dict[str, Any] = {
        "id": _completion_id(),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": plan.model,
        "system_fingerprint": None,
    }
    if include_usage:
        # As OpenAI does: null on every chunk but the last, which carries it with no choices.
        common["usage"] = None

    def chunk(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return {**common, "choices": [choice]}

    yield chunk({"role": "assistant", "content": ""})
    with closing(events):
        for event in events:
            if isinstance(event, Delta):
                yield chunk({"content": event.text})
            elif isinstance(event, Answer):
                # Sources are known only once the answer is complete: they ride on the final chunk.
                yield {**chunk({}, "stop"), **_grounding(event)}
                if include_usage:
                    yield {**common, "choices": [], "usage": _usage(event)}


def _completion_id() -> str:
    # Made before the answer is recorded (a stream's first chunk carries it already).
    return f"chatcmpl-{uuid.uuid4().hex}"


def _usage(answer: Answer) -> dict[str, int]:
    """Every model call of the answer (query rewrite and query embedding included)."""
    payload = answer.payload
    return {
        "prompt_tokens": payload["prompt_tokens"],
        "completion_tokens": payload["completion_tokens"],
        "total_tokens": payload["total_tokens"],
    }


def _grounding(answer: Answer) -> dict[str, Any]:
    """The extra fields: the sources the ``[n]`` markers cite, in order of first citation;
    attributions (answer spans with the source numbers and chunk ids supporting them);
    groundedness; and the recorded response and thread, for the other surfaces' endpoints."""
    payload = answer.payload
    points = {point["number"]: point for point in payload["data_points"]}
    numbers = {point["chunk_id"]: point["number"] for point in payload["data_points"]}
    citations = [
        {
            "number": point["number"],
            "document_id": point["document_id"],
            "document_name": point["document_name"],
            # A web address only: the answer path's url falls back to a file name or the upload kind.
            "url": point["url"] if point["url"].startswith(("http://", "https://")) else None,
            "corpus_id": point["corpus_id"],
            "chunk_id": point["chunk_id"],
            "page": point["page"],
            "text": point["content"],
        }
        for point in (points[reference["number"]] for reference in payload["references"])
    ]
    attributions = [
        {
            "start_idx": span["start_idx"],
            "end_idx": span["end_idx"],
            "numbers": [numbers[chunk_id] for chunk_id in span["content_ids"] if chunk_id in numbers],
            "chunk_ids": span["content_ids"],
        }
        for span in payload["attributions"]
    ]
    return {
        "citations": citations,
        "attributions": attributions,
        "groundedness": payload["groundedness"],
        "groundedness_scores": payload["groundedness_scores"],
        "agent_response_id": answer.agent_response_id,
        "thread_id": answer.thread_id,
    }
