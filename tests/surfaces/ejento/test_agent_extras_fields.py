"""Ejento V2 Agent Alias, Agent Access, Agent Type and Agent Tags.

Other organisations and scoped keys, for every endpoint: test_agent_extras.py.
"""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.accounts.models import UserPermission
from parley.agents.models import Agent, AgentTag, AgentType
from tests.support.world import World
from tests.surfaces.ejento.agent_extras_support import Tenant, make_tenant, snapshot
from tests.surfaces.ejento.factories import TIMESTAMP, assert_error, fresh, make_agent, reload, succeeded


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    return make_tenant(world, db)


def agent_as_fetched(t: Tenant, agent_id: int) -> dict:
    """The full Agent, as Get Agent returns it (what the writes here return too)."""
    return t.admin.get(f"/v2/api/agent/{agent_id}").json()["data"]


# -- Agent Alias -----------------------------------------------------------------------------------------


def test_alias_create_update_list_delete(t, db):
    url = f"/v2/api/agent/{t.agent.id}/alias"
    r = t.alice.post(url)  # no body: the generated alias
    data = succeeded(r, 201, "Agent alias created successfully.")
    assert data == agent_as_fetched(t, t.agent.id)
    assert data["alias"] == f"PolicyWhisperer_{t.agent.id}@agents.parley.local"
    assert data["modified_by"] == t.alice.email
    assert_error(
        t.alice.post(url, json={"alias": "x@example.com"}),
        409,
        "This agent already has an alias; update it instead.",
    )

    r = t.manager.put(url, json={"alias": " Support.Team+1@Example.com "})
    data = succeeded(r, 200, "Agent alias updated successfully.")
    assert data["alias"] == "Support.Team+1@Example.com" and data["modified_by"] == t.manager.email
    assert reload(db, Agent, t.agent.id).alias == "Support.Team+1@Example.com"
    assert t.alice.put(url, json={"alias": "Support.Team+1@Example.com"}).status_code == 200  # its own alias

    r = t.alice.post(f"/v2/api/agent/{t.private.id}/alias", json={"alias": "private@example.org"})
    assert succeeded(r, 201, "Agent alias created successfully.")["alias"] == "private@example.org"
    r = t.alice.get("/v2/api/agent/alias")
    data = succeeded(r, 200, "Agent aliases fetched successfully.")
    assert (data["count"], data["num_pages"], data["current_page"]) == (2, 1, 1)
    assert data["aliases"] == [
        {"agent": t.agent.id, "agent_name": "Policy Whisperer", "alias": "Support.Team+1@Example.com"},
        {"agent": t.private.id, "agent_name": "Private helper", "alias": "private@example.org"},
    ]
    assert [a["agent"] for a in t.bob.get("/v2/api/agent/alias").json()["data"]["aliases"]] == [t.agent.id]
    assert t.carol.get("/v2/api/agent/alias").json()["data"]["aliases"] == []
    paged = t.alice.get("/v2/api/agent/alias", params={"items_per_page": 1, "page": 2}).json()["data"]
    assert [a["agent"] for a in paged["aliases"]] == [t.private.id] and paged["num_pages"] == 2

    r = t.alice.delete(url)
    data = succeeded(r, 200, "Agent alias deleted successfully.")
    assert data["alias"] is None and data["modified_by"] == t.alice.email
    assert_error(t.alice.delete(url), 404, "Agent alias not found.")
    # The freed alias may be taken by another agent, and a deleted agent's alias may be created again.
    r = t.alice.put(f"/v2/api/agent/{t.private.id}/alias", json={"alias": "support.team+1@example.com"})
    assert r.status_code == 200
    assert t.alice.post(url, json={"alias": "new@example.com"}).json()["data"]["alias"] == "new@example.com"


