"""Ejento V2 endpoints around an agent: Agent Reviews, Agent Rating, Agent Alias, Agent Access,
Agent Type, Agent User, Agent Tags, Agent Vote and Agent Comment.

Only Create Agent Vote and Get All Agents with Users are documented with their paths; the others
use the spec's suggested paths or follow the surface's patterns (docs/api/ejento-parts/agent-extras.md).
The static paths (``/agent/alias``, ``/agent/rating``, ``/agent/user``, ``/agent/tags``) must be
registered before the Agent group's ``/agent/{agent_id}``, so this router is included first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import AliasChoices, BaseModel, Field, StrictInt, StrictStr, StringConstraints, model_validator
from sqlalchemy.orm import Session

from parley.accounts.models import User
from parley.agents import extras
from parley.agents import service as agents
from parley.agents.models import ACCESS_LEVELS, Agent, AgentComment, AgentReview, AgentUser
from parley.db.base import MAX_ID
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.agents import Access, full
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.params import MAX_IDS, NO_NUL, BodyId, IdList, IdsQuery, PathId, id_list
from parley.surfaces.ejento.serializers import agent_type, agents_full, audit, user_compact


def _group(name: str) -> APIRouter:
    return APIRouter(tags=[f"Ejento: {name}"], dependencies=[api_category("agents")])


reviews = _group("Agent Reviews")
ratings = _group("Agent Rating")
aliases = _group("Agent Alias")
access = _group("Agent Access")
types = _group("Agent Type")
users = _group("Agent User")
tags = _group("Agent Tags")
votes = _group("Agent Vote")
comments = _group("Agent Comment")

Text = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10_000, pattern=NO_NUL)
]
Stars = Annotated[StrictInt, Field(ge=1, le=5)]
# An email address: Ejento's aliases look like "PolicyWhisperer_1251-dev@ejento.ai".
Alias = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$"
    ),
]
TypeRef = (
    Annotated[StrictInt, Field(ge=1, le=MAX_ID)]
    | Annotated[StrictStr, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
)
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)]
Tags = Annotated[list[Tag], Field(max_length=extras.MAX_TAGS)]
FilterId = Annotated[int | None, Query(ge=1, le=MAX_ID)]


# -- shapes ----------------------------------------------------------------------------------------


def _authored(row: AgentReview | AgentComment, authors: dict[int, User]) -> dict:
    author = authors.get(row.user_id)
    return {
        "id": row.id,
        "agent": row.agent_id,
        "user": user_compact(author) if author else row.user_id,
        "is_deleted": row.is_deleted,
        **audit(row),
    }


def reviews_out(session: Session, rows: Sequence[AgentReview]) -> list[dict]:
    """Review: ``{id, agent, user:{compact}, review, rating, is_deleted, created_*, modified_*}``."""
    authors = extras.users_by_id(session, {row.user_id for row in rows})
    return [{**_authored(row, authors), "review": row.review, "rating": row.rating} for row in rows]


def comments_out(session: Session, rows: Sequence[AgentComment]) -> list[dict]:
    """Comment: ``{id, agent, user:{compact}, comment, is_deleted, created_*, modified_*}``."""
    authors = extras.users_by_id(session, {row.user_id for row in rows})
    return [{**_authored(row, authors), "comment": row.comment} for row in rows]


def rating_view(summary: extras.RatingSummary) -> dict:
    return {
        "agent": summary.agent.id,
        "agent_name": summary.agent.agent_name,
        "average_rating": summary.average,
        "rating_count": summary.count,
        "user_rating": summary.user_rating,
    }


def alias_view(agent: Agent) -> dict:
    return {"agent": agent.id, "agent_name": agent.agent_name, "alias": agent.alias}


def share_view(share: AgentUser, user: User) -> dict:
    """AgentUser: ``{id, agent, user:{compact}, permission, created_*, modified_*}``."""
    return {
        "id": share.id,
        "agent": share.agent_id,
        "user": user_compact(user),
        "permission": share.permission,
        **audit(share),
    }


def shares_out(pairs: Sequence[extras.AgentShare]) -> list[dict]:
    return [share_view(share, user) for share, user in pairs]


def tags_view(agent: Agent, agent_tags: list[str]) -> dict:
    return {"agent": agent.id, "agent_name": agent.agent_name, "tags": agent_tags}


# -- bodies ----------------------------------------------------------------------------------------


class ReviewBody(BaseModel):
    review: Text
    rating: Stars | None = None


class ReviewEditBody(BaseModel):
    """Only the fields sent change; ``rating: null`` removes the rating."""

    review: Text | None = None
    rating: Stars | None = None

    @model_validator(mode="after")
    def _review_not_null(self) -> ReviewEditBody:
        if "review" in self.model_fields_set and self.review is None:
            raise ValueError("review cannot be null")
        return self


class RatingBody(BaseModel):
    rating: Stars


class AliasCreateBody(BaseModel):
    alias: Alias | None = None  # None: the generated "<Name>_<id>@..." alias


class AliasBody(BaseModel):
    alias: Alias


class AccessBody(BaseModel):
    access: Access


class AgentTypeBody(BaseModel):
    """An agent type id or name, as ``type`` (Edit Agent's name) or ``agent_type``."""

    type: TypeRef = Field(validation_alias=AliasChoices("type", "agent_type"))


class AgentUserEntry(BaseModel):
    user_id: BodyId
    permission: extras.SharePermission = "view"


class AddAgentUsersBody(BaseModel):
    """Either ``{users: [{user_id, permission}]}`` or ``{user_ids: [...], permission}``."""

    users: Annotated[list[AgentUserEntry], Field(min_length=1, max_length=MAX_IDS)] | None = None
    user_ids: IdList | None = None
    permission: extras.SharePermission = "view"

    @model_validator(mode="after")
    def _one_form(self) -> AddAgentUsersBody:
        if (self.users is None) == (self.user_ids is None):
            raise ValueError("send either users or user_ids")
        return self

    def permissions(self) -> dict[int, extras.SharePermission]:
        if self.users is not None:
            return {entry.user_id: entry.permission for entry in self.users}
        return dict.fromkeys(self.user_ids or [], self.permission)


class TagsBody(BaseModel):
    add: Tags = Field(default_factory=list)
    remove: Tags = Field(default_factory=list)


class VoteBody(BaseModel):
    vote: extras.Vote


class CommentBody(BaseModel):
    comment: Text


# -- Agent Reviews -----------------------------------------------------------------------------------


@reviews.get("/v2/api/review")
def get_all_reviews(
    session: SessionDep, principal: CurrentPrincipal, page: PageDep, user_ids: IdsQuery = None
):
    stmt = extras.reviews_query(principal, id_list(user_ids, "user_ids"))
    data = paginate(session, stmt, page, "reviews", lambda rows: reviews_out(session, rows))
    return ok(data, "Reviews fetched successfully.")


@reviews.put("/v2/api/review/{review_id}")
def edit_review(review_id: PathId, body: ReviewEditBody, session: SessionDep, principal: CurrentPrincipal):
    row = extras.edit_review(session, principal, review_id, body.model_dump(exclude_unset=True))
    return ok(reviews_out(session, [row])[0], "Review updated successfully.")


@reviews.delete("/v2/api/review/{review_id}")
def delete_review(review_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = extras.delete_review(session, principal, review_id)
    return ok(reviews_out(session, [row])[0], "Review deleted successfully.")


@reviews.post("/v2/api/agent/{agent_id}/review")
def create_review(agent_id: PathId, body: ReviewBody, session: SessionDep, principal: CurrentPrincipal):
    row = extras.create_review(session, principal, agent_id, review=body.review, rating=body.rating)
    return created(reviews_out(session, [row])[0], "Review created successfully.")


@reviews.get("/v2/api/agent/{agent_id}/review")
def get_reviews_by_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = extras.agent_reviews(session, principal, agent_id)
    return ok(reviews_out(session, rows), "Agent reviews fetched successfully.")


# -- Agent Rating ------------------------------------------------------------------------------------


@ratings.get("/v2/api/agent/rating")
def get_all_agent_ratings(session: SessionDep, principal: CurrentPrincipal, page: PageDep):
    def serialize(rows: Sequence[Agent]) -> list[dict]:
        return [rating_view(s) for s in extras.rating_summaries(session, principal, rows)]

    data = paginate(session, extras.rated_agents_query(principal), page, "agent_ratings", serialize)
    return ok(data, "Agent ratings fetched successfully.")


@ratings.get("/v2/api/agent/{agent_id}/rating")
def get_agent_rating(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    summary = extras.agent_rating(session, principal, agent_id)
    return ok(rating_view(summary), "Agent rating fetched successfully.")


@ratings.put("/v2/api/agent/{agent_id}/rating")
def update_agent_rating(agent_id: PathId, body: RatingBody, session: SessionDep, principal: CurrentPrincipal):
    summary = extras.rate_agent(session, principal, agent_id, body.rating)
    return ok(rating_view(summary), "Agent rating updated successfully.")


# -- Agent Alias -------------------------------------------------------------------------------------


@aliases.get("/v2/api/agent/alias")
def get_all_agent_aliases(session: SessionDep, principal: CurrentPrincipal, page: PageDep):
    stmt = extras.aliased_agents_query(principal)
    data = paginate(session, stmt, page, "aliases", lambda rows: [alias_view(a) for a in rows])
    return ok(data, "Agent aliases fetched successfully.")


@aliases.post("/v2/api/agent/{agent_id}/alias")
def create_agent_alias(
    agent_id: PathId, session: SessionDep, principal: CurrentPrincipal, body: AliasCreateBody | None = None
):
    agent = extras.create_alias(session, principal, agent_id, body.alias if body else None)
    return created(full(session, agent), "Agent alias created successfully.")


@aliases.put("/v2/api/agent/{agent_id}/alias")
def update_agent_alias(agent_id: PathId, body: AliasBody, session: SessionDep, principal: CurrentPrincipal):
    agent = extras.update_alias(session, principal, agent_id, body.alias)
    return ok(full(session, agent), "Agent alias updated successfully.")


@aliases.delete("/v2/api/agent/{agent_id}/alias")
def delete_agent_alias(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    agent = extras.delete_alias(session, principal, agent_id)
    return ok(full(session, agent), "Agent alias deleted successfully.")


# -- Agent Access ------------------------------------------------------------------------------------


@access.get("/v2/api/agent/{agent_id}/access")
def get_agent_access(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    agent = agents.get_agent(session, principal, agent_id)
    data = {
        "agent": agent.id,
        "agent_name": agent.agent_name,
        "access": agent.access,
        "access_levels": list(ACCESS_LEVELS),
    }
    return ok(data, "Agent access fetched successfully.")


@access.put("/v2/api/agent/{agent_id}/access")
def update_agent_access(agent_id: PathId, body: AccessBody, session: SessionDep, principal: CurrentPrincipal):
    agent = extras.set_access(session, principal, agent_id, body.access)
    return ok(full(session, agent), "Agent access updated successfully.")


# -- Agent Type --------------------------------------------------------------------------------------


@types.get("/v2/api/agent-type")
def get_all_agent_types(session: SessionDep, principal: CurrentPrincipal):
    return ok([agent_type(t) for t in extras.agent_types(session)], "Agent types fetched successfully.")


@types.get("/v2/api/agent-type/{type_id}")
def get_agent_type(type_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(agent_type(extras.get_agent_type(session, type_id)), "Agent type fetched successfully.")


@types.put("/v2/api/agent/{agent_id}/agent-type")
def update_agent_type(
    agent_id: PathId, body: AgentTypeBody, session: SessionDep, principal: CurrentPrincipal
):
    agent = extras.set_agent_type(session, principal, agent_id, body.type)
    return ok(full(session, agent), "Agent type updated successfully.")


# -- Agent User --------------------------------------------------------------------------------------


@users.get("/v2/api/agent/user")
def get_all_agents_with_users(session: SessionDep, principal: CurrentPrincipal):
    rows = extras.all_visible_agents(session, principal)
    return ok(agents_full(session, rows, with_users=True), "All Agents with users fetched successfully")


@users.post("/v2/api/agent/{agent_id}/user")
def add_users_to_agent(
    agent_id: PathId, body: AddAgentUsersBody, session: SessionDep, principal: CurrentPrincipal
):
    pairs = extras.add_agent_users(session, principal, agent_id, body.permissions())
    return created(shares_out(pairs), "Users added to agent successfully.")


@users.get("/v2/api/agent/{agent_id}/user")
def get_users_of_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    pairs = extras.agent_users(session, principal, agent_id)
    return ok(shares_out(pairs), "Users of agent fetched successfully.")


@users.get("/v2/api/agent/{agent_id}/user/{user_id}")
def get_user_agent_permission(
    agent_id: PathId, user_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    found = extras.effective_permission(session, principal, agent_id, user_id)
    data = {
        "agent": found.agent.id,
        "user": user_compact(found.user),
        "permission": found.permission,
        "reason": found.reason,
    }
    return ok(data, "User agent permission fetched successfully.")


@users.delete("/v2/api/agent/{agent_id}/user/{user_id}")
def delete_user_from_agent(
    agent_id: PathId, user_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    share, user = extras.remove_agent_user(session, principal, agent_id, user_id)
    return ok(share_view(share, user), "User removed from agent successfully.")


# -- Agent Tags --------------------------------------------------------------------------------------


@tags.get("/v2/api/agent/tags")
def get_all_distinct_agent_tags(
    session: SessionDep, principal: CurrentPrincipal, project_id: FilterId = None, team_id: FilterId = None
):
    found = extras.distinct_tags(session, principal, project_id=project_id, team_id=team_id)
    return ok(found, "Agent tags fetched successfully.")


@tags.get("/v2/api/agent/tags/by-agent")
def get_agent_tags_grouped_by_agent(
    session: SessionDep, principal: CurrentPrincipal, project_id: FilterId = None, team_id: FilterId = None
):
    pairs = extras.tags_by_agent(session, principal, project_id=project_id, team_id=team_id)
    data = [tags_view(agent, found) for agent, found in pairs]
    return ok(data, "Agent tags grouped by agent fetched successfully.")


@tags.put("/v2/api/agent/{agent_id}/tags")
def annotate_an_agent_with_tags(
    agent_id: PathId, body: TagsBody, session: SessionDep, principal: CurrentPrincipal
):
    agent, found = extras.annotate_agent(session, principal, agent_id, add=body.add, remove=body.remove)
    return ok(tags_view(agent, found), "Agent tags updated successfully.")


# -- Agent Vote --------------------------------------------------------------------------------------

VOTE_MESSAGES = {
    "up": "Successfully upvoted the agent",
    "down": "Successfully downvoted the agent",
    "clear": "Successfully cleared the vote on the agent",
}


@votes.post("/v2/api/agent/{agent_id}/vote")
def create_agent_vote(agent_id: PathId, body: VoteBody, session: SessionDep, principal: CurrentPrincipal):
    counts = extras.cast_vote(session, principal, agent_id, body.vote)
    # Exactly the documented data: the counts after the vote.
    data = {"like_count": counts.like_count, "dislike_count": counts.dislike_count}
    return created(data, VOTE_MESSAGES[body.vote])


@votes.get("/v2/api/agent/{agent_id}/vote")
def get_agent_vote(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    counts = extras.vote_info(session, principal, agent_id)
    data = {
        "like_count": counts.like_count,
        "dislike_count": counts.dislike_count,
        "user_vote": counts.user_vote,
    }
    return ok(data, "Agent vote fetched successfully.")


# -- Agent Comment -----------------------------------------------------------------------------------


@comments.post("/v2/api/agent/{agent_id}/comment")
def create_comment_on_an_agent(
    agent_id: PathId, body: CommentBody, session: SessionDep, principal: CurrentPrincipal
):
    row = extras.create_comment(session, principal, agent_id, body.comment)
    return created(comments_out(session, [row])[0], "Comment created successfully.")


@comments.get("/v2/api/agent/{agent_id}/comment")
def get_comments_for_an_agent(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows = extras.agent_comments(session, principal, agent_id)
    return ok(comments_out(session, rows), "Comments fetched successfully.")


@comments.put("/v2/api/agent/{agent_id}/comment/{comment_id}")
def edit_agent_comment(
    agent_id: PathId, comment_id: PathId, body: CommentBody, session: SessionDep, principal: CurrentPrincipal
):
    row = extras.edit_comment(session, principal, agent_id, comment_id, body.comment)
    return ok(comments_out(session, [row])[0], "Comment updated successfully.")


@comments.delete("/v2/api/agent/{agent_id}/comment/{comment_id}")
def delete_agent_comment(
    agent_id: PathId, comment_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    row = extras.delete_comment(session, principal, agent_id, comment_id)
    return ok(comments_out(session, [row])[0], "Comment deleted successfully.")


# One router for router.py; each group keeps its own tag in the OpenAPI document.
router = APIRouter()
for _group_router in (reviews, ratings, aliases, access, types, users, tags, votes, comments):
    router.include_router(_group_router)
