"""The app's route table, read from the app itself, so the reliability tests cover every surface,
including routes added after these tests were written.

``ID_PARAMETERS`` names, for every path parameter the app uses, which kind of row it holds and how
a surface spells that row's id. A route with a parameter missing from it makes the isolation test
fail, so a new route cannot silently escape the matrix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import hypothesis
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from hypothesis import strategies as st

from parley.surfaces.contextual import ids as contextual_ids
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.kore.service import BOT_PREFIX
from parley.surfaces.openai.service import model_id

PARAMETER = re.compile(r"{([A-Za-z_][A-Za-z0-9_]*)(?::[a-z]+)?}")
# Routes that are not tenant data: the framework's documentation pages and operational probes.
OPERATIONAL = frozenset({"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/healthz", "/metrics"})


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    in_schema: bool

    @property
    def parameters(self) -> tuple[str, ...]:
        return tuple(PARAMETER.findall(self.path))

    def url(self, values: dict[str, str]) -> str:
        return PARAMETER.sub(lambda m: values[m.group(1)], self.path)

    def __str__(self) -> str:
        return f"{self.method} {self.path}"


def operations(app: FastAPI) -> list[Operation]:
    """Every method of every route the app serves (HEAD aside), in registration order."""
    found: list[Operation] = []
    for route in iter_route_contexts(app.routes):
        path = route.path
        if path is None or path in OPERATIONAL:
            continue
        in_schema = bool(getattr(route, "include_in_schema", True))
        for method in sorted(route.methods or {"GET"}):
            if method != "HEAD":
                found.append(Operation(method, path, in_schema))
    return found


# -- path parameters ----------------------------------------------------------------------------


@dataclass(frozen=True)
class IdParameter:
    """A path parameter holding a tenant's row: the kind of row, and its spelling on the wire."""

    kind: str
    spell: Callable[[int], str] = str


def _contextual(kind: Kind) -> Callable[[int], str]:
    return lambda row_id: contextual_ids.encode(kind, row_id)


# Path parameter -> the tenant row it names. Contextual (/v1) spells ids as UUIDs and Kore as
# "st-<agent id>"; the same parameter name means the same kind of row on every surface.
ID_PARAMETERS: dict[str, IdParameter] = {
    "org_id": IdParameter("organization"),
    "agent_id": IdParameter("agent"),
    "bot_id": IdParameter("agent", lambda row_id: f"{BOT_PREFIX}{row_id}"),
    "user_id": IdParameter("user"),
    "team_id": IdParameter("team"),
    "project_id": IdParameter("project"),
    "corpus_id": IdParameter("corpus"),
    "datastore_id": IdParameter("corpus", _contextual(Kind.DATASTORE)),
    "document_id": IdParameter("document"),
    "chatthread_id": IdParameter("thread"),
    "agent_response_id": IdParameter("response"),
    "message_id": IdParameter("response", _contextual(Kind.MESSAGE)),
    "review_id": IdParameter("review"),
    "comment_id": IdParameter("agent_comment"),
    "key_id": IdParameter("api_key"),
    "permission_id": IdParameter("corpus_permission"),
    "config_id": IdParameter("llm_config"),
    "notification_id": IdParameter("notification"),
    "authorization_id": IdParameter("email_authorization"),
    "starter_id": IdParameter("starter"),
    "tool_id": IdParameter("tool"),
    "template_id": IdParameter("tool_template"),
    "model": IdParameter("agent", model_id),  # OpenAI-compatible: an agent is a model
    "call_id": IdParameter("usage_record"),
}
CONTEXTUAL_SPELLING = {
    "agent_id": _contextual(Kind.AGENT),
    "document_id": _contextual(Kind.DOCUMENT),
}

# Path parameters that name no tenant's row, by route, with why they stay out of the matrix
# (keyed by route too: the same name on a new route may well name a tenant's row).
SHARED_PARAMETERS: dict[tuple[str, str], str] = {
    ("/v2/api/agent-type/{type_id}", "type_id"): "agent types are reference data shared by all",
    ("/v2/api/feature-flag/{flag_name}", "flag_name"): "flag names are global; organisations override values",
    ("/v2/api/user/{user_id}/permission/{permission}", "permission"): "a capability name, not a row",
    ("/assets/{name:path}", "name"): "the console's static files, the same for everyone",
}


def id_parameter(path: str, name: str) -> IdParameter | None:
    """How ``name`` is spelled on the route ``path``; None for a parameter naming no tenant row."""
    if (path, name) in SHARED_PARAMETERS:
        return None
    parameter = ID_PARAMETERS[name]
    if path.startswith("/v1/") and name in CONTEXTUAL_SPELLING:
        return IdParameter(parameter.kind, CONTEXTUAL_SPELLING[name])
    return parameter