def test_alias_rejects_bad_input_clashes_and_non_editors(t, world, db):
    t.alice.post(f"/v2/api/agent/{t.private.id}/alias", json={"alias": "taken@example.com"})
    foreign = make_agent(db, world.user(world.org()), world.project(world.team(world.org())))
    db.execute(update(Agent).where(Agent.id == foreign.id).values(alias="elsewhere@example.com"))
    db.commit()
    before = snapshot(db)
    url = f"/v2/api/agent/{t.agent.id}/alias"
    for alias in (
        "",
        "not-an-email",
        "a@b",
        "a b@example.com",
        "a@exa mple.com",
        "@example.com",
        "x" * 310 + "@example.com",
        5,
        None,
    ):
        assert_error(t.alice.put(url, json={"alias": alias}), 400)
        if alias is not None:
            assert_error(t.alice.post(url, json={"alias": alias}), 400)
    assert_error(t.alice.put(url, json={}), 400)
    assert_error(t.alice.post(url, content="{oops", headers={"Content-Type": "application/json"}), 400)
    # Aliases are email addresses: unique across the installation, whatever the letter case.
    assert_error(t.alice.put(url, json={"alias": "TAKEN@example.com"}), 409, "This alias is already in use.")
    assert_error(t.alice.post(url, json={"alias": "taken@example.com"}), 409, "This alias is already in use.")
    assert_error(
        t.alice.post(url, json={"alias": "elsewhere@example.com"}), 409, "This alias is already in use."
    )
    assert_error(t.alice.delete(url), 404, "Agent alias not found.")
    # Editing needs edit rights on the agent.
    for method, body in (("POST", None), ("PUT", {"alias": "bob@example.com"}), ("DELETE", None)):
        assert_error(
            t.bob.request(method, url, json=body), 403, "You do not have permission to edit this agent."
        )
        assert_error(t.carol.request(method, url, json=body), 404, "Agent not found.")
    assert_error(t.alice.post("/v2/api/agent/999999/alias"), 404, "Agent not found.")
    assert snapshot(db) == before


# -- Agent Access ----------------------------------------------------------------------------------------


def test_get_and_update_agent_access(t, db):
    url = f"/v2/api/agent/{t.agent.id}/access"
    r = t.bob.get(url)
    assert succeeded(r, 200, "Agent access fetched successfully.") == {
        "agent": t.agent.id,
        "agent_name": "Policy Whisperer",
        "access": "Only team",
        "access_levels": ["Only me", "Only team", "Public"],
    }
    assert_error(t.carol.get(url), 404, "Agent not found.")

    r = t.alice.put(url, json={"access": "Public"})
    data = succeeded(r, 200, "Agent access updated successfully.")
    assert (
        data == agent_as_fetched(t, t.agent.id)
        and data["access"] == "Public"
        and data["modified_by"] == t.alice.email
    )
    assert t.carol.get(url).json()["data"]["access"] == "Public"  # now everyone in the organisation sees it
    assert t.manager.put(url, json={"access": "Only me"}).json()["data"]["modified_by"] == t.manager.email
    assert_error(t.bob.get(url), 404, "Agent not found.")
    assert t.admin.put(url, json={"access": "Only team"}).status_code == 200

    before = snapshot(db)
    for body in ({}, {"access": None}, {"access": "Everyone"}, {"access": "only team"}, {"access": 1}):
        assert_error(t.alice.put(url, json=body), 400)
    assert_error(
        t.bob.put(url, json={"access": "Public"}), 403, "You do not have permission to edit this agent."
    )
    assert_error(t.carol.put(url, json={"access": "Public"}), 404, "Agent not found.")
    assert_error(t.alice.put("/v2/api/agent/999999/access", json={"access": "Public"}), 404)
    assert snapshot(db) == before
    assert reload(db, Agent, t.agent.id).access == "Only team"


# -- Agent Type ------------------------------------------------------------------------------------------


def test_agent_types_are_the_seeded_ones(t, db):
    r = t.bob.get("/v2/api/agent-type")
    types = succeeded(r, 200, "Agent types fetched successfully.")
    assert [x["name"] for x in types] == ["QnA", "Custom", "Chatbot"]
    for x in types:
        assert set(x) == {
            "id",
            "name",
            "description",
            "created_by",
            "created_on",
            "modified_by",
            "modified_on",
        }
        assert x["created_by"] == "System" and x["description"] and TIMESTAMP.match(x["created_on"])
    r = t.bob.get(f"/v2/api/agent-type/{types[1]['id']}")
    assert succeeded(r, 200, "Agent type fetched successfully.") == types[1]
    assert_error(t.bob.get("/v2/api/agent-type/999999"), 404, "Agent type not found.")


