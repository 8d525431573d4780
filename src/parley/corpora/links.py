"""Agent–corpus connections: which corpora an agent answers from, and whether each is enabled.

Changing an agent's connections needs edit rights on the agent and sight of the corpus;
reading them needs only sight of the agent. Removing a connection is a soft delete, and an
agent's default corpus link (``is_default``) is never removed: it can only be disabled.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from parley.access.policy import agent_editable, agent_visible, load_allowed, load_visible
from parley.access.principal import Principal
from parley.agents.models import Agent
from parley.corpora.models import AgentCorpus, Corpus
from parley.corpora.service import get_corpus
from parley.db.rows import soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError

ENTITY = "Agent corpus connection"


def _editable_agent(session: Session, principal: Principal, agent_id: int) -> Agent:
    visible, editable = agent_visible(principal), agent_editable(principal)
    return load_allowed(session, Agent, agent_id, visible, editable, "Agent", "change this agent's corpora")


def _live_links(agent_id: int) -> Select[tuple[AgentCorpus]]:
    """An agent's connections that are not deleted and whose corpus is not deleted either."""
    live_corpora = select(Corpus.id).where(Corpus.is_deleted.is_(False))
    return (
        select(AgentCorpus)
        .where(
            AgentCorpus.agent_id == agent_id,
            AgentCorpus.is_deleted.is_(False),
            AgentCorpus.corpus_id.in_(live_corpora),
        )
        .order_by(AgentCorpus.id)
    )


def answers_from_corpora(session: Session, agent_id: int) -> bool:
    """Whether the agent has an enabled connection to a live corpus: what its answers search (and
    so whether its built-in "Rag Tool" is on)."""
    enabled = _live_links(agent_id).where(AgentCorpus.is_enabled.is_(True))
    return session.scalars(enabled.limit(1)).first() is not None


def _find(session: Session, agent_id: int, corpus_id: int) -> AgentCorpus | None:
    return session.scalars(_live_links(agent_id).where(AgentCorpus.corpus_id == corpus_id)).first()


def _link_for_change(session: Session, principal: Principal, agent_id: int, corpus_id: int) -> AgentCorpus:
    agent = _editable_agent(session, principal, agent_id)
    corpus = get_corpus(session, principal, corpus_id)
    link = _find(session, agent.id, corpus.id)
    if link is None:
        raise NotFoundError(ENTITY)
    return link


def add_link(
    session: Session, principal: Principal, agent: Agent, corpus: Corpus, *, is_default: bool = False
) -> AgentCorpus:
    """Store a connection already checked by the caller (also used for an agent's default corpus)."""
    link = AgentCorpus(
        org_id=agent.org_id,
        agent_id=agent.id,
        corpus_id=corpus.id,
        is_enabled=True,
        is_default=is_default,
        connected_by=principal.user_id,
        created_by=principal.email,
    )
    session.add(link)
    session.flush()
    return link


def connect(session: Session, principal: Principal, agent_id: int, corpus_id: int) -> AgentCorpus:
    agent = _editable_agent(session, principal, agent_id)
    corpus = get_corpus(session, principal, corpus_id)
    if _find(session, agent.id, corpus.id) is not None:
        raise ConflictError("Agent corpus connection already exists.")
    return add_link(session, principal, agent, corpus)


def get_link(session: Session, principal: Principal, agent_id: int, corpus_id: int) -> AgentCorpus:
    agent = load_visible(session, Agent, agent_id, agent_visible(principal), "Agent")
    link = _find(session, agent.id, corpus_id)
    if link is None:
        raise NotFoundError(ENTITY)
    return link


def list_links(session: Session, principal: Principal, agent_id: int) -> Sequence[AgentCorpus]:
    agent = load_visible(session, Agent, agent_id, agent_visible(principal), "Agent")
    return session.scalars(_live_links(agent.id)).all()


def set_enabled(
    session: Session, principal: Principal, agent_id: int, corpus_id: int, is_enabled: bool
) -> AgentCorpus:
    link = _link_for_change(session, principal, agent_id, corpus_id)
    link.is_enabled = is_enabled
    link.modified_by = principal.email
    session.flush()
    return link


def disconnect(session: Session, principal: Principal, agent_id: int, corpus_id: int) -> AgentCorpus:
    link = _link_for_change(session, principal, agent_id, corpus_id)
    if link.is_default:
        raise InvalidInputError("The default corpus connection cannot be deleted; disable it instead.")
    soft_delete(session, principal, link)
    return link


def disconnect_all(session: Session, principal: Principal, agent_id: int) -> Sequence[AgentCorpus]:
    """Remove every connection except the default one; returns the removed connections."""
    agent = _editable_agent(session, principal, agent_id)
    removed = session.scalars(_live_links(agent.id).where(AgentCorpus.is_default.is_(False))).all()
    for link in removed:
        link.is_deleted = True
        link.modified_by = principal.email
    session.flush()
    return removed
