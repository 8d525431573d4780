"""The principal cache (credential -> user, organisation, roles, key scope) never outlives a
change made by this process, and never answers for another organisation.

The TTL is set long here, so a change can only become visible through invalidation; one test
writes as "another process" would (a raw DBAPI connection, no SQLAlchemy events) to show the
cache is really in use and that the TTL bounds how long such a change goes unseen.
"""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from parley.accounts.models import ApiKey
from parley.accounts.security import digest
from parley.db.engine import create_db_engine
from parley.settings import Settings
from tests.conftest import make_settings
from tests.support.world import Actor, World

ME = "/v2/api/auth/me"


@pytest.fixture
def settings(database_url: str, tmp_path) -> Settings:  # type: ignore[no-untyped-def]
    settings = make_settings(database_url, tmp_path)
    settings.auth.principal_cache_ttl_seconds = 60
    return settings


def key_id(world: World, actor: Actor) -> int:
    return world.db.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest(actor.secret)))  # type: ignore[return-value]


def login(world: World, email: str, password: str = "correct horse battery") -> dict[str, str]:
    r = world.client.post("/v2/api/auth/login", json={"email": email, "password": password})
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['data']['access_token']}"}


def refused(response) -> bool:  # type: ignore[no-untyped-def]
    return response.status_code == 401 and response.json()["success"] is False


def test_a_revoked_key_is_refused_on_the_next_request(world: World) -> None:
    org = world.org()
    admin = world.user(org, admin=True)
    bob = world.user(org)
    other_key = world.key_for(bob, "all")
    assert bob.get(ME).status_code == 200 and bob.get(ME).status_code == 200  # cached now

    r = admin.delete(f"/v2/api/api-key/{key_id(world, bob)}")
    assert r.status_code == 200, r.text
    assert refused(bob.get(ME))
    assert refused(
        bob.get(ME, headers={"Ocp-Apim-Subscription-Key": "", "Authorization": f"Bearer {bob.secret}"})
    )
    assert other_key.get(ME).status_code == 200  # only that key

    # A key revoking itself is refused from its next request on.
    assert other_key.delete(f"/v2/api/api-key/{key_id(world, other_key)}").status_code == 200
    assert refused(other_key.get(ME))


def test_a_deactivated_or_deleted_user_is_refused_with_any_credential(world: World) -> None:
    org = world.org()
    admin = world.user(org, admin=True)
    bob = world.user(org)
    carol = world.user(org)
    bob_token = login(world, bob.email)
    assert bob.get(ME).status_code == 200
    assert world.client.get(ME, headers=bob_token).status_code == 200

    r = admin.put(f"/v2/api/user/{bob.id}", json={"is_active": False})
    assert r.status_code == 200, r.text
    assert refused(bob.get(ME))
    assert refused(world.client.get(ME, headers=bob_token))

    assert carol.get(ME).status_code == 200
    assert admin.delete(f"/v2/api/user/{carol.id}").status_code == 200
    assert refused(carol.get(ME))


def test_a_password_change_ends_login_sessions_at_once_but_not_api_keys(world: World) -> None:
    org = world.org()
    bob = world.user(org, password="old-password-1")
    token = login(world, bob.email, "old-password-1")
    assert world.client.get(ME, headers=token).status_code == 200

    r = bob.put(
        f"/v2/api/user/{bob.id}", json={"password": "new-password-2", "current_password": "old-password-1"}
    )
    assert r.status_code == 200, r.text
    assert refused(world.client.get(ME, headers=token))
    assert bob.get(ME).status_code == 200