def test_update_agent_type(t, db):
    url = f"/v2/api/agent/{t.agent.id}/agent-type"
    fresh(db)
    chatbot = db.scalar(select(AgentType.id).where(AgentType.name == "Chatbot"))
    db.rollback()
    r = t.alice.put(url, json={"type": "custom"})  # by name, case-insensitively
    data = succeeded(r, 200, "Agent type updated successfully.")
    assert (
        data == agent_as_fetched(t, t.agent.id)
        and data["agent_type"]["name"] == "Custom"
        and data["modified_by"] == t.alice.email
    )
    r = t.manager.put(url, json={"agent_type": chatbot})  # by id, under the other accepted name
    assert r.json()["data"]["agent_type"]["id"] == chatbot
    assert reload(db, Agent, t.agent.id).agent_type_id == chatbot

    before = snapshot(db)
    for body, message in (
        ({}, None),
        ({"type": None}, None),
        ({"type": ""}, None),
        ({"type": True}, None),
        ({"type": 1.5}, None),
        ({"type": 0}, None),
        ({"type": "Wizard"}, "Unknown agent type: 'Wizard'."),
        ({"type": 999999}, "Unknown agent type: '999999'."),
    ):
        assert_error(t.alice.put(url, json=body), 400, message)
    assert_error(t.bob.put(url, json={"type": "QnA"}), 403, "You do not have permission to edit this agent.")
    assert_error(t.carol.put(url, json={"type": "QnA"}), 404, "Agent not found.")
    assert snapshot(db) == before


# -- Agent Tags ------------------------------------------------------------------------------------------


def test_annotate_an_agent_with_tags(t, db):
    url = f"/v2/api/agent/{t.agent.id}/tags"
    r = t.alice.put(url, json={"add": ["hr", " Policy ", "hr", "onboarding"]})
    data = succeeded(r, 200, "Agent tags updated successfully.")
    assert data == {
        "agent": t.agent.id,
        "agent_name": "Policy Whisperer",
        "tags": ["hr", "Policy", "onboarding"],
    }
    assert reload(db, Agent, t.agent.id).modified_by == t.alice.email
    r = t.manager.put(url, json={"add": ["legal", "hr"], "remove": ["Policy", "missing"]})
    assert r.json()["data"]["tags"] == ["hr", "onboarding", "legal"]  # order kept, new ones appended
    fresh(db)
    rows = db.execute(
        select(AgentTag.tag, AgentTag.created_by).where(AgentTag.agent_id == t.agent.id).order_by(AgentTag.id)
    ).all()
    assert [tuple(row) for row in rows] == [
        ("hr", t.alice.email),
        ("onboarding", t.alice.email),
        ("legal", t.manager.email),
    ]
    db.rollback()
    assert t.alice.put(url, json={"remove": ["hr", "onboarding", "legal"]}).json()["data"]["tags"] == []
    assert t.alice.put(url, json={"add": ["HR"]}).json()["data"]["tags"] == ["HR"]  # tags are case-sensitive


def test_annotate_rejects_bad_input_and_non_editors(t, db):
    url = f"/v2/api/agent/{t.agent.id}/tags"
    t.alice.put(url, json={"add": [f"t{i}" for i in range(49)]})
    before = snapshot(db)
    for body, message in (
        ({}, "Send tags to add or to remove."),
        ({"add": [], "remove": []}, "Send tags to add or to remove."),
        ({"add": ["a"], "remove": ["a"]}, "The tag 'a' cannot be both added and removed."),
        ({"add": ["x", "y"]}, "An agent can have at most 50 tags."),
        ({"add": [""]}, None),
        ({"add": ["  "]}, None),
        ({"add": ["x" * 101]}, None),
        ({"add": ["nul\x00"]}, None),
        ({"add": "hr"}, None),
        ({"add": [1]}, None),
        ({"add": None}, None),
        ({"add": [f"n{i}" for i in range(51)]}, None),
    ):
        assert_error(t.alice.put(url, json=body), 400, message)
    assert_error(t.bob.put(url, json={"add": ["x"]}), 403, "You do not have permission to tag this agent.")
    assert_error(t.carol.put(url, json={"add": ["x"]}), 404, "Agent not found.")
    assert_error(t.alice.put("/v2/api/agent/999999/tags", json={"add": ["x"]}), 404)
    assert snapshot(db) == before
    assert t.alice.put(url, json={"add": ["t0", "x"]}).json()["data"]["tags"][-1] == "x"  # 50 is the limit


