"""Arrange agents, corpora, chat threads and agent responses directly in the database.

For tests of one endpoint group that need rows another group's endpoints would create.
Every helper commits, like tests.support.world, so the API sees the rows at once.
"""

from __future__ import annotations

import itertools
from decimal import Decimal
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Team, TeamMember
from parley.agents.models import Agent, AgentType
from parley.corpora.models import Corpus
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.threads.models import ChatThread
from tests.support.world import Actor

_counter = itertools.count(1)
RowT = TypeVar("RowT")


def _save(db: Session, *rows: RowT) -> RowT:
    # Commit first too: a read transaction the test left open is, on SQLite, a snapshot older
    # than the API's writes, and writing from it fails with "database is locked".
    db.commit()
    db.add_all(rows)
    db.commit()
    return rows[0]


def add_team_members(db: Session, team: Team, *actors: Actor, role: str = "Member") -> None:
    # World.team takes {Actor: role}, but Actor (a plain dataclass) is not hashable.
    _save(db, *(TeamMember(team_id=team.id, user_id=actor.id, role=role) for actor in actors))


def make_agent(
    db: Session,
    owner: Actor,
    project: Project,
    *,
    access: str = "Only me",
    name: str | None = None,
    agent_type: str = "QnA",
) -> Agent:
    db.commit()
    type_id = db.scalar(select(AgentType.id).where(AgentType.name == agent_type))
    agent = Agent(
        org_id=owner.org_id,
        project_id=project.id,
        user_id=owner.id,
        agent_type_id=type_id,
        agent_name=name or f"Agent {next(_counter)}",
        access=access,
        created_by=owner.email,
    )
    return _save(db, agent)


def make_corpus(
    db: Session,
    owner: Actor,
    *,
    corpus_type: str = "document",
    name: str | None = None,
    is_public: bool = False,
) -> Corpus:
    corpus = Corpus(
        org_id=owner.org_id,
        owner_id=owner.id,
        name=name or f"Corpus {next(_counter)}",
        corpus_type=corpus_type,
        is_public=is_public,
        created_by=owner.email,
    )
    return _save(db, corpus)


def make_thread(
    db: Session, user: Actor, agent: Agent, *, title: str = "New Chat", query_source: str = "web"
) -> ChatThread:
    thread = ChatThread(
        org_id=user.org_id,
        agent_id=agent.id,
        user_id=user.id,
        title=title,
        query_source=query_source,
        created_by=user.email,
    )
    return _save(db, thread)


def make_response(
    db: Session,
    user: Actor,
    agent: Agent,
    thread: ChatThread | None = None,
    *,
    question: str = "What is RAG?",
    answer: str = "Retrieval-augmented generation.",
    total_tokens: int = 100,
    cost: str = "0.01",
    query_source: str = "web",
    is_deleted: bool = False,
) -> AgentResponse:
    response = AgentResponse(
        org_id=user.org_id,
        agent_id=agent.id,
        project_id=agent.project_id,
        chat_thread_id=thread.id if thread else None,
        user_id=user.id,
        question=question,
        response={"query": question, "answer": answer, "references": [], "agent_mode": "QnA"},
        total_tokens=total_tokens,
        cost=Decimal(cost),
        query_source=query_source,
        is_deleted=is_deleted,
        created_by=user.email,
    )
    return _save(db, response)


def make_feedback(db: Session, user: Actor, response: AgentResponse, *, up: bool) -> ResponseFeedback:
    feedback = ResponseFeedback(
        agent_response_id=response.id,
        user_id=user.id,
        is_upvote=up,
        is_downvote=not up,
        created_by=user.email,
    )
    return _save(db, feedback)
