"""Hostile input on every surface: oversized bodies and uploads, deeply nested filters, unicode and
control characters, CR/LF in header values, path traversal in upload names and SQL-looking text
in every search and filter field. Each gets a 4xx in its surface's error format (or a correct 2xx
that took the text literally), never a 5xx, and nothing is written.

Runs on both backends: SQLite and PostgreSQL refuse different values (PostgreSQL refuses NUL
characters in text, for one), so each has its own way to turn odd text into a 5xx.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

from httpx import Response
from sqlalchemy import func, select

from parley.agents.models import Agent
from parley.corpora.models import Document
from parley.http.errors import format_error_body
from parley.http.surface import Surface, surface_for_path
from parley.surfaces.contextual import ids as contextual_ids
from parley.surfaces.contextual.ids import Kind
from tests.reliability.conftest import Tenancy
from tests.reliability.routes import Bodies, Operation, id_parameter, operations
from tests.reliability.test_isolation import request_for, shared_values, spelled
from tests.surfaces.ejento.factories import poll

JSON = {"Content-Type": "application/json"}
# Kore allows at most 90 days; the tenants' answers are from today.
KORE_WINDOW = {
    "dateFrom": (date.today() - timedelta(days=30)).isoformat(),
    "dateTo": (date.today() + timedelta(days=1)).isoformat(),
}
SQL = [
    "' OR '1'='1",
    "1; DROP TABLE agents; --",
    "%' UNION SELECT email, password_hash FROM users --",
    "\\'; SELECT pg_sleep(0) --",
    "_%",
]
ODD_TEXT = [
    "\u202eevil\u202c",  # right-to-left override
    "emoji \U0001f600 and \U0001f9ea",
    "zero\u200bwidth",
    "bell\x07 tab\t escape\x1b[31m",
    "nul\x00byte",
    "\ud800",  # a lone surrogate: JSON can escape it, UTF-8 cannot hold it
    "line\r\nbreak",
    "Ｆｕｌｌｗｉｄｔｈ ｔｅｘｔ",
    "a" * 10_000,
]


def in_surface_format(r: Response) -> bool:
    """An error body with the same top-level keys as the surface's own error format."""
    expected, _ = format_error_body(r.request.url.path, r.status_code, "message")
    try:
        body = r.json()
    except ValueError:
        return False
    return isinstance(body, dict) and isinstance(expected, dict) and set(body) == set(expected)


def check(r: Response, problems: list[str], *, allow_success: bool = True) -> None:
    where = f"{r.request.method} {r.request.url}"
    if r.status_code >= 500:
        problems.append(f"{where} -> {r.status_code} {r.text[:200]}")
    elif r.status_code >= 400 and not in_surface_format(r):
        problems.append(f"{where} -> {r.status_code} not in its surface's error format: {r.text[:200]}")
    elif r.status_code < 400 and not allow_success:
        problems.append(f"{where} -> {r.status_code} accepted: {r.text[:200]}")


