"""Ejento V2 Tool, Agent Tool Connection, Organization Tool and API Tool Template groups."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, UserPermission
from parley.accounts.security import decrypt_secret
from parley.agents.models import Agent
from parley.projects.models import Project
from parley.settings import Settings
from parley.tools.models import AgentTool, ApiToolTemplate, OrganizationTool, Tool
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
    make_corpus,
    reload,
    succeeded,
)

TEMPLATES = "/v2/api/api-tool-template"
TOOLS = "/v2/api/tool"
ORG_TOOLS = "/v2/api/organization/tool"
JSON = {"Content-Type": "application/json"}
SECRET = "weather-key-0123456789SECRET"
TEMPLATE_KEYS = {
    "id",
    "name",
    "description",
    "method",
    "url_template",
    "parameters",
    "headers",
    "body_template",
    "auth",
    "timeout_seconds",
    "organization",
    *AUDIT_KEYS,
}
TOOL_KEYS = {
    "id",
    "name",
    "description",
    "tool_type",
    "api_tool_template",
    "config",
    "is_active",
    "is_builtin",
    "organization",
    "organization_enabled",
    *AUDIT_KEYS,
}
LINK_KEYS = {"id", "agent", "tool", "is_enabled", "created_by", "created_on", "modified_by", "modified_on"}
PARAMETERS = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "description": "City name"},
        "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
        "days": {"type": "integer"},
    },
    "required": ["city"],
}
WEATHER = {
    "name": "Weather",
    "description": "Current weather for a city",
    "method": "get",
    "url_template": "https://api.weather.example/v1/{city}?units={units}",
    "parameters": PARAMETERS,
    "headers": {"Accept": "application/json"},
    "auth": {"type": "header", "header": "X-Api-Key", "secret": SECRET},
    "timeout_seconds": 5,
}


@dataclass
class Tenant:
    org: Organization
    admin: Actor  # organisation admin
    alice: Actor  # member; owns a public agent and creates tools
    carol: Actor  # member of the team: sees alice's agent but may not edit it
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


def make_template(actor: Actor, **fields: Any) -> dict:
    r = actor.post(TEMPLATES, json={**WEATHER, **fields})
    return succeeded(r, 201, "API tool template created successfully.")


def make_tool(actor: Actor, template_id: int, **fields: Any) -> dict:
    body = {"name": "Weather lookup", "api_tool_template_id": template_id, **fields}
    return succeeded(actor.post(TOOLS, json=body), 201, "Tool created successfully.")


def builtin(db: Session, name: str) -> int:
    fresh(db)
    found = db.scalar(select(Tool.id).where(Tool.org_id.is_(None), Tool.name == name))
    assert found is not None
    return found


def rows(db: Session, *models: type) -> list[tuple]:
    """Everything stored in these tables, to show that a refused request wrote nothing."""
    fresh(db)
    out = []
    for model in models:
        columns = [c for c in model.__table__.columns if c.name != "modified_on"]
        out += [tuple(r) for r in db.execute(select(*columns).order_by(model.id)).all()]
    return out


ALL_TABLES = (ApiToolTemplate, Tool, AgentTool, OrganizationTool)


# -- API Tool Template ---------------------------------------------------------------------------


def test_create_template_returns_it_and_keeps_the_secret_encrypted(
    t: Tenant, db: Session, settings: Settings
):
    r = t.alice.post(TEMPLATES, json=WEATHER)
    data = succeeded(r, 201, "API tool template created successfully.")
    assert set(data) == TEMPLATE_KEYS
    assert data["name"] == "Weather" and data["description"] == "Current weather for a city"
    assert data["method"] == "GET" and data["url_template"] == WEATHER["url_template"]
    assert data["parameters"]["required"] == ["city"]
    assert data["parameters"]["properties"]["units"] == {
        "type": "string",
        "description": "",
        "enum": ["metric", "imperial"],
        "default": "metric",
    }
    assert data["headers"] == {"Accept": "application/json"} and data["body_template"] is None
    assert data["auth"] == {"type": "header", "header": "X-Api-Key", "username": None, "secret_set": True}
    assert data["timeout_seconds"] == 5.0 and data["organization"] == t.org.id and data["is_deleted"] is False
    assert data["created_by"] == t.alice.email and data["modified_by"] == ""
    assert TIMESTAMP.match(data["created_on"]) and data["created_on"] == data["modified_on"]
    assert SECRET not in r.text and "encrypted" not in r.text

    row = reload(db, ApiToolTemplate, data["id"])
    ref = row.auth["secret_ref"]
    assert ref.startswith("encrypted:") and SECRET not in json.dumps(row.auth)
    assert decrypt_secret(ref.removeprefix("encrypted:").encode(), settings.secret()) == SECRET

    # Only a name and a URL are required; a POST may carry a JSON body template.
    minimal = make_template(
        t.alice,
        name="  Echo  ",
        url_template="http://localhost:8080/echo",
        method="POST",
        parameters={"properties": {"q": {"type": "string"}}},
        body_template={"query": "{q}", "filters": [{"text": "about {q}"}]},
        headers={},
        auth={"type": "basic", "username": "bot", "secret": "pw"},
        timeout_seconds=0.5,
    )
    assert minimal["name"] == "Echo" and minimal["method"] == "POST"
    assert minimal["parameters"] == {
        "type": "object",
        "properties": {"q": {"type": "string", "description": ""}},
        "required": [],
    }
    assert minimal["body_template"] == {"query": "{q}", "filters": [{"text": "about {q}"}]}
    assert minimal["auth"] == {"type": "basic", "header": None, "username": "bot", "secret_set": True}
    defaults = succeeded(
        t.alice.post(TEMPLATES, json={"name": "Defaults", "url_template": "https://example.com/x"}),
        201,
        "API tool template created successfully.",
    )
    assert defaults["method"] == "GET" and defaults["headers"] == {} and defaults["timeout_seconds"] == 10.0
    assert defaults["auth"] == {"type": "none", "header": None, "username": None, "secret_set": False}
    assert defaults["parameters"] == {"type": "object", "properties": {}, "required": []}


def test_create_template_refuses_bad_input_and_writes_nothing(t: Tenant, db: Session):
    make_template(t.alice)
    before = rows(db, ApiToolTemplate)
    bad: list[dict] = [
        {"name": None},
        {"name": "  "},
        {"name": "x" * 201},
        {"name": "nul\x00"},
        {"url_template": ""},
        {"url_template": "ftp://example.com/{city}"},
        {"url_template": "example.com/{city}"},
        {"url_template": "https://{city}.example.com/"},
        {"url_template": "https://example.com:{days}/"},
        {"url_template": "https://example.com:99999/{city}"},
        {"url_template": "https://user:pw@example.com/{city}"},
        {"url_template": "https://example.com/{city}/{country}"},
        {"url_template": "https://example.com/{city}/{"},
        {"url_template": "https://example.com/{ city }"},
        {"url_template": "https://exa mple.com/{city}"},
        {"url_template": "https://example.com/" + "a" * 2000},
        {"method": "TRACE"},
        {"method": 3},
        {"parameters": {"type": "array"}},
        {"parameters": {"properties": {"city": {"type": "object"}}}},
        {"parameters": {"properties": {"city": {"type": "string", "minLength": 2}}}},
        {"parameters": {"properties": {"bad name": {"type": "string"}}}},
        {"parameters": {"properties": {"city": {"type": "string"}}, "required": ["country"]}},
        {"parameters": {"properties": {"city": {"type": "string"}}, "required": ["city", "city"]}},
        {"parameters": {"properties": {"n": {"type": "integer", "enum": [1, "2"]}}}},
        {"parameters": {"properties": {"n": {"type": "integer", "default": True}}}},
        {"parameters": {"properties": {"n": {"type": "integer", "enum": [1, 2], "default": 3}}}},
        {"parameters": {"properties": {"city": {"type": "string"}}, "additional": True}},
        {"headers": {"Authorization": "Bearer x"}},
        {"headers": {"cookie": "a=b"}},
        {"headers": {"Host": "evil.example"}},
        {"headers": {"Accept": "a", "accept": "b"}},
        {"headers": {"X-Api-Key": "duplicate of the auth header"}},
        {"headers": {"X-Note": "line\r\nInjected: yes"}},
        {"headers": {"Bad Header": "x"}},
        {"headers": {"X-Note": "café"}},
        {"auth": {"type": "bearer"}},
        {"auth": {"type": "bearer", "secret": ""}},
        {"auth": {"type": "bearer", "secret": "line\nbreak"}},
        {"auth": {"type": "header", "secret": "s"}},
        {"auth": {"type": "header", "header": "Content-Length", "secret": "s"}},
        {"auth": {"type": "basic", "secret": "s"}},
        {"auth": {"type": "basic", "username": "a:b", "secret": "s"}},
        {"auth": {"type": "none", "secret": "s"}},
        {"auth": {"type": "oauth", "secret": "s"}},
        {"auth": None},
        {"body_template": {"q": "{city}"}},  # GET takes no body
        {"method": "POST", "body_template": {"q": "{country}"}},
        {"method": "POST", "body_template": "text"},
        {"timeout_seconds": 0},
        {"timeout_seconds": 61},
        {"timeout_seconds": "soon"},
        {"description": "x" * 5001},
    ]
    for body in bad:
        r = t.alice.post(TEMPLATES, json={**WEATHER, "name": "New", **body})
        assert_error(r, 400)
        assert SECRET not in r.text, body
    for body in ({"timeout_seconds": float("nan")}, {"method": "POST", "body_template": {"x": float("inf")}}):
        r = t.alice.post(TEMPLATES, content=json.dumps({**WEATHER, "name": "New", **body}), headers=JSON)
        assert_error(r, 400)
    assert_error(t.alice.post(TEMPLATES, json={"name": "No URL"}), 400)
    assert_error(t.alice.post(TEMPLATES, content=b"{", headers=JSON), 400)
    assert_error(t.alice.post(TEMPLATES, json={**WEATHER, "name": "weather"}), 409)
    assert rows(db, ApiToolTemplate) == before
    # Names are unique per organisation only.
    assert t.stranger.post(TEMPLATES, json=WEATHER).status_code == 201


def test_get_templates_lists_the_organisations_live_ones(t: Tenant):
    first = make_template(t.alice)
    second = make_template(t.admin, name="Stocks", auth={"type": "none"})
    gone = make_template(t.admin, name="Gone", auth={"type": "none"})
    succeeded(t.admin.delete(f"{TEMPLATES}/{gone['id']}"), 200, "API tool template deleted successfully.")
    theirs = make_template(t.stranger)

    listed = succeeded(t.carol.get(TEMPLATES), 200, "API tool templates fetched successfully.")
    assert ids(listed) == [first["id"], second["id"]] and listed[0] == first
    assert SECRET not in json.dumps(listed)
    one = succeeded(t.carol.get(f"{TEMPLATES}/{first['id']}"), 200, "API tool template fetched successfully.")
    assert one == first
    assert ids(succeeded(t.stranger.get(TEMPLATES), 200, "API tool templates fetched successfully.")) == [
        theirs["id"]
    ]
    assert_error(t.carol.get(f"{TEMPLATES}/{gone['id']}"), 404, "API tool template not found.")
    assert_error(t.carol.get(f"{TEMPLATES}/abc"), 400)
    assert_error(t.carol.get(f"{TEMPLATES}/0"), 400)


def test_edit_template_changes_only_what_is_sent(t: Tenant, db: Session, settings: Settings):
    made = make_template(t.alice)
    path = f"{TEMPLATES}/{made['id']}"
    r = t.alice.put(
        path, json={"description": "Now with days", "url_template": made["url_template"] + "&d={days}"}
    )
    data = succeeded(r, 200, "API tool template updated successfully.")
    assert data["description"] == "Now with days" and data["url_template"].endswith("&d={days}")
    assert {k: data[k] for k in ("name", "method", "parameters", "headers", "auth")} == {
        k: made[k] for k in ("name", "method", "parameters", "headers", "auth")
    }
    assert data["modified_by"] == t.alice.email and data["created_by"] == t.alice.email
    stored_ref = reload(db, ApiToolTemplate, made["id"]).auth["secret_ref"]

    # Auth without a secret keeps the stored one (same type); a new secret replaces it.
    r = t.alice.put(path, json={"auth": {"type": "header", "header": "X-Key"}})
    data = succeeded(r, 200, "API tool template updated successfully.")
    row = reload(db, ApiToolTemplate, made["id"])
    assert data["auth"] == {"type": "header", "header": "X-Key", "username": None, "secret_set": True}
    assert row.auth["secret_ref"] == stored_ref

    make_template(t.alice, name="Other")
    before = rows(db, ApiToolTemplate)
    refused = [
        ({"auth": {"type": "bearer"}}, 400),  # another type needs its secret
        ({"name": None}, 400),
        ({"method": None}, 400),
        ({"parameters": {"properties": {}}}, 400),  # the URL still uses {city}
        ({"method": "POST", "body_template": {"q": "{nope}"}}, 400),
        ({"url_template": "https://api.weather.example/{city}", "name": "x" * 201}, 400),
    ]
    for body, status in refused:
        assert_error(t.alice.put(path, json=body), status)
    assert_error(t.alice.put(path, json={"name": "OTHER"}), 409)
    # The stored secret stays with the server it was given for.
    moved = (
        "Send auth.secret again when changing the scheme, host or port of url_template: a stored secret "
        "is only sent to the server it was given for."
    )
    for url in ("https://collector.example/{city}", "http://api.weather.example/v1/{city}"):
        assert_error(t.alice.put(path, json={"url_template": url}), 400, moved)
    assert rows(db, ApiToolTemplate) == before

    # With the secret sent again the host may change; a body template needs a body method.
    moved = succeeded(
        t.alice.put(
            path,
            json={
                "url_template": "https://weather2.example/{city}",
                "auth": {"type": "bearer", "secret": "new-secret"},
                "method": "POST",
                "body_template": {"days": "{days}"},
            },
        ),
        200,
        "API tool template updated successfully.",
    )
    assert moved["auth"]["type"] == "bearer" and moved["body_template"] == {"days": "{days}"}
    row = reload(db, ApiToolTemplate, made["id"])
    assert decrypt_secret(row.auth["secret_ref"].removeprefix("encrypted:").encode(), settings.secret()) == (
        "new-secret"
    )
    assert_error(t.alice.put(path, json={"method": "GET"}), 400)  # the body template would be lost
    cleared = succeeded(
        t.alice.put(path, json={"method": "GET", "body_template": None, "auth": {"type": "none"}}),
        200,
        "API tool template updated successfully.",
    )
    assert cleared["body_template"] is None and cleared["auth"]["secret_set"] is False
    assert reload(db, ApiToolTemplate, made["id"]).auth == {"type": "none"}


def test_delete_template_is_refused_while_a_tool_calls_it(t: Tenant, db: Session):
    made = make_template(t.alice)
    tool = make_tool(t.alice, made["id"])
    path = f"{TEMPLATES}/{made['id']}"
    assert_error(t.alice.delete(path), 400, None)
    assert reload(db, ApiToolTemplate, made["id"]).is_deleted is False
    succeeded(t.alice.delete(f"{TOOLS}/{tool['id']}"), 200, "Tool deleted successfully.")
    data = succeeded(t.alice.delete(path), 200, "API tool template deleted successfully.")
    assert data["is_deleted"] is True and data["modified_by"] == t.alice.email
    assert reload(db, ApiToolTemplate, made["id"]).is_deleted is True
    assert_error(t.alice.get(path), 404, "API tool template not found.")
    assert_error(t.alice.delete(path), 404)
    make_template(t.alice)  # the name is free again


def test_template_writes_need_the_creator_or_an_admin_and_manage_tools(t: Tenant, world: World, db: Session):
    made = make_template(t.alice)
    path = f"{TEMPLATES}/{made['id']}"
    before = rows(db, ApiToolTemplate)
    denied = "Only the API tool template's creator or an organization administrator can change it."
    assert_error(t.carol.put(path, json={"description": "mine"}), 403, denied)
    assert_error(t.carol.delete(path), 403, denied)
    assert rows(db, ApiToolTemplate) == before
    assert succeeded(
        t.admin.put(path, json={"description": "admin"}), 200, "API tool template updated successfully."
    )

    db.add(UserPermission(org_id=t.org.id, user_id=t.carol.id, permission="manage_tools", is_allowed=False))
    db.commit()
    before = rows(db, ApiToolTemplate)
    refused = "You do not have permission to manage tools and API tool templates."
    assert_error(t.carol.post(TEMPLATES, json={**WEATHER, "name": "Carol's"}), 403, refused)
    assert rows(db, ApiToolTemplate) == before


def test_template_permissions_across_orgs_and_keys(t: Tenant, world: World):
    made = make_template(t.alice)
    one = f"{TEMPLATES}/{made['id']}"
    assert_hidden(
        t.stranger,
        [("GET", one, None), ("PUT", one, {"description": "x"}), ("DELETE", one, None)],
        SECRET,
    )
    assert made["id"] not in ids(t.stranger.get(TEMPLATES).json()["data"])

    writes = [
        ("POST", TEMPLATES, {**WEATHER, "name": "Mine"}),
        ("PUT", one, {"description": "x"}),
        ("DELETE", one, None),
    ]
    assert_read_only(world.key_for(t.alice, "read_only"), [TEMPLATES, one], writes)
    assert_read_only(world.key_for(t.alice, "restricted", {"tools": "read"}), [TEMPLATES, one], writes)
    elsewhere = world.key_for(t.alice, "restricted", {"agents": "write"})
    for path in (TEMPLATES, one):
        assert_error(elsewhere.get(path), 403, "This API key is not allowed to read tools.")
    writer = world.key_for(t.alice, "restricted", {"tools": "write"})
    assert writer.post(TEMPLATES, json={**WEATHER, "name": "By key"}).status_code == 201


# -- Tool ----------------------------------------------------------------------------------------


def test_get_all_tools_lists_the_builtins_and_the_organisations_tools(t: Tenant, db: Session):
    template = make_template(t.alice)
    mine = make_tool(t.alice, template["id"], description="Looks up the weather", config={"max_calls": 3})
    theirs = make_tool(t.stranger, make_template(t.stranger)["id"])

    listed = succeeded(t.carol.get(TOOLS), 200, "Tools fetched successfully.")
    rag, attachment = builtin(db, "Rag Tool"), builtin(db, "Attachment Tool")
    assert ids(listed) == [rag, attachment, mine["id"]]
    assert all(set(item) == TOOL_KEYS for item in listed)
    assert listed[0]["name"] == "Rag Tool" and listed[0]["tool_type"] == "rag"
    assert listed[0]["is_builtin"] is True and listed[0]["organization"] is None
    assert listed[0]["created_by"] == "System" and listed[0]["api_tool_template"] is None
    assert listed[2] == mine
    assert mine["tool_type"] == "api" and mine["api_tool_template"] == template["id"]
    assert mine["config"] == {"max_calls": 3} and mine["is_active"] is True and mine["is_builtin"] is False
    assert mine["organization"] == t.org.id and mine["organization_enabled"] is True
    assert (
        mine["created_by"] == t.alice.email
        and mine["modified_by"] == ""
        and TIMESTAMP.match(mine["created_on"])
    )
    assert theirs["id"] not in ids(listed)
    assert succeeded(t.carol.get(f"{TOOLS}/{rag}"), 200, "Tool fetched successfully.") == listed[0]
    assert succeeded(t.carol.get(f"{TOOLS}/{mine['id']}"), 200, "Tool fetched successfully.") == mine


def test_create_tool_refuses_bad_input_and_writes_nothing(t: Tenant, db: Session):
    template = make_template(t.alice)
    make_tool(t.alice, template["id"])
    theirs = make_template(t.stranger)
    before = rows(db, Tool)
    bad = [
        ({"name": ""}, 400),
        ({"name": None}, 400),
        ({"name": "x" * 201}, 400),
        ({"api_tool_template_id": None}, 400),
        ({"api_tool_template_id": "one"}, 400),
        ({"api_tool_template_id": 0}, 400),
        ({"tool_type": "rag"}, 400),
        ({"config": []}, 400),
        ({"config": {"s": "nul\x00"}}, 400),
        ({"config": {"s": "x" * 10_001}}, 400),
        ({"is_active": "yes"}, 400),
        ({"api_tool_template_id": 10**12}, 404),
        ({"api_tool_template_id": theirs["id"]}, 404),
        ({"name": "WEATHER LOOKUP"}, 409),
        ({"name": "rag tool"}, 409),  # a built-in's name
    ]
    for body, status in bad:
        r = t.alice.post(TOOLS, json={"name": "New", "api_tool_template_id": template["id"], **body})
        assert_error(r, status)
    r = t.alice.post(
        TOOLS,
        content=json.dumps(
            {"name": "N", "api_tool_template_id": template["id"], "config": {"x": float("nan")}}
        ),
        headers=JSON,
    )
    assert_error(r, 400)
    assert_error(t.alice.post(TOOLS, json={"name": "No template"}), 400)
    assert rows(db, Tool) == before


def test_edit_and_delete_tool(t: Tenant, db: Session):
    template = make_template(t.alice)
    other_template = make_template(t.alice, name="Other")
    made = make_tool(t.alice, template["id"])
    path = f"{TOOLS}/{made['id']}"
    r = t.alice.put(
        path, json={"description": "Better", "is_active": False, "api_tool_template_id": other_template["id"]}
    )
    data = succeeded(r, 200, "Tool updated successfully.")
    assert data["description"] == "Better" and data["is_active"] is False
    assert data["api_tool_template"] == other_template["id"] and data["name"] == made["name"]
    assert data["modified_by"] == t.alice.email

    before = rows(db, Tool)
    for body, status in [
        ({"name": None}, 400),
        ({"is_active": None}, 400),
        ({"api_tool_template_id": make_template(t.stranger)["id"]}, 404),
        ({"name": "Attachment Tool"}, 409),
    ]:
        assert_error(t.alice.put(path, json=body), status)
    rag = builtin(db, "Rag Tool")
    assert_error(
        t.admin.put(f"{TOOLS}/{rag}", json={"description": "x"}), 403, "Built-in tools cannot be changed."
    )
    assert_error(t.admin.delete(f"{TOOLS}/{rag}"), 403, "Built-in tools cannot be changed.")
    denied = "Only the tool's creator or an organization administrator can change it."
    assert_error(t.carol.put(path, json={"description": "x"}), 403, denied)
    assert_error(t.carol.delete(path), 403, denied)
    assert rows(db, Tool) == before

    deleted = succeeded(t.admin.delete(path), 200, "Tool deleted successfully.")
    assert deleted["is_deleted"] is True and deleted["modified_by"] == t.admin.email
    assert reload(db, Tool, made["id"]).is_deleted is True
    assert_error(t.alice.get(path), 404, "Tool not found.")
    assert made["id"] not in ids(t.alice.get(TOOLS).json()["data"])
    make_tool(t.alice, template["id"])  # the name is free again


def test_tool_permissions_across_orgs_and_keys(t: Tenant, world: World, db: Session):
    made = make_tool(t.alice, make_template(t.alice)["id"], name="Secret weather")
    one = f"{TOOLS}/{made['id']}"
    assert_hidden(
        t.stranger,
        [("GET", one, None), ("PUT", one, {"description": "x"}), ("DELETE", one, None)],
        "Secret weather",
    )
    assert made["id"] not in ids(t.stranger.get(TOOLS).json()["data"])
    writes = [
        ("POST", TOOLS, {"name": "K", "api_tool_template_id": made["api_tool_template"]}),
        ("PUT", one, {"description": "x"}),
        ("DELETE", one, None),
    ]
    assert_read_only(world.key_for(t.alice, "read_only"), [TOOLS, one], writes)
    assert_read_only(world.key_for(t.alice, "restricted", {"tools": "read"}), [TOOLS, one], writes)
    elsewhere = world.key_for(t.alice, "restricted", {"agents": "write"})
    assert_error(elsewhere.get(TOOLS), 403, "This API key is not allowed to read tools.")
    db.add(UserPermission(org_id=t.org.id, user_id=t.carol.id, permission="manage_tools", is_allowed=False))
    db.commit()
    body = {"name": "Carol's", "api_tool_template_id": made["api_tool_template"]}
    assert_error(t.carol.post(TOOLS, json=body), 403)


# -- Agent Tool Connection -------------------------------------------------------------------------


def test_enable_list_and_disable_agent_tools(t: Tenant, db: Session):
    made = make_tool(t.alice, make_template(t.alice)["id"])
    rag = builtin(db, "Rag Tool")
    base = f"/v2/api/agent/{t.agent.id}/tool"

    listed = succeeded(t.carol.get(base), 200, "Agent tools fetched successfully.")
    assert [(item["id"], item["is_enabled"]) for item in listed][-3:] == [
        (rag, False),
        (builtin(db, "Attachment Tool"), False),
        (made["id"], False),
    ]
    assert set(listed[0]) == TOOL_KEYS | {"is_enabled"}
    assert (
        succeeded(t.carol.get(f"{base}/connected"), 200, "Connected agent tools fetched successfully.") == []
    )

    link = succeeded(t.alice.post(f"{base}/{made['id']}"), 201, "Agent tool enabled successfully.")
    assert set(link) == LINK_KEYS
    assert link["agent"] == t.agent.id and link["is_enabled"] is True and link["tool"] == made
    assert link["created_by"] == t.alice.email and link["modified_by"] == ""
    again = succeeded(t.alice.post(f"{base}/{made['id']}"), 201, "Agent tool enabled successfully.")
    assert again["id"] == link["id"]  # enabling twice changes nothing
    succeeded(t.alice.post(f"{base}/{rag}"), 201, "Agent tool enabled successfully.")

    connected = succeeded(
        t.carol.get(f"{base}/connected"), 200, "Connected agent tools fetched successfully."
    )
    assert [c["tool"]["id"] for c in connected] == [made["id"], rag] and connected[0] == link
    enabled = {item["id"]: item["is_enabled"] for item in t.carol.get(base).json()["data"]}
    # The Rag Tool follows the agent's corpora (it has none), not its link.
    assert enabled[made["id"]] is True and enabled[rag] is False
    agent = t.alice.get(f"/v2/api/agent/{t.agent.id}").json()["data"]
    assert agent["connected_tool_names"] == ["Weather lookup", "Rag Tool"]

    off = succeeded(t.alice.delete(f"{base}/{made['id']}"), 200, "Agent tool disabled successfully.")
    assert off["id"] == link["id"] and off["is_enabled"] is False and off["modified_by"] == t.alice.email
    assert reload(db, AgentTool, link["id"]).is_enabled is False
    assert [c["tool"]["id"] for c in t.carol.get(f"{base}/connected").json()["data"]] == [rag]
    # Re-enabling the kept link: same row, who made it kept.
    back = succeeded(t.admin.post(f"{base}/{made['id']}"), 201, "Agent tool enabled successfully.")
    assert (
        back["id"] == link["id"]
        and back["created_by"] == t.alice.email
        and back["modified_by"] == t.admin.email
    )


def test_the_rag_tool_is_on_while_the_agent_answers_from_an_enabled_corpus(t: Tenant, db: Session):
    rag = builtin(db, "Rag Tool")
    base = f"/v2/api/agent/{t.agent.id}/tool"

    def rag_enabled() -> bool:
        return next(i["is_enabled"] for i in t.carol.get(base).json()["data"] if i["id"] == rag)

    assert rag_enabled() is False
    corpus = make_corpus(db, t.alice, name="Handbook")
    link = f"/v2/api/agent/{t.agent.id}/corpus/{corpus.id}"
    assert t.alice.post(link).status_code == 201
    assert rag_enabled() is True
    assert t.alice.put(link, json={"is_enabled": False}).status_code == 200
    assert rag_enabled() is False


def test_agent_tool_changes_are_checked_and_write_nothing_when_refused(t: Tenant, db: Session):
    template = make_template(t.alice)
    made = make_tool(t.alice, template["id"])
    inactive = make_tool(t.alice, template["id"], name="Paused", is_active=False)
    attachment = builtin(db, "Attachment Tool")
    succeeded(t.admin.delete(f"{ORG_TOOLS}/{attachment}"), 200, "Organization tool disabled successfully.")
    theirs = make_tool(t.stranger, make_template(t.stranger)["id"])
    base = f"/v2/api/agent/{t.agent.id}/tool"
    before = rows(db, AgentTool)
    assert_error(t.alice.post(f"{base}/{inactive['id']}"), 400, "This tool is not active.")
    assert_error(t.alice.post(f"{base}/{attachment}"), 400, "This tool is disabled for your organization.")
    assert_error(t.alice.post(f"{base}/{theirs['id']}"), 404, "Tool not found.")
    assert_error(t.alice.post(f"{base}/{10**12}"), 404, "Tool not found.")
    assert_error(t.alice.post(f"/v2/api/agent/{10**12}/tool/{made['id']}"), 404, "Agent not found.")
    assert_error(t.alice.delete(f"{base}/{made['id']}"), 404, "Agent tool not found.")
    assert_error(t.alice.post(f"{base}/abc"), 400)
    assert_error(t.alice.get("/v2/api/agent/abc/tool"), 400)
    denied = "You do not have permission to change this agent's tools."
    assert_error(t.carol.post(f"{base}/{made['id']}"), 403, denied)
    assert_error(t.carol.delete(f"{base}/{made['id']}"), 403, denied)
    # A member who cannot see an "Only me" agent gets 404.
    private = make_agent(db, t.alice, t.project, access="Only me")
    assert_error(t.carol.get(f"/v2/api/agent/{private.id}/tool"), 404, "Agent not found.")
    assert_error(t.carol.post(f"/v2/api/agent/{private.id}/tool/{made['id']}"), 404, "Agent not found.")
    assert rows(db, AgentTool) == before


def test_agent_tool_permissions_across_orgs_and_keys(t: Tenant, world: World, db: Session):
    made = make_tool(t.alice, make_template(t.alice)["id"], name="Secret weather")
    base = f"/v2/api/agent/{t.agent.id}/tool"
    succeeded(t.alice.post(f"{base}/{made['id']}"), 201, "Agent tool enabled successfully.")
    one = f"{base}/{made['id']}"
    assert_hidden(
        t.stranger,
        [("GET", base, None), ("GET", f"{base}/connected", None), ("POST", one, None), ("DELETE", one, None)],
        "Secret weather",
    )
    # Nor can they put the first organisation's tool on their own agent.
    project = world.project(world.team(db.get(Organization, t.stranger.org_id), {t.stranger: "Owner"}))
    own = make_agent(db, t.stranger, project)
    assert_error(t.stranger.post(f"/v2/api/agent/{own.id}/tool/{made['id']}"), 404, "Tool not found.")

    writes = [("POST", one, None), ("DELETE", one, None)]
    reads = [base, f"{base}/connected"]
    assert_read_only(world.key_for(t.alice, "read_only"), reads, writes)
    assert_read_only(
        world.key_for(t.alice, "restricted", {"tools": "read", "agents": "write"}), reads, writes
    )
    tools_only = world.key_for(t.alice, "restricted", {"tools": "write"})
    assert_error(tools_only.delete(one), 403, "This API key is not allowed to write to agents.")
    elsewhere = world.key_for(t.alice, "restricted", {"agents": "write"})
    assert_error(elsewhere.get(base), 403, "This API key is not allowed to read tools.")
    assert reload(db, AgentTool, t.alice.get(f"{base}/connected").json()["data"][0]["id"]).is_enabled is True
    both = world.key_for(t.alice, "restricted", {"tools": "write", "agents": "write"})
    assert succeeded(both.delete(one), 200, "Agent tool disabled successfully.")["is_enabled"] is False


# -- Organization Tool -----------------------------------------------------------------------------


def test_enable_and_disable_organization_tools(t: Tenant, db: Session):
    rag = builtin(db, "Rag Tool")
    off = succeeded(t.admin.delete(f"{ORG_TOOLS}/{rag}"), 200, "Organization tool disabled successfully.")
    assert set(off) == {
        "id",
        "organization",
        "tool",
        "is_enabled",
        "created_by",
        "created_on",
        "modified_by",
        "modified_on",
    }
    assert off["organization"] == t.org.id and off["is_enabled"] is False
    assert off["tool"]["id"] == rag and off["tool"]["organization_enabled"] is False
    assert off["created_by"] == t.admin.email
    assert t.carol.get(f"{TOOLS}/{rag}").json()["data"]["organization_enabled"] is False
    # Another organisation keeps the built-in enabled.
    assert t.stranger.get(f"{TOOLS}/{rag}").json()["data"]["organization_enabled"] is True

    on = succeeded(t.admin.post(f"{ORG_TOOLS}/{rag}"), 201, "Organization tool enabled successfully.")
    assert on["id"] == off["id"] and on["is_enabled"] is True and on["tool"]["organization_enabled"] is True
    assert on["modified_by"] == t.admin.email
    assert reload(db, OrganizationTool, on["id"]).is_enabled is True

    made = make_tool(t.alice, make_template(t.alice)["id"])
    first = succeeded(
        t.admin.post(f"{ORG_TOOLS}/{made['id']}"), 201, "Organization tool enabled successfully."
    )
    assert first["tool"]["id"] == made["id"] and first["modified_by"] == ""


def test_organization_tools_need_an_admin_of_the_organisation(t: Tenant, world: World, db: Session):
    made = make_tool(t.alice, make_template(t.alice)["id"], name="Secret weather")
    one = f"{ORG_TOOLS}/{made['id']}"
    before = rows(db, OrganizationTool)
    denied = "Only organization administrators can enable or disable organization tools."
    assert_error(t.alice.post(one), 403, denied)
    assert_error(t.alice.delete(one), 403, denied)
    assert_hidden(t.stranger, [("POST", one, None), ("DELETE", one, None)], "Secret weather")
    assert_error(t.admin.post(f"{ORG_TOOLS}/{10**12}"), 404, "Tool not found.")
    assert_error(t.admin.post(f"{ORG_TOOLS}/x"), 400)
    for key in (world.key_for(t.admin, "read_only"), world.key_for(t.admin, "restricted", {"tools": "read"})):
        assert_error(key.post(one), 403)
        assert_error(key.delete(one), 403)
    assert rows(db, OrganizationTool) == before
