"""Health, metrics, request ids, size limits, error formats, and the first-start bootstrap."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr, ValidationError
from sqlalchemy import func, select, text

from parley.accounts.models import ApiKey, Organization, User
from parley.app import create_app, prepare_database
from parley.corpora.models import Corpus
from parley.http.deps import SessionDep
from parley.http.errors import database_unavailable
from parley.settings import EndpointSettings, LimitSettings, Settings
from parley.threads.models import ChatThread


def test_healthz_reports_ready_after_migrations(client):
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "ready": True}


def test_metrics_count_requests_by_route_template(world, client):
    org = world.org()
    alice = world.user(org)
    alice.get("/v2/api/auth/me")
    text = client.get("/metrics").text
    assert 'route="/v2/api/auth/me"' in text
    assert "parley_http_request_duration_seconds_bucket" in text


def test_every_response_carries_a_request_id_and_keeps_a_sane_incoming_one(client):
    generated = client.get("/healthz").headers["x-request-id"]
    assert len(generated) == 32
    kept = client.get("/healthz", headers={"X-Request-ID": "trace-abc-123"}).headers["x-request-id"]
    assert kept == "trace-abc-123"
    replaced = client.get("/healthz", headers={"X-Request-ID": "x" * 200}).headers["x-request-id"]
    assert replaced != "x" * 200


def test_oversized_bodies_get_413_in_the_surface_format(settings):
    settings.limits = LimitSettings(max_request_bytes=1024)
    with TestClient(create_app(settings)) as small:
        r = small.post(
            "/v2/api/auth/login",
            content=b"{" + b" " * 4096 + b"}",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 413
        assert r.json()["success"] is False and "exceeds" in r.json()["message"]

        # A chunked body without Content-Length is cut off while streaming.
        def chunks():
            for _ in range(8):
                yield b" " * 512

        r = small.post("/v2/api/auth/login", content=chunks(), headers={"content-type": "application/json"})
        assert r.status_code == 413


def test_unknown_paths_and_methods_answer_in_the_envelope(client):
    r = client.get("/v2/api/no-such-thing")
    assert r.status_code == 404 and r.json()["success"] is False
    r = client.delete("/v2/api/auth/login")
    assert r.status_code == 405 and r.json()["success"] is False


def test_values_the_database_refuses_are_a_400_and_write_nothing(world, db):
    """PostgreSQL refuses NUL characters in text (SQLite is made to refuse them too); endpoints
    without a guard of their own answer 400 in the surface's format instead of failing."""
    org = world.org()
    alice = world.user(org)
    project = world.project(world.team(org, {alice: "Member"}))
    agent = alice.post("/v2/api/agent", json={"name": "Helper", "project_id": project.id}).json()["data"]
    thread = alice.post(f"/v2/api/agent/{agent['id']}/chat-thread", json={"title": "Kept"}).json()["data"]

    def counts() -> tuple[int | None, ...]:
        return tuple(db.scalar(select(func.count()).select_from(model)) for model in (ChatThread, Corpus))

    before = counts()
    for method, path, body in (
        ("POST", f"/v2/api/agent/{agent['id']}/chat-thread", {"title": "nul\x00byte"}),
        ("PUT", f"/v2/api/chat-thread/{thread['id']}", {"title": "nul\x00byte"}),
        ("POST", "/v2/api/corpus", {"name": "Notes", "description": "nul\x00byte"}),
    ):
        r = alice.request(method, path, json=body)
        assert r.status_code == 400, (method, path, r.text)
        assert r.json() == {"success": False, "message": "Invalid value in the request.", "data": None}
    assert counts() == before
    assert db.scalar(select(ChatThread.title).where(ChatThread.id == thread["id"])) == "Kept"


