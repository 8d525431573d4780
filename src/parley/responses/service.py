"""Agent responses data layer: storing an answer produced elsewhere (the response log), and
reading, deleting, pinning, commenting on and voting on stored responses.

Who sees a response: the user who asked; organisation admins and the editors of its agent see
all of an agent's responses (as in the chat-thread admin views). Everything else, including
another organisation's ids, answers "not found".
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from pydantic import BaseModel
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from parley.access.policy import (
    agent_editable,
    load_visible,
    project_visible,
    thread_visible,
    user_visible,
)
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents import service as agents
from parley.agents.models import Agent, AgentType
from parley.db.base import utcnow
from parley.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from parley.llm import service as llm_configs
from parley.notifications.service import notify
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseComment, ResponseFeedback
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


# -- who sees what -------------------------------------------------------------------------------


def _seen_by(principal: Principal) -> ColumnElement[bool]:
    """Live responses that are the caller's own, or of an agent they may edit (owner, shared
    for editing, managers of its project's team); admins see them all."""
    live = AgentResponse.is_deleted.is_(False)
    if principal.is_admin:
        return live
    editable_agents = select(Agent.id).where(agent_editable(principal))
    return and_(
        live, or_(AgentResponse.user_id == principal.user_id, AgentResponse.agent_id.in_(editable_agents))
    )


def response_visible(principal: Principal) -> ColumnElement[bool]:
    return and_(AgentResponse.org_id == principal.org_id, _seen_by(principal))


def agent_response_visible(principal: Principal, agent: Agent) -> ColumnElement[bool]:
    """The responses of ``agent``, an agent loaded as visible (so of the caller's organisation),
    that the caller may see. The organisation is not repeated: SQLite's planner, which works
    without statistics, would walk the organisation's index instead of the agent's."""
    return and_(AgentResponse.agent_id == agent.id, _seen_by(principal))


def get_response(session: Session, principal: Principal, response_id: int) -> AgentResponse:
    return load_visible(session, AgentResponse, response_id, response_visible(principal), "Agent Response")


# -- lists -------------------------------------------------------------------------------------


def _newest_first(visible: ColumnElement[bool], query_source: str | None) -> Select[tuple[AgentResponse]]:
    stmt = select(AgentResponse).where(visible)
    if query_source:
        stmt = stmt.where(AgentResponse.query_source == query_source)
    return stmt.order_by(AgentResponse.created_on.desc(), AgentResponse.id.desc())


def agent_responses_query(
    session: Session, principal: Principal, agent_id: int, query_source: str | None = None
) -> Select[tuple[AgentResponse]]:
    """A visible agent's responses: all of them for its editors and org admins, the caller's
    own for everyone else."""
    agent = agents.get_agent(session, principal, agent_id)
    return _newest_first(agent_response_visible(principal, agent), query_source)


def user_responses_query(
    session: Session, principal: Principal, user_id: int, query_source: str | None = None
) -> Select[tuple[AgentResponse]]:
    """A user's responses the caller may see: all for the user themself and org admins, those
    of agents the caller edits for anyone else (often none)."""
    user = load_visible(session, User, user_id, user_visible(principal), "User")
    return _newest_first(and_(AgentResponse.user_id == user.id, response_visible(principal)), query_source)


def project_responses_query(
    session: Session, principal: Principal, project_id: int, query_source: str | None = None
) -> Select[tuple[AgentResponse]]:
    """The responses of a visible project's agents that the caller may see."""
    project = load_visible(session, Project, project_id, project_visible(principal), "Project")
    return _newest_first(
        and_(AgentResponse.project_id == project.id, response_visible(principal)), query_source
    )


def thread_responses(session: Session, principal: Principal, thread_id: int) -> list[AgentResponse]:
    """A thread's responses, oldest first (the conversation's order): the caller's own thread,
    or any thread of an agent they edit."""
    thread = load_visible(
        session, ChatThread, thread_id, thread_visible(principal, admin_view=True), "Chat Thread"
    )
    stmt = (
        select(AgentResponse)
        .where(AgentResponse.chat_thread_id == thread.id, response_visible(principal))
        .order_by(AgentResponse.created_on, AgentResponse.id)
    )
    return list(session.scalars(stmt))


def pinned_responses(session: Session, principal: Principal, agent_id: int) -> list[AgentResponse]:
    """A visible agent's pinned responses the caller may see, most recently pinned first."""
    agent = agents.get_agent(session, principal, agent_id)
    stmt = (
        select(AgentResponse)
        .where(agent_response_visible(principal, agent), AgentResponse.pinned.is_(True))
        .order_by(AgentResponse.pinned_on.desc().nulls_last(), AgentResponse.id.desc())
    )
    return list(session.scalars(stmt))


# -- what the lists show with each response ------------------------------------------------------


@dataclass(frozen=True)
class ResponseDetails:
    response: AgentResponse
    comments: list[ResponseComment]
    feedback: list[ResponseFeedback]


