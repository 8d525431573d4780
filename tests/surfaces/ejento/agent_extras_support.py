"""What the Agent Reviews / Rating / Alias / Access / Type / User / Tags / Vote / Comment tests
share: one tenant, a snapshot of everything these endpoints write, and the list of endpoints."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import (
    Agent,
    AgentComment,
    AgentRating,
    AgentReview,
    AgentTag,
    AgentUser,
    AgentVote,
)
from parley.notifications.models import Notification
from parley.projects.models import Project
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import fresh, make_agent

# The shapes of this group.
AUTHORED_KEYS = {
    "id",
    "agent",
    "user",
    "is_deleted",
    "created_by",
    "created_on",
    "modified_by",
    "modified_on",
}
REVIEW_KEYS = AUTHORED_KEYS | {"review", "rating"}
COMMENT_KEYS = AUTHORED_KEYS | {"comment"}
RATING_KEYS = {"agent", "agent_name", "average_rating", "rating_count", "user_rating"}
SHARE_KEYS = {"id", "agent", "user", "permission", "created_by", "created_on", "modified_by", "modified_on"}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    alice: Actor  # team member; owns the agents
    bob: Actor  # team member: sees the "Only team" agent, may not edit it
    manager: Actor  # team Admin: may edit agents of the team's projects
    carol: Actor  # same organisation, not in the team
    project: Project
    agent: Agent  # alice's, "Only team"
    private: Agent  # alice's, "Only me"


def make_tenant(world: World, db: Session) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    alice, bob, manager, carol = world.user(org), world.user(org), world.user(org), world.user(org)
    team = world.team(org, {alice: "Member", bob: "Member", manager: "Admin"})
    project = world.project(team)
    agent = make_agent(db, alice, project, access="Only team", name="Policy Whisperer")
    private = make_agent(db, alice, project, access="Only me", name="Private helper")
    return Tenant(org, admin, alice, bob, manager, carol, project, agent, private)


def user_json(actor: Actor) -> dict:
    return {
        "id": actor.id,
        "email": actor.email,
        "first_name": actor.user.first_name,
        "last_name": actor.user.last_name,
        "organization": actor.org_id,
    }


def snapshot(db: Session) -> tuple:
    """Everything these endpoints write: row counts and the agents' own fields."""
    fresh(db)
    counts = tuple(
        db.scalar(select(func.count()).select_from(model))
        for model in (AgentReview, AgentRating, AgentVote, AgentComment, AgentUser, AgentTag, Notification)
    )
    live = tuple(
        db.scalar(select(func.count()).select_from(model).where(model.is_deleted.is_(False)))
        for model in (AgentReview, AgentComment)
    )
    agents = tuple(
        db.execute(
            select(Agent.id, Agent.alias, Agent.access, Agent.agent_type_id, Agent.modified_by).order_by(
                Agent.id
            )
        ).all()
    )
    edits = tuple(
        db.execute(select(model.id, model.modified_by).order_by(model.id)).all()
        for model in (AgentReview, AgentRating, AgentVote, AgentComment, AgentUser)
    )
    db.rollback()  # hold no snapshot: a later write to arrange data would be refused
    return counts, live, agents, edits


def arrange_everything(t: Tenant) -> dict:
    """One row of each kind on ``t.agent`` through the API; returns their ids."""
    a = t.agent.id
    review = t.bob.post(f"/v2/api/agent/{a}/review", json={"review": "Useful.", "rating": 4})
    comment = t.bob.post(f"/v2/api/agent/{a}/comment", json={"comment": "Nice."})
    assert review.status_code == 201 and comment.status_code == 201, (review.text, comment.text)
    assert t.bob.put(f"/v2/api/agent/{a}/rating", json={"rating": 4}).status_code == 200
    assert t.bob.post(f"/v2/api/agent/{a}/vote", json={"vote": "up"}).status_code == 201
    assert t.alice.post(f"/v2/api/agent/{a}/alias").status_code == 201
    assert t.alice.put(f"/v2/api/agent/{a}/tags", json={"add": ["secret-tag"]}).status_code == 200
    assert t.alice.post(f"/v2/api/agent/{a}/user", json={"user_ids": [t.carol.id]}).status_code == 201
    return {"review": review.json()["data"]["id"], "comment": comment.json()["data"]["id"]}


def reads(t: Tenant, ids: dict) -> list[str]:
    """Every read endpoint of the group, about ``t.agent`` where it takes an id."""
    a = t.agent.id
    return [
        "/v2/api/review",
        f"/v2/api/agent/{a}/review",
        "/v2/api/agent/rating",
        f"/v2/api/agent/{a}/rating",
        "/v2/api/agent/alias",
        f"/v2/api/agent/{a}/access",
        "/v2/api/agent-type",
        "/v2/api/agent-type/1",
        "/v2/api/agent/user",
        f"/v2/api/agent/{a}/user",
        f"/v2/api/agent/{a}/user/{t.carol.id}",
        "/v2/api/agent/tags",
        "/v2/api/agent/tags/by-agent",
        f"/v2/api/agent/{a}/vote",
        f"/v2/api/agent/{a}/comment",
    ]


def writes(t: Tenant, ids: dict) -> list[tuple[str, str, object]]:
    """Every write endpoint of the group, about ``t.agent`` and the rows ``arrange_everything`` made."""
    a, review, comment = t.agent.id, ids["review"], ids["comment"]
    return [
        ("POST", f"/v2/api/agent/{a}/review", {"review": "Again."}),
        ("PUT", f"/v2/api/review/{review}", {"review": "Changed."}),
        ("DELETE", f"/v2/api/review/{review}", None),
        ("PUT", f"/v2/api/agent/{a}/rating", {"rating": 1}),
        ("POST", f"/v2/api/agent/{a}/alias", {"alias": "new@example.com"}),
        ("PUT", f"/v2/api/agent/{a}/alias", {"alias": "new@example.com"}),
        ("DELETE", f"/v2/api/agent/{a}/alias", None),
        ("PUT", f"/v2/api/agent/{a}/access", {"access": "Public"}),
        ("PUT", f"/v2/api/agent/{a}/agent-type", {"type": "Custom"}),
        ("POST", f"/v2/api/agent/{a}/user", {"user_ids": [t.bob.id], "permission": "edit"}),
        ("DELETE", f"/v2/api/agent/{a}/user/{t.carol.id}", None),
        ("PUT", f"/v2/api/agent/{a}/tags", {"add": ["x"], "remove": ["secret-tag"]}),
        ("POST", f"/v2/api/agent/{a}/vote", {"vote": "down"}),
        ("POST", f"/v2/api/agent/{a}/comment", {"comment": "More."}),
        ("PUT", f"/v2/api/agent/{a}/comment/{comment}", {"comment": "Edited."}),
        ("DELETE", f"/v2/api/agent/{a}/comment/{comment}", None),
    ]
