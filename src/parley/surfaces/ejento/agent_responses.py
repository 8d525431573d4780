"""Ejento V2 Agent Response group: reading, deleting, pinning, commenting on, voting on and
summarising stored agent responses (chat logs). The answer and log endpoints live in
responses.py.

Paths and choices: docs/api/ejento-parts/agent-responses.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator
from sqlalchemy.orm import Session

from parley.agents.models import Agent, AgentType
from parley.http.deps import CurrentPrincipal, ReadingPrincipal, ReadSessionDep, SessionDep, api_category
from parley.responses import dashboard
from parley.responses import service as responses
from parley.responses.models import AgentResponse, ResponseComment, ResponseFeedback
from parley.surfaces.ejento.envelope import PageDep, created, iso, ok, paginate
from parley.surfaces.ejento.params import MAX_IDS, NO_NUL, BodyId, PathId, parse_date_bound
from parley.surfaces.ejento.serializers import agent_response
from parley.usage.service import cost_text

FOUND = "Agent Response Found Successfully."

# Reads and writes of single responses: one unit of work per request.
responses_router = APIRouter(tags=["Ejento: Agent Response"], dependencies=[api_category("agent_responses")])
# The dashboards only read, but are POSTs: a read transaction, so SQLite's write lock is not held
# while the database aggregates. (Key scopes still count a POST as a write, as Ejento's do.)
dashboard_router = APIRouter(
    tags=["Ejento: Agent Response"], dependencies=[api_category("agent_responses", own_transactions=True)]
)

QuerySource = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50, pattern=NO_NUL)
]
QuerySourceQuery = Annotated[str | None, Query(max_length=50, pattern=NO_NUL)]
CommentText = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=5000, pattern=NO_NUL)
]
DateText = Annotated[str, StringConstraints(max_length=40)]
Grouping = Literal["day", "agent", "project", "user", "query_source"]


class CommentBody(BaseModel):
    comment: CommentText
    # Sent by V2 clients; the caller is the author whatever it says.
    created_by: str | None = None


class FeedbackBody(BaseModel):
    """``{is_upvote, is_downvote}`` (the stored shape) or V2's ``{vote_type: "up"|"down"}``."""

    model_config = ConfigDict(extra="forbid")

    is_upvote: bool | None = None
    is_downvote: bool | None = None
    vote_type: Literal["up", "down"] | None = None
    comment: Annotated[str, StringConstraints(max_length=5000, pattern=NO_NUL)] = ""

    @model_validator(mode="after")
    def _one_vote(self) -> FeedbackBody:
        if self.vote_type is None and self.is_upvote is None and self.is_downvote is None:
            raise ValueError("give vote_type, or is_upvote and/or is_downvote")
        if self.vote_type is not None and (self.is_upvote is not None or self.is_downvote is not None):
            raise ValueError("give vote_type or is_upvote/is_downvote, not both")
        return self

    @property
    def up(self) -> bool:
        return self.vote_type == "up" if self.vote_type else bool(self.is_upvote)

    @property
    def down(self) -> bool:
        return self.vote_type == "down" if self.vote_type else bool(self.is_downvote)


class DashboardBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start_date: DateText | None = None
    end_date: DateText | None = None
    group_by: Annotated[list[Grouping], Field(max_length=10)] | Grouping = list(dashboard.GROUPINGS)
    agent_ids: list[BodyId] = Field(default_factory=list, max_length=MAX_IDS)
    project_ids: list[BodyId] = Field(default_factory=list, max_length=MAX_IDS)
    user_ids: list[BodyId] = Field(default_factory=list, max_length=MAX_IDS)
    query_source: Annotated[list[QuerySource], Field(max_length=50)] | QuerySource | None = None
    limit: int = Field(default=100, ge=1, le=dashboard.MAX_GROUPS)

    def filters(self) -> dashboard.DashboardFilters:
        # Blank dates (empty form fields) do not bound, as in the other date filters.
        start = parse_date_bound(self.start_date, "start_date") if (self.start_date or "").strip() else None
        end = parse_date_bound(self.end_date, "end_date", end=True) if (self.end_date or "").strip() else None
        sources = [self.query_source] if isinstance(self.query_source, str) else self.query_source or []
        return dashboard.DashboardFilters(
            start=start,
            end=end,
            groupings=[self.group_by] if isinstance(self.group_by, str) else self.group_by,
            agent_ids=self.agent_ids,
            project_ids=self.project_ids,
            user_ids=self.user_ids,
            query_sources=sources,
            limit=self.limit,
        )


