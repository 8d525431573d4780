"""The console's server side, in process on both backends: the page and its modules are served
without shadowing any API path, and the Parley-native usage endpoints it reads (organisation
scoped, admins only, errors in Parley's format, nothing written)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from sqlalchemy import func, select

from parley.usage.models import LLMUsageRecord
from parley.usage.service import record_call
from tests.surfaces.ejento.factories import make_agent

STATIC = Path(__file__).resolve().parents[2] / "src" / "parley" / "console" / "static"
T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def parley_error(response, status: int) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"} and set(body["error"]) == {"message", "detail"}
    return body["error"]["message"]


# -- the page -------------------------------------------------------------------------------------


def test_the_page_and_every_module_it_imports_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff"
    assert "<noscript>" in page.text and '<main class="noscript"' in page.text

    # Follow every asset the page names and every ES-module import, as the browser would.
    pending = re.findall(r'(?:src|href)="(/assets/[^"]+)"', page.text)
    seen: set[str] = set()
    while pending:
        path = pending.pop()
        if path in seen:
            continue
        seen.add(path)
        asset = client.get(path)
        assert asset.status_code == 200, path
        if path.endswith(".js"):
            assert "javascript" in asset.headers["content-type"], path
            for target in re.findall(r'^\s*(?:import|export)\b[^;]*?from\s+"(\.[^"]+)"', asset.text, re.M):
                base = path.rsplit("/", 1)[0]
                parts = f"{base}/{target}".split("/")
                resolved: list[str] = []
                for part in parts:
                    if part == "..":
                        resolved.pop()
                    elif part != ".":
                        resolved.append(part)
                pending.append("/".join(resolved))
    on_disk = {
        f"/assets/{p.relative_to(STATIC / 'assets').as_posix()}" for p in (STATIC / "assets").rglob("*.*")
    }
    assert seen == on_disk, "every shipped asset is used, and every used asset is shipped"


def test_the_console_never_answers_for_an_api_path(client):
    assert client.get("/v2/api/no-such-endpoint").json() == {
        "success": False,
        "message": "The requested resource was not found.",
        "data": None,
    }
    assert client.get("/v1/no-such-endpoint").status_code == 404
    assert "detail" in client.get("/v1/no-such-endpoint").json()
    assert parley_error(client.get("/assets/../app.py"), 404)
    # Encoded dots reach the handler undecoded by the client: ../../router.py is the console router.
    assert parley_error(client.get("/assets/%2e%2e/%2e%2e/router.py"), 404) == "Asset not found."
    assert parley_error(client.get("/assets/js/missing.js"), 404) == "Asset not found."
    assert parley_error(client.get("/no-such-page"), 404)
    assert parley_error(client.post("/"), 405) == "Method not allowed."
    schema = client.get("/openapi.json").json()["paths"]
    assert "/" not in schema and not any(p.startswith("/assets") for p in schema)
    assert {"/parley/v1/usage/calls", "/parley/v1/usage/calls/{call_id}", "/parley/v1/usage/models"} <= set(
        schema
    )


# -- usage records --------------------------------------------------------------------------------


def _call(db, actor, agent, *, minutes: int, model: str, feature: str, cost: str, error: str = "", user=None):
    record = record_call(
        db,
        org_id=actor.org_id,
        user_id=(user or actor).id,
        agent_id=agent.id if agent else None,
        llm_config=None,
        prompt_name="answer",
        feature_name=feature,
        model_name=model,
        channel="web",
        started=T0 + timedelta(minutes=minutes),
        ended=T0 + timedelta(minutes=minutes, milliseconds=250 + minutes),
        status_code=502 if error else 200,
        error=error,
        request_payload={"messages": [{"role": "user", "content": f"question {minutes}"}]},
        response_payload={"choices": [{"text": f"answer {minutes}"}]},
        request_tokens=100 + minutes,
        response_tokens=10,
    )
    record.cost = Decimal(cost)
    db.commit()
    return record


def _arrange(world, db):
    org, other_org = world.org(), world.org()
    admin = world.user(org, admin=True)
    member = world.user(org)
    outsider = world.user(other_org, admin=True)
    project = world.project(world.team(org, {admin: "Owner"}))
    first = make_agent(db, admin, project, name="First")
    second = make_agent(db, admin, project, name="Second")
    calls = [
        _call(db, admin, first, minutes=0, model="gpt-a", feature="generation", cost="0.1"),
        _call(db, admin, first, minutes=1, model="gpt-a", feature="followups", cost="0.2"),
        _call(
            db, admin, second, minutes=2, model="gpt-b", feature="generation", cost="0.00000001", user=member
        ),
        _call(db, admin, second, minutes=3, model="gpt-b", feature="generation", cost="0", error="timed out"),
        _call(db, admin, None, minutes=4, model="embedder", feature="embedding", cost="0"),
    ]
    foreign_project = world.project(world.team(other_org, {outsider: "Owner"}))
    foreign = _call(
        db,
        outsider,
        make_agent(db, outsider, foreign_project),
        minutes=5,
        model="gpt-a",
        feature="generation",
        cost="1",
    )
    return admin, member, outsider, first, second, calls, foreign


def test_admins_list_their_organisations_calls_newest_first_with_filters_and_pages(world, db):
    admin, member, _, first, second, calls, foreign = _arrange(world, db)

    listed = admin.get("/parley/v1/usage/calls").json()
    assert [c["id"] for c in listed["calls"]] == [c.id for c in reversed(calls)]  # no other organisation's
    assert listed["has_more"] is False and listed["limit"] == 50 and listed["offset"] == 0
    newest_agent_call = listed["calls"][1]
    assert newest_agent_call == {
        "id": calls[3].id,
        "start_time": "2026-03-01T09:03:00.000000Z",
        "end_time": "2026-03-01T09:03:00.253000Z",
        "time_taken_ms": 253,
        "status": "failure",
        "status_code": 502,
        "error": "timed out",
        "feature_name": "generation",
        "prompt_name": "answer",
        "model_name": "gpt-b",
        "integration": "offline",
        "channel": "web",
        "agent": {"id": second.id, "agent_name": "Second"},
        "user": {"id": admin.id, "email": admin.email},
        "agent_response_id": None,
        "llm_config_id": None,
        "request_tokens": 103,
        "response_tokens": 10,
        "cost": "0",
        "task_id": "",
        "session_id": "",
        "description": "",
        "is_developer": False,
    }
    assert listed["calls"][0]["agent"] is None  # an embedding call has no agent

    def ids(**params):
        return [c["id"] for c in admin.get("/parley/v1/usage/calls", params=params).json()["calls"]]

    assert ids(model="gpt-b") == [calls[3].id, calls[2].id]
    assert ids(feature="generation", status="success") == [calls[2].id, calls[0].id]
    assert ids(agent_ids=f"{first.id}") == [calls[1].id, calls[0].id]
    assert ids(user_ids=str(member.id)) == [calls[2].id]
    assert ids(start_date="2026-03-01T09:01:00", end_date="2026-03-01T09:02:00") == [calls[2].id, calls[1].id]
    assert ids(start_date="2026-03-02") == []
    assert ids(agent_ids=str(foreign.agent_id)) == []  # another organisation's agent matches nothing

    page = admin.get("/parley/v1/usage/calls", params={"limit": 2, "offset": 2}).json()
    assert [c["id"] for c in page["calls"]] == [calls[2].id, calls[1].id] and page["has_more"] is True
    last = admin.get("/parley/v1/usage/calls", params={"limit": 2, "offset": 4}).json()
    assert [c["id"] for c in last["calls"]] == [calls[0].id] and last["has_more"] is False
    assert "request_payload" not in listed["calls"][0]


def test_one_call_has_its_payloads_and_other_organisations_calls_are_not_found(world, db):
    admin, _, outsider, _, _, calls, foreign = _arrange(world, db)
    detail = admin.get(f"/parley/v1/usage/calls/{calls[1].id}")
    assert detail.status_code == 200
    body = detail.json()
    assert body["request_payload"] == {"messages": [{"role": "user", "content": "question 1"}]}
    assert body["response_payload"] == {"choices": [{"text": "answer 1"}]}
    assert body["cost"] == "0.2" and body["feature_name"] == "followups"

    assert parley_error(admin.get(f"/parley/v1/usage/calls/{foreign.id}"), 404) == "Usage record not found."
    assert (
        parley_error(outsider.get(f"/parley/v1/usage/calls/{calls[0].id}"), 404) == "Usage record not found."
    )
    assert [c["id"] for c in outsider.get("/parley/v1/usage/calls").json()["calls"]] == [foreign.id]
    assert parley_error(admin.get("/parley/v1/usage/calls/999999"), 404)


def test_calls_by_model_add_up_exactly(world, db):
    admin, _, _, first, _, _, _ = _arrange(world, db)
    data = admin.get("/parley/v1/usage/models").json()
    assert data["features"] == ["embedding", "followups", "generation"]
    by_model = {m["model_name"]: m for m in data["models"]}
    assert list(by_model) == ["gpt-a", "gpt-b", "embedder"]  # most called first, then by name
    assert by_model["gpt-a"] == {
        "model_name": "gpt-a",
        "calls": 2,
        "failures": 0,
        "request_tokens": 201,
        "response_tokens": 20,
        "cost": "0.3",  # 0.1 + 0.2 exactly, on SQLite too
        "avg_time_taken_ms": 250.5,
    }
    assert by_model["gpt-b"]["failures"] == 1 and by_model["gpt-b"]["cost"] == "0.00000001"
    scoped = admin.get(
        "/parley/v1/usage/models", params={"agent_ids": first.id, "feature": "followups"}
    ).json()
    assert [(m["model_name"], m["calls"]) for m in scoped["models"]] == [("gpt-a", 1)]
    assert scoped["features"] == ["followups", "generation"]  # every feature of the agent's calls


def test_only_admins_and_keys_allowed_usage_logs_read_calls(world, db):
    admin, member, _, _, _, calls, _ = _arrange(world, db)
    for path in (
        "/parley/v1/usage/calls",
        f"/parley/v1/usage/calls/{calls[0].id}",
        "/parley/v1/usage/models",
    ):
        assert (
            parley_error(member.get(path), 403) == "Only organization administrators can read usage records."
        )
        assert world.key_for(admin, "read_only").get(path).status_code == 200
        restricted = world.key_for(admin, "restricted", {"agents": "write"})
        assert "usage logs" in parley_error(restricted.get(path), 403)
        assert world.key_for(admin, "restricted", {"usage_logs": "read"}).get(path).status_code == 200
        assert parley_error(world.client.get(path), 401)


def test_bad_input_is_a_400_in_parleys_format_and_writes_nothing(world, db):
    admin, *_ = _arrange(world, db)
    before = db.scalar(select(func.count()).select_from(LLMUsageRecord))
    for params in (
        {"limit": 0},
        {"limit": 201},
        {"offset": -1},
        {"status": "maybe"},
        {"agent_ids": "abc"},
        {"user_ids": "1,x"},
        {"start_date": "yesterday"},
        {"start_date": "2026-03-02", "end_date": "2026-03-01"},
        {"model": "a\x00b"},
        {"feature": "f" * 201},
    ):
        assert parley_error(admin.get("/parley/v1/usage/calls", params=params), 400), params
    for bad_id in ("abc", "0", "-3", str(2**63)):
        assert parley_error(admin.get(f"/parley/v1/usage/calls/{bad_id}"), 400), bad_id
    assert parley_error(admin.get("/parley/v1/usage/models", params={"start_date": "2026-13-01"}), 400)
    assert parley_error(admin.post("/parley/v1/usage/calls", json={}), 405)
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(LLMUsageRecord)) == before