def nested(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = {"filters": [leaf], "operator": "AND"}
    return leaf


def test_oversized_bodies_and_uploads_get_413_and_write_nothing(tenancy: Tenancy) -> None:
    t, a = tenancy, tenancy.alpha
    owner, ids = a.owner, a.ids
    limits = t.settings.limits
    before = t.row_counts()
    big_json = json.dumps({"name": "x" * limits.max_request_bytes}).encode()
    datastore = contextual_ids.encode(Kind.DATASTORE, ids["corpus"])
    posts = [
        "/v2/api/agent",
        "/v2/api/corpus",
        f"/api/v2/agents/{ids['agent']}/responses",
        "/v1/datastores",
        f"/v1/agents/{contextual_ids.encode(Kind.AGENT, ids['agent'])}/query",
        "/v1/chat/completions",
        "/api/v1/Agents/AI/GetChatbotResponse",
        f"/api/1.1/public/bot/st-{ids['agent']}/getLLMUsageLogs",
    ]
    problems: list[str] = []
    for path in posts:
        r = owner.post(path, content=big_json, headers=JSON)
        if r.status_code != 413 or not in_surface_format(r):
            problems.append(f"POST {path} with {len(big_json)} bytes -> {r.status_code} {r.text[:200]}")

    def streamed(size: int) -> Iterator[bytes]:
        # No Content-Length: the limit must hold while the body streams in.
        chunk = b"x" * (1024 * 1024)
        for _ in range(size // len(chunk) + 1):
            yield chunk

    boundary = "reliabilityboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.txt"\r\n'
        "Content-Type: text/plain\r\n\r\n"
    ).encode()

    def upload_body() -> Iterator[bytes]:
        yield head
        yield from streamed(limits.max_upload_bytes)

    for path in (f"/v2/api/corpus/{ids['corpus']}/document", f"/v1/datastores/{datastore}/documents"):
        r = owner.post(
            path, content=upload_body(), headers={"Content-Type": f"multipart/form-data; boundary={boundary}"}
        )
        if r.status_code != 413 or not in_surface_format(r):
            problems.append(f"upload to {path} over the limit -> {r.status_code} {r.text[:200]}")
    assert problems == [], "\n".join(problems)
    assert t.row_counts() == before


def test_deeply_nested_filters_and_bodies_are_refused(tenancy: Tenancy) -> None:
    t, a = tenancy, tenancy.alpha
    owner, ids = a.owner, a.ids
    leaf = {"field": "author", "operator": "equals", "value": "x"}
    agent = contextual_ids.encode(Kind.AGENT, ids["agent"])
    question = [{"role": "user", "content": "What is the refund window?"}]
    before = t.row_counts(except_answers=True)
    problems: list[str] = []
    for depth in (9, 50, 300):
        filters = nested(depth, leaf)
        # Contextual documents_filters on a query, and on the agent's own configuration.
        r = owner.post(f"/v1/agents/{agent}/query", json={"messages": question, "documents_filters": filters})
        check(r, problems, allow_success=False)
        config = {"agent_configs": {"filter_and_rerank_config": {"default_metadata_filters": filters}}}
        check(owner.put(f"/v1/agents/{agent}", json=config), problems, allow_success=False)
        # Ejento: filters inside an answer's overrides; Kore: usage-log filters.
        body = {"user_query": "What is the refund window?", "overrides": {"filters": filters}}
        check(owner.post(f"/api/v2/agents/{ids['agent']}/responses", json=body), problems)
        kore = {**KORE_WINDOW, "featureName": filters, "sort": filters}
        check(owner.post(f"/api/1.1/public/bot/st-{ids['agent']}/getLLMUsageLogs", json=kore), problems)
        dashboard = {"group_by": filters}
        check(owner.post("/v2/api/agent-response/dashboard", json=dashboard), problems, allow_success=False)
    # JSON nested deeper than Python's recursion limit, on every surface.
    deep = ("[" * 100_000 + "]" * 100_000).encode()
    for path in (
        "/v2/api/agent",
        "/v1/datastores",
        "/v1/chat/completions",
        "/api/v1/Agents/AI/GetChatbotTurns",
    ):
        r = owner.post(path, content=deep, headers=JSON)
        check(r, problems, allow_success=False)
    deep_xml = b"<a>" * 100_000 + b"</a>" * 100_000
    r = owner.post(
        "/api/v1/Agents/AI/GetChatbotTurns", content=deep_xml, headers={"Content-Type": "application/xml"}
    )
    check(r, problems, allow_success=False)
    assert problems == [], "\n".join(problems)
    # Refused filters write nothing; an Ejento answer that ignores an unknown override may answer.
    assert t.row_counts(except_answers=True) == before


def test_odd_text_in_names_and_queries(tenancy: Tenancy) -> None:
    """Creates, edits and searches with odd text: refused with a 4xx (writing nothing), or
    stored and searched as the literal text it is."""
    t, a = tenancy, tenancy.alpha
    owner, ids = a.owner, a.ids
    problems: list[str] = []
    for text in ODD_TEXT:
        # json.dumps sends a lone surrogate as the escape \ud800, as a JSON client would.
        payload = json.dumps({"name": text, "project_id": ids["project"]}).encode()
        agents = count(t, Agent)
        r = owner.post("/v2/api/agent", content=payload, headers=JSON)
        check(r, problems)
        if r.status_code == 201 and r.json()["data"]["agent_name"] != text:
            problems.append(f"agent name {text!r} came back as {r.json()['data']['agent_name']!r}")
        if count(t, Agent) != agents + (r.status_code == 201):
            problems.append(
                f"creating an agent named {text!r} -> {r.status_code} wrote {count(t, Agent) - agents}"
            )
        edit = json.dumps({"title": text}).encode()
        r = owner.put(f"/v2/api/chat-thread/{ids['thread']}", content=edit, headers=JSON)
        check(r, problems)
        # A lone surrogate reaches a query string as invalid UTF-8 (%ED%A0%80).
        query = quote(text.encode("utf-8", "surrogatepass"))
        for path in ("/v2/api/agent", "/v2/api/corpus", "/v2/api/user/filtered", "/v1/datastores"):
            check(owner.get(f"{path}?query={query}&search={query}"), problems)
        turns = json.dumps({"ChatId": text}).encode()
        r = owner.post("/api/v1/Agents/AI/GetChatbotTurns", content=turns, headers=JSON)
        check(r, problems)
    assert problems == [], "\n".join(problems)


def count(t: Tenancy, model: type) -> int:
    t.db.rollback()
    return t.db.scalar(select(func.count()).select_from(model)) or 0


def test_header_values_with_cr_lf_are_not_reflected(tenancy: Tenancy) -> None:
    """CR/LF in header values (which a raw client can send) never reach a response header."""
    t, a = tenancy, tenancy.alpha
    owner = a.owner
    injected = "abc\r\nX-Injected: yes"
    problems: list[str] = []
    for path in ("/v2/api/auth/me", "/v1/datastores", "/v1/models", "/parley/v1/usage/calls"):
        for name in ("X-Request-ID", "Ocp-Apim-Subscription-Key", "Authorization", "Accept-Language"):
            r = raw_get(t, path, {**owner.headers, name: injected})
            if r["status"] >= 500 or any(k.lower() == b"x-injected" for k, _ in r["headers"]):
                problems.append(f"{path} with CR/LF in {name} -> {r['status']} {r['headers']}")
            if any(b"\r" in v or b"\n" in v for _, v in r["headers"]):
                problems.append(f"{path}: a response header holds CR/LF: {r['headers']}")
    assert problems == [], "\n".join(problems)


def raw_get(t: Tenancy, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """A GET whose header values go to the app as given (the test client refuses CR/LF)."""
    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "scheme": "http",
        "query_string": b"",
        "headers": [(b"host", b"testserver")]
        + [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    answer: dict[str, Any] = {"status": 0, "headers": [], "body": b""}

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.start":
            answer["status"] = message["status"]
            answer["headers"] = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            answer["body"] += message.get("body", b"")

    t.client.portal.call(t.app, scope, receive, send)  # type: ignore[union-attr]
    return answer


def test_upload_names_cannot_traverse_paths(tenancy: Tenancy) -> None:
    t, a = tenancy, tenancy.alpha
    owner, ids = a.owner, a.ids
    datastore = contextual_ids.encode(Kind.DATASTORE, ids["corpus"])
    names = [
        "../../../../etc/passwd",
        "..\\..\\windows\\win.ini",
        "/etc/shadow",
        "a/../../b.txt",
        "..",
        "\x00.txt",
    ]
    problems: list[str] = []
    made: list[int] = []
    for name in names:
        for path, field in (
            (f"/v2/api/corpus/{ids['corpus']}/document", "source"),
            (f"/v1/datastores/{datastore}/documents", "file"),
        ):
            form = {"content_type": "file", "upload_from": "web"} if field == "source" else {}
            r = owner.post(path, data=form, files={field: (name, b"traversal test", "text/plain")})
            check(r, problems)
            if r.status_code < 300:
                body = r.json()
                made.append(
                    body["data"]["id"] if "data" in body else contextual_ids.decode(Kind.DOCUMENT, body["id"])
                )
    for document_id in made:
        poll(owner, document_id)
        t.db.rollback()
        document = t.db.get(Document, document_id)
        assert document is not None
        stored = document.name
        if "/" in stored or "\\" in stored or stored in ("..", ".") or "\x00" in stored:
            problems.append(f"stored name {stored!r}")
        owner.delete(f"/v2/api/corpus/{ids['corpus']}/document", json={"document_ids": [document_id]})
    # Nothing was written outside the data folder: no file named like the targets appeared in it.
    data_dir = t.settings.data_dir
    for found in data_dir.rglob("*"):
        if found.name in ("passwd", "shadow", "win.ini", "b.txt") or not found.resolve().is_relative_to(
            data_dir.resolve()
        ):
            problems.append(f"file written at {found}")
    assert problems == [], "\n".join(problems)


def test_sql_looking_text_in_every_search_and_filter_field(tenancy: Tenancy) -> None:
    """Every string query parameter of every GET route, generated from the OpenAPI document,
    and the filter fields of the POST searches: SQL-looking text is taken literally."""
    t, a = tenancy, tenancy.alpha
    bodies = Bodies(t.app)
    shared = shared_values(t)
    spec = t.app.openapi()
    before = t.row_counts(except_answers=True)
    problems: list[str] = []
    tried = 0
    for op in operations(t.app):
        if op.method != "GET" or not op.in_schema:
            continue
        parameters = spec["paths"][op.path]["get"].get("parameters", [])
        text_fields = [
            p["name"] for p in parameters if p.get("in") == "query" and _is_text(p.get("schema", {}))
        ]
        if not text_fields:
            continue
        url = op.url(spelled(op, a.ids, shared))
        base = request_for(bodies, op, a).get("params", {})
        for value in SQL:
            r = a.admin.get(url, params={**base, **{name: value for name in text_fields}})
            tried += 1
            check(r, problems)
            if a.admin.get(url).status_code == 200 and r.status_code == 200 and t.bravo.label in r.text:
                problems.append(f"{op} with {value!r} shows another organisation's rows")
    for value in SQL:
        fields = ("channel", "featureName", "taskId", "channelUserIds", "userIds", "userId", "sessionIds")
        kore = {**KORE_WINDOW, **{name: [value] for name in fields}, "sort": {"field": value, "order": value}}
        r = a.admin.post(f"/api/1.1/public/bot/st-{a.ids['agent']}/getLLMUsageLogs", json=kore)
        check(r, problems)
        kore["sort"] = {"field": "Time Taken", "order": "desc"}
        r = a.admin.post(f"/api/1.1/public/bot/st-{a.ids['agent']}/getLLMUsageLogs", json=kore)
        if r.status_code != 200 or t.bravo.label in r.text:
            problems.append(f"Kore filters {value!r} -> {r.status_code} {r.text[:200]}")
        leaf = {"field": value, "operator": "equals", "value": value}
        query = {"messages": [{"role": "user", "content": value}], "documents_filters": leaf}
        check(
            a.owner.post(f"/v1/agents/{contextual_ids.encode(Kind.AGENT, a.ids['agent'])}/query", json=query),
            problems,
        )
    assert tried > 50
    assert problems == [], "\n".join(problems)
    assert t.row_counts(except_answers=True) == before


def _is_text(schema: dict) -> bool:
    kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
    return "string" in kinds and "format" not in schema


HUGE_INTEGERS = [2**63, 2**70, -(2**63) - 1]


def test_integers_outside_64_bits_are_refused_everywhere(tenancy: Tenancy) -> None:
    """Every integer a client can send (numeric path ids, integer query parameters, integer
    fields of JSON bodies and their lists), generated from the route table and the OpenAPI
    document, with values no 64-bit column holds: a 4xx in the surface's format on both
    backends, and nothing written. Query parameters may also answer 2xx: a page size is
    clamped to its maximum whatever its value."""
    t, a = tenancy, tenancy.alpha
    bodies = Bodies(t.app)
    shared = shared_values(t)
    spec = t.app.openapi()
    before = t.row_counts(except_answers=True)
    problems: list[str] = []
    tried = 0

    def probe(op: Operation, url: str, kwargs: dict[str, Any], where: str) -> None:
        nonlocal tried
        tried += 1
        r = a.admin.request(op.method, url, **kwargs)
        found = len(problems)
        check(r, problems, allow_success=where.startswith("query"))
        problems[found:] = [f"{problem} ({where})" for problem in problems[found:]]

    for op in operations(t.app):
        if not op.in_schema:
            continue
        operation = spec["paths"][op.path][op.method.lower()]
        own = spelled(op, a.ids, shared)
        base = request_for(bodies, op, a)
        for name in op.parameters:
            parameter = id_parameter(op.path, name)
            if parameter is None or parameter.spell(7) != "7":
                continue  # not spelled as a plain number (UUIDs, "st-7", model names)
            for value in HUGE_INTEGERS:
                probe(op, op.url({**own, name: str(value)}), base, f"path {name}")
        for p in operation.get("parameters", []):
            if p.get("in") == "query" and "integer" in _all_types(bodies, p.get("schema", {})):
                for value in HUGE_INTEGERS:
                    params = {**base.get("params", {}), p["name"]: value}
                    probe(op, op.url(own), {**base, "params": params}, f"query {p['name']}")
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" not in content or not isinstance(base.get("json"), dict):
            continue
        schema = bodies._resolve(content["application/json"].get("schema", {}))
        for field, field_schema in schema.get("properties", {}).items():
            kinds = _all_types(bodies, field_schema)
            items = (
                _all_types(bodies, bodies._resolve(field_schema).get("items", {})) if "array" in kinds else []
            )
            if "integer" not in kinds and "integer" not in items:
                continue
            for value in HUGE_INTEGERS:
                body = {**base["json"], field: value if "integer" in kinds else [value]}
                probe(op, op.url(own), {**base, "json": body}, f"body {field}")
    assert tried > 200
    assert problems == [], "\n".join(problems)
    assert t.row_counts(except_answers=True) == before
    # The same answer on both backends: PostgreSQL found no row (404) where SQLite could not
    # bind the number (500); the one bound answers first.
    bound = "Integers must lie between -9223372036854775808 and 9223372036854775807."
    log = Operation("POST", "/v2/api/agent/{agent_id}/response/log", True)
    body = {**request_for(bodies, log, a)["json"], "chat_thread_id": 45769756108335095808}
    for r in (
        a.admin.delete(f"/v2/api/api-key/{2**63}"),
        a.admin.post(log.url({"agent_id": str(a.ids["agent"])}), json=body),
    ):
        assert (r.status_code, r.json()["message"]) == (400, bound), r.text


def _all_types(bodies: Bodies, schema: dict) -> set[str]:
    schema = bodies._resolve(schema)
    kinds = {schema["type"]} if isinstance(schema.get("type"), str) else set(schema.get("type") or [])
    for option in schema.get("anyOf", []) + schema.get("oneOf", []):
        kinds |= _all_types(bodies, option)
    return kinds


# What Python's json module reads but JSON (RFC 8259) and UTF-8 cannot carry, as raw JSON text.
NOT_JSON_VALUES = ["NaN", "Infinity", "-Infinity", "1e999", '"\\udc80"', '"ok\\ud800"']


def json_body_operations(t: Tenancy) -> list[tuple[Operation, dict[str, Any]]]:
    """Every operation that takes a JSON body, with a body it accepts from alpha's owner.
    SuperOffice routes read their body themselves (JSON among other types), so the OpenAPI
    document does not list it; they take JSON all the same."""
    bodies = Bodies(t.app)
    found = []
    for op in operations(t.app):
        kwargs = request_for(bodies, op, t.alpha)
        if "json" in kwargs or (op.path.startswith("/api/v1/Agents/") and op.method == "POST"):
            found.append((op, kwargs))
    return found


def test_nan_infinity_and_lone_surrogates_are_refused_on_every_json_route(tenancy: Tenancy) -> None:
    """Each is refused with 400 (Contextual: 422) in the surface's format, as the whole body and
    inside the fields of a body the route accepts, and nothing is written."""
    t, a = tenancy, tenancy.alpha
    shared = shared_values(t)
    before = t.row_counts()
    problems: list[str] = []
    routes = json_body_operations(t)
    assert len(routes) > 60
    for op, kwargs in routes:
        url = op.url(spelled(op, a.ids, shared))
        fields = kwargs.get("json")
        keys = list(fields) if isinstance(fields, dict) and fields else ["value"]
        for value in NOT_JSON_VALUES:
            inside = "{" + ", ".join(f"{json.dumps(key)}: {value}" for key in keys) + "}"
            for content in (value, inside):
                r = a.owner.request(
                    op.method, url, params=kwargs.get("params"), content=content.encode(), headers=JSON
                )
                expected = 422 if surface_for_path(op.path) is Surface.CONTEXTUAL else 400
                if r.status_code != expected or not in_surface_format(r):
                    problems.append(f"{op} with {content} -> {r.status_code} {r.text[:200]}")
    assert problems == [], "\n".join(problems)
    assert t.row_counts() == before


def test_nan_and_lone_surrogates_in_json_form_fields_are_refused(tenancy: Tenancy) -> None:
    """Document metadata travels as JSON inside a multipart form (Ejento and Contextual)."""
    t, a = tenancy, tenancy.alpha
    owner, ids = a.owner, a.ids
    datastore = contextual_ids.encode(Kind.DATASTORE, ids["corpus"])
    before = t.row_counts()
    problems: list[str] = []
    for value in NOT_JSON_VALUES:
        metadata = '{"author": ' + value + "}"
        upload = ("note.txt", b"a note", "text/plain")
        r = owner.post(
            f"/v2/api/corpus/{ids['corpus']}/document",
            data={"content_type": "file", "upload_from": "web", "metadata": metadata},
            files={"source": upload},
        )
        if r.status_code != 400 or not in_surface_format(r):
            problems.append(f"Ejento metadata {metadata} -> {r.status_code} {r.text[:200]}")
        r = owner.post(
            f"/v1/datastores/{datastore}/documents", data={"metadata": metadata}, files={"file": upload}
        )
        if r.status_code not in (400, 422) or not in_surface_format(r):
            problems.append(f"Contextual metadata {metadata} -> {r.status_code} {r.text[:200]}")
    assert problems == [], "\n".join(problems)
    assert t.row_counts() == before
