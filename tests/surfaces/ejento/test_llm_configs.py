"""Ejento V2 LLM Config group, and the config data layer (keys, defaults, resolution)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.accounts.security import encrypt_secret
from parley.agents.models import Agent
from parley.llm import service as llm
from parley.llm.models import LLMConfig
from parley.projects.models import Project
from parley.settings import Settings
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    AUDIT_KEYS,
    TIMESTAMP,
    assert_error,
    assert_hidden,
    assert_read_only,
    fresh,
    ids,
    make_agent,
    reload,
    succeeded,
)

BASE = "/v2/api/llm-config"
JSON = {"Content-Type": "application/json"}
SECRET = "sk-test-0123456789abcdefSECRET"
CONFIG_KEYS = {
    "id",
    "name",
    "provider",
    "model",
    "deployment_name",
    "endpoint",
    "api_version",
    "api_key_set",
    "price_input_per_million",
    "price_output_per_million",
    "context_window",
    "max_output_tokens",
    "temperature",
    "timeout_seconds",
    "is_active",
    "is_default",
    "description",
    "organization",
    *AUDIT_KEYS,
}
GPT = {
    "name": "GPT-4o",
    "provider": "openai",
    "model": "gpt-4o",
    "endpoint": "https://api.openai.com/v1",
    "price_input_per_million": "2.5",
    "price_output_per_million": 10,
    "context_window": 128000,
    "max_output_tokens": 4096,
    "temperature": 0.2,
    "timeout_seconds": 30,
    "description": "Main model",
}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    alice: Actor  # member; owns a public agent
    carol: Actor  # member; sees alice's agent but may not edit it
    project: Project
    agent: Agent
    stranger: Actor  # admin of another organisation


@pytest.fixture
def t(world: World, db: Session, other: Actor) -> Tenant:
    org = world.org()
    admin, alice, carol = world.user(org, admin=True), world.user(org), world.user(org)
    project = world.project(world.team(org, {alice: "Owner", carol: "Member"}))
    agent = make_agent(db, alice, project, access="Public")
    return Tenant(org, admin, alice, carol, project, agent, other)


def create(actor: Actor, **fields: Any) -> dict:
    return succeeded(actor.post(BASE, json={**GPT, **fields}), 201, "LLM config created successfully.")


def rows(db: Session) -> list[tuple]:
    """Everything stored about every config, to show that a refused request wrote nothing."""
    fresh(db)
    columns = [c for c in LLMConfig.__table__.columns if c.name != "modified_on"]
    return [tuple(r) for r in db.execute(select(*columns).order_by(LLMConfig.id)).all()]


# -- Create LLM Config ---------------------------------------------------------------------


def test_create_returns_the_config_and_stores_the_key_encrypted(t: Tenant, db: Session, settings: Settings):
    r = t.admin.post(BASE, json={**GPT, "api_key": SECRET, "api_version": "2024-06-01"})
    data = succeeded(r, 201, "LLM config created successfully.")
    assert set(data) == CONFIG_KEYS
    assert {k: data[k] for k in GPT} == {
        **GPT,
        "price_input_per_million": "2.500000",
        "price_output_per_million": "10.000000",
    }
    assert data["api_version"] == "2024-06-01" and data["deployment_name"] == ""
    assert data["api_key_set"] is True and data["is_active"] is True and data["is_default"] is False
    assert data["organization"] == t.org.id and data["is_deleted"] is False
    assert data["created_by"] == t.admin.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and data["created_on"] == data["modified_on"]
    assert SECRET not in r.text and "encrypted" not in r.text

    row = reload(db, LLMConfig, data["id"])
    assert row.api_key_ref.startswith("encrypted:") and SECRET not in row.api_key_ref
    assert llm.api_key_for(row, settings) == SECRET
    assert row.org_id == t.org.id and row.extra == {}

    # Everything but the name has a default: the offline answerer with the model's limits.
    r = t.admin.post(BASE, json={"name": "  Local  "})
    minimal = succeeded(r, 201, "LLM config created successfully.")
    assert minimal["name"] == "Local" and minimal["provider"] == "offline"
    assert minimal["model"] == "parley-offline" and minimal["endpoint"] == ""
    assert (minimal["context_window"], minimal["max_output_tokens"]) == (8192, 1024)
    assert (minimal["temperature"], minimal["timeout_seconds"]) == (0.0, 60.0)
    assert minimal["price_input_per_million"] == "0.000000" and minimal["api_key_set"] is False
    assert llm.api_key_for(reload(db, LLMConfig, minimal["id"]), settings) is None


def test_create_rejects_bad_input_and_writes_nothing(t: Tenant, db: Session):
    create(t.admin)
    before = rows(db)
    bad: list[dict] = [
        {"name": None},
        {"name": ""},
        {"name": "   "},
        {"name": "x" * 201},
        {"name": "nul\x00"},
        {"name": 5},
        {"provider": "anthropic"},
        {"provider": None},
        {"model": ""},
        {"endpoint": ""},
        {"endpoint": "api.openai.com/v1"},
        {"endpoint": "ftp://api.openai.com"},
        {"endpoint": "https://"},
        {"provider": "azure", "endpoint": "https://exa mple.com"},
        {"api_version": "v" * 51},
        {"price_input_per_million": "-0.01"},
        {"price_input_per_million": "cheap"},
        {"price_input_per_million": "NaN"},
        {"price_output_per_million": "0.0000001"},
        {"price_output_per_million": "1000000000000"},
        {"context_window": 0},
        {"context_window": "big"},
        {"context_window": 1.5},
        {"context_window": 2**31},
        {"max_output_tokens": -1},
        {"max_output_tokens": 200_000},
        {"temperature": 2.01},
        {"temperature": -0.1},
        {"timeout_seconds": 0},
        {"timeout_seconds": 3601},
        {"is_active": "maybe"},
        {"is_default": True, "is_active": False},
        {"api_key": ""},
        {"api_key": "k" * 1001},
        {"api_key": SECRET, "api_key_env": None},
        {"api_key_env": "OPENAI_API_KEY"},
        {"api_key_env": "PARLEY_SECRET_KEY"},
        {"api_key_env": "PARLEY_LLM_KEY_"},
        {"api_key_env": "parley_llm_key_lower"},
        {"api_key_env": "PARLEY_LLM_KEY_" + "X" * 190},
        {"description": 7},
    ]
    for body in bad:
        r = t.admin.post(BASE, json={**GPT, "name": "New", **body})
        assert_error(r, 400)
        assert SECRET not in r.text, body
    # JSON extensions Python's parser accepts.
    for body in ({"timeout_seconds": float("inf")}, {"temperature": float("nan")}):
        assert_error(
            t.admin.post(BASE, content=json.dumps({**GPT, "name": "New", **body}), headers=JSON), 400
        )
    assert_error(t.admin.post(BASE, json={k: v for k, v in GPT.items() if k != "name"}), 400)
    assert_error(t.admin.post(BASE, content=b"{", headers=JSON), 400)
    taken = t.admin.post(BASE, json={**GPT, "name": "gpt-4O"})
    assert_error(taken, 409, "An LLM config with this name already exists.")
    assert rows(db) == before
    # Names are unique per organisation only.
    assert t.stranger.post(BASE, json=GPT).status_code == 201


# -- permissions -----------------------------------------------------------------------------


def test_writes_need_an_org_admin_and_a_key_that_may_write(t: Tenant, world: World, db: Session):
    active = create(t.admin)
    inactive = create(t.admin, name="Old", is_active=False)
    before = rows(db)
    denied = "Only organization administrators can manage LLM configs."
    assert_error(t.alice.post(BASE, json={**GPT, "name": "Mine"}), 403, denied)
    assert_error(t.alice.put(f"{BASE}/{active['id']}", json={"name": "Mine"}), 403, denied)
    assert_error(t.alice.delete(f"{BASE}/{active['id']}"), 403, denied)
    # A member cannot see an inactive config at all.
    assert_error(t.alice.put(f"{BASE}/{inactive['id']}", json={"name": "Mine"}), 404, "LLM config not found.")

    one = f"{BASE}/{active['id']}"
    reads = [BASE, one, f"{BASE}/active", f"{BASE}/org", f"{BASE}/deployment?model=gpt-4o"]
    writes = [("POST", BASE, {**GPT, "name": "Mine"}), ("PUT", one, {"name": "Mine"}), ("DELETE", one, None)]
    assert_read_only(world.key_for(t.admin, "read_only"), reads, writes)
    assert_read_only(world.key_for(t.admin, "restricted", {"llm_configs": "read"}), reads, writes)
    elsewhere = world.key_for(t.admin, "restricted", {"agents": "write"})
    for path in reads:
        assert_error(elsewhere.get(path), 403, "This API key is not allowed to read llm configs.")
    assert rows(db) == before


def test_members_see_active_configs_admins_all_and_other_orgs_none(t: Tenant, db: Session):
    active = create(t.admin)
    inactive = create(t.admin, name="Old", is_active=False)
    gone = create(t.admin, name="Gone")
    succeeded(t.admin.delete(f"{BASE}/{gone['id']}"), 200, "LLM config deleted successfully.")

    listed = succeeded(t.alice.get(BASE), 200, "LLM configs fetched successfully.")
    assert ids(listed) == [active["id"]] and listed[0] == active
    assert ids(t.admin.get(BASE).json()["data"]) == [active["id"], inactive["id"]]
    got = succeeded(t.alice.get(f"{BASE}/{active['id']}"), 200, "LLM config fetched successfully.")
    assert got == active
    assert t.admin.get(f"{BASE}/{inactive['id']}").json()["data"]["is_active"] is False
    assert_error(t.alice.get(f"{BASE}/{inactive['id']}"), 404, "LLM config not found.")
    for actor in (t.alice, t.admin):
        assert_error(actor.get(f"{BASE}/{gone['id']}"), 404, "LLM config not found.")

    assert t.stranger.get(BASE).json()["data"] == []
    requests = [
        (method, f"{BASE}/{config['id']}", body)
        for config in (active, inactive)
        for method, body in (("GET", None), ("PUT", {"description": "mine"}), ("DELETE", None))
    ]
    assert_hidden(t.stranger, requests, active["endpoint"])
    assert_hidden(t.stranger, [("GET", f"{BASE}/deployment?model=gpt-4o", None)], active["endpoint"])
    assert_hidden(t.stranger, [("GET", f"{BASE}/active?agent_id={t.agent.id}", None)], t.agent.agent_name)
    theirs = t.stranger.get(f"{BASE}/org").json()["data"]
    assert theirs["llm_configs"] == [] and theirs["default_llm_config"] is None

    for path in (f"{BASE}/abc", f"{BASE}/0", f"{BASE}/{2**63}", f"{BASE}/active?agent_id=x"):
        assert_error(t.admin.get(path), 400)
    assert_error(t.admin.get(f"{BASE}/{2**62}"), 404)


# -- Edit and Delete LLM Config ----------------------------------------------------------------


def test_edit_changes_only_the_fields_sent_and_checks_the_result(
    t: Tenant, db: Session, settings: Settings, monkeypatch: pytest.MonkeyPatch
):
    config = create(t.admin, api_key=SECRET)
    url = f"{BASE}/{config['id']}"
    ref = reload(db, LLMConfig, config["id"]).api_key_ref
    r = t.admin.put(url, json={"description": "Tuned", "temperature": 0.7, "price_input_per_million": 3})
    data = succeeded(r, 200, "LLM config updated successfully.")
    changed = {"description": "Tuned", "temperature": 0.7, "price_input_per_million": "3.000000"}
    assert data == {**config, **changed, "modified_by": t.admin.email, "modified_on": data["modified_on"]}
    assert data["modified_on"] >= config["modified_on"]
    assert reload(db, LLMConfig, config["id"]).api_key_ref == ref

    # The key moves to an environment variable, read only when it is needed.
    env = "PARLEY_LLM_KEY_TEST_OPENAI"
    r = t.admin.put(url, json={"api_key_env": f" {env} "})
    assert succeeded(r, 200, "LLM config updated successfully.")["api_key_set"] is True
    assert env not in r.text
    row = reload(db, LLMConfig, config["id"])
    assert row.api_key_ref == f"env:{env}"
    monkeypatch.setenv(env, "sk-from-the-environment\n")
    assert llm.api_key_for(row, settings) == "sk-from-the-environment"
    monkeypatch.delenv(env)
    with pytest.raises(llm.KeyUnavailableError, match=env):
        llm.api_key_for(row, settings)

    # null removes the key; a new api_key replaces it.
    assert t.admin.put(url, json={"api_key_env": None}).json()["data"]["api_key_set"] is False
    assert reload(db, LLMConfig, config["id"]).api_key_ref == ""
    assert t.admin.put(url, json={"api_key": "sk-second"}).json()["data"]["api_key_set"] is True
    assert llm.api_key_for(reload(db, LLMConfig, config["id"]), settings) == "sk-second"
    assert t.admin.put(url, json={"api_key": None}).json()["data"]["api_key_set"] is False
    # Long provider keys (OpenAI project keys pass 150 characters) are stored on every backend.
    assert t.admin.put(url, json={"api_key": "k" * 1000}).status_code == 200
    assert llm.api_key_for(reload(db, LLMConfig, config["id"]), settings) == "k" * 1000
    assert_error(t.admin.put(url, json={"api_key": "k" * 1001}), 400)

    # The result is checked as a whole, and a refused edit changes nothing.
    create(t.admin, name="Taken")
    before = rows(db)
    for body in (
        {"provider": "azure", "endpoint": ""},
        {"endpoint": "not a url"},
        {"max_output_tokens": 200_000},
        {"context_window": 1000},
        {"is_active": False, "is_default": True},
        {"name": None},
        {"temperature": None},
        {"api_key": "x", "api_key_env": "PARLEY_LLM_KEY_X"},
        {"price_output_per_million": "-1"},
    ):
        assert_error(t.admin.put(url, json=body), 400)
    assert_error(t.admin.put(url, json={"name": "TAKEN"}), 409)
    assert_error(t.admin.put(f"{BASE}/{2**62}", json={"name": "x"}), 404, "LLM config not found.")
    assert_error(t.admin.put(f"{BASE}/x", json={"name": "x"}), 400)
    assert rows(db) == before
    # Offline configs need no endpoint; renaming to the same name in another case is allowed.
    data = t.admin.put(url, json={"provider": "OFFLINE", "endpoint": "", "name": "gpt-4O"}).json()["data"]
    assert (data["provider"], data["endpoint"], data["name"]) == ("offline", "", "gpt-4O")


def test_api_key_for_refuses_keys_it_cannot_read(monkeypatch: pytest.MonkeyPatch):
    settings = Settings(environment="test", secret_key="the-current-server-secret-32-chars!")
    rotated = Settings(environment="test", secret_key="an-earlier-server-secret-of-32-chars")
    token = encrypt_secret("sk-1", rotated.secret()).decode()
    encrypted = LLMConfig(name="Enc", api_key_ref=f"encrypted:{token}")
    assert llm.api_key_for(encrypted, rotated) == "sk-1"
    with pytest.raises(llm.KeyUnavailableError, match="cannot be decrypted"):
        llm.api_key_for(encrypted, settings)
    # Only PARLEY_LLM_KEY_* variables are ever read, even if a row names another one.
    monkeypatch.setenv("OPENAI_API_KEY", "sk-not-for-tenants")
    for ref in ("env:OPENAI_API_KEY", "plain-key", "encrypted:"):
        with pytest.raises(llm.KeyUnavailableError):
            llm.api_key_for(LLMConfig(name="Bad", api_key_ref=ref), settings)
    assert llm.api_key_for(LLMConfig(name="None", api_key_ref=""), settings) is None


def test_delete_is_soft_and_sends_agents_back_to_the_default(t: Tenant, db: Session):
    default = create(t.admin, name="Default", is_default=True)
    config = create(t.admin)
    db.execute(update(Agent).where(Agent.id == t.agent.id).values(llm_config_id=config["id"]))
    db.commit()
    data = succeeded(t.admin.delete(f"{BASE}/{config['id']}"), 200, "LLM config deleted successfully.")
    assert data["is_deleted"] is True and data["modified_by"] == t.admin.email
    row = reload(db, LLMConfig, config["id"])
    assert row.is_deleted is True
    agent = reload(db, Agent, t.agent.id)
    assert agent.llm_config_id is None and agent.modified_by == t.admin.email
    assert_error(t.admin.get(f"{BASE}/{config['id']}"), 404)
    assert_error(t.admin.delete(f"{BASE}/{config['id']}"), 404)
    assert ids(t.admin.get(BASE).json()["data"]) == [default["id"]]
    assert llm.resolve_for_agent(db, agent).id == default["id"]  # type: ignore[union-attr]
    # The name is free again.
    assert t.admin.post(BASE, json=GPT).status_code == 201


# -- defaults and resolution -----------------------------------------------------------------


def defaults(db: Session, org_id: int) -> list[int]:
    fresh(db)
    stmt = select(LLMConfig.id).where(LLMConfig.org_id == org_id, LLMConfig.is_default.is_(True))
    return list(db.scalars(stmt.order_by(LLMConfig.id)))


def test_an_organisation_has_at_most_one_default(t: Tenant, db: Session):
    theirs = create(t.stranger, is_default=True)
    first = create(t.admin, name="First", is_default=True)
    assert first["is_default"] is True and defaults(db, t.org.id) == [first["id"]]
    second = create(t.admin, name="Second", is_default=True)
    assert defaults(db, t.org.id) == [second["id"]]
    assert reload(db, LLMConfig, first["id"]).modified_by == t.admin.email
    assert t.admin.get(f"{BASE}/{first['id']}").json()["data"]["is_default"] is False

    assert t.admin.put(f"{BASE}/{first['id']}", json={"is_default": True}).json()["data"]["is_default"]
    assert defaults(db, t.org.id) == [first["id"]]
    # The default stays active; it can stop being the default and be deactivated at once.
    assert_error(t.admin.put(f"{BASE}/{first['id']}", json={"is_active": False}), 400)
    r = t.admin.put(f"{BASE}/{first['id']}", json={"is_active": False, "is_default": False})
    assert r.status_code == 200 and defaults(db, t.org.id) == []
    assert defaults(db, t.stranger.org_id) == [theirs["id"]]


def test_resolve_for_agent_prefers_its_own_config_then_the_default(t: Tenant, db: Session, world: World):
    own = create(t.admin, name="Own")
    agent = reload(db, Agent, t.agent.id)
    assert llm.resolve_for_agent(db, agent) is None  # nothing configured: the offline answerer
    default = create(t.admin, name="Default", is_default=True)
    assert llm.resolve_for_agent(db, reload(db, Agent, t.agent.id)).id == default["id"]  # type: ignore[union-attr]

    db.execute(update(Agent).where(Agent.id == t.agent.id).values(llm_config_id=own["id"]))
    db.commit()
    assert llm.resolve_for_agent(db, reload(db, Agent, t.agent.id)).id == own["id"]  # type: ignore[union-attr]
    active = f"{BASE}/active?agent_id={t.agent.id}"
    data = succeeded(t.carol.get(active), 200, "Active LLM config fetched successfully.")
    assert data == {
        "agent": t.agent.id,
        "source": "agent",
        "llm_config": t.admin.get(f"{BASE}/{own['id']}").json()["data"],
    }
    # An inactive own config falls back to the default.
    t.admin.put(f"{BASE}/{own['id']}", json={"is_active": False})
    assert llm.resolve_for_agent(db, reload(db, Agent, t.agent.id)).id == default["id"]  # type: ignore[union-attr]
    data = t.carol.get(active).json()["data"]
    assert data["source"] == "default" and data["llm_config"]["id"] == default["id"]
    assert t.carol.get(f"{BASE}/active").json()["data"]["llm_config"]["id"] == default["id"]
    # Without a usable default, the offline answerer.
    t.admin.delete(f"{BASE}/{default['id']}")
    assert llm.resolve_for_agent(db, reload(db, Agent, t.agent.id)) is None
    assert t.carol.get(active).json()["data"] == {
        "agent": t.agent.id,
        "source": "offline",
        "llm_config": None,
    }

    # Another organisation's config never answers for an agent, even if one points at it.
    foreign = create(t.stranger, is_default=True)
    db.execute(update(Agent).where(Agent.id == t.agent.id).values(llm_config_id=foreign["id"]))
    db.commit()
    assert llm.resolve_for_agent(db, reload(db, Agent, t.agent.id)) is None
    # An agent the caller cannot see is not found.
    hidden = make_agent(db, t.alice, t.project, access="Only me")
    assert_error(t.carol.get(f"{BASE}/active?agent_id={hidden.id}"), 404, "Agent not found.")


# -- Get Org Configs, Get Model Deployment -------------------------------------------------------


def test_org_configs_show_the_active_configs_and_the_default(t: Tenant):
    default = create(t.admin, is_default=True)
    create(t.admin, name="Old", is_active=False)
    data = succeeded(t.alice.get(f"{BASE}/org"), 200, "Organization LLM configs fetched successfully.")
    assert data == {
        "organization": {"id": t.org.id, "org_name": t.org.org_name},
        "default_llm_config": default["id"],
        "llm_configs": [default],
    }
    # Admins get the same view: inactive configs are in Get All LLM Configs only.
    assert t.admin.get(f"{BASE}/org").json()["data"] == data


def test_model_deployment_finds_the_config_serving_a_model_name(t: Tenant):
    azure = create(
        t.admin,
        name="Azure GPT",
        provider="azure",
        model="gpt-4o",
        deployment_name="gpt4-o",
        endpoint="https://example.openai.azure.com",
        api_version="2024-06-01",
        api_key=SECRET,
    )
    create(t.admin, name="Retired", model="gpt-3.5", is_active=False)
    url = f"{BASE}/deployment"
    expected = {
        "llm_config": azure["id"],
        "name": "Azure GPT",
        "provider": "azure",
        "model": "gpt-4o",
        "deployment_name": "gpt4-o",
        "endpoint": "https://example.openai.azure.com",
        "api_version": "2024-06-01",
    }
    for model in ("gpt4-o", "GPT-4O", " azure gpt "):
        r = t.alice.get(url, params={"model": model})
        assert succeeded(r, 200, "Model deployment fetched successfully.") == expected
        assert SECRET not in r.text
    # The default wins when several configs serve the same model.
    default = create(t.admin, name="Default GPT", is_default=True)
    assert t.alice.get(url, params={"model": "gpt-4o"}).json()["data"]["llm_config"] == default["id"]
    for model in ("gpt-3.5", "gpt-4"):
        assert_error(t.admin.get(url, params={"model": model}), 404, "Model deployment not found.")
    for params in ({}, {"model": ""}, {"model": "x" * 201}, {"model": "a\x00"}):
        assert_error(t.admin.get(url, params=params), 400)


# -- Set Agent Config View -------------------------------------------------------------------


def test_set_agent_config_points_an_editable_agent_at_an_active_config(t: Tenant, world: World, db: Session):
    config = create(t.admin)
    inactive = create(t.admin, name="Old", is_active=False)
    url = f"/v2/api/agent/{t.agent.id}/llm-config"
    r = t.alice.put(url, json={"llm_config_id": config["id"]})
    data = succeeded(r, 200, "Agent LLM config updated successfully.")
    assert data["id"] == t.agent.id and data["llm_config"] == config["id"]
    assert data["agent_name"] == t.agent.agent_name and data["modified_by"] == t.alice.email
    assert reload(db, Agent, t.agent.id).llm_config_id == config["id"]
    active = t.alice.get(f"{BASE}/active", params={"agent_id": t.agent.id}).json()["data"]
    assert active["source"] == "agent" and active["llm_config"]["id"] == config["id"]

    def unchanged() -> None:
        assert reload(db, Agent, t.agent.id).llm_config_id == config["id"]

    assert_error(t.carol.put(url, json={"llm_config_id": None}), 403)
    hidden = make_agent(db, t.alice, t.project, access="Only me")
    assert_error(t.carol.put(f"/v2/api/agent/{hidden.id}/llm-config", json={"llm_config_id": None}), 404)
    assert_error(
        t.admin.put(url, json={"llm_config_id": inactive["id"]}), 400, "This LLM config is not active."
    )
    assert_error(t.alice.put(url, json={"llm_config_id": inactive["id"]}), 404, "LLM config not found.")
    assert_error(t.alice.put(url, json={"llm_config_id": 2**62}), 404, "LLM config not found.")
    theirs = create(t.stranger)
    assert_error(t.alice.put(url, json={"llm_config_id": theirs["id"]}), 404, "LLM config not found.")
    assert_hidden(t.stranger, [("PUT", url, {"llm_config_id": theirs["id"]})], t.agent.agent_name)
    for body in ({}, {"llm_config_id": "x"}, {"llm_config_id": 0}, {"llm_config_id": 2**63}):
        assert_error(t.alice.put(url, json=body), 400)
    # The key needs write access to agents as well as to LLM configs.
    for scope, permissions in (
        ("read_only", None),
        ("restricted", {"llm_configs": "write", "agents": "read"}),
        ("restricted", {"agents": "write", "llm_configs": "read"}),
    ):
        assert_error(world.key_for(t.alice, scope, permissions).put(url, json={"llm_config_id": None}), 403)
    unchanged()

    both = world.key_for(t.alice, "restricted", {"llm_configs": "write", "agents": "write"})
    assert both.put(url, json={"llm_config_id": None}).json()["data"]["llm_config"] is None
    assert reload(db, Agent, t.agent.id).llm_config_id is None


# -- the key is write-only -----------------------------------------------------------------------


def test_the_api_key_never_appears_in_any_answer(t: Tenant, db: Session):
    config = create(t.admin, api_key=SECRET, is_default=True)
    ref = reload(db, LLMConfig, config["id"]).api_key_ref
    one = f"{BASE}/{config['id']}"
    answers = [
        t.admin.get(BASE),
        t.alice.get(BASE),
        t.admin.get(one),
        t.admin.get(f"{BASE}/org"),
        t.admin.get(f"{BASE}/active", params={"agent_id": t.agent.id}),
        t.admin.get(f"{BASE}/deployment", params={"model": "gpt-4o"}),
        t.admin.put(one, json={"description": "Edited"}),
        t.admin.put(one, json={"api_key": SECRET + "2"}),
        t.admin.put(one, json={"api_key": "k" * 300}),
        t.alice.put(f"/v2/api/agent/{t.agent.id}/llm-config", json={"llm_config_id": config["id"]}),
        t.admin.delete(one),
    ]
    for r in answers:
        assert r.status_code in (200, 400), r.text
        assert SECRET not in r.text and ref not in r.text and "encrypted:" not in r.text
        assert "k" * 100 not in r.text
