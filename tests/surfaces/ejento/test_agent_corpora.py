"""Ejento V2 Agent Corpus Connection group: link corpora to agents, enable, disable, remove."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.corpora.models import AgentCorpus, Corpus, CorpusPermission
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import TIMESTAMP, assert_error, make_corpus, succeeded

FETCHED = "Agent corpus connection fetched successfully."


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    alice: Actor  # owns the agent and the corpus
    bob: Actor  # in the team; sees the agent, may not edit it
    agent: dict  # created through the API, so it has its default corpus link
    corpus: Corpus  # alice's, private


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org()
    admin, alice, bob = world.user(org, admin=True), world.user(org), world.user(org)
    team = world.team(org, {alice: "Member", bob: "Member"})
    project = world.project(team)
    r = alice.post("/v2/api/agent", json={"name": "Support", "project_id": project.id, "access": "Only team"})
    assert r.status_code == 201, r.text
    return Tenant(org, admin, alice, bob, r.json()["data"], make_corpus(db, alice, name="Handbook"))


def url(agent_id: object, corpus_id: object | None = None) -> str:
    base = f"/v2/api/agent/{agent_id}/corpus"
    return base if corpus_id is None else f"{base}/{corpus_id}"


def live_links(db: Session, agent_id: int) -> list[tuple[int, bool, bool]]:
    db.rollback()  # a fresh snapshot: see what the API committed
    found = db.execute(
        select(AgentCorpus.corpus_id, AgentCorpus.is_enabled, AgentCorpus.is_default)
        .where(AgentCorpus.agent_id == agent_id, AgentCorpus.is_deleted.is_(False))
        .order_by(AgentCorpus.id)
    ).all()
    db.rollback()  # hold no stale snapshot: a later write to arrange data would be refused
    return [tuple(row) for row in found]


def link_count(db: Session) -> int:
    db.rollback()
    found = db.scalar(select(func.count()).select_from(AgentCorpus))
    db.rollback()
    return found


def test_create_connection_returns_the_link_with_agent_and_corpus(t, db):
    agent_id = t.agent["id"]
    r = t.alice.post(url(agent_id, t.corpus.id))
    data = succeeded(r, 201, "Agent corpus connection created successfully.")
    assert set(data) == {
        "id",
        "agent",
        "corpus",
        "created_by",
        "created_on",
        "modified_by",
        "modified_on",
        "is_enabled",
        "is_default",
        "is_deleted",
        "connected_by",
    }
    assert (data["is_enabled"], data["is_default"], data["is_deleted"]) == (True, False, False)
    assert (
        data["connected_by"] == t.alice.id
        and data["created_by"] == t.alice.email
        and data["modified_by"] == ""
    )
    assert TIMESTAMP.match(data["created_on"])
    assert data["agent"]["id"] == agent_id and data["agent"]["agent_name"] == "Support"
    assert data["agent"]["agent_type"] == {"id": t.agent["agent_type"]["id"], "name": "QnA"}
    assert data["agent"]["access"] == "Only team" and data["agent"]["project"] == t.agent["project"]
    corpus = data["corpus"]
    assert corpus["id"] == t.corpus.id and corpus["name"] == "Handbook"
    assert corpus["indexing_mode"] == {"id": 1, "mode": "exhaustive"}
    assert corpus["owner"]["id"] == t.alice.id and corpus["owner"]["email"] == t.alice.email
    assert corpus["owner"]["organization"]["id"] == t.org.id
    default_corpus = live_links(db, agent_id)[0][0]
    assert live_links(db, agent_id) == [(default_corpus, True, True), (t.corpus.id, True, False)]

    again = t.alice.post(url(agent_id, t.corpus.id))
    assert_error(again, 409, "Agent corpus connection already exists.")
    assert len(live_links(db, agent_id)) == 2


def test_create_connection_checks_the_agent_and_the_corpus(t, world, db):
    agent_id = t.agent["id"]
    carol = world.user(t.org)  # same organisation, outside the team
    foreign = make_corpus(db, world.user(world.org()), is_public=True)
    private_of_bob = make_corpus(db, t.bob)
    deleted = make_corpus(db, t.alice)
    db.execute(update(Corpus).where(Corpus.id == deleted.id).values(is_deleted=True))
    db.commit()
    before = link_count(db)
    assert_error(t.alice.post(url(agent_id, 999999)), 404, "Corpus not found.")
    assert_error(t.alice.post(url(agent_id, foreign.id)), 404, "Corpus not found.")
    assert_error(t.alice.post(url(agent_id, private_of_bob.id)), 404, "Corpus not found.")
    assert_error(t.alice.post(url(agent_id, deleted.id)), 404, "Corpus not found.")
    assert_error(t.alice.post(url(999999, t.corpus.id)), 404, "Agent not found.")
    assert_error(t.bob.post(url(agent_id, t.corpus.id)), 403)  # sees the agent, may not edit it
    assert_error(carol.post(url(agent_id, t.corpus.id)), 404, "Agent not found.")
    assert_error(t.alice.post(url("abc", t.corpus.id)), 400)
    assert_error(t.alice.post(url(agent_id, "abc")), 400)
    assert_error(t.alice.post(url(agent_id, 10**20)), 400)
    assert_error(world.key_for(t.alice, "read_only").post(url(agent_id, t.corpus.id)), 403)
    assert_error(
        world.key_for(t.alice, "restricted", {"agents": "read"}).post(url(agent_id, t.corpus.id)), 403
    )
    assert link_count(db) == before

    # Corpora shared with the caller, or public ones, may be linked.
    public = make_corpus(db, t.bob, is_public=True)
    db.add(CorpusPermission(corpus_id=private_of_bob.id, user_id=t.alice.id, permission="read"))
    db.commit()
    assert t.alice.post(url(agent_id, public.id)).status_code == 201
    assert t.alice.post(url(agent_id, private_of_bob.id)).status_code == 201
    assert t.admin.post(url(agent_id, t.corpus.id)).json()["data"]["connected_by"] == t.admin.id


def test_get_and_list_connections(t, world, db):
    agent_id = t.agent["id"]
    assert t.alice.post(url(agent_id, t.corpus.id)).status_code == 201
    r = t.bob.get(url(agent_id, t.corpus.id))  # reading needs only sight of the agent
    assert r.status_code == 200 and r.json()["message"] == FETCHED
    assert r.json()["data"]["corpus"]["id"] == t.corpus.id and r.json()["data"]["agent"]["id"] == agent_id

    r = t.bob.get(url(agent_id))
    assert r.status_code == 200 and r.json()["message"] == FETCHED
    listed = r.json()["data"]
    assert isinstance(listed, list) and [c["corpus"]["name"] for c in listed] == [
        "Support_Default",
        "Handbook",
    ]
    assert [c["is_default"] for c in listed] == [True, False]

    assert_error(t.alice.get(url(agent_id, 999999)), 404, "Agent corpus connection not found.")
    assert_error(world.user(t.org).get(url(agent_id)), 404, "Agent not found.")
    assert_error(t.alice.get(url("x")), 400)
    # A corpus deleted elsewhere takes its connection with it.
    db.execute(update(Corpus).where(Corpus.id == t.corpus.id).values(is_deleted=True))
    db.commit()
    assert_error(t.alice.get(url(agent_id, t.corpus.id)), 404, "Agent corpus connection not found.")
    assert [c["corpus"]["name"] for c in t.alice.get(url(agent_id)).json()["data"]] == ["Support_Default"]


def test_edit_connection_enables_and_disables(t, db):
    agent_id = t.agent["id"]
    assert t.alice.post(url(agent_id, t.corpus.id)).status_code == 201
    r = t.alice.put(url(agent_id, t.corpus.id), json={"is_enabled": False})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Agent corpus connection updated successfully."
    data = r.json()["data"]
    assert (
        data["is_enabled"] is False
        and data["modified_by"] == t.alice.email
        and data["corpus"]["id"] == t.corpus.id
    )
    assert live_links(db, agent_id)[1] == (t.corpus.id, False, False)

    for body in ({}, {"is_enabled": "yes"}, {"is_enabled": None}, {"enabled": True}):
        assert_error(t.alice.put(url(agent_id, t.corpus.id), json=body), 400)
    assert_error(
        t.alice.put(url(agent_id, t.corpus.id), content="{", headers={"Content-Type": "application/json"}),
        400,
    )
    assert_error(t.bob.put(url(agent_id, t.corpus.id), json={"is_enabled": True}), 403)
    other = make_corpus(db, t.alice)
    assert_error(
        t.alice.put(url(agent_id, other.id), json={"is_enabled": True}),
        404,
        "Agent corpus connection not found.",
    )
    assert live_links(db, agent_id)[1] == (t.corpus.id, False, False)

    assert (
        t.alice.put(url(agent_id, t.corpus.id), json={"is_enabled": True}).json()["data"]["is_enabled"]
        is True
    )


def test_delete_connection_is_a_soft_delete_and_keeps_the_default(t, db):
    agent_id = t.agent["id"]
    first = t.alice.post(url(agent_id, t.corpus.id)).json()["data"]
    r = t.alice.delete(url(agent_id, t.corpus.id))
    assert r.status_code == 200 and r.json()["message"] == "Agent corpus connection deleted successfully."
    assert r.json()["data"]["id"] == first["id"] and r.json()["data"]["is_deleted"] is True
    db.rollback()
    assert db.get(AgentCorpus, first["id"]).is_deleted is True  # still there, marked deleted
    assert_error(t.alice.get(url(agent_id, t.corpus.id)), 404)
    assert_error(t.alice.delete(url(agent_id, t.corpus.id)), 404, "Agent corpus connection not found.")
    assert t.corpus.id not in [c["corpus"]["id"] for c in t.alice.get(url(agent_id)).json()["data"]]

    # Connecting again makes a new connection.
    second = t.alice.post(url(agent_id, t.corpus.id))
    assert second.status_code == 201 and second.json()["data"]["id"] != first["id"]

    default_corpus = live_links(db, agent_id)[0][0]
    assert_error(t.alice.delete(url(agent_id, default_corpus)), 400)
    assert_error(t.bob.delete(url(agent_id, t.corpus.id)), 403)
    assert_error(t.alice.delete(url("abc", t.corpus.id)), 400)
    assert live_links(db, agent_id) == [(default_corpus, True, True), (t.corpus.id, True, False)]


def test_delete_all_connections_keeps_the_default(t, db):
    agent_id = t.agent["id"]
    extra = make_corpus(db, t.alice)
    for corpus_id in (t.corpus.id, extra.id):
        assert t.alice.post(url(agent_id, corpus_id)).status_code == 201
    assert_error(t.bob.delete(url(agent_id)), 403)
    assert len(live_links(db, agent_id)) == 3

    r = t.alice.delete(url(agent_id))
    assert r.status_code == 200 and r.json()["message"] == "Agent corpus connections deleted successfully."
    removed = r.json()["data"]
    assert [c["corpus"]["id"] for c in removed] == [t.corpus.id, extra.id]
    assert all(c["is_deleted"] for c in removed)
    default_corpus = live_links(db, agent_id)[0][0]
    assert live_links(db, agent_id) == [(default_corpus, True, True)]
    assert t.alice.delete(url(agent_id)).json()["data"] == []
    assert_error(t.alice.delete(url(999999)), 404)


def test_other_organisations_and_scoped_keys(t, world, db):
    agent_id = t.agent["id"]
    assert t.alice.post(url(agent_id, t.corpus.id)).status_code == 201
    other_org = world.org()
    outsider = world.user(other_org, admin=True)
    project = world.project(world.team(other_org))
    before = live_links(db, agent_id)
    for method, path, kwargs in (
        ("POST", url(agent_id, t.corpus.id), {}),
        ("GET", url(agent_id, t.corpus.id), {}),
        ("PUT", url(agent_id, t.corpus.id), {"json": {"is_enabled": False}}),
        ("DELETE", url(agent_id, t.corpus.id), {}),
        ("GET", url(agent_id), {}),
        ("DELETE", url(agent_id), {}),
    ):
        assert_error(outsider.request(method, path, **kwargs), 404)
    # Their own agent cannot be linked to our corpus either.
    own = outsider.post("/v2/api/agent", json={"name": "Theirs", "project_id": project.id}).json()["data"]
    assert_error(outsider.post(url(own["id"], t.corpus.id)), 404, "Corpus not found.")
    assert [c["agent"]["id"] for c in outsider.get(url(own["id"])).json()["data"]] == [own["id"]]
    assert live_links(db, agent_id) == before

    read_only = world.key_for(t.alice, "read_only")
    assert read_only.get(url(agent_id)).status_code == 200
    assert read_only.get(url(agent_id, t.corpus.id)).status_code == 200
    reader = world.key_for(t.alice, "restricted", {"agents": "read"})
    assert reader.get(url(agent_id)).status_code == 200
    for key in (read_only, reader):
        assert_error(key.put(url(agent_id, t.corpus.id), json={"is_enabled": False}), 403)
        assert_error(key.delete(url(agent_id, t.corpus.id)), 403)
        assert_error(key.delete(url(agent_id)), 403)
    assert_error(world.key_for(t.alice, "restricted", {"corpora": "write"}).get(url(agent_id)), 403)
    assert live_links(db, agent_id) == before