# -- shapes -----------------------------------------------------------------------------------


def comment_view(c: ResponseComment) -> dict:
    return {
        "id": c.id,
        "comment": c.comment,
        "created_by": c.created_by,
        "created_on": iso(c.created_on),
        "user": c.user_id,
        "agent_response": c.agent_response_id,
    }


def feedback_view(f: ResponseFeedback) -> dict:
    return {
        "id": f.id,
        "is_upvote": f.is_upvote,
        "is_downvote": f.is_downvote,
        "comment": f.comment,
        "created_by": f.created_by,
        "created_on": iso(f.created_on),
        "user": f.user_id,
        "agent_response": f.agent_response_id,
    }


def full_views(session: Session, rows: Sequence[AgentResponse]) -> list[dict]:
    """The AgentResponse of the docs: the stored row with its comments and feedback."""
    return [
        {
            "id": d.response.id,
            "comments": [comment_view(c) for c in d.comments],
            "feedback": [feedback_view(f) for f in d.feedback],
            **agent_response(d.response),
        }
        for d in responses.with_details(session, rows)
    ]


def _agent_compact(agent: Agent, agent_type: AgentType | None) -> dict:
    return {
        "id": agent.id,
        "agent_name": agent.agent_name,
        "agent_type": {"name": agent_type.name} if agent_type else None,
        "created_by": agent.created_by,
        "created_on": iso(agent.created_on),
        "agent_image": agent.agent_image,
        "user": agent.user_id,
        "project": agent.project_id,
    }


def compact_views(session: Session, rows: Sequence[AgentResponse]) -> list[dict]:
    """The "by user" item of the docs: a compact agent and only the answer's main fields."""
    found = responses.agents_of(session, rows)
    out = []
    for r in rows:
        payload = r.response if isinstance(r.response, dict) else {}
        agent, agent_type = found[r.agent_id]
        out.append(
            {
                **agent_response(r),
                "response": {k: payload.get(k) for k in ("query", "answer", "references", "agent_mode")},
                "agent": _agent_compact(agent, agent_type),
            }
        )
    return out


def pinned_view(r: AgentResponse) -> dict:
    return {
        "id": r.id,
        "question": r.question,
        "response": r.response,
        "created_by": r.created_by,
        "created_on": iso(r.created_on),
        "total_tokens": r.total_tokens,
        "prompt_tokens": r.prompt_tokens,
        "completion_tokens": r.completion_tokens,
        "pinned": r.pinned,
        "chat_thread_id": r.chat_thread_id,
    }


def metrics_view(m: dashboard.Metrics) -> dict:
    return {
        "responses": m.responses,
        "users": m.users,
        "total_tokens": m.total_tokens,
        "prompt_tokens": m.prompt_tokens,
        "completion_tokens": m.completion_tokens,
        "cost": cost_text(m.cost),
        "avg_latency_ms": m.avg_latency_ms,
        "p95_latency_ms": m.p95_latency_ms,
        "cache_hits": m.cache_hits,
        "upvotes": m.upvotes,
        "downvotes": m.downvotes,
    }


# How each breakdown names its key and label.
_GROUP_FIELDS = {
    "day": ("date", None),
    "agent": ("agent_id", "agent_name"),
    "project": ("project_id", "project_name"),
    "user": ("user_id", "email"),
    "query_source": ("query_source", None),
}


def dashboard_view(d: dashboard.Dashboard) -> dict:
    data = {"start": iso(d.start), "end": iso(d.end), "totals": metrics_view(d.totals)}
    for kind, groups in d.groups.items():
        key_name, label_name = _GROUP_FIELDS[kind]
        data[f"by_{kind}"] = [
            {key_name: g.key, **({label_name: g.label} if label_name else {}), **metrics_view(g.metrics)}
            for g in groups
        ]
    return data


# -- dashboards (static paths first) ---------------------------------------------------------


@dashboard_router.post("/v2/api/agent-response/dashboard")
def organization_dashboard(
    session: ReadSessionDep, principal: ReadingPrincipal, body: DashboardBody | None = None
):
    found = dashboard.organization_dashboard(session, principal, (body or DashboardBody()).filters())
    return ok(dashboard_view(found), "Agent Response Dashboard Found Successfully.")


