"""Ejento V2 Agent group: create (configure and builder), lists and filters, get, edit,
recent and starred agents."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, UserPermission
from parley.agents.models import Agent, AgentInstruction, AgentType, RecentAgent, StarredAgent
from parley.corpora.models import AgentCorpus, Corpus
from parley.llm.models import LLMConfig
from parley.projects.models import Project, ProjectMember
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import TIMESTAMP, assert_error, make_agent, succeeded

# The full Agent form of the Create Agent By Configure example, plus the audit fields.
AGENT_KEYS = {
    "id",
    "agent_type",
    "instructions",
    "user",
    "connected_tool_names",
    "agent_name",
    "industry_area",
    "domain",
    "sample_q1",
    "sample_q2",
    "sample_q3",
    "prefix_prompt",
    "alias",
    "is_active",
    "is_deleted",
    "created_by",
    "created_on",
    "modified_by",
    "modified_on",
    "agent_image",
    "access",
    "status",
    "caching_enabled",
    "chunk_count",
    "react_enabled",
    "react_max_iteration_count",
    "project",
    "llm_config",
    "cloned_from",
}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    alice: Actor  # team member; creates the agents
    bob: Actor  # team member
    manager: Actor  # team Admin
    carol: Actor  # same organisation, not in the team
    project: Project
    other_project: Project  # same team


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org()
    admin = world.user(org, admin=True)
    alice, bob, manager, carol = world.user(org), world.user(org), world.user(org), world.user(org)
    team = world.team(org, {alice: "Member", bob: "Member", manager: "Admin"})
    return Tenant(org, admin, alice, bob, manager, carol, world.project(team), world.project(team))


def create(actor: Actor, project: Project, **fields: object) -> dict:
    r = actor.post("/v2/api/agent", json={"name": "Helper", "project_id": project.id, **fields})
    assert r.status_code == 201, r.text
    return r.json()["data"]


def counts(db: Session) -> tuple[int, ...]:
    db.rollback()  # a fresh snapshot: see what the API committed
    found = tuple(
        db.scalar(select(func.count()).select_from(model))
        for model in (Agent, AgentInstruction, Corpus, AgentCorpus, RecentAgent, StarredAgent)
    )
    db.rollback()  # hold no stale snapshot: a later write to arrange data would be refused
    return found


def ids(r) -> list[int]:  # type: ignore[no-untyped-def]
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    return [a["id"] for a in (data["agents"] if isinstance(data, dict) else data)]


# -- Create Agent By Configure ------------------------------------------------------------------


def test_create_agent_by_configure_returns_the_full_agent_with_its_default_corpus(t, db):
    config = LLMConfig(org_id=t.org.id, name="Fast", model="gpt-4o-mini", created_by="tests", extra={})
    db.add(config)
    db.commit()
    custom_type = db.scalar(select(AgentType).where(AgentType.name == "Custom"))
    r = t.alice.post(
        "/v2/api/agent",
        json={
            "project_id": t.project.id,
            "name": "Sales Bot-42!",
            "description": "Answers sales questions",
            "type": "Custom",
            "prefix_prompt": "You are helpful.",
            "custom_instructions": ["Be brief.", "Cite sources."],
            "create_email_alias": True,
            "access": "Only team",
            "llm_model": "gpt-4o-mini",
            "sample_q1": "What is new?",
            "sample_q2": "Prices?",
            "sample_q3": "Who to call?",
        },
    )
    data = succeeded(r, 201, "Agent created successfully")
    assert set(data) == AGENT_KEYS
    agent_id = data["id"]
    assert data["agent_type"]["id"] == custom_type.id and data["agent_type"]["name"] == "Custom"
    assert [i["instruction"] for i in data["instructions"]] == ["Be brief.", "Cite sources."]
    assert all(i["agent"] == agent_id and i["created_by"] == t.alice.email for i in data["instructions"])
    assert data["user"] == {
        "id": t.alice.id,
        "email": t.alice.email,
        "first_name": t.alice.user.first_name,
        "last_name": t.alice.user.last_name,
        "organization": t.org.id,
    }
    assert data["agent_name"] == "Sales Bot-42!"
    assert data["domain"] == "Answers sales questions"
    assert data["prefix_prompt"] == "You are helpful."
    assert (data["sample_q1"], data["sample_q2"], data["sample_q3"]) == (
        "What is new?",
        "Prices?",
        "Who to call?",
    )
    assert data["alias"] == f"SalesBot42_{agent_id}@agents.parley.local"
    assert data["access"] == "Only team" and data["status"] == "Live"
    assert data["project"] == t.project.id and data["llm_config"] == config.id and data["cloned_from"] is None
    assert data["created_by"] == t.alice.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and data["is_deleted"] is False and data["is_active"] is True

    db.rollback()  # a fresh snapshot: see what the API committed
    stored = db.get(Agent, agent_id)
    assert stored.org_id == t.org.id and stored.user_id == t.alice.id
    corpus = db.scalars(select(Corpus).where(Corpus.name == "Sales Bot-42!_Default")).one()
    assert corpus.owner_id == t.alice.id and corpus.org_id == t.org.id
    link = db.scalars(select(AgentCorpus).where(AgentCorpus.agent_id == agent_id)).one()
    assert (link.corpus_id, link.is_default, link.is_enabled, link.connected_by) == (
        corpus.id,
        True,
        True,
        t.alice.id,
    )


def test_create_agent_defaults_and_a_single_instruction_string(t, db):
    data = create(t.alice, t.project, custom_instructions="Only one.", llm_model=None, description=None)
    assert data["domain"] == "" and data["sample_q1"] == ""  # null means "not given"
    assert data["agent_type"]["name"] == "QnA"
    assert data["alias"] is None and data["llm_config"] is None and data["access"] == "Only me"
    assert [i["instruction"] for i in data["instructions"]] == ["Only one."]
    # llm_model may also be an id, as a number or a string of digits.
    config = LLMConfig(org_id=t.org.id, name="Main", created_by="tests", extra={})
    db.add(config)
    db.commit()
    assert create(t.alice, t.project, llm_model=str(config.id))["llm_config"] == config.id
    assert (
        create(t.alice, t.project, llm_model=config.id, type=data["agent_type"]["id"])["llm_config"]
        == config.id
    )


def test_create_agent_rejects_bad_input_and_writes_nothing(t, world, db):
    other_org = world.org()
    foreign_config = LLMConfig(org_id=other_org.id, name="Theirs", created_by="tests", extra={})
    foreign_project = world.project(world.team(other_org))
    db.add(foreign_config)
    db.commit()
    before = counts(db)
    good = {"name": "Helper", "project_id": t.project.id}
    cases = [
        ({"project_id": t.project.id}, 400, None),
        ({**good, "name": ""}, 400, None),
        ({**good, "name": "x" * 201}, 400, None),
        ({"name": "Helper"}, 400, None),
        ({**good, "project_id": "abc"}, 400, None),
        ({**good, "project_id": 10**20}, 400, None),
        ({**good, "type": "Wizard"}, 400, "Unknown agent type: 'Wizard'."),
        ({**good, "type": 99999}, 400, None),
        ({**good, "type": True}, 400, None),
        ({**good, "access": "Everyone"}, 400, None),
        ({**good, "custom_instructions": [1, 2]}, 400, None),
        ({**good, "llm_model": "no-such-model"}, 404, "LLM config not found."),
        ({**good, "llm_model": foreign_config.id}, 404, "LLM config not found."),
        ({**good, "llm_model": "99999999999999999999999"}, 404, "LLM config not found."),
        ({**good, "project_id": foreign_project.id}, 404, "Project not found."),
        ({**good, "project_id": 987654}, 404, "Project not found."),
    ]
    for body, status, message in cases:
        assert_error(t.alice.post("/v2/api/agent", json=body), status, message)
    assert_error(
        t.alice.post("/v2/api/agent", content="{not json", headers={"Content-Type": "application/json"}),
        400,
        "Malformed JSON body.",
    )
    assert counts(db) == before


def test_who_may_create_agents_and_for_whom(t, world, db):
    before = counts(db)
    # Not in the project's team: the project is not even visible.
    assert_error(
        t.carol.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id}),
        404,
        "Project not found.",
    )
    # A member refused the capability.
    db.add(UserPermission(org_id=t.org.id, user_id=t.bob.id, permission="create_agent", is_allowed=False))
    db.commit()
    assert_error(t.bob.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id}), 403)
    # Only admins choose another owner.
    assert_error(
        t.alice.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id, "user_id": t.bob.id}),
        403,
    )
    foreigner = world.user(world.org())
    r = t.admin.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id, "user_id": foreigner.id})
    assert_error(r, 404, "User not found.")
    # Scoped keys cannot write agents.
    for key in (
        world.key_for(t.alice, "read_only"),
        world.key_for(t.alice, "restricted", {"agents": "read"}),
    ):
        assert_error(key.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id}), 403)
    assert counts(db) == before

    # A project member outside the team may add agents to that project.
    db.add(ProjectMember(project_id=t.project.id, user_id=t.carol.id))
    db.commit()
    assert create(t.carol, t.project)["user"]["id"] == t.carol.id
    owned = create(t.admin, t.project, user_id=t.bob.id)
    assert owned["user"]["id"] == t.bob.id and owned["created_by"] == t.admin.email
    db.rollback()  # a fresh snapshot: see what the API committed
    default = db.scalars(
        select(Corpus).where(
            Corpus.id.in_(select(AgentCorpus.corpus_id).where(AgentCorpus.agent_id == owned["id"]))
        )
    ).one()
    assert default.owner_id == t.bob.id


# -- Create Agent By Agent Builder --------------------------------------------------------------


def test_agent_builder_saves_history_flags_and_project(t, db):
    agent = create(t.alice, t.project)
    r = t.alice.post(
        "/v2/api/agent/agentbuilder",
        json={
            "agent_id": agent["id"],
            "project_id": t.other_project.id,
            "history": "User wants a travel agent.",
            "flags": {"image_generation_enabled": True},
        },
    )
    data = succeeded(r, 201, "Agent chat created successfully")
    assert set(data) == AGENT_KEYS
    assert data["id"] == agent["id"] and data["project"] == t.other_project.id
    assert data["modified_by"] == t.alice.email
    db.rollback()
    stored = db.get(Agent, agent["id"])
    assert stored.notes == "User wants a travel agent."
    assert stored.settings["image_generation_enabled"] is True
    # Without history or flags only the project may change; earlier values stay.
    r = t.alice.post(
        "/v2/api/agent/agentbuilder",
        json={"agent_id": agent["id"], "project_id": t.project.id, "flags": None},
    )
    assert r.status_code == 201 and r.json()["data"]["project"] == t.project.id
    db.rollback()
    stored = db.get(Agent, agent["id"])
    assert (
        stored.notes == "User wants a travel agent." and stored.settings["image_generation_enabled"] is True
    )


def test_agent_builder_rejects_bad_input_and_other_peoples_agents(t, world, db):
    agent = create(t.alice, t.project, access="Public")
    url = "/v2/api/agent/agentbuilder"
    good = {"agent_id": agent["id"], "project_id": t.project.id, "history": "changed"}
    assert_error(t.alice.post(url, json={"project_id": t.project.id}), 400)
    assert_error(t.alice.post(url, json={**good, "flags": {"image_generation_enabled": "maybe"}}), 400)
    assert_error(t.alice.post(url, json={**good, "agent_id": 424242}), 404, "Agent not found.")
    foreign_project = world.project(world.team(world.org()))
    assert_error(
        t.alice.post(url, json={**good, "project_id": foreign_project.id}), 404, "Project not found."
    )
    assert_error(t.bob.post(url, json=good), 403)  # sees the Public agent, may not edit it
    assert_error(world.key_for(t.alice, "read_only").post(url, json=good), 403)
    db.rollback()
    stored = db.get(Agent, agent["id"])
    assert stored.notes == "" and stored.project_id == t.project.id and stored.modified_by == ""


# -- lists ----------------------------------------------------------------------------------------


def test_get_all_agents_paginates_filters_and_respects_access(t, db):
    only_me = create(t.alice, t.project, name="Alpha private", access="Only me")
    only_team = create(t.alice, t.project, name="Beta team", access="Only team")
    public = create(t.alice, t.project, name="Gamma public", access="Public")
    deleted = create(t.alice, t.project, name="Delta gone", access="Public")
    db.execute(update(Agent).where(Agent.id == deleted["id"]).values(is_deleted=True))
    db.commit()

    r = t.alice.get("/v2/api/agent", params={"items_per_page": 2})
    assert r.status_code == 200 and r.json()["message"] == "Agents fetched successfully"
    data = r.json()["data"]
    assert (data["count"], data["num_pages"], data["current_page"]) == (3, 2, 1)
    assert [a["id"] for a in data["agents"]] == [public["id"], only_team["id"]]  # newest first
    assert set(data["agents"][0]) == AGENT_KEYS
    second = t.alice.get("/v2/api/agent", params={"items_per_page": 2, "page": 2}).json()["data"]
    assert [a["id"] for a in second["agents"]] == [only_me["id"]]
    far = t.alice.get("/v2/api/agent", params={"page": 1000}).json()["data"]
    assert far["count"] == 3 and far["agents"] == []

    assert ids(t.alice.get("/v2/api/agent", params={"query": "BETA"})) == [only_team["id"]]
    assert ids(t.alice.get("/v2/api/agent", params={"query": "%"})) == []  # LIKE wildcards are literal
    assert ids(t.alice.get("/v2/api/agent", params={"access": "Public"})) == [public["id"]]
    assert ids(t.bob.get("/v2/api/agent")) == [public["id"], only_team["id"]]
    assert ids(t.carol.get("/v2/api/agent")) == [public["id"]]
    assert ids(t.admin.get("/v2/api/agent")) == [public["id"], only_team["id"], only_me["id"]]

    for params in ({"items_per_page": 0}, {"page": 0}, {"page": "x"}, {"access": "Everyone"}):
        assert_error(t.alice.get("/v2/api/agent", params=params), 400)


def test_get_agent_by_team_and_by_user_team(t, world, db):
    in_team = create(t.alice, t.project, access="Only team")
    mine_only = create(t.alice, t.other_project, access="Only me")
    elsewhere_team = world.team(t.org, {t.carol: "Member"})
    elsewhere = create(t.carol, world.project(elsewhere_team), access="Public")
    team_id = t.project.team_id

    r = t.bob.get(f"/v2/api/team/{team_id}/agent")
    assert r.json()["message"] == "Team agents fetched successfully"
    assert ids(r) == [in_team["id"]]  # bob cannot see alice's "Only me" agent
    assert set(r.json()["data"][0]) == AGENT_KEYS
    assert ids(t.alice.get(f"/v2/api/team/{team_id}/agent")) == [mine_only["id"], in_team["id"]]
    assert ids(t.admin.get(f"/v2/api/team/{elsewhere_team.id}/agent")) == [elsewhere["id"]]
    assert_error(t.carol.get(f"/v2/api/team/{team_id}/agent"), 404, "Team not found.")
    assert_error(t.alice.get("/v2/api/team/abc/agent"), 400)
    assert_error(t.alice.get("/v2/api/team/999999/agent"), 404)

    r = t.bob.get("/v2/api/agent/user-team")
    assert r.json()["message"] == "User team agents fetched successfully"
    assert ids(r) == [in_team["id"]]  # not the Public agent of another team
    assert ids(t.carol.get("/v2/api/agent/user-team")) == [elsewhere["id"]]
    assert ids(t.admin.get("/v2/api/agent/user-team")) == []  # the admin is in no team


def test_agent_filtered(t, world, db):
    qna = create(t.alice, t.project, name="Old QnA", access="Public")
    custom = create(t.bob, t.other_project, name="New custom", type="Custom", access="Public")
    other_team = world.team(t.org, {t.carol: "Member"})
    third = create(t.carol, world.project(other_team), name="Third", access="Public")
    db.execute(
        update(Agent)
        .where(Agent.id == qna["id"])
        .values(created_on=datetime(2024, 1, 15, 23, 59, tzinfo=UTC))
    )
    db.commit()
    url = "/v2/api/agent/filtered"

    r = t.alice.get(url, params={"user_ids": f"{t.alice.id},{t.bob.id}"})
    assert r.json()["message"] == "Filtered agents fetched successfully"
    assert r.json()["data"]["count"] == 2 and ids(r) == [custom["id"], qna["id"]]
    assert ids(t.alice.get(url, params=[("user_ids", t.bob.id), ("user_ids", t.carol.id)])) == [
        third["id"],
        custom["id"],
    ]
    assert ids(t.alice.get(url, params={"project_ids": str(t.other_project.id)})) == [custom["id"]]
    assert ids(t.alice.get(url, params={"team_ids": str(other_team.id)})) == [third["id"]]
    assert ids(t.alice.get(url, params={"agent_type": "Custom"})) == [custom["id"]]
    assert ids(t.alice.get(url, params={"query": "qna", "access": "Public"})) == [qna["id"]]
    assert ids(t.alice.get(url, params={"start_date": "2024-01-01", "end_date": "2024-01-15"})) == [qna["id"]]
    assert ids(t.alice.get(url, params={"start_date": "2024-01-16"})) == [third["id"], custom["id"]]
    assert ids(t.alice.get(url, params={"items_per_page": 1, "page": 3})) == [qna["id"]]

    for params in (
        {"user_ids": "1,abc"},
        {"project_ids": "²"},
        {"team_ids": "99999999999999999999999"},
        {"start_date": "yesterday"},
        {"start_date": "2024-02-01", "end_date": "2024-01-01"},
        {"agent_type": "Wizard"},
        {"access": "nobody"},
        {"items_per_page": 0},
    ):
        assert_error(t.alice.get(url, params=params), 400)


# -- Get Agent and Edit Agent --------------------------------------------------------------------


def test_get_agent(t, db):
    agent = create(t.alice, t.project, access="Only team", custom_instructions=["Be kind."])
    r = t.bob.get(f"/v2/api/agent/{agent['id']}")
    assert r.status_code == 200 and r.json()["message"] == "Agent fetched successfully"
    assert r.json()["data"] == agent
    assert_error(t.carol.get(f"/v2/api/agent/{agent['id']}"), 404, "Agent not found.")
    assert_error(t.alice.get("/v2/api/agent/abc"), 400)
    assert_error(t.alice.get("/v2/api/agent/0"), 400)
    assert_error(t.alice.get(f"/v2/api/agent/{10**20}"), 400)
    db.execute(update(Agent).where(Agent.id == agent["id"]).values(is_deleted=True))
    db.commit()
    assert_error(t.alice.get(f"/v2/api/agent/{agent['id']}"), 404, "Agent not found.")


def test_edit_agent_with_multipart_form(t, db):
    agent = create(t.alice, t.project, name="Before", custom_instructions=["Old one."], sample_q2="Keep me")
    custom_type = db.scalar(select(AgentType).where(AgentType.name == "Custom"))
    config = LLMConfig(org_id=t.org.id, name="Main", created_by="tests", extra={})
    db.add(config)
    db.commit()
    r = t.alice.put(
        f"/v2/api/agent/{agent['id']}",
        data={
            "project_id": str(t.other_project.id),
            "name": "After Edit",
            "description": "New description",
            "sample_q1": "New question?",
            "status": "Live",
            "type": str(custom_type.id),
            "prefix_prompt": "Be precise.",
            "custom_instructions": '["First.", "Second."]',
            "access": "Public",
            "create_email_alias": "true",
            "llm_model": str(config.id),
            "character_voice_id": "alloy",
        },
        files={"unused": ("", b"")},  # forces multipart/form-data, as Ejento clients send it
    )
    data = succeeded(r, 200, "Agent data updated successfully")
    assert set(data) == AGENT_KEYS
    assert data["agent_name"] == "After Edit" and data["domain"] == "New description"
    assert data["project"] == t.other_project.id and data["agent_type"]["name"] == "Custom"
    assert data["sample_q1"] == "New question?" and data["sample_q2"] == "Keep me"
    assert data["prefix_prompt"] == "Be precise." and data["access"] == "Public"
    assert data["alias"] == f"AfterEdit_{agent['id']}@agents.parley.local"
    assert data["llm_config"] == config.id
    assert [i["instruction"] for i in data["instructions"]] == ["First.", "Second."]
    assert data["modified_by"] == t.alice.email and data["created_by"] == t.alice.email
    db.rollback()  # a fresh snapshot: see what the API committed
    old = db.scalars(select(AgentInstruction).where(AgentInstruction.instruction == "Old one.")).one()
    assert old.is_deleted is True  # replaced, kept for history
    assert db.get(Agent, agent["id"]).character_voice_id == "alloy"

    # JSON works too; an empty form field clears the LLM config; "[]" clears the instructions.
    r = t.alice.put(f"/v2/api/agent/{agent['id']}", json={"name": "Json name", "custom_instructions": []})
    assert r.status_code == 200 and r.json()["data"]["agent_name"] == "Json name"
    assert r.json()["data"]["instructions"] == [] and r.json()["data"]["domain"] == "New description"
    r = t.alice.put(f"/v2/api/agent/{agent['id']}", data={"llm_model": "", "type": "QnA"})
    assert r.status_code == 200 and r.json()["data"]["llm_config"] is None
    assert r.json()["data"]["agent_type"]["name"] == "QnA"
    assert r.json()["data"]["alias"] == f"AfterEdit_{agent['id']}@agents.parley.local"  # aliases stay


def test_edit_agent_rejects_bad_input_and_changes_nothing(t, world, db):
    agent = create(t.alice, t.project, name="Stable", custom_instructions=["Keep."])
    url = f"/v2/api/agent/{agent['id']}"
    foreign_project = world.project(world.team(world.org()))
    cases = [
        ({"custom_instructions": "not json"}, 400, None),
        ({"custom_instructions": '{"a": 1}'}, 400, None),
        ({"custom_instructions": "[1, 2]"}, 400, None),
        ({"custom_instructions": "[" * 50_000}, 400, None),
        ({"type": "Wizard"}, 400, None),
        ({"access": "Everyone"}, 400, None),
        ({"name": ""}, 400, None),
        ({"project_id": "x"}, 400, None),
        ({"create_email_alias": "perhaps"}, 400, None),
        ({"cloned_from": str(agent["id"])}, 400, "An agent cannot be cloned from itself."),
        ({"cloned_from": "777777"}, 404, "Agent not found."),
        ({"project_id": str(foreign_project.id)}, 404, "Project not found."),
        ({"llm_model": "missing"}, 404, "LLM config not found."),
        ({"name": "Changed", "llm_model": "missing"}, 404, None),  # nothing half-applied
    ]
    for form, status, message in cases:
        assert_error(t.alice.put(url, data=form), status, message)
    assert_error(t.alice.put(url, content="{oops", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.alice.put(url, json=["not", "an", "object"]), 400)
    assert_error(
        t.alice.put(url, json={"name": None}), 400, "Invalid request: Value error, name cannot be null"
    )
    assert_error(t.alice.put(url, json={"custom_instructions": None}), 400)
    assert_error(t.alice.put("/v2/api/agent/abc", data={"name": "x"}), 400)
    db.rollback()  # a fresh snapshot: see what the API committed
    stored = db.get(Agent, agent["id"])
    assert (stored.agent_name, stored.modified_by, stored.llm_config_id) == ("Stable", "", None)
    live = db.scalars(
        select(AgentInstruction.instruction).where(
            AgentInstruction.agent_id == agent["id"], AgentInstruction.is_deleted.is_(False)
        )
    ).all()
    assert live == ["Keep."]


def test_edit_agent_permissions(t, world, db):
    agent = create(t.alice, t.project, name="Team agent", access="Only team")
    url = f"/v2/api/agent/{agent['id']}"
    assert_error(t.bob.put(url, data={"name": "Bob was here"}), 403)  # sees it, does not manage the team
    assert_error(t.carol.put(url, data={"name": "Carol was here"}), 404)  # cannot see it
    assert_error(world.key_for(t.alice, "read_only").put(url, data={"name": "x"}), 403)
    assert_error(world.key_for(t.alice, "restricted", {"agents": "read"}).put(url, data={"name": "x"}), 403)
    db.rollback()
    assert db.get(Agent, agent["id"]).agent_name == "Team agent"

    assert world.key_for(t.alice, "read_only").get(url).status_code == 200
    assert world.key_for(t.alice, "restricted", {"agents": "read"}).get(url).status_code == 200
    assert_error(world.key_for(t.alice, "restricted", {"corpora": "write"}).get(url), 403)

    r = t.manager.put(url, data={"name": "By the manager"})
    assert r.status_code == 200 and r.json()["data"]["modified_by"] == t.manager.email
    r = t.admin.put(url, json={"access": "Only me"})
    assert r.status_code == 200 and r.json()["data"]["agent_name"] == "By the manager"
    assert_error(t.bob.get(url), 404)  # now private to alice


# -- recent and starred ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["recent", "starred"])
def test_recent_and_starred_agents(t, world, db, kind):
    model = RecentAgent if kind == "recent" else StarredAgent
    label = "Recent" if kind == "recent" else "Starred"
    first = create(t.alice, t.project, name="First", access="Public")
    second = create(t.bob, t.project, name="Second", access="Only team")

    r = t.alice.post(f"/v2/api/agent/{first['id']}/{kind}")
    assert r.status_code == 201, r.text
    assert r.json()["message"] == f"{label} Agent created successfully"
    data = r.json()["data"]
    assert (
        set(data) == {"id", "agent"}
        and data["agent"] == t.alice.get(f"/v2/api/agent/{first['id']}").json()["data"]
    )
    assert t.alice.post(f"/v2/api/agent/{second['id']}/{kind}").status_code == 201
    again = t.alice.post(f"/v2/api/agent/{first['id']}/{kind}")
    assert again.status_code == 201 and again.json()["data"]["id"] == data["id"]  # no duplicate
    db.rollback()  # a fresh snapshot: see what the API committed
    assert db.scalar(select(func.count()).select_from(model).where(model.user_id == t.alice.id)) == 2

    r = t.alice.get(f"/v2/api/agent/{kind}")
    assert r.status_code == 200 and r.json()["message"] == f"{label} Agents fetched successfully"
    listed = [m["agent"]["id"] for m in r.json()["data"]]
    # Recents: the one used last comes first. Starred: newest star first (re-starring changes nothing).
    assert listed == ([first["id"], second["id"]] if kind == "recent" else [second["id"], first["id"]])
    assert t.bob.get(f"/v2/api/agent/{kind}").json()["data"] == []  # per user

    # Agents the caller can no longer see drop out of the list.
    db.rollback()
    db.execute(update(Agent).where(Agent.id == second["id"]).values(access="Only me"))
    db.commit()
    assert [m["agent"]["id"] for m in t.alice.get(f"/v2/api/agent/{kind}").json()["data"]] == [first["id"]]

    # Bad input and other tenants write nothing.
    before = counts(db)
    foreign_admin = world.user(world.org(), admin=True)
    assert_error(foreign_admin.post(f"/v2/api/agent/{first['id']}/{kind}"), 404, "Agent not found.")
    assert_error(foreign_admin.delete(f"/v2/api/agent/{first['id']}/{kind}"), 404)
    assert_error(t.carol.post(f"/v2/api/agent/{second['id']}/{kind}"), 404)
    assert_error(t.alice.post(f"/v2/api/agent/abc/{kind}"), 400)
    assert_error(t.alice.post(f"/v2/api/agent/999999/{kind}"), 404)
    assert_error(world.key_for(t.alice, "read_only").post(f"/v2/api/agent/{first['id']}/{kind}"), 403)
    assert_error(world.key_for(t.alice, "read_only").delete(f"/v2/api/agent/{first['id']}/{kind}"), 403)
    assert world.key_for(t.alice, "read_only").get(f"/v2/api/agent/{kind}").status_code == 200
    assert_error(
        world.key_for(t.alice, "restricted", {"projects": "write"}).get(f"/v2/api/agent/{kind}"), 403
    )
    assert foreign_admin.get(f"/v2/api/agent/{kind}").json()["data"] == []
    assert counts(db) == before

    r = t.alice.delete(f"/v2/api/agent/{first['id']}/{kind}")
    assert r.status_code == 200 and r.json() == {
        "success": True,
        "message": f"{label} Agent deleted successfully",
        "data": None,
    }
    assert_error(t.alice.delete(f"/v2/api/agent/{first['id']}/{kind}"), 404, f"{label} agent not found.")
    assert t.alice.get(f"/v2/api/agent/{kind}").json()["data"] == []
    db.rollback()  # a fresh snapshot: see what the API committed
    assert db.scalar(select(func.count()).select_from(model).where(model.agent_id == first["id"])) == 0


def test_recent_agent_use_moves_it_to_the_top(t, db):
    first = create(t.alice, t.project, name="First")
    second = create(t.alice, t.project, name="Second")
    for agent in (first, second, first):
        assert t.alice.post(f"/v2/api/agent/{agent['id']}/recent").status_code == 201
    listed = [m["agent"]["id"] for m in t.alice.get("/v2/api/agent/recent").json()["data"]]
    assert listed == [first["id"], second["id"]]


# -- tenant isolation ---------------------------------------------------------------------------------


def test_another_organisation_never_reaches_these_agents(t, world, db):
    agent = create(t.alice, t.project, name="Secret", access="Public")
    other_org = world.org()
    outsider = world.user(other_org, admin=True)
    their_team = world.team(other_org, {outsider: "Member"})
    their_project = world.project(their_team)
    theirs = make_agent(db, outsider, their_project, access="Public", name="Theirs")
    before = counts(db)

    url = f"/v2/api/agent/{agent['id']}"
    assert_error(outsider.get(url), 404, "Agent not found.")
    assert_error(outsider.put(url, data={"name": "Stolen"}), 404)
    assert_error(outsider.put(url, json={"name": "Stolen"}), 404)
    assert_error(outsider.post(f"{url}/recent"), 404)
    assert_error(outsider.post(f"{url}/starred"), 404)
    assert_error(
        outsider.post(
            "/v2/api/agent/agentbuilder", json={"agent_id": agent["id"], "project_id": their_project.id}
        ),
        404,
    )
    assert_error(
        outsider.post("/v2/api/agent", json={"name": "X", "project_id": t.project.id}),
        404,
        "Project not found.",
    )
    assert_error(outsider.get(f"/v2/api/team/{t.project.team_id}/agent"), 404, "Team not found.")
    # Their own edits cannot point at our rows either.
    assert_error(outsider.put(f"/v2/api/agent/{theirs.id}", data={"project_id": str(t.project.id)}), 404)
    assert_error(outsider.put(f"/v2/api/agent/{theirs.id}", data={"cloned_from": str(agent["id"])}), 404)
    assert counts(db) == before

    assert ids(outsider.get("/v2/api/agent")) == [theirs.id]
    assert ids(outsider.get("/v2/api/agent/user-team")) == [theirs.id]
    assert ids(outsider.get("/v2/api/agent/filtered")) == [theirs.id]
    filtered = outsider.get(
        "/v2/api/agent/filtered",
        params={
            "user_ids": str(t.alice.id),
            "project_ids": str(t.project.id),
            "team_ids": str(t.project.team_id),
        },
    )
    assert ids(filtered) == []
    assert ids(outsider.get("/v2/api/agent", params={"query": "Secret"})) == []
    assert agent["id"] in ids(t.alice.get("/v2/api/agent"))
    assert theirs.id not in ids(t.admin.get("/v2/api/agent"))
