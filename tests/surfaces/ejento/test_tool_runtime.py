"""The API tool runtime against a real HTTP server on 127.0.0.1: outbound calls off by default,
private addresses refused, URL and body rendering, auth, timeouts, size caps, redirects, the
usage record of a call, and which tools an agent may use."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy.orm import Session

from parley.settings import Settings, ToolSettings
from parley.tools.models import ApiToolTemplate
from parley.tools.runtime import ToolCallError, ToolResult, call_api_tool, record_tool_call, tools_for_agent
from parley.usage.models import LLMUsageRecord
from tests.support.world import World
from tests.surfaces.ejento.factories import make_agent, reload, succeeded

SECRET = "tool-secret-0123456789abcdef"
SLOW_SECONDS = 1.5


@dataclass
class Server:
    base: str
    port: int
    seen: list[dict[str, Any]] = field(default_factory=list)


class _Handler(BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _route(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        seen = {"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body}
        self.server.seen.append(seen)
        parts = urlsplit(self.path)
        try:
            if parts.path.startswith("/echo"):
                self._send(
                    200, json.dumps(seen).encode(), {"Content-Type": "application/json; charset=utf-8"}
                )
            elif parts.path == "/big":
                self._send(200, b"x" * 5000, {"Content-Type": "text/plain"})
            elif parts.path == "/missing":
                self._send(404, b'{"error": "no such city"}', {"Content-Type": "application/json"})
            elif parts.path == "/redirect":
                self._send(302, b"", {"Location": parse_qs(parts.query)["to"][0]})
            elif parts.path == "/slow":
                time.sleep(SLOW_SECONDS)
                self._send(200, b"late")
            elif parts.path == "/drip":  # headers at once, then a byte every 0.1 s
                self.send_response(200)
                self.send_header("Content-Length", "40")
                self.end_headers()
                for _ in range(40):
                    self.wfile.write(b"x")
                    self.wfile.flush()
                    time.sleep(0.1)
        except OSError:  # the client gave up first
            pass

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _route


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    port = httpd.server_address[1]
    found = Server(f"http://127.0.0.1:{port}", port)
    httpd.seen = found.seen  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield found
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(autouse=True)
def _forget(request: pytest.FixtureRequest) -> None:
    if "server" in request.fixturenames:
        request.getfixturevalue("server").seen.clear()


def allowing(*hosts: str, base: Settings | None = None, **limits: Any) -> Settings:
    tools = ToolSettings(allow_outbound_calls=True, allowed_hosts=list(hosts), **limits)
    if base is None:
        return Settings(environment="test", tools=tools)
    return base.model_copy(update={"tools": tools})


def template(url: str, **fields: Any) -> ApiToolTemplate:
    """A template that is not stored (secrets need the API: see the auth tests)."""
    values: dict[str, Any] = {
        "name": "Echo",
        "method": "GET",
        "url_template": url,
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string"},
                "units": {"type": "string", "enum": ["metric", "imperial"], "default": "metric"},
                "days": {"type": "integer"},
                "exact": {"type": "boolean"},
            },
            "required": ["city"],
        },
        "headers": {},
        "body_template": None,
        "auth": {"type": "none"},
        "timeout_seconds": 2.0,
        **fields,
    }
    return ApiToolTemplate(**values)


def echoed(result: ToolResult) -> dict[str, Any]:
    assert result.status_code == 200, result.body_text
    return json.loads(result.body_text)


def refused(call: Any, status: int, fragment: str) -> ToolCallError:
    with pytest.raises(ToolCallError) as caught:
        call()
    assert caught.value.status_code == status and fragment in caught.value.message, caught.value.message
    return caught.value


# -- refusals --------------------------------------------------------------------------------------


def test_outbound_calls_are_off_by_default(server: Server):
    echo = template(server.base + "/echo/{city}")
    error = refused(
        lambda: call_api_tool(echo, {"city": "Oslo"}, Settings(environment="test")), 400, "disabled"
    )
    assert "PARLEY_TOOLS__ALLOW_OUTBOUND_CALLS" in error.message
    assert error.request is not None and error.request["url"] == server.base + "/echo/Oslo?units=metric"
    assert server.seen == []


def test_loopback_and_private_addresses_are_refused_unless_the_host_is_allowed(server: Server):
    echo = template(server.base + "/echo/{city}")
    refused(lambda: call_api_tool(echo, {"city": "Oslo"}, allowing()), 400, "private or local address")
    localhost = template(f"http://localhost:{server.port}/echo/{{city}}")
    refused(
        lambda: call_api_tool(localhost, {"city": "Oslo"}, allowing("127.0.0.1")), 400, "private or local"
    )
    for url in (
        "http://169.254.169.254/latest/meta-data/{city}",
        "http://10.1.2.3/{city}",
        "http://[::1]/{city}",
    ):
        refused(
            lambda url=url: call_api_tool(template(url), {"city": "x"}, allowing()), 400, "private or local"
        )
    assert server.seen == []


def test_arguments_are_checked_before_anything_is_sent(server: Server):
    echo = template(server.base + "/echo/{city}")
    settings = allowing("127.0.0.1")
    for arguments, fragment in [
        ({}, "Missing required arguments: city"),
        ({"city": None}, "Missing required arguments: city"),
        ({"city": "Oslo", "country": "NO"}, "Unknown arguments: country"),
        ({"city": 5}, "city must be of type string"),
        ({"city": "Oslo", "days": True}, "days must be of type integer"),
        ({"city": "Oslo", "days": 2.5}, "days must be of type integer"),
        ({"city": "Oslo", "exact": "yes"}, "exact must be of type boolean"),
        ({"city": "Oslo", "units": "kelvin"}, "units must be one of: metric, imperial"),
        ({"city": "x" * 10_001}, "longer than"),
    ]:
        error = refused(lambda arguments=arguments: call_api_tool(echo, arguments, settings), 400, fragment)
        assert error.request is None
    refused(lambda: call_api_tool(echo, ["Oslo"], settings), 400, "must be a JSON object")  # type: ignore[arg-type]
    assert server.seen == []


# -- calls ---------------------------------------------------------------------------------------


def test_a_call_renders_the_url_and_sends_the_rest_as_query_or_body(server: Server):
    settings = allowing("127.0.0.1")
    echo = template(server.base + "/echo/{city}?units={units}", headers={"Accept": "application/json"})
    result = call_api_tool(echo, {"city": "São Paulo/../admin", "days": 3.0, "exact": True}, settings)
    seen = echoed(result)
    # Values are percent-encoded, "/" too: a value cannot add path segments.
    assert seen["path"] == "/echo/S%C3%A3o%20Paulo%2F..%2Fadmin?units=metric&days=3&exact=true"
    assert seen["method"] == "GET" and seen["headers"]["Accept"] == "application/json" and seen["body"] == ""
    assert result.request == {
        "method": "GET",
        "url": server.base + "/echo/S%C3%A3o%20Paulo%2F..%2Fadmin?units=metric&days=3&exact=true",
        "headers": {"Accept": "application/json"},
        "body": None,
        "redirects": [],
    }
    assert result.content_type.startswith("application/json") and result.truncated is False
    assert 0 <= result.elapsed_ms < 2000

    # POST without a body template: the arguments the URL does not use form the JSON body.
    post = template(server.base + "/echo/{city}", method="POST")
    seen = echoed(call_api_tool(post, {"city": "Oslo", "days": 2}, settings))
    assert seen["path"] == "/echo/Oslo" and json.loads(seen["body"]) == {"units": "metric", "days": 2}
    assert seen["headers"]["Content-Type"] == "application/json"

    # With a body template: whole-string placeholders keep their type; the rest go in the query.
    body_template = json.dumps({"where": {"city": "{city}", "days": "{days}"}, "note": "{city} in {units}"})
    shaped = template(server.base + "/echo", method="PUT", body_template=body_template)
    seen = echoed(call_api_tool(shaped, {"city": "Oslo", "days": 4, "exact": False}, settings))
    assert seen["method"] == "PUT" and seen["path"] == "/echo?exact=false"
    assert json.loads(seen["body"]) == {"where": {"city": "Oslo", "days": 4}, "note": "Oslo in metric"}
    missing = template(server.base + "/echo", method="POST", body_template=json.dumps({"d": "{days}"}))
    refused(lambda: call_api_tool(missing, {"city": "Oslo"}, settings), 400, "days")

    # An HTTP error status is a result, not an exception.
    result = call_api_tool(template(server.base + "/missing"), {"city": "Atlantis"}, settings)
    assert result.status_code == 404 and json.loads(result.body_text) == {"error": "no such city"}


def test_slow_answers_time_out(server: Server):
    settings = allowing("127.0.0.1")
    slow = template(server.base + "/slow", timeout_seconds=0.3)
    started = time.monotonic()
    error = refused(lambda: call_api_tool(slow, {"city": "Oslo"}, settings), 504, "within 0.3 seconds")
    assert time.monotonic() - started < SLOW_SECONDS
    assert error.request is not None and error.request["url"].startswith(server.base + "/slow")
    # A server that keeps sending, slowly, is cut at the template's timeout too.
    drip = template(server.base + "/drip", timeout_seconds=0.5)
    started = time.monotonic()
    refused(lambda: call_api_tool(drip, {"city": "Oslo"}, settings), 504, "within 0.5 seconds")
    assert time.monotonic() - started < 2.5


def test_large_answers_are_cut_at_the_size_cap(server: Server):
    big = template(server.base + "/big")
    result = call_api_tool(big, {"city": "Oslo"}, allowing("127.0.0.1", max_response_bytes=1000))
    assert result.status_code == 200 and result.truncated is True and result.body_text == "x" * 1000
    whole = call_api_tool(big, {"city": "Oslo"}, allowing("127.0.0.1"))
    assert whole.truncated is False and len(whole.body_text) == 5000


def test_redirects_are_checked_at_every_hop(server: Server):
    settings = allowing("127.0.0.1")
    hop = template(server.base + "/redirect?to={city}")
    for target in ("http://169.254.169.254/latest/meta-data/", f"http://localhost:{server.port}/echo"):
        error = refused(
            lambda target=target: call_api_tool(hop, {"city": target}, settings), 400, "private or local"
        )
        assert error.request is not None and error.request["redirects"] == [target]
    refused(lambda: call_api_tool(hop, {"city": "file:///etc/passwd"}, settings), 400, "Only http and https")
    assert [s["path"] for s in server.seen][-1].startswith("/redirect")
    assert not any(s["path"].startswith("/echo") for s in server.seen)
    # A redirect to an allowed host is followed.
    result = call_api_tool(hop, {"city": server.base + "/echo/done"}, settings)
    assert echoed(result)["path"] == "/echo/done" and result.request["redirects"] == [
        server.base + "/echo/done"
    ]


# -- auth, usage records and the agent's tools (through the API, on both databases) ----------------


def _make_tool(world_actor: Any, url: str, auth: dict[str, Any], name: str) -> tuple[dict, dict]:
    body = {
        "name": name,
        "url_template": url,
        "parameters": {"properties": {"city": {"type": "string"}}, "required": ["city"]},
        "auth": auth,
        "timeout_seconds": 2,
    }
    made = succeeded(
        world_actor.post("/v2/api/api-tool-template", json=body),
        201,
        "API tool template created successfully.",
    )
    tool = succeeded(
        world_actor.post("/v2/api/tool", json={"name": name, "api_tool_template_id": made["id"]}),
        201,
        "Tool created successfully.",
    )
    return made, tool


def test_calls_send_the_secret_only_to_the_server_and_are_recorded(
    server: Server, world: World, db: Session, settings: Settings
):
    org = world.org()
    alice = world.user(org)
    agent = make_agent(db, alice, world.project(world.team(org, {alice: "Owner"})))
    allowed = allowing("127.0.0.1", base=settings)
    cases = [
        ({"type": "bearer", "secret": SECRET}, "Authorization", f"Bearer {SECRET}"),
        ({"type": "header", "header": "X-Api-Key", "secret": SECRET}, "X-Api-Key", SECRET),
        ({"type": "basic", "username": "bot", "secret": SECRET}, "Authorization", None),
    ]
    for auth, header, expected in cases:
        made, tool = _make_tool(alice, server.base + "/echo/{city}", auth, f"Echo {auth['type']}")
        row = reload(db, ApiToolTemplate, made["id"])
        started = datetime.now(UTC)
        result = call_api_tool(row, {"city": "Oslo"}, allowed)
        ended = datetime.now(UTC)
        seen = echoed(result)
        assert seen["path"] == "/echo/Oslo"
        if expected is None:  # basic: base64 of "bot:<secret>"
            assert seen["headers"][header] == "Basic " + base64.b64encode(f"bot:{SECRET}".encode()).decode()
        else:
            assert seen["headers"][header] == expected
        assert result.request["headers"] == {header: "[redacted]"}

        record = record_tool_call(
            db,
            org_id=org.id,
            user_id=alice.id,
            agent_id=agent.id,
            tool_name=tool["name"],
            arguments={"city": "Oslo"},
            started=started,
            ended=ended,
            outcome=result,
            channel="web",
        )
        db.commit()
        stored = reload(db, LLMUsageRecord, record.id)
        assert stored.feature_name == "tool_call" and stored.prompt_name == tool["name"]
        assert stored.integration == "api_tool" and stored.model_name == f"127.0.0.1:{server.port}"
        assert stored.status == "success" and stored.status_code == 200 and stored.error == ""
        assert stored.org_id == org.id and stored.agent_id == agent.id and stored.user_id == alice.id
        assert stored.channel == "web" and stored.cost == 0 and stored.time_taken_ms >= 0
        assert stored.request_payload["arguments"] == {"city": "Oslo"}
        assert stored.request_payload["request"]["url"] == server.base + "/echo/Oslo"
        assert stored.response_payload["status_code"] == 200
        assert json.loads(stored.response_payload["body"])["path"] == "/echo/Oslo"
        # The echo server saw the secret; the record of the call must not hold it in any form.
        assert SECRET not in json.dumps(stored.request_payload) and "Basic " not in json.dumps(
            stored.request_payload
        )

    # A redirect to another origin drops the secret.
    made, _ = _make_tool(alice, server.base + "/redirect?to={city}", cases[1][0], "Hop")
    row = reload(db, ApiToolTemplate, made["id"])
    other_origin = f"http://localhost:{server.port}/echo/elsewhere"
    seen = echoed(
        call_api_tool(row, {"city": other_origin}, allowing("127.0.0.1", "localhost", base=settings))
    )
    assert seen["path"] == "/echo/elsewhere" and "X-Api-Key" not in seen["headers"]
    same_origin = echoed(call_api_tool(row, {"city": server.base + "/echo/here"}, allowed))
    assert same_origin["path"] == "/echo/here" and same_origin["headers"]["X-Api-Key"] == SECRET

    # A refused call is recorded as a failure, with what would have been sent.
    error = refused(lambda: call_api_tool(row, {"city": "x"}, settings), 400, "disabled")
    now = datetime.now(UTC)
    failed = record_tool_call(
        db,
        org_id=org.id,
        user_id=alice.id,
        agent_id=None,
        tool_name="Hop",
        arguments={"city": "x"},
        started=now,
        ended=now,
        outcome=error,
    )
    db.commit()
    stored = reload(db, LLMUsageRecord, failed.id)
    assert stored.status == "failure" and stored.status_code == 400 and "disabled" in stored.error
    assert stored.response_payload == {} and SECRET not in json.dumps(stored.request_payload)
    assert stored.request_payload["request"]["headers"] == {"X-Api-Key": "[redacted]"}


def test_tools_for_agent_are_its_enabled_usable_api_tools(world: World, db: Session):
    org = world.org()
    admin, alice = world.user(org, admin=True), world.user(org)
    agent = make_agent(db, alice, world.project(world.team(org, {alice: "Owner"})))
    base = f"/v2/api/agent/{agent.id}/tool"
    first_template, first = _make_tool(alice, "https://api.example.com/a/{city}", {"type": "none"}, "First")
    _, second = _make_tool(alice, "https://api.example.com/b/{city}", {"type": "none"}, "Second")
    _, unlinked = _make_tool(alice, "https://api.example.com/c/{city}", {"type": "none"}, "Unlinked")
    rag = next(t for t in alice.get("/v2/api/tool").json()["data"] if t["name"] == "Rag Tool")
    for tool in (second, first, rag):
        succeeded(alice.post(f"{base}/{tool['id']}"), 201, "Agent tool enabled successfully.")

    def names() -> list[str]:
        db.rollback()
        db.expire_all()
        return [found.tool.name for found in tools_for_agent(db, agent.id)]

    # API tools only (not the built-in Rag Tool), in the order they were linked, with templates.
    found = tools_for_agent(db, agent.id)
    assert [f.tool.name for f in found] == ["Second", "First"]
    assert found[1].template.id == first_template["id"] and found[1].template.url_template.endswith(
        "/a/{city}"
    )
    assert unlinked["name"] not in names()
    succeeded(alice.delete(f"{base}/{second['id']}"), 200, "Agent tool disabled successfully.")
    assert names() == ["First"]
    succeeded(
        alice.put(f"/v2/api/tool/{first['id']}", json={"is_active": False}), 200, "Tool updated successfully."
    )
    assert names() == []
    succeeded(
        alice.put(f"/v2/api/tool/{first['id']}", json={"is_active": True}), 200, "Tool updated successfully."
    )
    succeeded(
        admin.delete(f"/v2/api/organization/tool/{first['id']}"),
        200,
        "Organization tool disabled successfully.",
    )
    assert names() == []
    succeeded(
        admin.post(f"/v2/api/organization/tool/{first['id']}"), 201, "Organization tool enabled successfully."
    )
    assert names() == ["First"]
    succeeded(alice.delete(f"/v2/api/tool/{first['id']}"), 200, "Tool deleted successfully.")
    assert names() == [] and tools_for_agent(db, 10**12) == []
