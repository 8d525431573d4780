"""SuperOffice AI agent endpoints under ``/api/v1/Agents/AI``: the chatbot calls of the spec
(GetChatbotResponse, GetChatbotTurns, ClearChatbotTurns, GetChatbotPromptSuggestions) and
Parley's own calls to bind an agent to the chatbot.

Every call is a POST, as in SuperOffice's Agents API; errors use its ``{Message,
MessageDetail}`` shape (http/errors.py). Paths and choices: docs/api/superoffice.md.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from parley.http.deps import ReadSessionDep, SessionDep
from parley.surfaces.superoffice import chat, wire
from parley.surfaces.superoffice.auth import SuperOfficePrincipal, SuperOfficeRoute, require_scope

router = APIRouter(prefix="/api/v1/Agents/AI", route_class=SuperOfficeRoute, tags=["SuperOffice: AI agent"])

# Declared after the principal in each handler: credentials are checked before the body is read.
Body = Annotated[dict[str, Any], Depends(wire.read_body)]
View = Annotated[wire.View, Depends(wire.view_for)]


def _with_language(response: Response, language: str) -> Response:
    response.headers["Content-Language"] = language
    return response


@router.post("/GetChatbotResponse")
def get_chatbot_response(
    request: Request, principal: SuperOfficePrincipal, body: Body, view: View
) -> Response:
    """Answer ``UserPrompt`` with the caller's chatbot and store the turn under ``ChatId``."""
    require_scope(principal, "agent_responses", write=True)
    chatbot_request = chat.parse(chat.ChatbotRequest, body)
    language = wire.answer_language(request, chatbot_request.iso_lang_code)
    turn = chat.answer(request.app.state.answers, principal, chatbot_request, language)
    return _with_language(view.render(view.turn(turn), "ChatbotTurn"), language)


@router.post("/GetChatbotTurns")
def get_chatbot_turns(
    principal: SuperOfficePrincipal, body: Body, view: View, session: ReadSessionDep
) -> Response:
    require_scope(principal, "chat_threads", write=False)
    chat_id = chat.parse(chat.ChatIdRequest, body).chat_id
    turns = chat.chat_turns(session, principal, chat_id)
    return view.render([view.turn(turn) for turn in turns], "ArrayOfChatbotTurn")


@router.post("/ClearChatbotTurns", status_code=204)
def clear_chatbot_turns(principal: SuperOfficePrincipal, body: Body, session: SessionDep) -> Response:
    require_scope(principal, "chat_threads", write=True)
    chat.clear_chat(session, principal, chat.parse(chat.ChatIdRequest, body).chat_id)
    return Response(status_code=204)


@router.post("/GetChatbotPromptSuggestions")
def get_chatbot_prompt_suggestions(
    request: Request, principal: SuperOfficePrincipal, body: Body, view: View, session: ReadSessionDep
) -> Response:
    require_scope(principal, "agents", write=False)
    language = wire.answer_language(request, chat.parse(chat.SuggestionsRequest, body).iso_lang_code)
    turn = chat.prompt_suggestions(session, principal, language)
    return _with_language(view.render(view.turn(turn), "ChatbotTurn"), language)


# -- Parley's own: which agent is the chatbot ----------------------------------------------------


@router.post("/GetChatbotBindings")
def get_chatbot_bindings(principal: SuperOfficePrincipal, view: View, session: ReadSessionDep) -> Response:
    require_scope(principal, "agents", write=False)
    bindings = [binding.as_dict() for binding in chat.list_bindings(session, principal)]
    return view.render(bindings, "ArrayOfChatbotBinding", item="ChatbotBinding")


@router.post("/SetChatbotBinding")
def set_chatbot_binding(
    principal: SuperOfficePrincipal, body: Body, view: View, session: SessionDep
) -> Response:
    require_scope(principal, "agents", write=True)
    binding = chat.set_binding(session, principal, chat.parse(chat.BindingRequest, body))
    return view.render(binding.as_dict(), "ChatbotBinding")


@router.post("/ClearChatbotBinding", status_code=204)
def clear_chatbot_binding(principal: SuperOfficePrincipal, body: Body, session: SessionDep) -> Response:
    require_scope(principal, "agents", write=True)
    chat.clear_binding(session, principal, chat.parse(chat.BindingTarget, body))
    return Response(status_code=204)
