"""SuperOffice chatbot turns over Parley's domain: the chatbot is the agent bound to the caller
(SurfaceBinding), a ChatId is a chat thread of the caller with that agent (``chat_id``), and a
turn is an agent response of that thread.

Bindings: an API key's own binding wins, then the user's, then the organisation default (a
binding with neither). Organisation admins manage them (SetChatbotBinding...).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session

from parley.access.policy import load_visible, thread_visible, user_visible
from parley.access.principal import Principal
from parley.accounts.models import ApiKey, User
from parley.agents import service as agents
from parley.agents import starters
from parley.answers.service import Answer, AnswerService, Question, Turn
from parley.db.base import utcnow
from parley.db.engine import session_scope
from parley.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from parley.integrations.models import SurfaceBinding
from parley.responses.models import AgentResponse
from parley.threads import service as threads
from parley.threads.models import ChatThread

logger = logging.getLogger("parley.superoffice")

SURFACE = "superoffice"
CHANNEL = "superoffice"  # the query source of threads, responses and usage records
TURN_KEY = "superoffice"  # what the answer payload keeps of the SuperOffice request
MAX_TEXT = 20_000
# SuperOffice's documented latency budget for GetChatbotResponse ("NsApiSlow threshold").
SLOW_CALL_MS = 2000
NO_BINDING = (
    "No agent is bound to the SuperOffice chatbot for this caller. An organization administrator "
    "binds one with POST /api/v1/Agents/AI/SetChatbotBinding."
)
WELCOME = {
    "en": "Hi! I'm {name}. What can I help you with?",
    "no": "Hei! Jeg er {name}. Hva kan jeg hjelpe deg med?",
    "nb": "Hei! Jeg er {name}. Hva kan jeg hjelpe deg med?",
    "nn": "Hei! Eg er {name}. Kva kan eg hjelpe deg med?",
    "sv": "Hej! Jag är {name}. Vad kan jag hjälpa dig med?",
    "da": "Hej! Jeg er {name}. Hvad kan jeg hjælpe dig med?",
    "fi": "Hei! Olen {name}. Miten voin auttaa?",
    "de": "Hallo! Ich bin {name}. Wobei kann ich Ihnen helfen?",
    "nl": "Hallo! Ik ben {name}. Waarmee kan ik u helpen?",
    "fr": "Bonjour ! Je suis {name}. Comment puis-je vous aider ?",
    "es": "¡Hola! Soy {name}. ¿En qué puedo ayudarte?",
}

ModelT = TypeVar("ModelT", bound=BaseModel)
# No NUL characters: PostgreSQL cannot store them (and a half-written turn must not be left).
NO_NUL = r"^[^\x00]*$"
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT, pattern=NO_NUL)]
ChatId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Prompt = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT, pattern=NO_NUL)
]
Code = Annotated[str, StringConstraints(max_length=20, pattern=NO_NUL)]


# -- request bodies ----------------------------------------------------------------------------


class SuperOfficeBody(BaseModel):
    """Property names match case-insensitively; unknown properties are ignored."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _any_case(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        names = {
            (field.alias or name).lower(): field.alias or name for name, field in cls.model_fields.items()
        }
        return {names.get(str(key).lower(), key): value for key, value in data.items()}


class PreviousTurn(SuperOfficeBody):
    user_prompt: Text | None = Field(default=None, alias="UserPrompt")
    bot_response: Text | None = Field(default=None, alias="BotResponse")


class ChatbotRequest(SuperOfficeBody):
    chat_id: ChatId = Field(alias="ChatId")
    iso_lang_code: Code | None = Field(default=None, alias="IsoLangCode")
    user_prompt: Prompt = Field(alias="UserPrompt")
    display_value: Text | None = Field(default=None, alias="DisplayValue")
    previous_turns: list[PreviousTurn] | None = Field(default=None, alias="PreviousTurns", max_length=100)
    # Accepted and not used: Parley's agents make no callbacks to the CRM.
    api_url: Annotated[str, StringConstraints(max_length=2000)] | None = Field(default=None, alias="ApiUrl")


class ChatIdRequest(SuperOfficeBody):
    chat_id: ChatId = Field(alias="ChatId")


class SuggestionsRequest(SuperOfficeBody):
    iso_lang_code: Code | None = Field(default=None, alias="IsoLangCode")
    so_protocol: Annotated[str, StringConstraints(max_length=200)] | None = Field(
        default=None, alias="SoProtocol"
    )
    current_id: int | None = Field(default=None, alias="CurrentId")


class BindingTarget(SuperOfficeBody):
    """Whom a binding is for: a user, an API key (by client id), or neither (the default)."""

    user_id: int | None = Field(default=None, alias="UserId", ge=1, le=2**63 - 1)
    api_key_client_id: Annotated[str, StringConstraints(strip_whitespace=True, max_length=80)] | None = Field(
        default=None, alias="ApiKeyClientId"
    )


class BindingRequest(BindingTarget):
    agent_id: int = Field(alias="AgentId", ge=1, le=2**63 - 1)