def test_bootstrap_creates_org_admin_and_exact_key_once(settings, db):
    settings.init_admin_email = "root@example.com"
    settings.init_admin_password = SecretStr("root-password")
    settings.init_api_key = SecretStr("exact-bootstrap-key-0123456789")
    settings.init_api_key_id = "cs-bootstrap"
    prepare_database(settings)
    prepare_database(settings)  # a second start with the same values changes nothing

    assert db.scalar(select(func.count()).select_from(User).where(User.email == "root@example.com")) == 1
    assert db.scalar(select(func.count()).select_from(Organization)) == 1
    keys = db.scalars(select(ApiKey)).all()
    assert len(keys) == 1 and keys[0].client_id == "cs-bootstrap"

    with TestClient(create_app(settings)) as client:
        me = client.get(
            "/v2/api/auth/me", headers={"Ocp-Apim-Subscription-Key": "exact-bootstrap-key-0123456789"}
        )
        assert me.status_code == 200
        assert me.json()["data"]["is_superuser"] is True
        login = client.post(
            "/v2/api/auth/login", json={"email": "root@example.com", "password": "root-password"}
        )
        assert login.status_code == 200


def test_access_log_lines_are_json_with_the_request_id(client):
    import io
    import json
    import logging

    from parley.http.middleware import JsonLogFormatter

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    access = logging.getLogger("parley.access")
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    try:
        response = client.get("/healthz")
    finally:
        access.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    entry = next(line for line in lines if line.get("route") == "/healthz")
    assert entry["request_id"] == response.headers["x-request-id"]
    assert entry["status"] == 200 and entry["method"] == "GET" and entry["duration_ms"] >= 0


def test_a_statement_the_database_refuses_is_a_500_with_the_request_id_not_a_503(app, client):
    """Only a database that cannot serve is "unavailable"; a statement it refuses (here an
    expression too deep for either backend) is Parley's fault: a 500 naming the request id, as
    any other unexpected error is."""

    def too_deep(session: SessionDep) -> None:
        depth = 1_100 if session.get_bind().dialect.name == "sqlite" else 200_000
        session.execute(text("SELECT " + "+".join(["1"] * depth)))

    app.add_api_route("/v2/api/test-too-deep", too_deep)

    def broken() -> None:
        raise RuntimeError("a bug")

    app.add_api_route("/v1/test-broken", broken)
    r = client.get("/v2/api/test-too-deep", headers={"X-Request-ID": "trace-deep-1"})
    assert r.status_code == 500 and "retry-after" not in r.headers
    assert r.headers["x-request-id"] == "trace-deep-1"
    assert r.json() == {
        "success": False,
        "message": "Internal server error (request id trace-deep-1).",
        "data": None,
    }
    r = client.get("/v1/test-broken")
    assert r.status_code == 500
    # Sent by the last-resort handler, outside the middleware that adds these to the rest.
    assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
    assert r.json() == {"detail": f"Internal server error (request id {r.headers['x-request-id']})."}


def test_only_connection_failures_and_lock_waits_count_as_unavailable():
    import sqlite3

    import psycopg
    from psycopg import errors as pg
    from sqlalchemy.exc import OperationalError

    def wrapped(orig: Exception, invalidated: bool = False) -> OperationalError:
        return OperationalError("SELECT 1", {}, orig, connection_invalidated=invalidated)

    unavailable = [
        wrapped(sqlite3.OperationalError("database is locked")),
        wrapped(sqlite3.OperationalError("unable to open database file")),
        wrapped(pg.AdminShutdown("terminating connection due to administrator command")),
        wrapped(pg.TooManyConnections("sorry, too many clients already")),
        wrapped(pg.LockNotAvailable("canceling statement due to lock timeout")),
        wrapped(psycopg.OperationalError("server closed the connection unexpectedly"), invalidated=True),
    ]
    faults = [
        wrapped(sqlite3.OperationalError("Expression tree is too large (maximum depth 1000)")),
        wrapped(sqlite3.OperationalError("too many SQL variables")),
        wrapped(pg.ProgramLimitExceeded("stack depth limit exceeded")),
        wrapped(psycopg.OperationalError("sending query failed: number of parameters must be ...")),
    ]
    assert [database_unavailable(e) for e in unavailable] == [True] * len(unavailable)
    assert [database_unavailable(e) for e in faults] == [False] * len(faults)