def test_distinct_tags_and_tags_by_agent(t, world, db):
    other_team = world.team(t.org, {t.carol: "Member"})
    other_project = world.project(other_team)
    public = make_agent(db, t.carol, other_project, access="Public", name="Open")
    hidden = make_agent(db, t.carol, other_project, access="Only me", name="Hidden")
    db.add_all(
        [
            AgentTag(agent_id=t.agent.id, tag="hr"),
            AgentTag(agent_id=t.agent.id, tag="Policy"),
            AgentTag(agent_id=t.private.id, tag="secret"),
            AgentTag(agent_id=public.id, tag="hr"),
            AgentTag(agent_id=public.id, tag="apple"),
            AgentTag(agent_id=hidden.id, tag="carol-only"),
        ]
    )
    db.commit()

    r = t.alice.get("/v2/api/agent/tags")
    assert succeeded(r, 200, "Agent tags fetched successfully.") == ["apple", "hr", "Policy", "secret"]
    assert t.bob.get("/v2/api/agent/tags").json()["data"] == ["apple", "hr", "Policy"]
    assert t.carol.get("/v2/api/agent/tags").json()["data"] == ["apple", "carol-only", "hr"]
    assert t.admin.get("/v2/api/agent/tags").json()["data"] == [
        "apple",
        "carol-only",
        "hr",
        "Policy",
        "secret",
    ]
    assert t.alice.get("/v2/api/agent/tags", params={"project_id": t.project.id}).json()["data"] == [
        "hr",
        "Policy",
        "secret",
    ]
    assert t.alice.get("/v2/api/agent/tags", params={"team_id": t.project.team_id}).json()["data"] == [
        "hr",
        "Policy",
        "secret",
    ]
    assert t.carol.get("/v2/api/agent/tags", params={"team_id": other_team.id}).json()["data"] == [
        "apple",
        "carol-only",
        "hr",
    ]

    r = t.bob.get("/v2/api/agent/tags/by-agent")
    assert succeeded(r, 200, "Agent tags grouped by agent fetched successfully.") == [
        {"agent": t.agent.id, "agent_name": "Policy Whisperer", "tags": ["hr", "Policy"]},
        {"agent": public.id, "agent_name": "Open", "tags": ["hr", "apple"]},
    ]
    by_project = t.alice.get("/v2/api/agent/tags/by-agent", params={"project_id": t.project.id}).json()[
        "data"
    ]
    assert [x["agent"] for x in by_project] == [t.agent.id, t.private.id]
    assert t.carol.get("/v2/api/agent/tags/by-agent", params={"team_id": other_team.id}).json()["data"][
        1
    ] == {
        "agent": hidden.id,
        "agent_name": "Hidden",
        "tags": ["carol-only"],
    }

    # Filters must name a project or team the caller can see.
    for path in ("/v2/api/agent/tags", "/v2/api/agent/tags/by-agent"):
        assert_error(t.carol.get(path, params={"project_id": t.project.id}), 404, "Project not found.")
        assert_error(t.bob.get(path, params={"team_id": other_team.id}), 404, "Team not found.")
        for params in ({"project_id": "x"}, {"team_id": 0}, {"project_id": 10**20}):
            assert_error(t.alice.get(path, params=params), 400)
    # Capabilities do not matter for reading.
    db.add(UserPermission(org_id=t.org.id, user_id=t.bob.id, permission="create_agent", is_allowed=False))
    db.commit()
    assert t.bob.get("/v2/api/agent/tags").status_code == 200