def unknown_parameters(ops: list[Operation]) -> list[str]:
    return sorted(
        f"{op}: {{{name}}}"
        for op in ops
        for name in op.parameters
        if name not in ID_PARAMETERS and (op.path, name) not in SHARED_PARAMETERS
    )


# -- minimal valid request bodies ----------------------------------------------------------------


class Bodies:
    """The smallest body each operation's OpenAPI schema accepts, so a call reaches the handler
    (FastAPI refuses an invalid body before the handler looks any id up)."""

    def __init__(self, app: FastAPI) -> None:
        self.spec = app.openapi()

    def _resolve(self, schema: dict) -> dict:
        while "$ref" in schema:
            node: Any = self.spec
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def request(self, op: Operation, ids: dict[str, int]) -> dict[str, Any]:
        """Keyword arguments for the test client: required query parameters and a JSON, form or
        multipart body (file fields get a small text file).

        Fields named like an id parameter get ``ids`` (the caller's own rows), so only the path
        decides whether the call may succeed."""
        operation = self.spec["paths"].get(op.path, {}).get(op.method.lower(), {})
        kwargs: dict[str, Any] = {}
        query = {
            p["name"]: self.example(p.get("schema", {}), ids, p["name"])
            for p in operation.get("parameters", [])
            if p.get("in") == "query" and p.get("required")
        }
        if query:
            kwargs["params"] = query
        content = operation.get("requestBody", {}).get("content", {})
        if "application/json" in content:
            kwargs["json"] = self.example(content["application/json"].get("schema", {}), ids)
        for media in ("multipart/form-data", "application/x-www-form-urlencoded"):
            if media not in content:
                continue
            schema = self._resolve(content[media].get("schema", {}))
            form = self.example(schema, ids) or {}
            properties = schema.get("properties", {})
            files = {
                name: ("reliability.txt", b"reliability", "text/plain")
                for name in form
                if _is_file(self._resolve(properties.get(name, {})))
            }
            kwargs["data"] = {
                k: v if isinstance(v, str) else str(v) for k, v in form.items() if k not in files
            }
            if media.startswith("multipart/"):  # multipart even when no field is a file
                kwargs["files"] = files or {"_": ("", b"")}
        return kwargs

    def example(self, schema: dict, ids: dict[str, int], name: str = "") -> Any:
        schema = self._resolve(schema)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            return schema["enum"][0]
        if name in ids and ("integer" in _types(schema) or "string" in _types(schema)):
            return ids[name] if "integer" in _types(schema) else str(ids[name])
        for key in ("anyOf", "oneOf"):
            if key in schema:
                options = [self._resolve(s) for s in schema[key]]
                options = [s for s in options if s.get("type") != "null"] or options
                return self.example(options[0], ids, name)
        if "allOf" in schema:
            return self.example(
                {k: v for s in schema["allOf"] for k, v in self._resolve(s).items()}, ids, name
            )
        kind = _types(schema)[0] if _types(schema) else "object"
        if kind == "object":
            properties = schema.get("properties", {})
            return {
                key: self.example(properties[key], ids, key)
                for key in schema.get("required", [])
                if key in properties
            }
        if kind == "array":
            item = self.example(schema.get("items", {}), ids, name.removesuffix("s"))
            return [item] * max(schema.get("minItems", 0), 1 if name in ("user_ids", "ids") else 0)
        if kind == "integer":
            return max(int(schema.get("minimum", 1)), int(schema.get("exclusiveMinimum", 0)) + 1)
        if kind == "number":
            return float(schema.get("minimum", 1))
        if kind == "boolean":
            return False
        if kind == "null":
            return None
        return _string(schema.get("pattern"), schema.get("minLength", 1), schema.get("format"))


def _is_file(schema: dict) -> bool:
    return schema.get("format") == "binary" or "contentMediaType" in schema


def _types(schema: dict) -> list[str]:
    kind = schema.get("type")
    return [kind] if isinstance(kind, str) else list(kind or [])


@cache
def _string(pattern: str | None, min_length: int, fmt: str | None) -> str:
    if fmt == "date-time":
        return "2024-01-01T00:00:00Z"
    if fmt == "date":
        return "2024-01-01"
    if pattern is None:
        return "reliability" + "x" * max(0, min_length - 11)
    # The smallest string the pattern accepts, found the same way on every run.
    return hypothesis.find(
        st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) >= max(min_length, 1)),
        lambda s: True,
        settings=hypothesis.settings(database=None, derandomize=True, max_examples=2000),
    )