def test_api_responses_are_not_stored_sniffed_or_framed_and_the_console_keeps_its_policy(
    settings, world, client
):
    org = world.org()
    alice = world.user(org, email="alice@headers.example.com")
    team = alice.post("/v2/api/team", json={"team_name": "Headers"}).json()["data"]
    project = alice.post("/v2/api/project", json={"project_name": "Headers", "team_id": team["id"]}).json()[
        "data"
    ]
    agent = alice.post("/v2/api/agent", json={"name": "Headers", "project_id": project["id"]}).json()["data"]
    login = client.post(
        "/v2/api/auth/login", json={"email": "alice@headers.example.com", "password": "correct horse battery"}
    )
    refresh_token = login.json()["data"]["refresh_token"]
    too_large = b" " * (settings.limits.max_request_bytes + 1)
    responses = {
        "login": login,
        "refresh": client.post("/v2/api/auth/refresh", json={"refresh_token": refresh_token}),
        "api key": alice.post("/v2/api/api-key", json={"name": "new"}),
        "ejento": alice.get("/v2/api/auth/me"),
        "ejento stream": alice.post(
            f"/response-service/api/v2/agents/{agent['id']}/responses/stream", json={"user_query": "Refunds?"}
        ),
        "contextual": alice.get("/v1/agents"),
        "openai": alice.get("/v1/models"),
        "superoffice": alice.post("/api/v1/Agents/AI/GetChatbotTurns", json={}),
        "kore": alice.post(f"/api/1.1/public/bot/st-{agent['id']}/getLLMUsageLogs", json={}),
        "unknown path": client.get("/v2/api/no-such-thing"),
        "too large": client.post(
            "/v2/api/auth/login", content=too_large, headers={"content-type": "application/json"}
        ),
    }
    assert responses["api key"].status_code in (200, 201) and responses["ejento stream"].status_code == 200
    assert responses["too large"].status_code == 413
    for name, r in responses.items():
        assert r.headers.get("x-content-type-options") == "nosniff", name
        assert r.headers.get("x-frame-options") == "DENY", name
        expected = "no-cache" if name == "ejento stream" else "no-store"
        assert r.headers.get("cache-control") == expected, name
    page = client.get("/")
    assert page.headers["cache-control"] == "no-cache"  # static, revalidated by ETag
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["x-content-type-options"] == "nosniff" and page.headers["x-frame-options"] == "DENY"


def operations_client(tmp_path, environment: str, **endpoints: object) -> TestClient:
    settings = Settings(
        environment=environment,
        data_dir=tmp_path,
        secret_key="s" * 40,
        endpoints=EndpointSettings(**endpoints),
    )
    return TestClient(create_app(settings))


def test_api_docs_are_served_outside_production_or_when_turned_on(tmp_path):
    cases = [
        ("development", None, True),
        ("test", None, True),
        ("production", None, False),
        ("production", True, True),
        ("development", False, False),
    ]
    for environment, api_docs, served in cases:
        client = operations_client(tmp_path, environment, api_docs=api_docs)
        statuses = {path: client.get(path).status_code for path in ("/docs", "/redoc", "/openapi.json")}
        assert statuses == dict.fromkeys(statuses, 200 if served else 404), (environment, api_docs)


def test_metrics_are_open_outside_production_and_need_the_token_when_one_is_set(tmp_path):
    assert operations_client(tmp_path, "test").get("/metrics").status_code == 200
    assert operations_client(tmp_path, "production").get("/metrics").status_code == 404
    token = "metrics-token-0123456789"
    for environment in ("production", "development"):
        client = operations_client(tmp_path, environment, metrics_token=token)
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong-token"}).status_code == 401
        allowed = client.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert allowed.status_code == 200 and "parley_http_requests_total" in allowed.text
    with pytest.raises(ValidationError):
        EndpointSettings(metrics_token="short")
