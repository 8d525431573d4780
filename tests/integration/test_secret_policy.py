"""One policy for passwords and API keys, whoever sets them, and nothing of a key kept in clear
that would be enough to use it; on both backends."""

from __future__ import annotations

import json

import pytest
from alembic import command
from sqlalchemy import select, text

from parley.accounts import service as accounts
from parley.accounts.models import ApiKey
from parley.accounts.secret_policy import MIN_GIVEN_KEY_LENGTH
from parley.accounts.security import digest
from parley.agents.models import Agent
from parley.db import migrate
from parley.db.engine import create_db_engine
from parley.errors import InvalidInputError
from tests.surfaces.ejento.factories import make_agent


def test_short_passwords_are_refused_by_the_service_the_cli_and_api_share(world, db):
    org = world.org()
    with pytest.raises(InvalidInputError, match="between 8"):
        accounts.create_user(db, org_id=org.id, email="short@example.com", password="x" * 7)
    db.rollback()
    admin = world.user(org, admin=True)
    r = admin.put(f"/v2/api/user/{admin.id}", json={"password": "x" * 7})
    assert r.status_code == 400


def test_given_keys_need_24_characters_and_made_ones_32_random_bytes(world, db):
    actor = world.user(world.org())
    user = actor.user
    with pytest.raises(InvalidInputError, match="at least 24"):
        accounts.create_api_key(
            db, user=user, settings=world.settings, secret="k" * (MIN_GIVEN_KEY_LENGTH - 1)
        )
    db.rollback()
    given, _ = accounts.create_api_key(
        db, user=user, settings=world.settings, secret="g" * MIN_GIVEN_KEY_LENGTH
    )
    made, secret = accounts.create_api_key(db, user=user, settings=world.settings)
    db.commit()
    # "pk-" and 32 bytes in URL-safe base64 (43 characters).
    assert secret.startswith("pk-") and len(secret) == 3 + 43
    assert (given.prefix, made.prefix) == ("gggggg", secret[:6])


def test_the_key_listing_shows_a_hint_too_short_to_use(world, db):
    actor = world.user(world.org())
    r = actor.post("/v2/api/api-key", json={"name": "ci"})
    assert r.status_code == 201, r.text
    created = r.json()["data"]
    secret = created["secret"]
    listed = {k["id"]: k for k in actor.get("/v2/api/api-key").json()["data"]}
    assert listed[created["id"]]["prefix"] == created["prefix"] == secret[:6]
    assert "secret" not in listed[created["id"]]
    stored = db.execute(select(ApiKey.prefix, ApiKey.secret_hash).where(ApiKey.id == created["id"])).one()
    assert stored == (secret[:6], digest(secret))


def _downgrade(engine, revision: str) -> None:  # type: ignore[no-untyped-def]
    config = migrate.alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_migration_0008_cuts_stored_prefixes_and_moves_kore_counts_out_of_agents(world, db, settings):
    """Rows written before 0008 (an 8-character prefix, the whole of a key of 8 characters or
    fewer; Kore counts in the agent's settings) come out with hints that cannot be used and
    agent settings without the counts."""
    org = world.org()
    owner = world.user(org, admin=True)
    world.user(org)
    agent = make_agent(db, owner, world.project(world.team(org, {owner: "Owner"})))
    engine = create_db_engine(settings)
    _downgrade(engine, "0007")
    with engine.begin() as connection:
        first = connection.execute(text("SELECT min(id) FROM api_keys")).scalar()
        connection.execute(
            text("UPDATE api_keys SET prefix = CASE WHEN id = :id THEN 'abcdefgh' ELSE 'abc' END"),
            {"id": first},
        )
        connection.execute(
            text("UPDATE agents SET settings = :settings WHERE id = :id"),
            {
                "settings": json.dumps(
                    {"kore_rate_usage": {"minute": {"1": 2}}, "kore_rate_limits": {"per_hour": 5}}
                ),
                "id": agent.id,
            },
        )
    migrate.upgrade(engine)
    engine.dispose()
    prefixes = dict(db.execute(select(ApiKey.id, ApiKey.prefix)).tuples().all())
    assert prefixes.pop(first) == "abcd" and set(prefixes.values()) == {""}
    assert db.scalar(select(Agent.settings).where(Agent.id == agent.id)) == {
        "kore_rate_limits": {"per_hour": 5}
    }
