"""Chat threads data layer: a user's conversations with an agent, the admin-panel views of
them, and the attachment corpora linked to a thread.

Plain typed functions taking a session and the caller; every read is scoped by the policy
clauses, so other users' threads (and other organisations' ids) answer "not found".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, case, func, select
from sqlalchemy.orm import Session

from parley.access.policy import load_visible, thread_visible
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.agents import service as agents
from parley.agents.models import Agent
from parley.corpora import service as corpora
from parley.corpora.models import Corpus
from parley.db.rows import soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError
from parley.responses.models import AgentResponse, ResponseFeedback
from parley.threads.models import ChatThread, ChatThreadCorpus
from parley.usage.service import cost_text

DEFAULT_TITLE = "New Chat"
ATTACHMENT_CORPUS = "attachment"


# -- the caller's own threads ------------------------------------------------------------------


def create_thread(
    session: Session,
    principal: Principal,
    agent_id: int,
    *,
    title: str = DEFAULT_TITLE,
    query_source: str = "web",
) -> ChatThread:
    """Anyone who can use the agent may open a thread with it."""
    agent = agents.get_agent(session, principal, agent_id)
    thread = ChatThread(
        org_id=principal.org_id,
        agent_id=agent.id,
        user_id=principal.user_id,
        title=title,
        query_source=query_source,
        created_by=principal.email,
    )
    session.add(thread)
    session.flush()
    return thread


def threads_of_agent(session: Session, principal: Principal, agent_id: int) -> list[ChatThread]:
    """The caller's own live threads with a visible agent, newest first."""
    agents.get_agent(session, principal, agent_id)
    stmt = (
        select(ChatThread)
        .where(ChatThread.agent_id == agent_id, thread_visible(principal))
        .order_by(ChatThread.created_on.desc(), ChatThread.id.desc())
    )
    return list(session.scalars(stmt))


def get_own_thread(session: Session, principal: Principal, thread_id: int) -> ChatThread:
    return load_visible(session, ChatThread, thread_id, thread_visible(principal), "Chat Thread")


def rename_thread(session: Session, principal: Principal, thread_id: int, title: str) -> ChatThread:
    thread = get_own_thread(session, principal, thread_id)
    thread.title = title
    thread.modified_by = principal.email
    session.flush()
    return thread


def delete_thread(session: Session, principal: Principal, thread_id: int) -> ChatThread:
    """Soft delete. Users delete their own threads; organisation admins may delete any thread
    of their organisation (e.g. to remove a conversation that should not be kept)."""
    visible = thread_visible(principal, admin_view=principal.is_admin)
    thread = load_visible(session, ChatThread, thread_id, visible, "Chat Thread")
    soft_delete(session, principal, thread)
    return thread


# -- admin panel -------------------------------------------------------------------------------


@dataclass(frozen=True)
class AdminThreadFilters:
    user_ids: tuple[int, ...] = ()
    start: datetime | None = None
    end: datetime | None = None  # exclusive
    query_source: str | None = None
    search: str | None = None


@dataclass(frozen=True)
class ThreadActivity:
    user_email: str | None
    response_count: int
    last_activity_on: datetime


def _load_editable_agent(session: Session, principal: Principal, agent_id: int) -> Agent:
    return agents.get_editable_agent(session, principal, agent_id, "view the chat threads of this agent")


def admin_threads_query(
    session: Session, principal: Principal, agent_id: int, filters: AdminThreadFilters
) -> Select[tuple[ChatThread]]:
    """Every live thread of the agent (all users) for organisation admins and the agent's
    editors; plain users of the agent get PermissionDeniedError. Newest first."""
    agent = _load_editable_agent(session, principal, agent_id)
    stmt = select(ChatThread).where(
        ChatThread.agent_id == agent.id, thread_visible(principal, admin_view=True)
    )
    if filters.user_ids:
        stmt = stmt.where(ChatThread.user_id.in_(filters.user_ids))
    if filters.start:
        stmt = stmt.where(ChatThread.created_on >= filters.start)
    if filters.end:
        stmt = stmt.where(ChatThread.created_on < filters.end)
    if filters.query_source:
        stmt = stmt.where(ChatThread.query_source == filters.query_source)
    if filters.search:
        escaped = filters.search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        stmt = stmt.where(ChatThread.title.ilike(f"%{escaped}%", escape="\\"))
    return stmt.order_by(ChatThread.created_on.desc(), ChatThread.id.desc())


def thread_activity(session: Session, threads: list[ChatThread]) -> dict[int, ThreadActivity]:
    """Per thread: its user's email, how many live responses it holds and when the last one
    was written (the thread's creation when it has none)."""
    if not threads:
        return {}
    ids = [t.id for t in threads]
    stats = {
        thread_id: (count, last)
        for thread_id, count, last in session.execute(
            select(
                AgentResponse.chat_thread_id, func.count(AgentResponse.id), func.max(AgentResponse.created_on)
            )
            .where(AgentResponse.chat_thread_id.in_(ids), AgentResponse.is_deleted.is_(False))
            .group_by(AgentResponse.chat_thread_id)
        )
    }
    emails = dict(
        session.execute(select(User.id, User.email).where(User.id.in_({t.user_id for t in threads}))).all()
    )
    out = {}
    for t in threads:
        count, last = stats.get(t.id, (0, None))
        out[t.id] = ThreadActivity(emails.get(t.user_id), count, last or t.created_on)
    return out


