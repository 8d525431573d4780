"""Ejento V2 Corpus group: create, list, get, edit, delete, and corpus permissions."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, Team
from parley.corpora.models import AgentCorpus, Corpus, CorpusPermission
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    TIMESTAMP,
    assert_error,
    count,
    fresh,
    make_agent,
    make_corpus,
    succeeded,
)

GRANT_KEYS = {"id", "corpus", "user", "team", "permission", "created_by", "created_on"}


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    owner: Actor
    alice: Actor
    bob: Actor
    corpus: Corpus  # private, owned by ``owner``


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org("Acme")
    admin, owner, alice, bob = world.user(org, admin=True), world.user(org), world.user(org), world.user(org)
    return Tenant(org, admin, owner, alice, bob, make_corpus(db, owner, name="Handbook"))


def grant(actor: Actor, corpus_id: int, **body: object) -> dict:
    r = actor.post(f"/v2/api/corpus/{corpus_id}/permission", json=body)
    assert r.status_code == 201, r.text
    return r.json()["data"]


def listed(actor: Actor, **params: object) -> list[int]:
    r = actor.get("/v2/api/corpus", params=params)
    assert r.status_code == 200, r.text
    return [c["id"] for c in r.json()["data"]["corpora"]]


# -- Create Corpus -----------------------------------------------------------------------------------


def test_create_corpus_returns_the_documented_corpus_in_the_envelope(t, db):
    r = t.alice.post("/v2/api/corpus", json={"name": "  Policies ", "description": "HR policies"})
    data = succeeded(r, 201, "Corpus created successfully.")
    # Every field of the Ejento "Create Corpus" example, plus Parley's type and tags.
    assert isinstance(data["id"], int)
    assert data["indexing_mode"] == {"id": 1, "mode": "exhaustive"}
    assert data["created_by"] == t.alice.email
    assert TIMESTAMP.match(data["created_on"]) and TIMESTAMP.match(data["modified_on"])
    assert data["modified_by"] == ""
    assert data["name"] == "Policies" and data["description"] == "HR policies"
    assert data["is_public"] is False and data["is_deleted"] is False
    assert data["owner"] == t.alice.id and data["org"] == t.org.id
    assert data["type"] == "document" and data["tags"] == []
    fresh(db)
    stored = db.get(Corpus, data["id"])
    assert (stored.owner_id, stored.org_id, stored.name, stored.corpus_type) == (
        t.alice.id,
        t.org.id,
        "Policies",
        "document",
    )

    r = t.alice.post(
        "/v2/api/corpus",
        json={"name": "Uploads", "type": "attachment", "is_public": True, "tags": [" hr ", "hr", "legal"]},
    )
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    assert (data["type"], data["is_public"], data["tags"], data["description"]) == (
        "attachment",
        True,
        ["hr", "legal"],
        "",
    )


def test_create_corpus_rejects_bad_input_and_duplicate_names(t, other, db):
    before = count(db, Corpus)
    for body in (
        {},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 256},
        {"name": "Ok", "type": "video"},
        {"name": "Ok", "tags": "hr"},
        {"name": "Ok", "tags": [""]},
        {"name": "Ok", "is_public": "maybe"},
        {"name": None},
    ):
        assert_error(t.owner.post("/v2/api/corpus", json=body), 400)
    assert_error(
        t.owner.post("/v2/api/corpus", content=b"{", headers={"Content-Type": "application/json"}), 400
    )
    # Names are unique per owner, ignoring case.
    dup = assert_error(t.owner.post("/v2/api/corpus", json={"name": "handbook"}), 409)
    assert dup["message"] == "A corpus with this name already exists."
    assert count(db, Corpus) == before

    assert t.alice.post("/v2/api/corpus", json={"name": "Handbook"}).status_code == 201
    assert other.post("/v2/api/corpus", json={"name": "Handbook"}).status_code == 201
    assert t.owner.delete(f"/v2/api/corpus/{t.corpus.id}").status_code == 200
    assert t.owner.post("/v2/api/corpus", json={"name": "Handbook"}).status_code == 201


# -- Get All Corpus / Get Corpus ------------------------------------------------------------------------


def test_get_all_corpus_lists_visible_corpora_only(world, t, other, db):
    public = make_corpus(db, t.bob, name="Public FAQ", is_public=True)
    private = make_corpus(db, t.bob, name="Bob private")
    uploads = make_corpus(db, t.owner, name="Chat uploads", corpus_type="attachment")
    deleted = make_corpus(db, t.owner, name="Old stuff")
    db.execute(update(Corpus).where(Corpus.id == deleted.id).values(is_deleted=True))
    db.commit()
    foreign = make_corpus(db, other, name="Foreign public", is_public=True)

    r = t.owner.get("/v2/api/corpus")
    data = r.json()["data"]
    assert r.json()["message"] == "Corpora fetched successfully."
    assert (data["count"], data["num_pages"], data["current_page"]) == (3, 1, 1)
    assert [c["id"] for c in data["corpora"]] == [uploads.id, public.id, t.corpus.id]  # newest first
    assert data["corpora"][2]["name"] == "Handbook" and data["corpora"][2]["owner"] == t.owner.id
    assert listed(t.admin) == [uploads.id, private.id, public.id, t.corpus.id]
    assert listed(t.alice) == [public.id]
    assert listed(other) == [foreign.id]

    assert listed(t.owner, type="attachment") == [uploads.id]
    assert listed(t.owner, type="document") == [public.id, t.corpus.id]
    assert listed(t.owner, query="faq") == [public.id]
    assert listed(t.owner, query="foreign") == []
    page = t.owner.get("/v2/api/corpus", params={"page": 2, "items_per_page": 2}).json()["data"]
    assert (page["count"], page["num_pages"], [c["id"] for c in page["corpora"]]) == (3, 2, [t.corpus.id])
    assert listed(t.owner, page=50) == []
    for params in ({"type": "video"}, {"items_per_page": 0}, {"page": -1}):
        assert_error(t.owner.get("/v2/api/corpus", params=params), 400)


def test_get_corpus_follows_visibility(t, other, db):
    r = t.owner.get(f"/v2/api/corpus/{t.corpus.id}")
    assert r.status_code == 200 and r.json()["message"] == "Corpus fetched successfully."
    data = r.json()["data"]
    assert (data["id"], data["name"], data["owner"], data["org"]) == (
        t.corpus.id,
        "Handbook",
        t.owner.id,
        t.org.id,
    )
    assert t.admin.get(f"/v2/api/corpus/{t.corpus.id}").status_code == 200
    assert_error(t.alice.get(f"/v2/api/corpus/{t.corpus.id}"), 404, "Corpus not found.")

    public = make_corpus(db, t.owner, name="Public", is_public=True)
    assert t.alice.get(f"/v2/api/corpus/{public.id}").status_code == 200
    assert_error(other.get(f"/v2/api/corpus/{public.id}"), 404)
    assert_error(t.owner.get("/v2/api/corpus/999999"), 404)
    for malformed in ("first", "0", "-3", "99999999999999999999", "1.5"):
        assert_error(t.owner.get(f"/v2/api/corpus/{malformed}"), 400)
    assert_error(t.owner.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/99999999999999999999"), 400)
    db.execute(update(Corpus).where(Corpus.id == public.id).values(is_deleted=True))
    db.commit()
    assert_error(t.alice.get(f"/v2/api/corpus/{public.id}"), 404)


# -- Edit Corpus ------------------------------------------------------------------------------------------


def test_owner_edits_only_the_fields_sent(t, db):
    make_corpus(db, t.owner, name="Taken")
    r = t.owner.put(f"/v2/api/corpus/{t.corpus.id}", json={"description": "Rules", "tags": ["a", "a", "b"]})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["message"] == "Corpus updated successfully."
    assert (data["name"], data["description"], data["tags"], data["is_public"]) == (
        "Handbook",
        "Rules",
        ["a", "b"],
        False,
    )
    assert data["modified_by"] == t.owner.email and data["created_by"] == t.owner.email

    r = t.owner.put(f"/v2/api/corpus/{t.corpus.id}", json={"name": "HANDBOOK", "is_public": True})
    assert r.status_code == 200 and (r.json()["data"]["name"], r.json()["data"]["is_public"]) == (
        "HANDBOOK",
        True,
    )

    assert_error(
        t.owner.put(f"/v2/api/corpus/{t.corpus.id}", json={"name": "taken"}),
        409,
        "A corpus with this name already exists.",
    )
    for body in (
        {"name": None},
        {"name": " "},
        {"tags": None},
        {"is_public": "sometimes"},
        {"description": 5},
    ):
        assert_error(t.owner.put(f"/v2/api/corpus/{t.corpus.id}", json=body), 400)
    fresh(db)
    stored = db.get(Corpus, t.corpus.id)
    assert (stored.name, stored.description, stored.tags, stored.is_public) == (
        "HANDBOOK",
        "Rules",
        ["a", "b"],
        True,
    )


def test_edit_needs_write_and_is_public_needs_the_owner(t, db):
    grant(t.owner, t.corpus.id, user_id=t.alice.id, permission="read")
    grant(t.owner, t.corpus.id, user_id=t.bob.id, permission="write")
    path = f"/v2/api/corpus/{t.corpus.id}"
    assert_error(
        t.alice.put(path, json={"name": "Mine"}), 403, "You do not have permission to edit this corpus."
    )
    assert_error(t.bob.put(path, json={"name": "Shared", "is_public": True}), 403)
    r = t.bob.put(path, json={"name": "Shared"})
    assert r.status_code == 200 and r.json()["data"]["modified_by"] == t.bob.email
    assert t.admin.put(path, json={"is_public": True}).json()["data"]["is_public"] is True
    fresh(db)
    stored = db.get(Corpus, t.corpus.id)
    assert (stored.name, stored.is_public, stored.modified_by) == ("Shared", True, t.admin.email)


# -- Delete Corpus ----------------------------------------------------------------------------------------


def test_delete_corpus_soft_deletes_it_and_its_agent_connections(world, t, db):
    project = world.project(world.team(t.org))
    agent = make_agent(db, t.owner, project)
    link = AgentCorpus(
        org_id=t.org.id,
        agent_id=agent.id,
        corpus_id=t.corpus.id,
        connected_by=t.owner.id,
        created_by=t.owner.email,
    )
    db.add(link)
    db.commit()
    grant(t.owner, t.corpus.id, user_id=t.bob.id, permission="write")

    assert assert_error(t.bob.delete(f"/v2/api/corpus/{t.corpus.id}"), 403)["message"].startswith(
        "Only the owner"
    )
    assert_error(t.alice.delete(f"/v2/api/corpus/{t.corpus.id}"), 404)
    assert count(db, Corpus, Corpus.is_deleted.is_(True)) == 0

    r = t.owner.delete(f"/v2/api/corpus/{t.corpus.id}")
    assert r.status_code == 200 and r.json()["message"] == "Corpus deleted successfully."
    assert r.json()["data"]["is_deleted"] is True and r.json()["data"]["modified_by"] == t.owner.email
    fresh(db)
    assert db.get(Corpus, t.corpus.id).is_deleted is True
    assert (db.get(AgentCorpus, link.id).is_deleted, db.get(AgentCorpus, link.id).modified_by) == (
        True,
        t.owner.email,
    )
    assert_error(t.owner.get(f"/v2/api/corpus/{t.corpus.id}"), 404)
    assert_error(t.owner.delete(f"/v2/api/corpus/{t.corpus.id}"), 404)
    assert t.corpus.id not in listed(t.owner) and t.corpus.id not in listed(t.bob)

    bobs = make_corpus(db, t.bob, name="Bob's")
    assert t.admin.delete(f"/v2/api/corpus/{bobs.id}").status_code == 200
    assert_error(t.admin.delete("/v2/api/corpus/999999"), 404)


# -- Get All Agents By Corpus ---------------------------------------------------------------------------


def _link(db: Session, t: Tenant, agent_id: int, *, deleted: bool = False) -> None:
    db.add(
        AgentCorpus(
            org_id=t.org.id,
            agent_id=agent_id,
            corpus_id=t.corpus.id,
            connected_by=t.owner.id,
            created_by=t.owner.email,
            is_deleted=deleted,
        )
    )
    db.commit()


def test_agents_by_corpus_lists_the_visible_agents_linked_to_it(world, t, other, db):
    message = "Corpus agents fetched successfully."
    project = world.project(world.team(t.org, {t.owner: "Owner"}))
    public = make_agent(db, t.owner, project, name="Public desk", access="Public")
    private = make_agent(db, t.owner, project, name="Private desk", access="Only me")
    unlinked = make_agent(db, t.owner, project, name="Elsewhere", access="Public")
    gone = make_agent(db, t.owner, project, name="Unlinked", access="Public")
    for agent in (public, private):
        _link(db, t, agent.id)
    _link(db, t, gone.id, deleted=True)
    path = f"/v2/api/corpus/{t.corpus.id}/agent"

    data = succeeded(t.owner.get(path), 200, message)
    assert (data["count"], data["current_page"]) == (2, 1)
    assert [a["id"] for a in data["agents"]] == [private.id, public.id]  # newest first
    assert data["agents"][1]["agent_name"] == "Public desk" and unlinked.id not in [
        a["id"] for a in data["agents"]
    ]
    page = succeeded(t.owner.get(path, params={"page": 2, "items_per_page": 1}), 200, message)
    assert [a["id"] for a in page["agents"]] == [public.id] and page["num_pages"] == 2

    # Someone who may see the corpus sees only the agents they may see.
    grant(t.owner, t.corpus.id, user_id=t.alice.id, permission="read")
    assert [a["id"] for a in succeeded(t.alice.get(path), 200, message)["agents"]] == [public.id]
    # The corpus itself must be visible: to others it does not exist.
    assert assert_error(t.bob.get(path), 404)["message"] == "Corpus not found."
    assert assert_error(other.get(path), 404)["message"] == "Corpus not found."
    assert_error(t.owner.get("/v2/api/corpus/999999/agent"), 404)
    assert_error(t.owner.get("/v2/api/corpus/abc/agent"), 400)
    assert_error(t.owner.get(path, params={"items_per_page": 0}), 400)


# -- corpus permissions ---------------------------------------------------------------------------------


def test_grants_share_the_corpus_with_users_and_team_members(world, t, db):
    carol = world.user(t.org)
    team = world.team(t.org, {t.owner: "Owner", carol: "Member"}, name="Legal")
    path = f"/v2/api/corpus/{t.corpus.id}"
    assert_error(t.alice.get(path), 404)

    r = t.owner.post(f"{path}/permission", json={"user_id": t.alice.id, "permission": "read"})
    assert r.status_code == 201 and r.json()["message"] == "Corpus permission granted successfully."
    row = r.json()["data"]
    assert set(row) == GRANT_KEYS
    assert (row["corpus"], row["team"], row["permission"], row["created_by"]) == (
        t.corpus.id,
        None,
        "read",
        t.owner.email,
    )
    assert row["user"] == {
        "id": t.alice.id,
        "email": t.alice.email,
        "first_name": t.alice.user.first_name,
        "last_name": t.alice.user.last_name,
        "organization": t.org.id,
    }
    assert TIMESTAMP.match(row["created_on"])
    # Read: visible and listed, not editable.
    assert t.alice.get(path).status_code == 200 and t.corpus.id in listed(t.alice)
    assert_error(t.alice.put(path, json={"description": "x"}), 403)
    assert_error(t.alice.get(f"{path}/permission"), 403)

    bob_write = grant(t.owner, t.corpus.id, user_id=t.bob.id, permission="write")
    assert t.bob.put(path, json={"description": "edited by bob"}).status_code == 200

    team_grant = grant(t.owner, t.corpus.id, team_id=team.id, permission="write")
    assert team_grant["team"] == {"id": team.id, "team_name": "Legal"} and team_grant["user"] is None
    assert carol.get(path).status_code == 200
    assert carol.put(path, json={"tags": ["legal"]}).status_code == 200

    for reader in (t.owner, t.bob, t.admin):
        r = reader.get(f"{path}/permission")
        assert r.status_code == 200 and r.json()["message"] == "Corpus permissions fetched successfully."
        assert [g["id"] for g in r.json()["data"]] == [row["id"], bob_write["id"], team_grant["id"]]
        assert all(set(g) == GRANT_KEYS for g in r.json()["data"])

    r = t.owner.delete(f"{path}/permission/{row['id']}")
    assert r.status_code == 200 and r.json()["message"] == "Corpus permission revoked successfully."
    assert r.json()["data"]["id"] == row["id"]
    assert_error(t.alice.get(path), 404)
    assert t.corpus.id not in listed(t.alice)
    assert t.admin.delete(f"{path}/permission/{team_grant['id']}").status_code == 200
    assert_error(carol.get(path), 404)
    assert count(db, CorpusPermission) == 1


def test_grant_and_revoke_reject_bad_input_and_write_nothing(world, t, other, db):
    team_without_owner = world.team(t.org)
    foreign_team = world.team(db.get(Organization, other.org_id))
    deleted_team = world.team(t.org, {t.owner: "Member"})
    db.execute(update(Team).where(Team.id == deleted_team.id).values(is_deleted=True))
    db.commit()
    existing = grant(t.owner, t.corpus.id, user_id=t.bob.id, permission="write")
    path = f"/v2/api/corpus/{t.corpus.id}/permission"

    for body, status in (
        ({"user_id": t.alice.id, "team_id": team_without_owner.id, "permission": "read"}, 400),
        ({"permission": "read"}, 400),
        ({"user_id": t.alice.id, "permission": "admin"}, 400),
        ({"user_id": t.alice.id}, 400),
        ({"user_id": "alice", "permission": "read"}, 400),
        ({"user_id": 99999999999999999999, "permission": "read"}, 400),
        ({"team_id": 0, "permission": "read"}, 400),
        ({"user_id": t.owner.id, "permission": "read"}, 400),
        ({"user_id": 999999, "permission": "read"}, 404),
        ({"user_id": other.id, "permission": "read"}, 404),
        ({"team_id": foreign_team.id, "permission": "read"}, 404),
        ({"team_id": team_without_owner.id, "permission": "read"}, 404),
        ({"team_id": deleted_team.id, "permission": "read"}, 404),
        ({"user_id": t.bob.id, "permission": "read"}, 409),
    ):
        assert_error(t.owner.post(path, json=body), status)
    assert_error(
        t.owner.post(path, json={"permission": "read"}), 400, "Provide exactly one of user_id or team_id."
    )
    assert_error(t.owner.post(path, json={"user_id": other.id, "permission": "read"}), 404, "User not found.")
    # A writer may edit but not share; revoking needs the owner too.
    assert_error(t.bob.post(path, json={"user_id": t.alice.id, "permission": "read"}), 403)
    assert_error(t.bob.delete(f"{path}/{existing['id']}"), 403)
    other_corpus = make_corpus(db, t.owner, name="Second")
    assert_error(t.owner.delete(f"/v2/api/corpus/{other_corpus.id}/permission/{existing['id']}"), 404)
    assert_error(t.owner.delete(f"{path}/999999"), 404)
    assert_error(t.owner.delete(f"{path}/abc"), 400)
    # An admin may share with any team of the organisation.
    assert grant(t.admin, t.corpus.id, team_id=team_without_owner.id, permission="read")["team"]["id"] == (
        team_without_owner.id
    )
    fresh(db)
    rows = db.execute(
        select(CorpusPermission.user_id, CorpusPermission.team_id, CorpusPermission.permission)
    ).all()
    assert sorted(rows, key=str) == sorted(
        [(t.bob.id, None, "write"), (None, team_without_owner.id, "read")], key=str
    )


def test_corpus_permission_by_user_explains_the_effective_level(world, t, other, db):
    carol, dave = world.user(t.org), world.user(t.org)
    team = world.team(t.org, {t.owner: "Member", carol: "Member"}, name="Legal")
    grant(t.owner, t.corpus.id, user_id=t.alice.id, permission="read")
    grant(t.owner, t.corpus.id, team_id=team.id, permission="write")
    grant(t.owner, t.corpus.id, user_id=carol.id, permission="read")

    def level(asker: Actor, user: Actor, corpus_id: int = t.corpus.id) -> tuple[str, str]:
        r = asker.get(f"/v2/api/corpus/{corpus_id}/permission/user/{user.id}")
        assert r.status_code == 200, r.text
        data = r.json()["data"]
        assert r.json()["message"] == "Corpus permission fetched successfully."
        assert (
            data["corpus"] == corpus_id
            and data["user"]["id"] == user.id
            and data["user"]["email"] == user.email
        )
        return data["permission"], data["reason"]

    assert level(t.owner, t.owner) == ("owner", "Owner of the corpus.")
    assert level(t.owner, t.admin)[0] == "owner"
    assert level(t.owner, t.alice) == ("read", "Granted read to the user.")
    assert level(t.owner, carol) == ("write", "Granted write through the team 'Legal'.")
    assert level(t.owner, dave) == ("none", "The corpus is not shared with this user.")
    assert level(t.alice, t.alice)[0] == "read"  # anyone may ask about themselves
    assert level(carol, dave)[0] == "none"  # writers may ask about anyone
    assert_error(t.alice.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/{carol.id}"), 403)
    assert_error(dave.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/{dave.id}"), 404)  # cannot see it

    public = make_corpus(db, t.bob, name="Public", is_public=True)
    assert level(dave, dave, public.id) == ("read", "The corpus is public.")
    assert_error(
        t.owner.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/{other.id}"), 404, "User not found."
    )
    assert_error(t.owner.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/x"), 400)


# -- isolation and API key scopes ----------------------------------------------------------------------


def test_another_organisation_gets_404_for_every_corpus_id(t, other, db):
    db.execute(update(Corpus).where(Corpus.id == t.corpus.id).values(is_public=True))
    db.commit()
    existing = grant(t.owner, t.corpus.id, user_id=t.alice.id, permission="write")
    base = f"/v2/api/corpus/{t.corpus.id}"
    for method, path, body in (
        ("GET", base, None),
        ("PUT", base, {"name": "Pwned"}),
        ("DELETE", base, None),
        ("GET", f"{base}/permission", None),
        ("POST", f"{base}/permission", {"user_id": other.id, "permission": "write"}),
        ("GET", f"{base}/permission/user/{t.alice.id}", None),
        ("GET", f"{base}/permission/user/{other.id}", None),
        ("DELETE", f"{base}/permission/{existing['id']}", None),
    ):
        out = assert_error(other.request(method, path, json=body), 404)
        assert out["message"] == "Corpus not found." and out["data"] is None
    assert t.corpus.id not in listed(other) and t.corpus.id not in listed(other, query="Handbook")
    fresh(db)
    stored = db.get(Corpus, t.corpus.id)
    assert (stored.name, stored.is_deleted) == ("Handbook", False)
    assert count(db, CorpusPermission) == 1


def test_api_key_scopes_limit_the_corpus_group(world, t, db):
    read_only = world.key_for(t.owner, "read_only")
    assert t.corpus.id in listed(read_only)
    assert read_only.get(f"/v2/api/corpus/{t.corpus.id}").status_code == 200
    assert read_only.get(f"/v2/api/corpus/{t.corpus.id}/permission").status_code == 200
    assert read_only.get(f"/v2/api/corpus/{t.corpus.id}/permission/user/{t.owner.id}").status_code == 200
    for method, path, body in (
        ("POST", "/v2/api/corpus", {"name": "Read only"}),
        ("PUT", f"/v2/api/corpus/{t.corpus.id}", {"name": "Renamed"}),
        ("DELETE", f"/v2/api/corpus/{t.corpus.id}", None),
        ("POST", f"/v2/api/corpus/{t.corpus.id}/permission", {"user_id": t.alice.id, "permission": "read"}),
    ):
        assert_error(
            read_only.request(method, path, json=body),
            403,
            "This API key is not allowed to write to corpora.",
        )

    corpora_read = world.key_for(t.owner, "restricted", {"corpora": "read"})
    assert corpora_read.get(f"/v2/api/corpus/{t.corpus.id}").status_code == 200
    assert_error(corpora_read.post("/v2/api/corpus", json={"name": "Restricted"}), 403)

    users_only = world.key_for(t.owner, "restricted", {"users": "write"})
    assert_error(users_only.get("/v2/api/corpus"), 403, "This API key is not allowed to read corpora.")
    assert_error(users_only.get(f"/v2/api/corpus/{t.corpus.id}"), 403)

    fresh(db)
    stored = db.get(Corpus, t.corpus.id)
    assert (stored.name, stored.is_deleted) == ("Handbook", False)
    assert count(db, Corpus) == 1 and count(db, CorpusPermission) == 0
