"""Secrets at rest and in logs: passwords, login tokens and API keys are stored only hashed (or,
for the key a Kore JWT is signed with, encrypted), never in plain text in any column of any
table; an API key never reaches a log line; and an organisation can have its usage records keep
redacted payloads."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from sqlalchemy import inspect, select, table, text
from sqlalchemy.orm import Session

from parley.accounts.models import User
from parley.http.middleware import JsonLogFormatter
from parley.usage import service as usage
from parley.usage.models import LLMUsageRecord
from tests.reliability.tenants import caller
from tests.support.world import World
from tests.surfaces.ejento.factories import add_text, make_agent, make_corpus, poll, succeeded

PASSWORD = "correct horse battery staple 9"


def every_stored_value(db: Session) -> str:
    """Every row of every table as text (bytes included), for a plain-text search."""
    db.rollback()
    parts = []
    for name in inspect(db.get_bind()).get_table_names():
        for row in db.execute(select(text("*")).select_from(table(name))):
            parts.extend(v.hex() + v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in row)
    return "\n".join(parts)


def test_passwords_tokens_and_keys_are_stored_only_hashed(world: World, db: Session) -> None:
    org = world.org()
    admin = world.user(org, admin=True, password=PASSWORD)
    login = succeeded(
        world.client.post("/v2/api/auth/login", json={"email": admin.email, "password": PASSWORD}),
        200,
        "Login successful",
    )
    new_key = succeeded(
        admin.post("/v2/api/api-key", json={"name": "ci"}), 201, "API key created successfully."
    )
    mailbox = {
        "mailbox": "box@example.com",
        "provider": "imap",
        "host": "imap.example.com",
        "password": "mail-pw-77",
    }
    admin.post("/v2/api/email-indexing/authorize", json=mailbox)
    config = {"name": "remote", "provider": "openai", "model": "m", "api_key": "sk-llm-secret-42"}
    admin.post("/v2/api/llm-config", json=config)
    secrets = {
        "password": PASSWORD,
        "access token": login["access_token"],
        "refresh token": login["refresh_token"],
        "API key (fixture)": admin.secret,
        "API key (created)": new_key["secret"],
        "mailbox password": "mail-pw-77",
        "LLM API key": "sk-llm-secret-42",
    }
    stored = every_stored_value(db)
    assert [name for name, secret in secrets.items() if secret in stored] == []
    db.rollback()
    assert db.scalar(select(User.password_hash).where(User.id == admin.id)).startswith("$argon2")


def test_api_keys_never_reach_the_logs(world: World, db: Session, caplog: pytest.LogCaptureFixture) -> None:
    org = world.org()
    owner = caller(world.db, world.user(org))
    project = world.project(world.team(org, {owner: "Owner"}))
    agent = make_agent(db, owner, project)
    corpus = make_corpus(db, owner)
    owner.post(f"/v2/api/agent/{agent.id}/corpus/{corpus.id}")
    poll(owner, add_text(owner, corpus.id, "Keys\n\nKeys open doors.\n")["id"])
    secret = owner.secret
    caplog.set_level(logging.DEBUG)
    requests = [
        ("GET", "/v2/api/auth/me", {}),
        ("GET", f"/v2/api/agent/{agent.id}", {}),
        ("POST", f"/api/v2/agents/{agent.id}/responses", {"json": {"user_query": "What opens doors?"}}),
        ("GET", "/v1/datastores", {}),
        ("GET", "/v1/models", {}),
        ("POST", "/api/v1/Agents/AI/GetChatbotTurns", {"json": {"ChatId": "x"}}),
        ("POST", f"/api/1.1/public/bot/st-{agent.id}/getLLMUsageLogs", {"json": {}}),
        ("GET", "/v2/api/agent/999999", {}),  # a 404
        ("POST", "/v2/api/agent", {"json": {"name": secret}}),  # a 400 that names the secret
        ("GET", f"/v2/api/auth/me?api_key={secret}", {}),
    ]
    for method, path, kwargs in requests:
        owner.request(method, path, **kwargs)
    # A wrong key and a bad JWT made from the real one.
    world.client.get("/v2/api/auth/me", headers={"Ocp-Apim-Subscription-Key": secret[:-2] + "xx"})
    forged = jwt.encode({"appId": "cs-nobody"}, secret, algorithm="HS256")
    world.client.post(f"/api/1.1/public/bot/st-{agent.id}/getLLMUsageLogs", headers={"auth": forged}, json={})
    formatter = JsonLogFormatter()
    # The server's records only: the test client's own HTTP library logs the URLs it requested.
    lines = [formatter.format(r) for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    assert len(lines) >= len(requests)  # the access log saw the requests
    assert [line for line in lines if secret in line] == []


def test_an_organisation_can_keep_its_usage_payloads_redacted(world: World, db: Session) -> None:
    """Records made by the answer path's recorder: redacted for the organisation that asks for it
    (and so in its usage logs), kept for the others."""
    quiet, plain = world.org(), world.org()
    db.rollback()
    usage.set_payload_redaction(db, quiet.id, True)
    db.commit()
    request = {"model": "gpt-x", "messages": [{"role": "user", "content": "zebra holidays?"}], "n": 1}
    response = {"choices": [{"message": {"content": "Zebras rest in June."}}], "usage": {"prompt_tokens": 7}}
    owners = {}
    for org in (quiet, plain):
        owner = caller(world.db, world.user(org))
        agent = make_agent(db, owner, world.project(world.team(org, {owner: "Owner"})))
        now = datetime.now(UTC)
        usage.record_call(
            db, org_id=org.id, user_id=owner.id, agent_id=agent.id, llm_config=None, prompt_name="answer",
            feature_name="generation", model_name="gpt-x", channel="web", started=now, ended=now,
            status_code=200, error="", request_payload=request, response_payload=response,
            request_tokens=7, response_tokens=5,
        )  # fmt: skip
        db.commit()
        owners[org.id] = (owner, agent.id)
    logs = {}
    day = timedelta(days=1)
    window = {"dateFrom": (now - day).date().isoformat(), "dateTo": (now + day).date().isoformat()}
    for org_id, (owner, agent_id) in owners.items():
        r = owner.post(f"/api/1.1/public/bot/st-{agent_id}/getLLMUsageLogs", json=window)
        assert r.status_code == 200, r.text
        logs[org_id] = r.text
    assert "zebra" not in logs[quiet.id] and "Zebras" not in logs[quiet.id]
    assert usage.REDACTED in logs[quiet.id] and '"prompt_tokens": 7' in logs[quiet.id].replace(":7", ": 7")
    assert "zebra holidays?" in logs[plain.id] and "Zebras rest in June." in logs[plain.id]
    db.rollback()
    stored = db.scalar(select(LLMUsageRecord).where(LLMUsageRecord.org_id == quiet.id))
    assert stored is not None and stored.request_payload == usage.redacted(request)
    assert stored.response_payload["usage"] == {"prompt_tokens": 7}


def test_redaction_keeps_keys_and_numbers() -> None:
    payload = {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "usage": {"tokens": 3, "ok": True},
    }
    assert usage.redacted(payload) == {
        "model": "[redacted]",
        "messages": [{"role": "[redacted]", "content": "[redacted]"}],
        "usage": {"tokens": 3, "ok": True},
    }
