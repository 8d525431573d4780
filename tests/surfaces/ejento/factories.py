"""Shared helpers of the Ejento group tests: arrange agents, corpora, chat threads and agent
responses directly in the database, read back what the API wrote, and check the envelope.

For tests of one endpoint group that need rows another group's endpoints would create.
Every helper that writes commits, like tests.support.world, so the API sees the rows at once.
"""

from __future__ import annotations

import itertools
import re
import time
from collections.abc import Iterable
from decimal import Decimal
from typing import Any, TypeVar

from httpx import Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.agents.models import Agent, AgentType
from parley.corpora.models import Corpus
from parley.projects.models import Project
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.threads.models import ChatThread
from tests.support.world import Actor

_counter = itertools.count(1)
RowT = TypeVar("RowT")
ModelT = TypeVar("ModelT")

# Timestamps as Ejento (DRF) prints them: UTC with microseconds.
TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")
# The soft-delete flag and audit fields most Ejento objects carry.
AUDIT_KEYS = {"is_deleted", "created_by", "created_on", "modified_by", "modified_on"}


# -- documents -----------------------------------------------------------------------------------

FINAL = ("completed", "failed", "cancelled")
QUEUED = "Document has been queued for indexing"


def upload(actor: Actor, corpus_id: int, content_type: str, source: object, **form: object):  # type: ignore[no-untyped-def]
    """POST a document as the docs show it: multipart with content_type, source, upload_from, user_id."""
    data = {"content_type": content_type, "upload_from": "web", **{k: str(v) for k, v in form.items()}}
    files = None
    if isinstance(source, tuple):
        files = {"source": source}
    elif source is not None:
        data["source"] = source
    if files is None:  # force multipart even without a file, as Ejento clients send it
        files = {"_": ("", b"")}
    return actor.post(f"/v2/api/corpus/{corpus_id}/document", data=data, files=files)


def add_text(actor: Actor, corpus_id: int, text: str, **form: object) -> dict:
    return succeeded(upload(actor, corpus_id, "text", text, **form), 201, QUEUED)


def poll(actor: Actor, document_id: int, timeout: float = 90.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        data = succeeded(
            actor.get(f"/v2/api/document/{document_id}/polling"), 200, "Document status fetched successfully."
        )
        if data["status"] in FINAL:
            return data
        assert time.monotonic() < deadline, data
        time.sleep(0.1)


# -- answers -----------------------------------------------------------------------------------


def succeeded(r: Response, status: int, message: str) -> Any:
    """The data of a successful answer, once its status and envelope are checked."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is True and body["message"] == message
    return body["data"]


def assert_error(r: Response, status: int, message: str | None = None) -> dict:
    """An error answer in the Ejento envelope ``{success, message, data}``; returns the body."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["success"] is False and set(body) == {"success", "message", "data"}
    assert isinstance(body["message"], str) and body["message"]
    if message is not None:
        assert body["message"] == message
    return body


def ids(items: list[dict]) -> list[int]:
    return [item["id"] for item in items]


def assert_read_only(key: Actor, reads: Iterable[str], writes: Iterable[tuple[str, str, object]]) -> None:
    """``key`` reads every path in ``reads`` and is refused (403) every ``(method, path, body)``."""
    for path in reads:
        assert key.get(path).status_code == 200, path
    for method, path, body in writes:
        assert_error(key.request(method, path, json=body), 403)


def assert_hidden(actor: Actor, requests: Iterable[tuple[str, str, object]], secret: str) -> None:
    """Every ``(method, path, body)`` answers 404 to ``actor`` without revealing ``secret``."""
    for method, path, body in requests:
        r = actor.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert secret not in r.text


# -- reading back what the API wrote -------------------------------------------------------------
# The test session ends its transaction first: on SQLite an open read transaction is a snapshot
# that would neither show the API's later writes nor allow the session to write again.


def fresh(db: Session) -> None:
    """See the API's writes: end the test session's transaction and reload rows when used."""
    db.rollback()
    db.expire_all()


def count(db: Session, model: type, *where: object) -> int:
    fresh(db)
    return db.scalar(select(func.count()).select_from(model).where(*where)) or 0  # type: ignore[arg-type]


def reload(db: Session, model: type[ModelT], entity_id: int) -> ModelT:
    fresh(db)
    row = db.get(model, entity_id)
    assert row is not None
    return row


# -- arranging rows ------------------------------------------------------------------------------


def _save(db: Session, *rows: RowT) -> RowT:
    # Commit first too: a read transaction the test left open is, on SQLite, a snapshot older
    # than the API's writes, and writing from it fails with "database is locked".
    db.commit()
    db.add_all(rows)
    db.commit()
    return rows[0]


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
