"""Agent responses data layer: storing an answer produced elsewhere (the response log)."""

from __future__ import annotations

from pydantic import BaseModel
from sqlalchemy.orm import Session

from parley.access.policy import load_visible, thread_visible, user_visible
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents import service as agents
from parley.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from parley.llm import service as llm_configs
from parley.responses.models import AgentResponse
from parley.threads.models import ChatThread
from parley.usage.service import price


class ResponseLog(BaseModel):
    """Create Agent Response Log's body, validated by the surface."""

    chat_thread_id: int
    user_id: int
    question: str
    response: dict
    total_tokens: int
    prompt_tokens: int
    completion_tokens: int
    created_by: str | None = None
    cache_hit: bool = False
    query_source: str = "web"
    llm_config_id: int | None = None


def log_response(session: Session, principal: Principal, agent_id: int, log: ResponseLog) -> AgentResponse:
    """Store an answer another system produced. The agent, thread, user and LLM config must all
    be the caller's to see; only organisation admins log answers on behalf of other users. The
    cost is priced from the named LLM config."""
    agent = agents.get_agent(session, principal, agent_id)
    user = load_visible(session, User, log.user_id, user_visible(principal), "User")
    if user.id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can log responses for other users.")
    if log.created_by is not None and log.created_by.strip().lower() != user.email.lower():
        raise InvalidInputError("created_by must be the email of the user given by user_id.")
    thread = load_visible(
        session, ChatThread, log.chat_thread_id, thread_visible(principal, admin_view=True), "Chat Thread"
    )
    if thread.agent_id != agent.id or thread.user_id != user.id:
        raise NotFoundError("Chat Thread")
    config = llm_configs.get_config(session, principal, log.llm_config_id) if log.llm_config_id else None
    row = AgentResponse(
        org_id=principal.org_id,
        agent_id=agent.id,
        project_id=agent.project_id,
        chat_thread_id=thread.id,
        user_id=user.id,
        llm_config_id=config.id if config else None,
        question=log.question,
        response=log.response,
        run_id=str(log.response.get("run_id", ""))[:36],
        total_tokens=log.total_tokens,
        prompt_tokens=log.prompt_tokens,
        completion_tokens=log.completion_tokens,
        cache_hit=log.cache_hit,
        query_source=log.query_source,
        cost=price(config, log.prompt_tokens, log.completion_tokens),
        created_by=user.email,
    )
    session.add(row)
    session.flush()
    return row
