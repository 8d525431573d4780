"""Login tokens, API keys and their scopes, through HTTP on both backends."""

from __future__ import annotations

from sqlalchemy import select

from parley.accounts.models import ApiKey, AuthToken, User
from parley.accounts.security import digest


def test_login_issues_tokens_that_authenticate_and_are_stored_hashed(world, client, db):
    org = world.org()
    alice = world.user(org, email="alice@example.com", password="s3cret-pass")
    r = client.post("/v2/api/auth/login", json={"email": "Alice@Example.com", "password": "s3cret-pass"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["success"] is True
    token = body["data"]["access_token"]
    assert body["data"]["token_type"] == "bearer"

    me = client.get("/v2/api/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["data"]["id"] == alice.id

    stored = db.scalars(select(AuthToken.token_hash)).all()
    assert token not in stored and digest(token) in stored
    assert db.scalar(select(User.password_hash).where(User.id == alice.id)).startswith("$argon2")


def test_wrong_password_and_unknown_user_get_the_same_401(world, client):
    org = world.org()
    world.user(org, email="bob@example.com", password="right-password")
    wrong = client.post("/v2/api/auth/login", json={"email": "bob@example.com", "password": "nope"})
    unknown = client.post("/v2/api/auth/login", json={"email": "nobody@example.com", "password": "nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert (
        wrong.json()
        == unknown.json()
        == {"success": False, "message": "Invalid email or password.", "data": None}
    )


def test_refresh_rotates_tokens_and_revokes_the_old_family(world, client):
    org = world.org()
    world.user(org, email="carol@example.com", password="pw-carol-1")
    first = client.post(
        "/v2/api/auth/login", json={"email": "carol@example.com", "password": "pw-carol-1"}
    ).json()
    refreshed = client.post("/v2/api/auth/refresh", json={"refreshToken": first["data"]["refresh_token"]})
    assert refreshed.status_code == 200
    new_access = refreshed.json()["data"]["access_token"]
    assert client.get("/v2/api/auth/me", headers={"Authorization": f"Bearer {new_access}"}).status_code == 200
    old = client.get("/v2/api/auth/me", headers={"Authorization": f"Bearer {first['data']['access_token']}"})
    assert old.status_code == 401
    again = client.post("/v2/api/auth/refresh", json={"refresh_token": first["data"]["refresh_token"]})
    assert again.status_code == 401


def test_api_key_works_as_subscription_key_and_as_bearer(world, client):
    org = world.org()
    dave = world.user(org)
    for headers in ({"Ocp-Apim-Subscription-Key": dave.secret}, {"Authorization": f"Bearer {dave.secret}"}):
        r = client.get("/v2/api/auth/me", headers=headers)
        assert r.status_code == 200 and r.json()["data"]["id"] == dave.id


def test_missing_or_bad_credentials_are_401_in_the_envelope(client):
    for headers in ({}, {"Ocp-Apim-Subscription-Key": "nope"}, {"Authorization": "Bearer nope"}):
        r = client.get("/v2/api/auth/me", headers=headers)
        assert r.status_code == 401
        assert r.json()["success"] is False and r.json()["data"] is None


def test_created_api_key_secret_is_shown_once_and_revocation_takes_effect(world, client, db):
    org = world.org()
    erin = world.user(org)
    r = erin.post("/v2/api/api-key", json={"name": "ci", "scope": "read_only"})
    assert r.status_code == 201, r.text
    data = r.json()["data"]
    secret, key_id = data["secret"], data["id"]
    assert data["client_id"].startswith("cs-")
    listed = erin.get("/v2/api/api-key").json()["data"]
    assert all("secret" not in k for k in listed)
    assert {k["id"] for k in listed} >= {key_id}
    assert db.scalar(select(ApiKey.secret_hash).where(ApiKey.id == key_id)) == digest(secret)

    assert client.get("/v2/api/auth/me", headers={"Ocp-Apim-Subscription-Key": secret}).status_code == 200
    assert erin.delete(f"/v2/api/api-key/{key_id}").status_code == 200
    assert client.get("/v2/api/auth/me", headers={"Ocp-Apim-Subscription-Key": secret}).status_code == 401


def test_api_keys_of_another_organisation_cannot_be_revoked(world):
    a, b = world.org(), world.org()
    alice = world.user(a, admin=True)
    mallory = world.user(b, admin=True)
    key_id = alice.post("/v2/api/api-key", json={"name": "x"}).json()["data"]["id"]
    r = mallory.delete(f"/v2/api/api-key/{key_id}")
    assert r.status_code == 404
    assert alice.get("/v2/api/auth/me").status_code == 200
    assert any(k["id"] == key_id and k["is_active"] for k in alice.get("/v2/api/api-key").json()["data"])


def test_unknown_scope_is_rejected_and_nothing_is_written(world, db):
    org = world.org()
    frank = world.user(org)
    before = db.scalar(select(ApiKey.id).order_by(ApiKey.id.desc()))
    r = frank.post("/v2/api/api-key", json={"scope": "everything"})
    assert r.status_code == 400 and r.json()["success"] is False
    r = frank.post("/v2/api/api-key", json={"scope": "restricted", "permissions": {"agents": "admin"}})
    assert r.status_code == 400
    db.expire_all()
    assert db.scalar(select(ApiKey.id).order_by(ApiKey.id.desc())) == before