def parse(model: type[ModelT], data: dict[str, Any]) -> ModelT:
    """Validate a body; the first problem becomes a 400 naming the property."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise InvalidInputError(f"{where}: {error['msg']}" if where else error["msg"]) from exc


# -- bindings ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BindingView:
    binding: SurfaceBinding
    api_key_client_id: str | None

    def as_dict(self) -> dict[str, Any]:
        return {
            "BindingId": self.binding.id,
            "AgentId": self.binding.agent_id,
            "UserId": self.binding.user_id,
            "ApiKeyClientId": self.api_key_client_id,
        }


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can manage chatbot bindings.")


def bound_agent_id(session: Session, principal: Principal) -> int:
    """The agent answering the caller: the API key's binding, else the user's, else the default."""
    key_id = principal.key_scope.api_key_id if principal.key_scope else None
    binding = SurfaceBinding
    for_user = and_(binding.user_id == principal.user_id, binding.api_key_id.is_(None))
    default = and_(binding.user_id.is_(None), binding.api_key_id.is_(None))
    candidates = [for_user, default] if key_id is None else [binding.api_key_id == key_id, for_user, default]
    rows = session.scalars(
        select(binding)
        .where(binding.org_id == principal.org_id, binding.surface == SURFACE, or_(*candidates))
        .order_by(binding.id)
    ).all()
    if not rows:
        raise NotFoundError("Chatbot", NO_BINDING)

    def rank(row: SurfaceBinding) -> int:
        return 0 if row.api_key_id is not None else 1 if row.user_id is not None else 2

    return min(rows, key=rank).agent_id


def _target_key_id(session: Session, principal: Principal, target: BindingTarget) -> int | None:
    if target.user_id is not None and target.api_key_client_id:
        raise InvalidInputError("Give UserId or ApiKeyClientId, not both.")
    if target.user_id is not None:
        load_visible(session, User, target.user_id, user_visible(principal), "User")
    if not target.api_key_client_id:
        return None
    key_id = session.scalar(
        select(ApiKey.id).where(
            ApiKey.client_id == target.api_key_client_id, ApiKey.org_id == principal.org_id
        )
    )
    if key_id is None:
        raise NotFoundError("API key")
    return key_id


def _find_binding(
    session: Session, principal: Principal, user_id: int | None, key_id: int | None
) -> SurfaceBinding | None:
    binding = SurfaceBinding
    return session.scalars(
        select(binding)
        .where(
            binding.org_id == principal.org_id,
            binding.surface == SURFACE,
            binding.user_id.is_(None) if user_id is None else binding.user_id == user_id,
            binding.api_key_id.is_(None) if key_id is None else binding.api_key_id == key_id,
        )
        .order_by(binding.id)
    ).first()


def _views(session: Session, bindings: Iterable[SurfaceBinding]) -> list[BindingView]:
    bindings = list(bindings)
    key_ids = {b.api_key_id for b in bindings if b.api_key_id is not None}
    client_ids = dict(
        session.execute(select(ApiKey.id, ApiKey.client_id).where(ApiKey.id.in_(key_ids))).all()
    )
    return [BindingView(b, client_ids.get(b.api_key_id)) for b in bindings]


def list_bindings(session: Session, principal: Principal) -> list[BindingView]:
    _require_admin(principal)
    rows = session.scalars(
        select(SurfaceBinding)
        .where(SurfaceBinding.org_id == principal.org_id, SurfaceBinding.surface == SURFACE)
        .order_by(SurfaceBinding.id)
    )
    return _views(session, rows)


def set_binding(session: Session, principal: Principal, request: BindingRequest) -> BindingView:
    """Bind an agent of the organisation for a user, an API key or everyone (replacing the
    binding that target had)."""
    _require_admin(principal)
    agent = agents.get_agent(session, principal, request.agent_id)
    key_id = _target_key_id(session, principal, request)
    row = _find_binding(session, principal, request.user_id, key_id)
    if row is None:
        row = SurfaceBinding(
            org_id=principal.org_id,
            surface=SURFACE,
            user_id=request.user_id,
            api_key_id=key_id,
            created_by=principal.email,
        )
        session.add(row)
    row.agent_id = agent.id
    row.modified_by = principal.email
    session.flush()
    return _views(session, [row])[0]


def clear_binding(session: Session, principal: Principal, target: BindingTarget) -> None:
    _require_admin(principal)
    row = _find_binding(session, principal, target.user_id, _target_key_id(session, principal, target))
    if row is None:
        raise NotFoundError("Chatbot binding")
    session.delete(row)
    session.flush()


# -- turns -------------------------------------------------------------------------------------


def _chat_threads(session: Session, principal: Principal, agent_id: int, chat_id: str) -> list[ChatThread]:
    """The caller's live threads for this ChatId with the agent (one, unless two first turns
    raced), oldest first."""
    return list(
        session.scalars(
            select(ChatThread)
            .where(thread_visible(principal), ChatThread.agent_id == agent_id, ChatThread.chat_id == chat_id)
            .order_by(ChatThread.id)
        )
    )


def _turn_rows(session: Session, thread_id: int) -> list[AgentResponse]:
    return list(
        session.scalars(
            select(AgentResponse)
            .where(AgentResponse.chat_thread_id == thread_id, AgentResponse.is_deleted.is_(False))
            .order_by(AgentResponse.created_on, AgentResponse.id)
        )
    )


def _cited_documents(payload: dict[str, Any]) -> list[str]:
    """The names of the documents the answer cites, in order of first citation."""
    by_number = {point.get("number"): point for point in payload.get("data_points") or []}
    names: dict[str, None] = {}
    for reference in payload.get("references") or []:
        point = by_number.get(reference.get("number"), {})
        name = point.get("document_name") or reference.get("url")
        if name:
            names[name] = None
    return list(names)


def turn_of(row: AgentResponse) -> dict[str, Any]:
    """A stored response as a ChatbotTurn (Timestamp still a datetime)."""
    payload = row.response if isinstance(row.response, dict) else {}
    followups = [q for q in payload.get("followup_questions") or [] if isinstance(q, str) and q.strip()]
    return {
        "Timestamp": row.created_on,
        "UserPrompt": row.question,
        "UserDisplayText": (payload.get(TURN_KEY) or {}).get("display_value"),
        "BotResponse": str(payload.get("answer", "")),
        # Key = the button's text, value = the prompt it sends: both the question itself.
        "BotActions": {question: question for question in followups},
        "Attachments": _cited_documents(payload),
    }


def chat_turns(session: Session, principal: Principal, chat_id: str) -> list[dict[str, Any]]:
    agent_id = bound_agent_id(session, principal)
    return [
        turn_of(row)
        for thread in _chat_threads(session, principal, agent_id, chat_id)
        for row in _turn_rows(session, thread.id)
    ]


def clear_chat(session: Session, principal: Principal, chat_id: str) -> None:
    """Delete (softly) the ChatId's threads: the next turn starts a new history."""
    agent_id = bound_agent_id(session, principal)
    for thread in _chat_threads(session, principal, agent_id, chat_id):
        threads.delete_thread(session, principal, thread.id)