def _live_comments(session: Session, response_ids: Sequence[int]) -> dict[int, list[ResponseComment]]:
    found: dict[int, list[ResponseComment]] = defaultdict(list)
    if response_ids:
        for comment in session.scalars(
            select(ResponseComment)
            .where(ResponseComment.agent_response_id.in_(response_ids), ResponseComment.is_deleted.is_(False))
            .order_by(ResponseComment.created_on, ResponseComment.id)
        ):
            found[comment.agent_response_id].append(comment)
    return found


def with_details(session: Session, responses: Sequence[AgentResponse]) -> list[ResponseDetails]:
    """Each response with its live comments (oldest first) and its feedback: two queries for
    the whole batch."""
    ids = [r.id for r in responses]
    comments = _live_comments(session, ids)
    feedback: dict[int, list[ResponseFeedback]] = defaultdict(list)
    if ids:
        for vote in session.scalars(
            select(ResponseFeedback)
            .where(ResponseFeedback.agent_response_id.in_(ids))
            .order_by(ResponseFeedback.id)
        ):
            feedback[vote.agent_response_id].append(vote)
    return [ResponseDetails(r, comments.get(r.id, []), feedback.get(r.id, [])) for r in responses]


def agents_of(
    session: Session, responses: Sequence[AgentResponse]
) -> dict[int, tuple[Agent, AgentType | None]]:
    """The agents of these responses with their types, by agent id (deleted agents too: a
    stored response keeps naming the agent that gave it)."""
    ids = {r.agent_id for r in responses}
    if not ids:
        return {}
    rows = session.execute(
        select(Agent, AgentType)
        .outerjoin(AgentType, AgentType.id == Agent.agent_type_id)
        .where(Agent.id.in_(ids))
    )
    return {agent.id: (agent, agent_type) for agent, agent_type in rows}


# -- changes -------------------------------------------------------------------------------------


def delete_response(session: Session, principal: Principal, response_id: int) -> AgentResponse:
    """Soft delete, by the user who asked or an org admin (as with chat threads); the agent's
    editors see the response but may not remove it."""
    row = get_response(session, principal, response_id)
    if row.user_id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError("You do not have permission to delete this agent response.")
    row.is_deleted = True
    session.flush()
    return row


def _response_of_agent(
    session: Session, principal: Principal, agent_id: int, response_id: int
) -> AgentResponse:
    agent = agents.get_agent(session, principal, agent_id)
    row = get_response(session, principal, response_id)
    if row.agent_id != agent.id:
        raise NotFoundError("Agent Response")
    return row


def set_pinned(
    session: Session, principal: Principal, agent_id: int, response_id: int, pinned: bool
) -> AgentResponse:
    """Pin or unpin a response of the agent; anyone who sees it may. Pinning again keeps the
    first pin's time, unpinning an unpinned response changes nothing."""
    row = _response_of_agent(session, principal, agent_id, response_id)
    if pinned and not row.pinned:
        row.pinned_on = utcnow()
    elif not pinned:
        row.pinned_on = None
    row.pinned = pinned
    session.flush()
    return row


def add_comment(session: Session, principal: Principal, response_id: int, text: str) -> ResponseComment:
    """Anyone who sees the response may comment; the user who asked is notified of comments
    by others."""
    row = get_response(session, principal, response_id)
    comment = ResponseComment(
        agent_response_id=row.id, user_id=principal.user_id, comment=text, created_by=principal.email
    )
    session.add(comment)
    session.flush()
    if row.user_id != principal.user_id:
        notify(
            session,
            org_id=row.org_id,
            user_id=row.user_id,
            kind="response_comment",
            title=f"{principal.email} commented on an agent response",
            message=text,
            target={
                "type": "agent_response",
                "id": row.id,
                "agent_id": row.agent_id,
                "comment_id": comment.id,
            },
            created_by=principal.email,
        )
    return comment


def comments(session: Session, principal: Principal, response_id: int) -> list[ResponseComment]:
    row = get_response(session, principal, response_id)
    return _live_comments(session, [row.id]).get(row.id, [])


def set_feedback(
    session: Session, principal: Principal, response_id: int, *, up: bool, down: bool, comment: str = ""
) -> ResponseFeedback:
    """The caller's vote on a response they see: one per user and response, a new vote
    replaces the previous one (neither up nor down withdraws it)."""
    if up and down:
        raise InvalidInputError("A vote cannot be both an upvote and a downvote.")
    row = get_response(session, principal, response_id)
    # Serialise concurrent votes on one response (PostgreSQL; SQLite writers already queue), so
    # two requests cannot both find no vote and add one each.
    session.execute(select(AgentResponse.id).where(AgentResponse.id == row.id).with_for_update())
    vote = session.scalars(
        select(ResponseFeedback)
        .where(ResponseFeedback.agent_response_id == row.id, ResponseFeedback.user_id == principal.user_id)
        .order_by(ResponseFeedback.id)
    ).first()
    if vote is None:
        vote = ResponseFeedback(
            agent_response_id=row.id, user_id=principal.user_id, created_by=principal.email
        )
        session.add(vote)
    vote.is_upvote, vote.is_downvote, vote.comment = up, down, comment
    session.flush()
    return vote