def test_role_and_admin_changes_take_effect_on_the_next_request(world: World) -> None:
    org = world.org()
    admin = world.user(org, admin=True)
    bob = world.user(org)
    team = world.team(org, {admin: "Owner", bob: "Member"})
    rename = {"team_name": "Renamed by Bob"}
    assert bob.put(f"/v2/api/team/{team.id}", json=rename).status_code == 403

    promote = {"users": [{"user_id": bob.id, "role": "Admin"}]}
    assert admin.post(f"/v2/api/team/{team.id}/user", json=promote).status_code == 201
    assert bob.put(f"/v2/api/team/{team.id}", json=rename).status_code == 200

    demote = {"users": [{"user_id": bob.id, "role": "Member"}]}
    assert admin.post(f"/v2/api/team/{team.id}/user", json=demote).status_code == 201
    assert bob.put(f"/v2/api/team/{team.id}", json={"team_name": "Again"}).status_code == 403

    # Organisation admin rights: granted and withdrawn by another admin.
    assert bob.get(f"/v2/api/user/{admin.id}/permission").status_code == 403
    assert admin.put(f"/v2/api/user/{bob.id}", json={"is_superuser": True}).status_code == 200
    assert bob.get(ME).json()["data"]["is_superuser"] is True
    assert bob.get(f"/v2/api/user/{admin.id}/permission").status_code == 200
    assert admin.put(f"/v2/api/user/{bob.id}", json={"is_superuser": False}).status_code == 200
    assert bob.get(f"/v2/api/user/{admin.id}/permission").status_code == 403


def test_a_change_written_outside_the_api_in_this_process_is_seen_at_once(world: World) -> None:
    org = world.org()
    bob = world.user(org)
    assert bob.get(ME).status_code == 200
    world.db.get(ApiKey, key_id(world, bob)).is_active = False  # type: ignore[union-attr]
    world.db.commit()
    assert refused(bob.get(ME))


def test_cached_credentials_never_answer_for_another_organisation(world: World) -> None:
    alpha_org, bravo_org = world.org(), world.org()
    alpha, bravo = world.user(alpha_org, admin=True), world.user(bravo_org, admin=True)
    team = alpha.post("/v2/api/team", json={"team_name": "Alpha team"}).json()["data"]
    project = alpha.post("/v2/api/project", json={"project_name": "Alpha", "team_id": team["id"]}).json()[
        "data"
    ]
    agent = alpha.post("/v2/api/agent", json={"name": "Alpha agent", "project_id": project["id"]}).json()[
        "data"
    ]

    for _ in range(3):  # alternating, with both credentials cached
        assert alpha.get(ME).json()["data"]["id"] == alpha.id
        assert bravo.get(ME).json()["data"]["id"] == bravo.id
        assert alpha.get(f"/v2/api/agent/{agent['id']}").status_code == 200
        assert bravo.get(f"/v2/api/agent/{agent['id']}").status_code == 404
    mixed = {"Authorization": f"Bearer {alpha.secret}", "Ocp-Apim-Subscription-Key": bravo.secret}
    r = world.client.get(ME, headers=mixed)
    assert refused(r) and "different organizations" in r.json()["message"]


def test_key_use_is_recorded_once_per_resolution_while_cached(world: World) -> None:
    org = world.org()
    bob = world.user(org)
    assert bob.get(ME).status_code == 200
    first = world.reload(ApiKey, key_id(world, bob)).last_used_on
    assert first is not None
    for _ in range(3):
        assert bob.get(ME).status_code == 200
    assert world.reload(ApiKey, key_id(world, bob)).last_used_on == first


def test_another_process_change_is_seen_within_the_ttl(world: World, settings: Settings) -> None:
    """A write this process cannot see (here: a raw DBAPI connection) waits for the TTL."""
    world.client.app.state.principal_cache.ttl_seconds = 3.0  # this app's cache, built at start-up
    org = world.org()
    bob = world.user(org)
    assert bob.get(ME).status_code == 200
    cached_until = time.monotonic() + 3.0  # at the latest
    engine = create_db_engine(settings)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            cursor.execute(f"UPDATE api_keys SET revoked_on = created_on WHERE id = {key_id(world, bob)}")
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
    assert bob.get(ME).status_code == 200  # still cached: the change was not seen here
    time.sleep(max(0.0, cached_until + 0.1 - time.monotonic()))
    assert refused(bob.get(ME))