@dashboard_router.post("/v2/api/agent/{agent_id}/response/dashboard")
def agent_dashboard(
    agent_id: PathId, session: ReadSessionDep, principal: ReadingPrincipal, body: DashboardBody | None = None
):
    found = dashboard.agent_dashboard(session, principal, agent_id, (body or DashboardBody()).filters())
    return ok(dashboard_view(found), "Agent Response Dashboard Found Successfully.")


# -- lists ------------------------------------------------------------------------------------


@responses_router.get("/v2/api/agent/{agent_id}/response/pin")
def pinned_agent_responses(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = responses.pinned_responses(session, principal, agent_id)
    return ok([pinned_view(r) for r in rows], "Pinned chat logs retrieved successfully")


@responses_router.get("/v2/api/agent/{agent_id}/response")
def agent_responses(
    agent_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query_source: QuerySourceQuery = None,
):
    stmt = responses.agent_responses_query(session, principal, agent_id, query_source or None)
    return ok(paginate(session, stmt, page, "agent_responses", lambda rows: full_views(session, rows)), FOUND)


@responses_router.get("/v2/api/user/{user_id}/agent-response")
def user_agent_responses(
    user_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query_source: QuerySourceQuery = None,
):
    stmt = responses.user_responses_query(session, principal, user_id, query_source or None)
    return ok(
        paginate(session, stmt, page, "agent_responses", lambda rows: compact_views(session, rows)), FOUND
    )


@responses_router.get("/v2/api/project/{project_id}/agent-response")
def project_agent_responses(
    project_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query_source: QuerySourceQuery = None,
):
    stmt = responses.project_responses_query(session, principal, project_id, query_source or None)
    return ok(
        paginate(session, stmt, page, "agent_responses", lambda rows: compact_views(session, rows)), FOUND
    )


@responses_router.get("/v2/api/chat-thread/{chatthread_id}/agent-response")
def thread_agent_responses(chatthread_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(full_views(session, responses.thread_responses(session, principal, chatthread_id)), FOUND)


# -- one response -----------------------------------------------------------------------------


@responses_router.get("/v2/api/agent-response/{agent_response_id}")
def get_agent_response(agent_response_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = responses.get_response(session, principal, agent_response_id)
    return ok(full_views(session, [row])[0], FOUND)


@responses_router.delete("/v2/api/agent-response/{agent_response_id}")
def delete_agent_response(agent_response_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = responses.delete_response(session, principal, agent_response_id)
    return ok(full_views(session, [row])[0], "Agent Response Deleted Successfully.")


@responses_router.post("/v2/api/agent-response/{agent_response_id}/comment")
@responses_router.post("/api/v2/agent-responses/{agent_response_id}/comments")
def create_agent_response_comment(
    agent_response_id: PathId, body: CommentBody, session: SessionDep, principal: CurrentPrincipal
):
    comment = responses.add_comment(session, principal, agent_response_id, body.comment)
    return created(comment_view(comment), "Agent Response Comment Created Successfully.")


@responses_router.get("/v2/api/agent-response/{agent_response_id}/comment")
def agent_response_comments(agent_response_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    found = responses.comments(session, principal, agent_response_id)
    return ok([comment_view(c) for c in found], "Agent Response Comments Found Successfully.")


@responses_router.post("/v2/api/agent-response/{agent_response_id}/feedback")
@responses_router.post("/api/v2/agent-responses/{agent_response_id}/feedbacks")
def create_agent_response_feedback(
    agent_response_id: PathId, body: FeedbackBody, session: SessionDep, principal: CurrentPrincipal
):
    vote = responses.set_feedback(
        session, principal, agent_response_id, up=body.up, down=body.down, comment=body.comment
    )
    return created(feedback_view(vote), "Agent Response Feedback Created Successfully.")


@responses_router.put("/v2/api/agent/{agent_id}/response/{agent_response_id}/pin")
def pin_agent_response(
    agent_id: PathId, agent_response_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    row = responses.set_pinned(session, principal, agent_id, agent_response_id, pinned=True)
    return ok(pinned_view(row), "Agent Response Pinned Successfully.")


@responses_router.delete("/v2/api/agent/{agent_id}/response/{agent_response_id}/pin")
def unpin_agent_response(
    agent_id: PathId, agent_response_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    row = responses.set_pinned(session, principal, agent_id, agent_response_id, pinned=False)
    return ok(pinned_view(row), "Agent Response Unpinned Successfully.")


# The dashboards first: /agent-response/dashboard is a static path beside /agent-response/{id}.
router = APIRouter()
router.include_router(dashboard_router)
router.include_router(responses_router)
