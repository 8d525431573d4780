"""Feature flags that gate what Parley does: with the organisation's flag off the endpoints refuse
(403, the Ejento envelope) and write nothing; on, they work; another organisation's flag changes
nothing here. The informational flags gate nothing (docs/api/ejento.md, "Feature flags that gate
features")."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.agents.models import Agent, AgentUser
from parley.flags.service import GATED
from parley.projects.models import Project
from parley.reference_data import FEATURE_FLAGS
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import assert_error, count, fresh, make_agent, succeeded

FLAGS = "/v2/api/feature-flag"
OFF = {
    "agent_alias": "Agent email aliases are turned off for this organization (feature flag 'agent_alias').",
    "share_agent": "Sharing agents with users is turned off for this organization "
    "(feature flag 'share_agent').",
    "chat_agent_creation": "Creating agents with the agent builder is turned off for this organization "
    "(feature flag 'chat_agent_creation').",
}


@dataclass
class Tenant:
    admin: Actor  # organisation admin: sets the flags
    owner: Actor  # owns the agent
    member: Actor  # someone to share it with
    project: Project
    agent: Agent


def _tenant(world: World, db: Session) -> Tenant:
    org = world.org()
    admin, owner, member = world.user(org, admin=True), world.user(org), world.user(org)
    project = world.project(world.team(org, {owner: "Member", member: "Member"}))
    return Tenant(admin, owner, member, project, make_agent(db, owner, project, name="Helpdesk"))


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    return _tenant(world, db)


@pytest.fixture
def other(world: World, db: Session) -> Tenant:
    return _tenant(world, db)


def turn(t: Tenant, name: str, on: bool) -> None:
    r = t.admin.put(f"{FLAGS}/{name}", json={"is_enabled": on})
    succeeded(r, 200, "Feature flag updated successfully.")


def refused(r, name: str) -> None:  # type: ignore[no-untyped-def]
    assert assert_error(r, 403, OFF[name])["data"] is None


def alias_of(db: Session, agent: Agent) -> str | None:
    fresh(db)
    return db.scalar(select(Agent.alias).where(Agent.id == agent.id))


def test_the_gated_flags_are_seeded_and_on_by_default():
    assert set(GATED) == set(OFF) and set(GATED) <= set(FEATURE_FLAGS)
    assert all(FEATURE_FLAGS[name][0] for name in GATED)


def test_agent_alias_off_refuses_every_alias_write(t: Tenant, other: Tenant, db: Session):
    path = f"/v2/api/agent/{t.agent.id}/alias"
    # On (the default): create, update and delete work.
    succeeded(t.owner.post(path), 201, "Agent alias created successfully.")
    succeeded(t.owner.put(path, json={"alias": "desk@example.com"}), 200, "Agent alias updated successfully.")
    assert alias_of(db, t.agent) == "desk@example.com"

    # Another organisation turning it off changes nothing here.
    turn(other, "agent_alias", False)
    succeeded(t.owner.delete(path), 200, "Agent alias deleted successfully.")
    succeeded(
        t.owner.post(path, json={"alias": "desk@example.com"}), 201, "Agent alias created successfully."
    )

    turn(t, "agent_alias", False)
    refused(t.owner.post(f"/v2/api/agent/{t.agent.id}/alias"), "agent_alias")
    refused(t.owner.put(path, json={"alias": "other@example.com"}), "agent_alias")
    refused(t.owner.delete(path), "agent_alias")
    refused(t.admin.delete(path), "agent_alias")  # admins too: the flag is the organisation's
    assert alias_of(db, t.agent) == "desk@example.com"
    # Reading the aliases there are stays allowed.
    listed = succeeded(t.owner.get("/v2/api/agent/alias"), 200, "Agent aliases fetched successfully.")
    assert [a["alias"] for a in listed["aliases"]] == ["desk@example.com"]
    # Nor can an alias come with a new or edited agent.
    agents = count(db, Agent)
    body = {"project_id": t.project.id, "name": "Mailer", "create_email_alias": True}
    refused(t.owner.post("/v2/api/agent", json=body), "agent_alias")
    assert count(db, Agent) == agents
    plain = succeeded(
        t.owner.post("/v2/api/agent", json={**body, "create_email_alias": False}),
        201,
        "Agent created successfully",
    )
    edit = t.owner.put(
        f"/v2/api/agent/{plain['id']}",
        data={"name": "Renamed", "create_email_alias": "true"},
        files={"unused": ("", b"")},
    )
    refused(edit, "agent_alias")
    fresh(db)
    stored = db.get(Agent, plain["id"])
    assert stored is not None and (stored.alias, stored.agent_name) == (None, "Mailer")
    # The other organisation is unaffected by this one's flag, and back on it all works again.
    other_path = f"/v2/api/agent/{other.agent.id}/alias"
    turn(other, "agent_alias", True)
    succeeded(other.owner.post(other_path), 201, "Agent alias created successfully.")
    turn(t, "agent_alias", True)
    succeeded(t.owner.put(path, json={"alias": "back@example.com"}), 200, "Agent alias updated successfully.")
    assert alias_of(db, t.agent) == "back@example.com"


def test_share_agent_off_refuses_sharing_but_not_unsharing(t: Tenant, other: Tenant, db: Session):
    path = f"/v2/api/agent/{t.agent.id}/user"
    body = {"users": [{"user_id": t.member.id, "permission": "view"}]}
    turn(other, "share_agent", False)  # another organisation's choice
    shared = succeeded(t.owner.post(path, json=body), 201, "Users added to agent successfully.")
    assert [s["user"]["id"] for s in shared] == [t.member.id]

    turn(t, "share_agent", False)
    before = count(db, AgentUser)
    refused(
        t.owner.post(path, json={"users": [{"user_id": t.member.id, "permission": "edit"}]}), "share_agent"
    )
    refused(t.admin.post(path, json={"user_ids": [t.admin.id]}), "share_agent")
    fresh(db)
    assert count(db, AgentUser) == before
    assert db.scalar(select(AgentUser.permission).where(AgentUser.agent_id == t.agent.id)) == "view"
    # Who it is shared with can still be read, and a share can still be withdrawn.
    succeeded(t.owner.get(path), 200, "Users of agent fetched successfully.")
    succeeded(t.owner.delete(f"{path}/{t.member.id}"), 200, "User removed from agent successfully.")
    assert count(db, AgentUser) == before - 1
    # The other organisation (flag off) is refused; this one, back on, shares again.
    other_body = {"users": [{"user_id": other.member.id, "permission": "view"}]}
    refused(other.owner.post(f"/v2/api/agent/{other.agent.id}/user", json=other_body), "share_agent")
    turn(t, "share_agent", True)
    succeeded(t.owner.post(path, json=body), 201, "Users added to agent successfully.")
    # Another organisation's agent id is still not found, whatever the flags.
    assert_error(t.owner.post(f"/v2/api/agent/{other.agent.id}/user", json=body), 404)


def test_chat_agent_creation_off_refuses_the_agent_builder(t: Tenant, other: Tenant, db: Session):
    url = "/v2/api/agent/agentbuilder"
    body = {"agent_id": t.agent.id, "project_id": t.project.id, "history": "Wants a travel agent."}
    turn(other, "chat_agent_creation", False)
    succeeded(t.owner.post(url, json=body), 201, "Agent chat created successfully")
    turn(t, "chat_agent_creation", False)
    refused(t.owner.post(url, json={**body, "history": "Changed my mind."}), "chat_agent_creation")
    fresh(db)
    assert db.scalar(select(Agent.notes).where(Agent.id == t.agent.id)) == "Wants a travel agent."
    other_body = {"agent_id": other.agent.id, "project_id": other.project.id}
    refused(other.owner.post(url, json=other_body), "chat_agent_creation")
    turn(t, "chat_agent_creation", True)
    succeeded(t.owner.post(url, json={**body, "history": "Again."}), 201, "Agent chat created successfully")


def test_informational_flags_gate_nothing(t: Tenant, db: Session):
    # dalle: Parley generates no images; the builder's image_generation_enabled is stored as sent.
    turn(t, "dalle", False)
    body = {"agent_id": t.agent.id, "project_id": t.project.id, "flags": {"image_generation_enabled": True}}
    succeeded(t.owner.post("/v2/api/agent/agentbuilder", json=body), 201, "Agent chat created successfully")
    fresh(db)
    assert db.scalar(select(Agent.settings).where(Agent.id == t.agent.id))["image_generation_enabled"] is True
