"""Ejento V2 User group: users of an organisation and their capability permissions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select, update

from parley.access.capabilities import CAPABILITIES
from parley.accounts.models import ApiKey, AuthToken, Organization, TeamMember, User, UserPermission
from parley.corpora.models import Corpus
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import AUDIT_KEYS, TIMESTAMP, assert_error, count, fresh, succeeded

USER_KEYS = {
    "id",
    "email",
    "first_name",
    "last_name",
    "organization",
    "is_superuser",
    "is_active",
    "last_login",
    *AUDIT_KEYS,
}


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    alice: Actor
    bob: Actor


@pytest.fixture
def t(world: World) -> Tenant:
    org = world.org("Acme")
    return Tenant(org, world.user(org, admin=True), world.user(org), world.user(org))


def login(client, email: str, password: str):  # type: ignore[no-untyped-def]
    return client.post("/v2/api/auth/login", json={"email": email, "password": password})


# -- Create User In Organization ---------------------------------------------------------------


def test_admin_creates_a_user_in_the_organisation(world, t, client, db):
    team = world.team(t.org, {t.alice: "Owner"})
    r = t.admin.post(
        "/v2/api/user",
        json={
            "email": " New.Person@Example.com ",
            "first_name": "New",
            "last_name": "Person",
            "password": "long-enough-pw",
            "team_ids": [team.id, team.id],
        },
    )
    data = succeeded(r, 201, "User created successfully.")
    assert set(data) == USER_KEYS
    assert data["email"] == "new.person@example.com"
    assert (data["first_name"], data["last_name"]) == ("New", "Person")
    assert data["organization"] == {"id": t.org.id, "org_name": "Acme"}
    assert data["is_superuser"] is False and data["is_active"] is True and data["is_deleted"] is False
    assert data["last_login"] is None
    assert data["created_by"] == t.admin.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and TIMESTAMP.match(data["modified_on"])
    assert "password" not in r.text and "argon2" not in r.text

    fresh(db)
    stored = db.get(User, data["id"])
    assert stored.password_hash.startswith("$argon2") and stored.org_id == t.org.id
    roles = db.execute(
        select(TeamMember.team_id, TeamMember.role).where(TeamMember.user_id == data["id"])
    ).all()
    assert roles == [(team.id, "Member")]
    assert login(client, "new.person@example.com", "long-enough-pw").status_code == 200


def test_user_created_without_password_cannot_log_in(t, client, db):
    r = t.admin.post(
        "/v2/api/user", json={"email": "nopw@example.com", "first_name": "No", "is_superuser": True}
    )
    assert r.status_code == 201, r.text
    assert r.json()["data"]["is_superuser"] is True and r.json()["data"]["last_name"] == ""
    assert db.scalar(select(User.password_hash).where(User.email == "nopw@example.com")) is None
    assert login(client, "nopw@example.com", "anything-at-all").status_code == 401


def test_create_user_rejects_bad_input_and_writes_nothing(world, t, other, db):
    foreign_team = world.team(db.get(Organization, other.org_id))
    before = count(db, User)
    ok_body = {"email": "fresh@example.com", "first_name": "Fresh"}
    for body in (
        {**ok_body, "email": "not-an-email"},
        {**ok_body, "email": ""},
        {**ok_body, "password": "short"},
        {**ok_body, "first_name": "   "},
        {"email": "fresh@example.com"},
        {**ok_body, "team_ids": ["x"]},
        {**ok_body, "is_superuser": "maybe"},
    ):
        assert_error(t.admin.post("/v2/api/user", json=body), 400)
    assert_error(
        t.admin.post("/v2/api/user", content=b"{not json", headers={"Content-Type": "application/json"}), 400
    )
    # A team of another organisation is unknown here.
    assert_error(
        t.admin.post("/v2/api/user", json={**ok_body, "team_ids": [foreign_team.id]}), 404, "Team not found."
    )
    # Emails are unique across organisations.
    for email in (t.alice.email, other.email.upper()):
        body = assert_error(t.admin.post("/v2/api/user", json={**ok_body, "email": email}), 409)
        assert body["message"] == "A user with this email already exists."
    assert assert_error(t.alice.post("/v2/api/user", json=ok_body), 403)["message"].startswith(
        "Only organization admin"
    )
    assert count(db, User) == before
    assert (
        db.scalar(select(func.count()).select_from(TeamMember).where(TeamMember.team_id == foreign_team.id))
        == 0
    )


# -- Get All Users By Organization / Get User ------------------------------------------------------


def test_get_all_users_is_org_scoped_paginated_and_searchable(world, t, other, db):
    world.user(db.get(Organization, other.org_id), email="zed-match@other.example.com")
    r = t.alice.get("/v2/api/user")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["message"] == "Users fetched successfully."
    assert (data["count"], data["num_pages"], data["current_page"]) == (3, 1, 1)
    assert [u["id"] for u in data["users"]] == [t.admin.id, t.alice.id, t.bob.id]
    assert all(set(u) == USER_KEYS for u in data["users"])
    assert data["users"][0]["organization"] == {"id": t.org.id, "org_name": "Acme"}

    page2 = t.alice.get("/v2/api/user", params={"page": 2, "items_per_page": 2}).json()["data"]
    assert (page2["count"], page2["num_pages"], page2["current_page"]) == (3, 2, 2)
    assert [u["id"] for u in page2["users"]] == [t.bob.id]
    assert t.alice.get("/v2/api/user", params={"page": 999}).json()["data"]["users"] == []

    found = t.alice.get("/v2/api/user", params={"query": t.bob.user.first_name.upper()}).json()["data"]
    assert [u["id"] for u in found["users"]] == [t.bob.id]
    assert t.alice.get("/v2/api/user", params={"query": "zed-match"}).json()["data"]["count"] == 0
    assert t.alice.get("/v2/api/user", params={"query": "%"}).json()["data"]["count"] == 0

    db.execute(update(User).where(User.id == t.bob.id).values(is_deleted=True))
    db.commit()
    assert [u["id"] for u in t.alice.get("/v2/api/user").json()["data"]["users"]] == [t.admin.id, t.alice.id]
    other_ids = [u["id"] for u in other.get("/v2/api/user").json()["data"]["users"]]
    assert t.alice.id not in other_ids and other.id in other_ids

    for params in ({"items_per_page": 0}, {"page": 0}, {"page": "x"}):
        assert_error(t.alice.get("/v2/api/user", params=params), 400)


def test_get_user_answers_for_the_same_organisation_only(t, other, db):
    r = t.alice.get(f"/v2/api/user/{t.bob.id}")
    assert r.status_code == 200 and r.json()["message"] == "User fetched successfully."
    data = r.json()["data"]
    assert data["id"] == t.bob.id and data["email"] == t.bob.email and data["created_by"] == "tests"
    assert set(data) == USER_KEYS
    assert_error(other.get(f"/v2/api/user/{t.bob.id}"), 404, "User not found.")
    assert_error(t.alice.get("/v2/api/user/999999"), 404)
    for malformed in ("abc", "0", "99999999999999999999"):
        assert_error(t.alice.get(f"/v2/api/user/{malformed}"), 400)
        assert_error(t.alice.get(f"/v2/api/user/{malformed}/permission"), 400)
    db.execute(update(User).where(User.id == t.bob.id).values(is_deleted=True))
    db.commit()
    assert_error(t.alice.get(f"/v2/api/user/{t.bob.id}"), 404)


# -- Edit User --------------------------------------------------------------------------------------


def test_users_edit_their_own_name_and_password(t, client, world):
    r = t.alice.put(f"/v2/api/user/{t.alice.id}", json={"first_name": " Alicia ", "last_name": "Liddell"})
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["message"] == "User updated successfully."
    assert (data["first_name"], data["last_name"], data["modified_by"]) == (
        "Alicia",
        "Liddell",
        t.alice.email,
    )

    token = login(client, t.alice.email, "correct horse battery").json()["data"]["access_token"]
    path = f"/v2/api/user/{t.alice.id}"
    assert_error(t.alice.put(path, json={"password": "brand-new-pass"}), 400)
    wrong = assert_error(
        t.alice.put(path, json={"password": "brand-new-pass", "current_password": "nope"}), 400
    )
    assert wrong["message"] == "The current password is incorrect."
    assert login(client, t.alice.email, "brand-new-pass").status_code == 401
    r = t.alice.put(path, json={"password": "brand-new-pass", "current_password": "correct horse battery"})
    assert r.status_code == 200
    assert login(client, t.alice.email, "brand-new-pass").status_code == 200
    # The login session opened with the old password has ended; the API key still works.
    assert client.get("/v2/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert t.alice.get("/v2/api/auth/me").status_code == 200


def test_non_admins_cannot_edit_others_or_their_role(t, db):
    alice_name, bob_name = t.alice.user.first_name, t.bob.user.first_name
    assert_error(t.alice.put(f"/v2/api/user/{t.bob.id}", json={"first_name": "Hacked"}), 403)
    for body in ({"is_superuser": True}, {"is_active": False}, {"first_name": "Ok", "is_superuser": True}):
        assert_error(t.alice.put(f"/v2/api/user/{t.alice.id}", json=body), 403)
    for body in ({"first_name": None}, {"first_name": ""}, {"password": "short"}, {"is_active": "sometimes"}):
        assert_error(t.alice.put(f"/v2/api/user/{t.alice.id}", json=body), 400)
    fresh(db)
    bob, alice = db.get(User, t.bob.id), db.get(User, t.alice.id)
    assert bob.first_name == bob_name
    assert (alice.first_name, alice.is_superuser, alice.is_active) == (alice_name, False, True)


def test_admin_edits_others_sets_passwords_and_roles(t, client, db):
    r = t.admin.put(f"/v2/api/user/{t.bob.id}", json={"password": "admin-chosen", "is_superuser": True})
    assert r.status_code == 200, r.text
    assert r.json()["data"]["is_superuser"] is True and r.json()["data"]["modified_by"] == t.admin.email
    assert login(client, t.bob.email, "admin-chosen").status_code == 200

    assert (
        t.admin.put(f"/v2/api/user/{t.alice.id}", json={"is_active": False}).json()["data"]["is_active"]
        is False
    )
    assert t.alice.get("/v2/api/auth/me").status_code == 401  # a deactivated user's key stops working
    assert t.admin.put(f"/v2/api/user/{t.alice.id}", json={"is_active": True}).status_code == 200
    assert t.alice.get("/v2/api/auth/me").status_code == 200

    assert_error(t.admin.put(f"/v2/api/user/{t.admin.id}", json={"is_active": False}), 400)
    # Bob is an admin too now, so the first admin may step down.
    assert t.admin.put(f"/v2/api/user/{t.admin.id}", json={"is_superuser": False}).status_code == 200
    last = assert_error(t.bob.put(f"/v2/api/user/{t.bob.id}", json={"is_superuser": False}), 400)
    assert "last administrator" in last["message"]
    fresh(db)
    assert db.get(User, t.bob.id).is_superuser is True


# -- Delete User / Batch Delete Users ---------------------------------------------------------------


def test_delete_user_soft_deletes_and_revokes_credentials(t, client, db):
    token = login(client, t.bob.email, "correct horse battery").json()["data"]["access_token"]
    r = t.admin.delete(f"/v2/api/user/{t.bob.id}")
    assert r.status_code == 200, r.text
    data = r.json()["data"]
    assert r.json()["message"] == "User deleted successfully."
    assert (data["id"], data["is_deleted"], data["is_active"], data["modified_by"]) == (
        t.bob.id,
        True,
        False,
        t.admin.email,
    )
    fresh(db)
    assert db.get(User, t.bob.id) is not None  # soft delete
    assert all(
        k.revoked_on is not None and not k.is_active
        for k in db.scalars(select(ApiKey).where(ApiKey.user_id == t.bob.id))
    )
    assert all(
        x.revoked_on is not None for x in db.scalars(select(AuthToken).where(AuthToken.user_id == t.bob.id))
    )
    assert t.bob.get("/v2/api/user").status_code == 401
    assert client.get("/v2/api/auth/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert login(client, t.bob.email, "correct horse battery").status_code == 401
    assert t.bob.id not in [u["id"] for u in t.admin.get("/v2/api/user").json()["data"]["users"]]
    assert_error(t.admin.get(f"/v2/api/user/{t.bob.id}"), 404)
    assert_error(t.admin.delete(f"/v2/api/user/{t.bob.id}"), 404)


def test_delete_user_refusals_write_nothing(t, other, db):
    assert_error(t.admin.delete(f"/v2/api/user/{t.admin.id}"), 400, "You cannot delete your own account.")
    assert_error(t.alice.delete(f"/v2/api/user/{t.bob.id}"), 403)
    assert_error(other.delete(f"/v2/api/user/{t.bob.id}"), 404)
    assert_error(t.admin.delete("/v2/api/user/nope"), 400)
    assert count(db, User, User.is_deleted.is_(True)) == 0
    assert t.bob.get("/v2/api/auth/me").status_code == 200


@pytest.mark.parametrize("method", ["DELETE", "POST"])
def test_batch_delete_users_is_all_or_nothing(world, t, other, db, method):
    path = "/v2/api/user" if method == "DELETE" else "/v2/api/user/batch-delete"
    carol = world.user(t.org)

    def call(actor: Actor, body: object):  # type: ignore[no-untyped-def]
        return actor.request(method, path, json=body)

    assert_error(call(t.admin, {"user_ids": [t.bob.id, other.id]}), 404, "User not found.")
    assert_error(call(t.admin, {"user_ids": [t.bob.id, 999999]}), 404)
    assert_error(call(t.admin, {"user_ids": [t.bob.id, t.admin.id]}), 400)
    assert_error(call(t.alice, {"user_ids": [t.bob.id]}), 403)
    assert_error(call(other, {"user_ids": [t.bob.id]}), 404)
    for body in ({"user_ids": []}, {"user_ids": ["a"]}, {"user_ids": [99999999999999999999]}, {}, [1, 2]):
        assert_error(call(t.admin, body), 400)
    assert count(db, User, User.is_deleted.is_(True)) == 0

    r = call(t.admin, {"user_ids": [carol.id, t.bob.id, carol.id]})
    assert r.status_code == 200, r.text
    assert r.json()["message"] == "Users deleted successfully."
    assert sorted(u["id"] for u in r.json()["data"]) == sorted([t.bob.id, carol.id])
    assert all(u["is_deleted"] for u in r.json()["data"])
    assert t.bob.get("/v2/api/auth/me").status_code == 401 and carol.get("/v2/api/auth/me").status_code == 401
    assert t.alice.get("/v2/api/auth/me").status_code == 200


def test_batch_delete_accepts_ids_in_the_query_string(world, t, db):
    carol = world.user(t.org)
    assert_error(t.admin.delete("/v2/api/user"), 400)
    assert_error(t.admin.delete("/v2/api/user", params={"user_ids": "1,x"}), 400)
    r = t.admin.delete("/v2/api/user", params={"user_ids": f"{t.bob.id},{carol.id}"})
    assert r.status_code == 200, r.text
    assert sorted(u["id"] for u in r.json()["data"]) == sorted([t.bob.id, carol.id])
    assert count(db, User, User.is_deleted.is_(True)) == 2


# -- User Filtered ----------------------------------------------------------------------------------


def test_user_filtered_combines_filters_within_the_organisation(world, t, other, db):
    carol = world.user(t.org)
    team = world.team(t.org, {t.alice: "Member", t.bob: "Member", carol: "Member"})
    world.team(t.org, {t.admin: "Owner"})
    outsider_team = world.team(t.org, {t.bob: "Owner"})
    foreign_team = world.team(db.get(Organization, other.org_id), {other: "Owner"})
    db.execute(
        update(User).where(User.id == t.bob.id).values(created_on=datetime(2024, 3, 10, 23, 59, tzinfo=UTC))
    )
    db.execute(update(User).where(User.id == carol.id).values(is_active=False))
    db.commit()

    def ids(actor: Actor = t.admin, **params: object) -> list[int]:
        r = actor.get("/v2/api/user/filtered", params=params)
        assert r.status_code == 200, r.text
        assert set(r.json()["data"]) == {"count", "num_pages", "current_page", "users"}
        assert r.json()["data"]["count"] == len(r.json()["data"]["users"])
        return [u["id"] for u in r.json()["data"]["users"]]

    assert ids() == [t.admin.id, t.alice.id, t.bob.id, carol.id]
    assert ids(team_ids=[team.id]) == [t.alice.id, t.bob.id, carol.id]
    assert ids(team_ids=[team.id], is_active="true") == [t.alice.id, t.bob.id]
    assert ids(is_active=False) == [carol.id]
    assert ids(is_superuser=True) == [t.admin.id]
    assert ids(query=t.bob.email.split("@")[0]) == [t.bob.id]
    assert ids(start_date="2024-03-10", end_date="2024-03-10") == [t.bob.id]
    assert ids(end_date="2024-03-09") == []
    assert t.bob.id not in ids(start_date="2024-03-11")
    assert ids(team_ids=[foreign_team.id]) == []
    assert ids(team_ids=f"{team.id}, {outsider_team.id}") == [t.alice.id, t.bob.id, carol.id]
    assert ids(start_date="2024-03-10T23:00:00Z", end_date="2024-03-10T23:59:30+00:00") == [t.bob.id]
    # Team filters only work through teams the caller can see.
    assert ids(team_ids=[outsider_team.id]) == [t.bob.id]
    assert ids(t.alice, team_ids=[outsider_team.id]) == []
    assert ids(t.alice, team_ids=[team.id, outsider_team.id]) == [t.alice.id, t.bob.id, carol.id]
    assert other.id not in ids(query="example.com")
    assert ids(other) == [other.id]
    assert ids(other, team_ids=[team.id]) == []

    for params in (
        {"start_date": "2024-03-11", "end_date": "2024-03-10"},
        {"start_date": "yesterday"},
        {"team_ids": "x"},
        {"team_ids": "99999999999999999999"},
        {"is_active": "perhaps"},
        {"items_per_page": 0},
    ):
        assert_error(t.admin.get("/v2/api/user/filtered", params=params), 400)


# -- User Permission ---------------------------------------------------------------------------------


def test_user_permission_lifecycle(t, db):
    path = f"/v2/api/user/{t.alice.id}/permission"
    r = t.admin.post(path, json={"permission": "create_agent", "is_allowed": False})
    assert r.status_code == 201, r.text
    row = r.json()["data"]
    assert r.json()["message"] == "User permission created successfully."
    assert {k: row[k] for k in ("user", "permission", "is_allowed", "created_by", "modified_by")} == {
        "user": t.alice.id,
        "permission": "create_agent",
        "is_allowed": False,
        "created_by": t.admin.email,
        "modified_by": "",
    }
    assert row["description"] == CAPABILITIES["create_agent"] and TIMESTAMP.match(row["created_on"])

    for reader in (t.alice, t.admin):
        got = reader.get(path)
        assert got.status_code == 200, got.text
        data = got.json()["data"]
        assert [p["id"] for p in data["permissions"]] == [row["id"]]
        assert data["effective"] == {name: name != "create_agent" for name in CAPABILITIES}
    assert_error(t.bob.get(path), 403)
    admin_view = t.admin.get(f"/v2/api/user/{t.admin.id}/permission").json()["data"]
    assert admin_view["permissions"] == [] and all(admin_view["effective"].values())

    edited = t.admin.put(f"{path}/create_agent", json={"is_allowed": True})
    assert edited.status_code == 200 and edited.json()["data"]["is_allowed"] is True
    assert edited.json()["data"]["modified_by"] == t.admin.email
    assert all(t.alice.get(path).json()["data"]["effective"].values())

    deleted = t.admin.delete(f"{path}/create_agent")
    assert deleted.status_code == 200 and deleted.json()["data"]["permission"] == "create_agent"
    assert t.alice.get(path).json()["data"]["permissions"] == []
    fresh(db)
    assert db.scalar(select(func.count()).select_from(UserPermission)) == 0


def test_user_permission_bad_input_and_refusals_write_nothing(t, db):
    path = f"/v2/api/user/{t.alice.id}/permission"
    assert t.admin.post(path, json={"permission": "share_agent", "is_allowed": False}).status_code == 201
    assert (
        "Unknown permission"
        in assert_error(t.admin.post(path, json={"permission": "fly", "is_allowed": True}), 400)["message"]
    )
    for body in ({"permission": "create_team"}, {"permission": "", "is_allowed": True}, {"is_allowed": "x"}):
        assert_error(t.admin.post(path, json=body), 400)
    assert_error(t.admin.post(path, json={"permission": "share_agent", "is_allowed": True}), 409)
    assert_error(t.alice.post(path, json={"permission": "create_team", "is_allowed": True}), 403)
    assert_error(t.alice.put(f"{path}/share_agent", json={"is_allowed": True}), 403)
    assert_error(t.alice.delete(f"{path}/share_agent"), 403)
    assert_error(t.admin.put(f"{path}/create_team", json={"is_allowed": True}), 404)
    assert_error(t.admin.put(f"{path}/fly", json={"is_allowed": True}), 400)
    assert_error(t.admin.put(f"{path}/share_agent", json={"is_allowed": None}), 400)
    assert_error(t.admin.delete(f"{path}/create_team"), 404)
    assert_error(
        t.admin.post(
            "/v2/api/user/999999/permission", json={"permission": "create_team", "is_allowed": True}
        ),
        404,
    )
    fresh(db)
    rows = db.execute(select(UserPermission.permission, UserPermission.is_allowed)).all()
    assert rows == [("share_agent", False)]


def test_refusing_create_corpus_blocks_corpus_creation(t, db):
    r = t.admin.post(
        f"/v2/api/user/{t.alice.id}/permission", json={"permission": "create_corpus", "is_allowed": False}
    )
    assert r.status_code == 201
    refused = assert_error(t.alice.post("/v2/api/corpus", json={"name": "Handbook"}), 403)
    assert refused["message"] == "You do not have permission to create corpora."
    fresh(db)
    assert db.scalar(select(func.count()).select_from(Corpus)) == 0
    assert t.bob.post("/v2/api/corpus", json={"name": "Handbook"}).status_code == 201  # others unaffected

    assert (
        t.admin.put(
            f"/v2/api/user/{t.alice.id}/permission/create_corpus", json={"is_allowed": True}
        ).status_code
        == 200
    )
    assert t.alice.post("/v2/api/corpus", json={"name": "Handbook"}).status_code == 201


# -- isolation and API key scopes --------------------------------------------------------------------


def test_another_organisation_gets_404_for_every_user_id(t, other, db):
    alice_name = t.alice.user.first_name
    assert (
        t.admin.post(
            f"/v2/api/user/{t.alice.id}/permission", json={"permission": "create_team", "is_allowed": False}
        ).status_code
        == 201
    )
    base = f"/v2/api/user/{t.alice.id}"
    for method, path, body in (
        ("GET", base, None),
        ("PUT", base, {"first_name": "Pwned", "is_superuser": True}),
        ("DELETE", base, None),
        ("GET", f"{base}/permission", None),
        ("POST", f"{base}/permission", {"permission": "create_agent", "is_allowed": False}),
        ("PUT", f"{base}/permission/create_team", {"is_allowed": True}),
        ("DELETE", f"{base}/permission/create_team", None),
    ):
        body_out = assert_error(other.request(method, path, json=body), 404)
        assert body_out["message"] == "User not found." and body_out["data"] is None
    fresh(db)
    alice = db.get(User, t.alice.id)
    assert (alice.first_name, alice.is_superuser, alice.is_deleted) == (alice_name, False, False)
    assert db.execute(select(UserPermission.permission, UserPermission.is_allowed)).all() == [
        ("create_team", False)
    ]


def test_api_key_scopes_limit_the_user_group(world, t, db):
    bob_name = t.bob.user.first_name
    read_only = world.key_for(t.admin, "read_only")
    assert read_only.get("/v2/api/user").status_code == 200
    assert read_only.get(f"/v2/api/user/{t.bob.id}/permission").status_code == 200
    for method, path, body in (
        ("POST", "/v2/api/user", {"email": "ro@example.com", "first_name": "Ro"}),
        ("PUT", f"/v2/api/user/{t.bob.id}", {"first_name": "Changed"}),
        ("DELETE", f"/v2/api/user/{t.bob.id}", None),
        ("POST", "/v2/api/user/batch-delete", {"user_ids": [t.bob.id]}),
        ("POST", f"/v2/api/user/{t.bob.id}/permission", {"permission": "create_agent", "is_allowed": False}),
    ):
        assert_error(
            read_only.request(method, path, json=body), 403, "This API key is not allowed to write to users."
        )

    users_read = world.key_for(t.admin, "restricted", {"users": "read"})
    assert users_read.get("/v2/api/user/filtered").status_code == 200
    assert_error(users_read.put(f"/v2/api/user/{t.bob.id}", json={"first_name": "Changed"}), 403)

    corpora_only = world.key_for(t.admin, "restricted", {"corpora": "write"})
    assert_error(corpora_only.get("/v2/api/user"), 403, "This API key is not allowed to read users.")
    assert_error(corpora_only.get(f"/v2/api/user/{t.bob.id}"), 403)

    fresh(db)
    bob = db.get(User, t.bob.id)
    assert (bob.first_name, bob.is_deleted) == (bob_name, False)
    assert db.scalar(select(func.count()).select_from(UserPermission)) == 0
    assert db.scalar(select(User.id).where(User.email == "ro@example.com")) is None