@dataclass(frozen=True)
class ChatLog:
    response: AgentResponse
    upvotes: int
    downvotes: int

    @property
    def answer(self) -> str:
        payload = self.response.response
        answer = payload.get("answer", "") if isinstance(payload, dict) else ""
        return answer if isinstance(answer, str) else str(answer)

    @property
    def cost(self) -> str:
        return cost_text(self.response.cost)


def reduced_chatlogs(session: Session, principal: Principal, thread_id: int) -> list[ChatLog]:
    """A thread's live responses, oldest first, for organisation admins and the agent's editors."""
    thread = load_visible(
        session, ChatThread, thread_id, thread_visible(principal, admin_view=True), "Chat Thread"
    )
    _load_editable_agent(session, principal, thread.agent_id)
    responses = list(
        session.scalars(
            select(AgentResponse)
            .where(
                AgentResponse.chat_thread_id == thread.id,
                AgentResponse.org_id == principal.org_id,
                AgentResponse.is_deleted.is_(False),
            )
            .order_by(AgentResponse.created_on, AgentResponse.id)
        )
    )
    votes: dict[int, tuple[int, int]] = {}
    if responses:
        votes = {
            response_id: (int(up or 0), int(down or 0))
            for response_id, up, down in session.execute(
                select(
                    ResponseFeedback.agent_response_id,
                    func.sum(case((ResponseFeedback.is_upvote.is_(True), 1), else_=0)),
                    func.sum(case((ResponseFeedback.is_downvote.is_(True), 1), else_=0)),
                )
                .where(ResponseFeedback.agent_response_id.in_([r.id for r in responses]))
                .group_by(ResponseFeedback.agent_response_id)
            )
        }
    return [ChatLog(r, *votes.get(r.id, (0, 0))) for r in responses]


# -- attachment corpora ------------------------------------------------------------------------


@dataclass(frozen=True)
class CorpusConnection:
    link: ChatThreadCorpus
    thread: ChatThread
    corpus: Corpus


def _live_link(session: Session, thread_id: int, corpus_id: int) -> ChatThreadCorpus | None:
    return session.scalars(
        select(ChatThreadCorpus).where(
            ChatThreadCorpus.chat_thread_id == thread_id,
            ChatThreadCorpus.corpus_id == corpus_id,
            ChatThreadCorpus.is_deleted.is_(False),
        )
    ).first()


def connect_corpus(
    session: Session, principal: Principal, thread_id: int, corpus_id: int
) -> CorpusConnection:
    """Link an attachment corpus to one of the caller's threads; the thread's ``corpus_id``
    then points at it (the corpus the attachment tool reads)."""
    thread = get_own_thread(session, principal, thread_id)
    corpus = corpora.get_corpus(session, principal, corpus_id)
    if corpus.corpus_type != ATTACHMENT_CORPUS:
        raise InvalidInputError("Only a corpus of type 'attachment' can be connected to a chat thread.")
    if _live_link(session, thread.id, corpus.id) is not None:
        raise ConflictError("This corpus is already connected to the chat thread.")
    link = ChatThreadCorpus(
        chat_thread_id=thread.id,
        corpus_id=corpus.id,
        connected_by=principal.user_id,
        created_by=principal.email,
    )
    session.add(link)
    thread.corpus_id = corpus.id
    thread.modified_by = principal.email
    session.flush()
    return CorpusConnection(link, thread, corpus)


def get_corpus_connection(
    session: Session, principal: Principal, thread_id: int, corpus_id: int
) -> CorpusConnection:
    thread = get_own_thread(session, principal, thread_id)
    corpus = corpora.get_corpus(session, principal, corpus_id)
    link = _live_link(session, thread.id, corpus.id)
    if link is None:
        raise NotFoundError("ChatThread-Corpus connection")
    return CorpusConnection(link, thread, corpus)


def disconnect_corpus(
    session: Session, principal: Principal, thread_id: int, corpus_id: int
) -> CorpusConnection:
    """Soft-delete the link. Only the thread must be the caller's: a link stays removable
    after the corpus was deleted or unshared."""
    thread = get_own_thread(session, principal, thread_id)
    link = _live_link(session, thread.id, corpus_id)
    if link is None:
        raise NotFoundError("ChatThread-Corpus connection")
    link.is_deleted = True
    link.modified_by = principal.email
    if thread.corpus_id == corpus_id:
        thread.corpus_id = None
        thread.modified_by = principal.email
    session.flush()
    corpus = session.get(Corpus, link.corpus_id)
    assert corpus is not None  # the foreign key guarantees it
    return CorpusConnection(link, thread, corpus)
