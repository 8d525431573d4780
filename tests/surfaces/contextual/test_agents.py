"""Contextual AI agents: create (with or without datastores), list, metadata, update, delete."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.agents.models import Agent
from parley.corpora.models import AgentCorpus, Corpus
from parley.projects.models import Project, ProjectMember
from parley.surfaces.contextual.ids import Kind
from tests.support.world import World
from tests.surfaces.contextual.conftest import Tenant
from tests.surfaces.contextual.helpers import (
    UUID,
    Caller,
    assert_detail,
    assert_invalid,
    create_datastore,
    ok,
    row_id,
)
from tests.surfaces.ejento.factories import _save, count, fresh, make_agent, reload

FILTER = {
    "operator": "AND",
    "filters": [
        {"field": "status", "operator": "equals", "value": "active"},
        {"operator": "OR", "filters": [{"field": "year", "operator": "gte", "value": 2020}]},
    ],
}


def links_of(db: Session, agent_id: int) -> dict[int, bool]:
    fresh(db)
    rows = db.scalars(
        select(AgentCorpus).where(AgentCorpus.agent_id == agent_id, AgentCorpus.is_deleted.is_(False))
    )
    return {link.corpus_id: link.is_enabled for link in rows}


def test_an_agent_without_datastores_gets_its_own(acme: Tenant, db: Session):
    created = ok(acme.owner.post("/v1/agents", json={"name": "Helpdesk"}))
    assert set(created) == {"id", "datastore_ids"} and re.match(UUID, created["id"])
    (datastore_id,) = created["datastore_ids"]
    metadata = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))
    assert metadata["name"] == "Helpdesk_Default" and metadata["agent_ids"] == [created["id"]]

    # The agent lives in the organisation's /v1 project, which the creator is a member of.
    agent = reload(db, Agent, row_id(Kind.AGENT, created["id"]))
    assert agent.agent_name == "Helpdesk" and agent.user_id == acme.owner.id and agent.access == "Only me"
    ref = reload(db, Organization, acme.org.id).settings["contextual_ai"]
    project = db.get(Project, ref["project_id"])
    assert agent.project_id == project.id and project.team_id == ref["team_id"]
    assert project.project_name == "Contextual AI agents"
    member = select(ProjectMember.user_id).where(ProjectMember.project_id == project.id)
    assert list(db.scalars(member)) == [acme.owner.id]
    # A colleague's agent goes to the same project, and the colleague joins it.
    theirs = ok(acme.colleague.post("/v1/agents", json={"name": "Other desk"}))
    assert reload(db, Agent, row_id(Kind.AGENT, theirs["id"])).project_id == project.id
    assert sorted(db.scalars(member)) == sorted([acme.owner.id, acme.colleague.id])
    assert count(db, Project) == 1


def test_create_with_every_field_and_read_it_back(acme: Tenant, db: Session):
    first, second = create_datastore(acme.owner, "Policies"), create_datastore(acme.owner, "Manuals")
    configs = {
        "global_config": {"enable_multi_turn": True, "enable_rerank": False},
        "retrieval_config": {"top_k_retrieved_chunks": 8, "lexical_alpha": 0.3, "semantic_alpha": 0.7},
        "filter_and_rerank_config": {
            "top_k_reranked_chunks": 4,
            "default_metadata_filters": FILTER,
            "per_datastore_metadata_filters": {
                second: {"filters": [{"field": "kind", "operator": "exists"}]}
            },
        },
        # Keys the SDK does not type are kept (the multi-turn notebook sends "model").
        "generate_response_config": {"calculate_groundedness": True, "model": "v2"},
        "some_future_config": {"x": 1},
    }
    body = {
        "name": "Helpdesk",
        "description": "Answers policy questions",
        "datastore_ids": [first, second, first],
        "system_prompt": "Answer briefly.",
        "multiturn_system_prompt": "Use the conversation.",
        "no_retrieval_system_prompt": "Say you do not know.",
        "filter_prompt": "Drop irrelevant chunks.",
        "suggested_queries": ["How do refunds work?", "When is payday?"],
        "template_name": "default",
        "agent_configs": configs,
    }
    created = ok(acme.owner.post("/v1/agents", json=body))
    assert created["datastore_ids"] == [first, second]
    agent_id = created["id"]
    metadata = ok(acme.owner.get(f"/v1/agents/{agent_id}/metadata"))
    assert metadata == {
        "name": "Helpdesk",
        "description": "Answers policy questions",
        "datastore_ids": [first, second],
        "template_name": "default",
        "system_prompt": "Answer briefly.",
        "multiturn_system_prompt": "Use the conversation.",
        "no_retrieval_system_prompt": "Say you do not know.",
        "filter_prompt": "Drop irrelevant chunks.",
        "suggested_queries": ["How do refunds work?", "When is payday?"],
        "agent_configs": configs,
        "agent_usages": {"eval": 0, "query": 0, "tune": 0},
    }
    agent = reload(db, Agent, row_id(Kind.AGENT, agent_id))
    assert agent.prefix_prompt == "Answer briefly." and agent.domain == "Answers policy questions"
    stored = agent.settings["agent_configs"]["filter_and_rerank_config"]["per_datastore_metadata_filters"]
    assert set(stored) == {str(row_id(Kind.DATASTORE, second))}  # kept by corpus id
    # The default corpus every Parley agent starts with is gone: the named datastores replace it.
    assert links_of(db, agent.id) == {
        row_id(Kind.DATASTORE, first): True,
        row_id(Kind.DATASTORE, second): True,
    }
    assert count(db, Corpus, Corpus.name == "Helpdesk_Default", Corpus.is_deleted.is_(False)) == 0


def test_list_agents_in_pages(acme: Tenant, db: Session):
    made = [ok(acme.owner.post("/v1/agents", json={"name": f"Agent {n}"}))["id"] for n in range(3)]
    ok(acme.owner.put(f"/v1/agents/{made[0]}", json={"description": "The first"}))
    page = ok(acme.owner.get("/v1/agents", params={"limit": 2}))
    assert page["total_count"] == 3 and page["next_cursor"]
    assert page["agents"] == [
        {"id": made[2], "name": "Agent 2", "description": ""},
        {"id": made[1], "name": "Agent 1", "description": ""},
    ]
    rest = ok(acme.owner.get("/v1/agents", params={"limit": 2, "cursor": page["next_cursor"]}))
    assert rest == {
        "agents": [{"id": made[0], "name": "Agent 0", "description": "The first"}],
        "total_count": 3,
    }


def test_update_is_partial(acme: Tenant, db: Session):
    first, second = create_datastore(acme.owner, "Policies"), create_datastore(acme.owner, "Manuals")
    configs = {
        "global_config": {"enable_multi_turn": True},
        "retrieval_config": {"top_k_retrieved_chunks": 5},
    }
    created = ok(
        acme.owner.post(
            "/v1/agents", json={"name": "Desk", "system_prompt": "Be kind.", "agent_configs": configs}
        )
    )
    agent_id, (default_store,) = created["id"], created["datastore_ids"]
    path = f"/v1/agents/{agent_id}"
    assert ok(acme.owner.put(path, json={"name": "Front desk"})) == {}
    metadata = ok(acme.owner.get(f"{path}/metadata"))
    assert metadata["name"] == "Front desk" and metadata["system_prompt"] == "Be kind."
    assert metadata["agent_configs"] == configs and metadata["datastore_ids"] == [default_store]

    # Datastores become exactly the given ones; the default link can only be disabled.
    ok(acme.owner.put(path, json={"datastore_ids": [first, second]}))
    assert ok(acme.owner.get(f"{path}/metadata"))["datastore_ids"] == [first, second]
    agent_row = row_id(Kind.AGENT, agent_id)
    ids = {
        name: row_id(Kind.DATASTORE, value)
        for name, value in [("d", default_store), ("1", first), ("2", second)]
    }
    assert links_of(db, agent_row) == {ids["d"]: False, ids["1"]: True, ids["2"]: True}
    ok(acme.owner.put(path, json={"datastore_ids": [default_store, second]}))
    assert ok(acme.owner.get(f"{path}/metadata"))["datastore_ids"] == [default_store, second]
    assert links_of(db, agent_row) == {ids["d"]: True, ids["2"]: True}

    # A given sub-config is updated field by field, other sub-configs stay; null removes one.
    ok(acme.owner.put(path, json={"agent_configs": {"global_config": {"enable_rerank": True}}}))
    stored = ok(acme.owner.get(f"{path}/metadata"))["agent_configs"]
    assert stored == {
        "global_config": {"enable_multi_turn": True, "enable_rerank": True},
        "retrieval_config": {"top_k_retrieved_chunks": 5},
    }
    ok(acme.owner.put(path, json={"agent_configs": {"retrieval_config": None}, "system_prompt": "Be brief."}))
    metadata = ok(acme.owner.get(f"{path}/metadata"))
    assert metadata["agent_configs"] == {"global_config": {"enable_multi_turn": True, "enable_rerank": True}}
    assert reload(db, Agent, agent_row).prefix_prompt == "Be brief." and metadata["name"] == "Front desk"


def test_bad_input_is_refused_and_nothing_is_written(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    before = count(db, Agent), count(db, Corpus)
    assert_invalid(acme.owner.post("/v1/agents", json={"description": "no name"}), "name")
    bad_filter = {
        "filter_and_rerank_config": {"default_metadata_filters": {"field": "a", "operator": "near"}}
    }
    assert_detail(
        acme.owner.post("/v1/agents", json={"name": "A", "agent_configs": bad_filter}), 400, "filter"
    )
    bad_keys = {"filter_and_rerank_config": {"per_datastore_metadata_filters": {"nope": {"filters": []}}}}
    assert_detail(
        acme.owner.post("/v1/agents", json={"name": "A", "agent_configs": bad_keys}), 404, "Datastore"
    )
    assert_detail(
        acme.owner.post("/v1/agents", json={"name": "A", "datastore_ids": ["nope"]}), 404, "Datastore"
    )
    long_queries = {"name": "A", "suggested_queries": ["x" * 600, "y" * 600]}
    assert_detail(acme.owner.post("/v1/agents", json=long_queries), 400, "suggested_queries")
    zero = {"name": "A", "agent_configs": {"retrieval_config": {"top_k_retrieved_chunks": 0}}}
    assert_invalid(acme.owner.post("/v1/agents", json=zero), "top_k_retrieved_chunks")
    assert (count(db, Agent), count(db, Corpus)) == before
    agent_id = ok(acme.owner.post("/v1/agents", json={"name": "Desk", "datastore_ids": [datastore_id]}))["id"]
    assert_invalid(acme.owner.put(f"/v1/agents/{agent_id}", json={"name": None}), "name")
    assert_detail(acme.owner.put(f"/v1/agents/{agent_id}", json={"agent_configs": bad_filter}), 400)
    assert reload(db, Agent, row_id(Kind.AGENT, agent_id)).settings == {}


def test_delete_agent_keeps_its_datastores(acme: Tenant, db: Session):
    created = ok(acme.owner.post("/v1/agents", json={"name": "Desk"}))
    assert ok(acme.owner.delete(f"/v1/agents/{created['id']}")) == {}
    assert reload(db, Agent, row_id(Kind.AGENT, created["id"])).is_deleted is True
    assert_detail(acme.owner.get(f"/v1/agents/{created['id']}/metadata"), 404, "Agent not found")
    assert_detail(acme.owner.delete(f"/v1/agents/{created['id']}"), 404)
    assert ok(acme.owner.get(f"/v1/datastores/{created['datastore_ids'][0]}/metadata"))["agent_ids"] == []
    assert ok(acme.owner.get("/v1/agents")) == {"agents": [], "total_count": 0}


def test_agents_made_through_ejento_are_listed(acme: Tenant, world: World, db: Session):
    project = world.project(world.team(acme.org, {acme.owner.actor: "Owner"}))
    agent = make_agent(db, acme.owner.actor, project, name="Legacy")
    store = create_datastore(acme.owner)
    _save(
        db,
        AgentCorpus(
            org_id=acme.org.id,
            agent_id=agent.id,
            corpus_id=row_id(Kind.DATASTORE, store),
            connected_by=acme.owner.id,
        ),
    )
    (item,) = ok(acme.owner.get("/v1/agents"))["agents"]
    assert row_id(Kind.AGENT, item["id"]) == agent.id and item["name"] == "Legacy"
    metadata = ok(acme.owner.get(f"/v1/agents/{item['id']}/metadata"))
    assert metadata["datastore_ids"] == [store] and metadata["template_name"] == "default"
    assert "agent_configs" not in metadata


def test_access_between_users_and_organisations(acme: Tenant, other: Caller, world: World, db: Session):
    datastore_id = create_datastore(acme.owner, "Secret store")
    agent_id = ok(
        acme.owner.post("/v1/agents", json={"name": "Secret desk", "datastore_ids": [datastore_id]})
    )["id"]
    for method, path, body in [
        ("GET", f"/v1/agents/{agent_id}/metadata", None),
        ("PUT", f"/v1/agents/{agent_id}", {"name": "Mine"}),
        ("DELETE", f"/v1/agents/{agent_id}", None),
        ("GET", f"/v1/datastores?agent_id={agent_id}", None),
    ]:
        r = other.request(method, path, json=body)
        assert_detail(r, 404)
        assert "Secret" not in r.text
    assert_detail(other.post("/v1/agents", json={"name": "Thief", "datastore_ids": [datastore_id]}), 404)
    assert ok(other.get("/v1/agents"))["total_count"] == 0
    # Agents made through /v1 are the owner's ("Only me"): colleagues do not see them, admins do.
    assert_detail(acme.colleague.get(f"/v1/agents/{agent_id}/metadata"), 404)
    assert ok(acme.admin.get(f"/v1/agents/{agent_id}/metadata"))["name"] == "Secret desk"
    # A colleague who sees a public agent still may not change it.
    reload(db, Agent, row_id(Kind.AGENT, agent_id)).access = "Public"
    db.commit()
    assert ok(acme.colleague.get(f"/v1/agents/{agent_id}/metadata"))["name"] == "Secret desk"
    assert_detail(acme.colleague.put(f"/v1/agents/{agent_id}", json={"name": "Mine"}), 403)
    assert_detail(acme.colleague.delete(f"/v1/agents/{agent_id}"), 403)

    reader = Caller(world.key_for(acme.owner.actor, "read_only"))
    assert ok(reader.get("/v1/agents"))["total_count"] == 1
    assert_detail(reader.post("/v1/agents", json={"name": "New"}), 403)
    assert_detail(reader.put(f"/v1/agents/{agent_id}", json={"name": "New"}), 403)
    assert_detail(reader.delete(f"/v1/agents/{agent_id}"), 403)
    assert reload(db, Agent, row_id(Kind.AGENT, agent_id)).agent_name == "Secret desk"
    assert count(db, Agent, Agent.is_deleted.is_(False)) == 1
