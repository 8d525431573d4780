"""Kore's ``auth: <JWT>`` header: HS256 / HS512 tokens signed with an API key's secret, whose
``appId`` is the key's client id; every failure is 401 with code 4002."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import jwt
from pydantic import SecretStr
from sqlalchemy import update

from parley.accounts import service as accounts
from parley.accounts.models import ApiKey, Organization
from parley.accounts.security import digest
from tests.support.world import Actor
from tests.surfaces.ejento.factories import make_agent
from tests.surfaces.kore.conftest import add_record, assert_kore_error, at, client_id, sign, usage_logs

MARCH = {"dateFrom": "2024-03-01", "dateTo": "2024-03-31"}
INVALID = "Invalid SDK credentials"


def _refused(world, bot, token):  # type: ignore[no-untyped-def]
    assert_kore_error(usage_logs(world, bot.id, token, MARCH), 401, 4002, INVALID)


def test_hs256_and_hs512_tokens_with_only_sub_and_app_id(world, db, bot):
    add_record(db, bot, at(8))
    for algorithm in ("HS256", "HS512"):
        r = usage_logs(world, bot.id, sign(db, bot.owner, algorithm), MARCH)
        assert r.status_code == 200 and len(r.json()) == 1


def test_sdk_style_claims_and_the_iss_fallback(world, db, bot):
    add_record(db, bot, at(8))
    now = int(time.time())
    sdk_claims = {"aud": "https://idproxy.kore.com/authorize", "iat": now, "exp": now + 600, "jti": "j-1"}
    assert usage_logs(world, bot.id, sign(db, bot.owner, **sdk_claims), MARCH).status_code == 200
    token = jwt.encode({"sub": "x", "iss": client_id(db, bot.owner)}, bot.owner.secret, algorithm="HS256")
    assert usage_logs(world, bot.id, token, MARCH).status_code == 200


def test_missing_malformed_or_badly_signed_tokens(world, db, bot):
    _refused(world, bot, None)
    _refused(world, bot, "")
    _refused(world, bot, "not-a-jwt")
    app_id = client_id(db, bot.owner)
    _refused(world, bot, jwt.encode({"sub": "1", "appId": app_id}, "wrong secret", algorithm="HS256"))
    _refused(world, bot, jwt.encode({"sub": "1", "appId": "cs-unknown"}, bot.owner.secret, algorithm="HS256"))
    _refused(world, bot, jwt.encode({"sub": "1"}, bot.owner.secret, algorithm="HS256"))
    # The claim name must be exactly appId.
    _refused(world, bot, jwt.encode({"appid": app_id}, bot.owner.secret, algorithm="HS256"))
    # Another user's key cannot stand in for the signer.
    colleague = world.user(bot.org)
    _refused(world, bot, jwt.encode({"appId": app_id}, colleague.secret, algorithm="HS256"))
    # "none" and algorithms Parley has no key for.
    unsigned = jwt.encode({"appId": app_id}, None, algorithm="none")
    _refused(world, bot, unsigned)
    header = jwt.utils.base64url_encode(b'{"alg":"RS256","typ":"JWT"}').decode()
    body = jwt.utils.base64url_encode(f'{{"appId":"{app_id}"}}'.encode()).decode()
    _refused(world, bot, f"{header}.{body}.c2ln")
    # A Bearer header is not Kore's.
    r = world.client.post(
        f"/api/1.1/public/bot/{bot.id}/getLLMUsageLogs",
        headers={"Authorization": f"Bearer {bot.owner.secret}"},
        json=MARCH,
    )
    assert_kore_error(r, 401, 4002, INVALID)


def test_expired_and_not_yet_valid_tokens(world, db, bot):
    past = datetime.now(UTC) - timedelta(hours=2)
    _refused(world, bot, sign(db, bot.owner, exp=past))
    _refused(world, bot, sign(db, bot.owner, "HS512", exp=past))
    _refused(world, bot, sign(db, bot.owner, nbf=datetime.now(UTC) + timedelta(hours=1)))
    assert (
        usage_logs(
            world, bot.id, sign(db, bot.owner, exp=datetime.now(UTC) + timedelta(minutes=5)), MARCH
        ).status_code
        == 200
    )


def test_revoked_expired_or_inactive_keys_and_users(world, db, bot):
    token = sign(db, bot.owner)
    assert usage_logs(world, bot.id, token, MARCH).status_code == 200
    key = ApiKey.secret_hash == digest(bot.owner.secret)
    for change in (
        {"revoked_on": datetime.now(UTC)},
        {"expires_on": datetime.now(UTC)},
        {"is_active": False},
    ):
        db.execute(update(ApiKey).where(key).values(**change))
        db.commit()
        _refused(world, bot, token)
        db.execute(update(ApiKey).where(key).values(revoked_on=None, expires_on=None, is_active=True))
        db.commit()
    assert usage_logs(world, bot.id, token, MARCH).status_code == 200


def test_unauthenticated_requests_are_refused_before_the_body_is_checked(world, db, bot):
    r = usage_logs(world, bot.id, None, {"dateFrom": "nonsense"})
    assert_kore_error(r, 401, 4002, INVALID)
    r = usage_logs(world, "st-999999", None, MARCH)
    assert_kore_error(r, 401, 4002, INVALID)


SEED_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwiYXBwSWQiOiJjcy03ZWMxNmFjZS03ZGNmLTU3Mj"
    "QtYjM5NS1hYTA4YmRmYTAwMzMifQ.n_Es9ZBsiCYzpzsfN4p4I1SlHK05gewJFyqAIngr4Qg"
)
SEED_APP_ID = "cs-7ec16ace-7dcf-5724-b395-aa08bdfa0033"


def test_the_bootstrap_key_signs_under_its_configured_client_id(world, db, settings):
    boot = settings.model_copy(
        update={
            "init_admin_email": "boot@example.com",
            "init_admin_password": SecretStr("bootstrap password"),
            "init_api_key": SecretStr("pk-bootstrap-key-secret-0123"),
            "init_api_key_id": SEED_APP_ID,
        }
    )
    assert accounts.bootstrap(db, boot)
    db.commit()
    admin = Actor(
        world.client, accounts.get_user_by_email(db, "boot@example.com"), "pk-bootstrap-key-secret-0123"
    )
    agent = make_agent(db, admin, world.project(world.team(world.reload(Organization, admin.org_id), {})))
    # The seed's own token names this client id but was signed with Kore's secret, not ours.
    r = usage_logs(world, f"st-{agent.id}", SEED_TOKEN, MARCH)
    assert_kore_error(r, 401, 4002, INVALID)
    token = jwt.encode(
        {"sub": "1234567890", "appId": SEED_APP_ID}, "pk-bootstrap-key-secret-0123", algorithm="HS256"
    )
    assert jwt.get_unverified_header(token) == jwt.get_unverified_header(SEED_TOKEN)
    r = usage_logs(world, f"st-{agent.id}", token, MARCH)
    assert r.status_code == 200 and r.json() == []