def prompt_suggestions(session: Session, principal: Principal, language: str) -> dict[str, Any]:
    """An opening turn: a welcome in the caller's language and the agent's conversation
    starters as actions."""
    agent = agents.get_agent(session, principal, bound_agent_id(session, principal))
    texts = [starter.text for starter in starters.starters(session, principal, agent.id)]
    return {
        "Timestamp": utcnow(),
        "UserPrompt": None,
        "UserDisplayText": None,
        "BotResponse": WELCOME.get(language, WELCOME["en"]).format(name=agent.agent_name),
        "BotActions": {text: text for text in texts},
        "Attachments": [],
    }


def _open_thread(session: Session, principal: Principal, agent_id: int, chat_id: str) -> int:
    existing = _chat_threads(session, principal, agent_id, chat_id)
    if existing:
        return existing[0].id
    thread = threads.create_thread(session, principal, agent_id, query_source=CHANNEL)
    thread.chat_id = chat_id
    session.flush()
    return thread.id


def _previous(request: ChatbotRequest) -> tuple[Turn, ...]:
    return tuple(
        Turn(turn.user_prompt or "", turn.bot_response or "")
        for turn in request.previous_turns or []
        if (turn.user_prompt or "").strip()
    )


def answer(
    answers: AnswerService, principal: Principal, request: ChatbotRequest, language: str
) -> dict[str, Any]:
    """Answer with the bound agent in the ChatId's thread and store the turn there. The stored
    history is the context; when it is empty, the request's PreviousTurns are. Bad input is
    refused before anything is written; no transaction is open while the model runs."""
    with session_scope(answers.read_sessions) as session:
        agent_id = bound_agent_id(session, principal)
        found = _chat_threads(session, principal, agent_id, request.chat_id)
        thread_id = found[0].id if found else None
        has_history = thread_id is not None and bool(_turn_rows(session, thread_id))
    question = Question(
        text=request.user_prompt,
        chat_thread_id=thread_id,
        history=None if has_history else _previous(request),
        query_source=CHANNEL,
        language=language,
    )
    prepared = answers.prepare(principal, agent_id, question)
    if thread_id is None:
        with session_scope(answers.write_sessions) as session:
            thread_id = _open_thread(session, principal, agent_id, request.chat_id)
        prepared = answers.prepare(
            principal, agent_id, dataclasses.replace(question, chat_thread_id=thread_id)
        )
    started = time.perf_counter()
    result = next(event for event in answers.answer(prepared) if isinstance(event, Answer))
    elapsed_ms = (time.perf_counter() - started) * 1000
    if elapsed_ms > SLOW_CALL_MS:
        logger.warning("slow chatbot response", extra={"elapsed_ms": round(elapsed_ms), "agent_id": agent_id})
    with session_scope(answers.write_sessions) as session:
        row = session.get(AgentResponse, result.agent_response_id)
        assert row is not None  # written by the answer just made
        row.response = {
            **row.response,
            TURN_KEY: {"display_value": request.display_value, "language": language},
        }
        return turn_of(row)
