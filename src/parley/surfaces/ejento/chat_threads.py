"""Ejento V2 endpoints: chat threads, their admin-panel views and attachment corpora.

Paths and choices: docs/api/ejento.md.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, StringConstraints
from sqlalchemy.orm import Session

from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import PageDep, created, iso, ok, paginate
from parley.surfaces.ejento.params import BodyId, DateRangeQuery, IdsQuery, PathId, id_list
from parley.surfaces.ejento.serializers import audit, chat_thread, corpora_nested
from parley.threads import service as threads
from parley.threads.models import ChatThread

router = APIRouter(tags=["Ejento: Chat Thread"], dependencies=[api_category("chat_threads")])

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
QuerySource = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50)]


class CreateThreadBody(BaseModel):
    # The V2 client also sends {agent, created_by}; they are ignored (the path and the caller win).
    title: Title = threads.DEFAULT_TITLE
    query_source: QuerySource = "web"


class EditThreadBody(BaseModel):
    title: Title


def thread_corpus_view(session: Session, found: threads.CorpusConnection) -> dict:
    link = found.link
    return {
        "id": link.id,
        "chatthread": chat_thread(found.thread),
        "corpus": corpora_nested(session, [found.corpus])[found.corpus.id],
        **audit(link),
        "is_deleted": link.is_deleted,
        "connected_by": link.connected_by,
    }


def admin_threads_view(session: Session, rows: list[ChatThread]) -> list[dict]:
    activity = threads.thread_activity(session, rows)
    return [
        {
            **chat_thread(t),
            "user_email": activity[t.id].user_email,
            "response_count": activity[t.id].response_count,
            "last_activity_on": iso(activity[t.id].last_activity_on),
        }
        for t in rows
    ]


def chatlog_view(log: threads.ChatLog) -> dict:
    r = log.response
    return {
        "id": r.id,
        "question": r.question,
        "answer": log.answer,
        "created_by": r.created_by,
        "created_on": iso(r.created_on),
        "total_tokens": r.total_tokens,
        "cost": log.cost,
        "feedback": {"upvotes": log.upvotes, "downvotes": log.downvotes},
    }


def _user_ids(single: list[int] | None, listed: list[str] | None) -> tuple[int, ...]:
    """``user_id`` may repeat; ``user_ids`` is comma-separated (and may repeat too)."""
    return tuple(dict.fromkeys([*(single or []), *id_list(listed, "user_ids")]))


# Static paths before parameterised ones (see router.py).


@router.get("/v2/api/agent/{agent_id}/chat-thread/admin")
def list_threads_for_admin_panel(
    agent_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    created_on: DateRangeQuery,
    user_id: Annotated[list[BodyId] | None, Query()] = None,
    user_ids: IdsQuery = None,
    query_source: Annotated[str | None, Query(max_length=50)] = None,
    search: Annotated[str | None, Query(max_length=500)] = None,
):
    # Empty filter values are ignored, as browsers send them for blank form fields.
    filters = threads.AdminThreadFilters(
        user_ids=_user_ids(user_id, user_ids),
        start=created_on.start,
        end=created_on.end,
        query_source=query_source or None,
        search=search or None,
    )
    stmt = threads.admin_threads_query(session, principal, agent_id, filters)
    data = paginate(session, stmt, page, "chat_threads", lambda rows: admin_threads_view(session, list(rows)))
    return ok(data, "Chat Threads Found Successfully.")


@router.post("/v2/api/agent/{agent_id}/chat-thread")
def create_chat_thread(
    agent_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: CreateThreadBody | None = None
):
    body = body or CreateThreadBody()
    thread = threads.create_thread(
        session, principal, agent_id, title=body.title, query_source=body.query_source
    )
    return created(chat_thread(thread), "Chat Thread created successfully.")


@router.get("/v2/api/agent/{agent_id}/chat-thread")
def list_chat_threads_of_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = threads.threads_of_agent(session, principal, agent_id)
    return ok([chat_thread(t) for t in rows], "Chat Threads Found Successfully.")


@router.get("/v2/api/chat-thread/{chatthread_id}/chatlogs/reduced")
def reduced_chatlogs(chatthread_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    logs = threads.reduced_chatlogs(session, principal, chatthread_id)
    return ok([chatlog_view(log) for log in logs], "Chatlogs Found Successfully.")


@router.get("/v2/api/chat-thread/{chatthread_id}")
def get_chat_thread(chatthread_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    thread = threads.get_own_thread(session, principal, chatthread_id)
    return ok(chat_thread(thread), "Chat Thread Found Successfully.")


@router.put("/v2/api/chat-thread/{chatthread_id}")
def edit_chat_thread(
    chatthread_id: PathId, body: EditThreadBody, session: SessionDep, principal: CurrentPrincipal
):
    thread = threads.rename_thread(session, principal, chatthread_id, body.title)
    return ok(chat_thread(thread), "Chat Thread Updated Successfully.")


@router.delete("/v2/api/chat-thread/{chatthread_id}")
def delete_chat_thread(chatthread_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    thread = threads.delete_thread(session, principal, chatthread_id)
    # Ejento answers with a one-element list.
    return ok([chat_thread(thread)], "Chat Thread Deleted Successfully.")


@router.post("/v2/api/chat-thread/{chatthread_id}/corpus/{corpus_id}")
def add_thread_corpus(
    chatthread_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = threads.connect_corpus(session, principal, chatthread_id, corpus_id)
    return created(thread_corpus_view(session, found), "Chat thread corpus connection created successfully.")


@router.get("/v2/api/chat-thread/{chatthread_id}/corpus/{corpus_id}")
def get_thread_corpus(
    chatthread_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = threads.get_corpus_connection(session, principal, chatthread_id, corpus_id)
    return ok(thread_corpus_view(session, found), "Chat thread corpus connection fetched successfully.")


@router.delete("/v2/api/chat-thread/{chatthread_id}/corpus/{corpus_id}")
def delete_thread_corpus(
    chatthread_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = threads.disconnect_corpus(session, principal, chatthread_id, corpus_id)
    return ok(thread_corpus_view(session, found), "Chat thread corpus connection deleted successfully.")
