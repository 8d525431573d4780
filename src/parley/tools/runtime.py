"""Running API tools: the enabled API tools of an agent, one HTTP call of a template with a
model's arguments, and the usage record of that call.

    tools_for_agent   (read transaction)   the agent's usable API tools with their templates
    function_specs    (no I/O)             the tools as functions offered to a model
    offline_arguments (no I/O)             whether a question triggers a tool without a model
    call_api_tool     (no transaction)     validate arguments, render, call, read a capped body
    result_text       (no I/O)             a result as text for a prompt or a numbered source
    record_tool_call  (write transaction)  one usage record (feature "tool_call")

Outbound calls are off unless ``tools.allow_outbound_calls`` is set. Every destination, each
redirect included, is checked like a web-link document (parley.ingest.web.check_public_url):
http(s) only, and no private, loopback, link-local or reserved address unless the host is in
``tools.allowed_hosts``. Secrets go only into the request's headers: the request summary that
results, errors and usage records carry shows them as "[redacted]", and a redirect to another
origin drops them.
"""

from __future__ import annotations

import base64
import json
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

import httpx
from cryptography.fernet import InvalidToken
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts.security import decrypt_secret
from parley.agents.models import Agent
from parley.errors import ParleyError
from parley.ingest.web import MAX_REDIRECTS, WebFetchError, check_public_url
from parley.llm.base import ToolSpec
from parley.settings import Settings
from parley.tools.models import AgentTool, ApiToolTemplate, Tool
from parley.tools.service import (
    BODY_METHODS,
    ENCRYPTED,
    OFFLINE_CONFIG,
    PLACEHOLDER,
    fits_type,
    placeholders,
    stored_body_template,
    tool_usable,
)
from parley.usage import service as usage
from parley.usage.models import LLMUsageRecord

REDACTED = "[redacted]"
MAX_ARGUMENT_CHARS = 10_000


class ToolCallError(ParleyError):
    """A tool call refused (400: bad arguments, outbound calls off, a private address) or failed
    (502: unreachable, bad secret; 504: too slow). ``request`` is what was, or would have been,
    sent, without secrets (None when the arguments were refused)."""

    def __init__(self, message: str, status_code: int = 502, request: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.request = request


@dataclass(frozen=True)
class ToolResult:
    status_code: int
    body_text: str  # at most tools.max_response_bytes of the answer, decoded
    elapsed_ms: int
    request: dict[str, Any]  # method, url, headers (secrets redacted), body, redirects
    content_type: str = ""
    truncated: bool = False


@dataclass(frozen=True)
class ApiTool:
    """An API tool an agent may call, with the template that says how."""

    tool: Tool
    template: ApiToolTemplate


def tools_for_agent(session: Session, agent_id: int) -> list[ApiTool]:
    """The agent's enabled API tools that its organisation may use (live, active, not disabled
    by the organisation) and whose template is live, in the order they were linked."""
    org_id = session.scalar(select(Agent.org_id).where(Agent.id == agent_id))
    if org_id is None:
        return []
    rows = session.execute(
        select(Tool, ApiToolTemplate)
        .join(AgentTool, AgentTool.tool_id == Tool.id)
        .join(ApiToolTemplate, ApiToolTemplate.id == Tool.api_tool_template_id)
        .where(
            AgentTool.agent_id == agent_id,
            AgentTool.is_enabled.is_(True),
            tool_usable(org_id),
            Tool.tool_type == "api",
            ApiToolTemplate.org_id == org_id,
            ApiToolTemplate.is_deleted.is_(False),
        )
        .order_by(AgentTool.id)
    ).all()
    return [ApiTool(tool, template) for tool, template in rows]


def function_specs(tools: Sequence[ApiTool]) -> dict[str, tuple[ToolSpec, ApiTool]]:
    """Each tool as a function a model may call, by function name: the tool's name with what
    OpenAI refuses in names (``^[A-Za-z0-9_-]{1,64}$``) made "_", and its id added when two
    names meet."""
    found: dict[str, tuple[ToolSpec, ApiTool]] = {}
    for item in tools:
        name = re.sub(r"[^A-Za-z0-9_-]", "_", item.tool.name)[:64]
        if name in found:
            name = f"{name[:50]}_{item.tool.id}"
        description = item.tool.description or item.template.description or item.tool.name
        parameters = item.template.parameters or {"type": "object", "properties": {}}
        found[name] = (ToolSpec(name, description, parameters), item)
    return found


def offline_arguments(item: ApiTool, question: str) -> dict[str, Any] | None:
    """Without a model, a tool is called when its ``config.offline.keywords`` has a word or
    phrase of the question (case-insensitive, whole words); the arguments are
    ``config.offline.arguments`` with the question in ``config.offline.question_argument``.
    None when the tool does not declare keywords or the question has none of them."""
    offline = (item.tool.config or {}).get(OFFLINE_CONFIG)
    if not isinstance(offline, Mapping):
        return None
    text = question.lower()
    words = (re.escape(str(keyword).lower()) for keyword in offline.get("keywords", []))
    if not any(re.search(rf"(?<!\w){word}(?!\w)", text) for word in words):
        return None
    arguments = dict(offline.get("arguments") or {})
    if offline.get("question_argument"):
        arguments[offline["question_argument"]] = question.strip()
    return arguments


def result_text(result: ToolResult) -> str:
    """The answer's body as text for a prompt: a JSON object or list as "path: value" lines
    (readable to a model and to the offline answerer, which works sentence by sentence),
    anything else as it came."""
    try:
        value = json.loads(result.body_text)
    except ValueError:
        return result.body_text.strip()
    if not isinstance(value, dict | list):
        return result.body_text.strip()
    lines: list[str] = []

    def walk(node: Any, path: str) -> None:
        if isinstance(node, dict):
            for key, item in node.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(node, list):
            for index, item in enumerate(node):
                walk(item, f"{path}[{index}]")
        else:
            lines.append(f"{path}: {_text(node) if node is not None else 'null'}")

    walk(value, "")
    return "\n".join(lines)


# -- arguments and rendering ---------------------------------------------------------------------


def _arguments(parameters: Mapping[str, Any], arguments: object) -> dict[str, Any]:
    """The arguments checked against the parameters, with defaults filled in; null counts as
    not given. Integral floats (3.0) are accepted as integers: models write them."""
    if not isinstance(arguments, Mapping):
        raise ToolCallError("The tool's arguments must be a JSON object.", 400)
    specs: Mapping[str, Mapping[str, Any]] = parameters.get("properties", {})
    unknown = sorted(set(arguments) - set(specs))
    if unknown:
        raise ToolCallError(f"Unknown arguments: {', '.join(map(str, unknown))}.", 400)
    values: dict[str, Any] = {}
    for name, spec in specs.items():
        value = arguments.get(name)
        if value is None:
            if "default" in spec:
                values[name] = spec["default"]
            continue
        kind = spec["type"]
        if kind == "integer" and isinstance(value, float) and value.is_integer():
            value = int(value)
        if not fits_type(value, kind):
            raise ToolCallError(f"Argument {name} must be of type {kind}.", 400)
        if isinstance(value, str) and len(value) > MAX_ARGUMENT_CHARS:
            raise ToolCallError(f"Argument {name} is longer than {MAX_ARGUMENT_CHARS} characters.", 400)
        if "enum" in spec and value not in spec["enum"]:
            raise ToolCallError(f"Argument {name} must be one of: {', '.join(map(str, spec['enum']))}.", 400)
        values[name] = value
    missing = [name for name in parameters.get("required", []) if name not in values]
    if missing:
        raise ToolCallError(f"Missing required arguments: {', '.join(missing)}.", 400)
    return values


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _render_body(node: Any, values: Mapping[str, Any]) -> Any:
    """A string that is exactly one placeholder becomes the typed value; placeholders inside
    longer strings become text."""
    if isinstance(node, str):
        whole = PLACEHOLDER.fullmatch(node)
        if whole:
            return values[whole.group(1)]
        return PLACEHOLDER.sub(lambda m: _text(values[m.group(1)]), node)
    if isinstance(node, list):
        return [_render_body(item, values) for item in node]
    if isinstance(node, dict):
        return {key: _render_body(item, values) for key, item in node.items()}
    return node


@dataclass(frozen=True)
class _Request:
    method: str
    url: str
    headers: dict[str, str]
    body: Any
    auth_header: str | None  # the header holding the secret, if any

    def summary(self) -> dict[str, Any]:
        headers = dict(self.headers)
        if self.auth_header is not None:
            headers[self.auth_header] = REDACTED
        return {"method": self.method, "url": self.url, "headers": headers, "body": self.body}


def _render(template: ApiToolTemplate, values: Mapping[str, Any]) -> tuple[str, Any]:
    """The URL (values percent-encoded, "/" included, so a value cannot add path segments) and
    the JSON body. Arguments neither template uses go in the query string, or in the JSON body
    of a POST, PUT or PATCH without a body template."""
    body_template = stored_body_template(template)
    used = {*placeholders(template.url_template), *placeholders(body_template)}
    missing = sorted(used - set(values))
    if missing:
        raise ToolCallError(f"Missing values for parameters used in the request: {', '.join(missing)}.", 400)
    url = PLACEHOLDER.sub(lambda m: quote(_text(values[m.group(1)]), safe=""), template.url_template)
    rest = {name: value for name, value in values.items() if name not in used}
    body = _render_body(body_template, values) if body_template is not None else None
    if body_template is None and template.method in BODY_METHODS and rest:
        body, rest = rest, {}
    parts = urlsplit(url)
    if rest:
        extra = urlencode([(name, _text(value)) for name, value in rest.items()])
        parts = parts._replace(query=f"{parts.query}&{extra}" if parts.query else extra)
    return urlunsplit(parts._replace(fragment="")), body


def _secret(template: ApiToolTemplate, settings: Settings) -> str:
    ref = str(template.auth.get("secret_ref", ""))
    if not ref.startswith(ENCRYPTED):
        raise ToolCallError(f"The API tool template {template.name!r} has no usable secret; set it again.")
    try:
        return decrypt_secret(ref.removeprefix(ENCRYPTED).encode(), settings.secret())
    except InvalidToken:
        raise ToolCallError(
            f"The secret of API tool template {template.name!r} cannot be decrypted (the server secret "
            "changed since it was stored); set it again."
        ) from None


def _request(template: ApiToolTemplate, values: Mapping[str, Any], settings: Settings) -> _Request:
    url, body = _render(template, values)
    headers = {str(name): str(value) for name, value in template.headers.items()}
    if body is not None and not any(name.lower() == "content-type" for name in headers):
        headers["Content-Type"] = "application/json"
    auth = template.auth or {}
    kind = auth.get("type", "none")
    auth_header = None
    if kind != "none":
        secret = _secret(template, settings)
        if kind == "bearer":
            auth_header, value = "Authorization", f"Bearer {secret}"
        elif kind == "basic":
            pair = f"{auth.get('username', '')}:{secret}".encode()
            auth_header, value = "Authorization", "Basic " + base64.b64encode(pair).decode()
        else:
            auth_header, value = str(auth["header"]), secret
        headers[auth_header] = value
    return _Request(template.method, url, headers, body, auth_header)


# -- the call ------------------------------------------------------------------------------------


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


def _check_destination(url: str, settings: Settings, summary: dict[str, Any]) -> None:
    try:
        check_public_url(url, settings.tools.allowed_hosts)
    except WebFetchError as exc:
        raise ToolCallError(f"The tool call was refused: {exc}", 400, summary) from None


def _read(response: httpx.Response, limit: int, deadline: float) -> tuple[bytes, bool]:
    """Up to ``limit`` bytes of the body; past it reading stops and the body is truncated."""
    body = bytearray()
    for piece in response.iter_bytes():
        body.extend(piece)
        if len(body) > limit:
            return bytes(body[:limit]), True
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout("the answer took too long", request=response.request)
    return bytes(body), False


def _decode(body: bytes, encoding: str | None) -> str:
    try:
        return body.decode(encoding or "utf-8", errors="replace")
    except LookupError:  # a charset Python does not know
        return body.decode("utf-8", errors="replace")


def call_api_tool(template: ApiToolTemplate, arguments: Mapping[str, Any], settings: Settings) -> ToolResult:
    """Call the template's HTTP endpoint with a model's arguments; an HTTP error status is a
    result, not an exception. Raises :class:`ToolCallError` when the call is refused or fails.
    The template's ``timeout_seconds`` bounds the whole call, redirects and body included."""
    values = _arguments(template.parameters or {}, arguments)
    request = _request(template, values, settings)
    summary = request.summary()
    if not settings.tools.allow_outbound_calls:
        raise ToolCallError(
            "Outbound tool calls are disabled on this server (PARLEY_TOOLS__ALLOW_OUTBOUND_CALLS).",
            400,
            summary,
        )
    started = time.monotonic()
    deadline = started + template.timeout_seconds
    redirects: list[str] = []
    summary["redirects"] = redirects
    content = json.dumps(request.body).encode() if request.body is not None else None
    try:
        with httpx.Client(follow_redirects=False) as client:
            outgoing = client.build_request(
                request.method, request.url, headers=request.headers, content=content
            )
            for _ in range(MAX_REDIRECTS + 1):
                _check_destination(str(outgoing.url), settings, summary)
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise httpx.ConnectTimeout("no time left", request=outgoing)
                outgoing.extensions["timeout"] = httpx.Timeout(remaining).as_dict()
                response = client.send(outgoing, stream=True)
                try:
                    following = response.next_request
                    if response.is_redirect and following is not None:
                        if request.auth_header and _origin(following.url) != _origin(outgoing.url):
                            following.headers.pop(request.auth_header, None)
                        redirects.append(str(following.url))
                        outgoing = following
                        continue
                    body, truncated = _read(response, settings.tools.max_response_bytes, deadline)
                finally:
                    response.close()
                return ToolResult(
                    status_code=response.status_code,
                    body_text=_decode(body, response.encoding),
                    elapsed_ms=round((time.monotonic() - started) * 1000),
                    request=summary,
                    content_type=response.headers.get("content-type", ""),
                    truncated=truncated,
                )
    except httpx.TimeoutException:
        raise ToolCallError(
            f"The tool did not answer within {template.timeout_seconds:g} seconds.", 504, summary
        ) from None
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        raise ToolCallError(f"The tool's server could not be reached: {exc}", 502, summary) from None
    raise ToolCallError(f"The tool redirected more than {MAX_REDIRECTS} times.", 502, summary)


def record_tool_call(
    session: Session,
    *,
    org_id: int,
    user_id: int | None,
    agent_id: int | None,
    tool_name: str,
    arguments: Mapping[str, Any],
    started: datetime,
    ended: datetime,
    outcome: ToolResult | ToolCallError,
    channel: str = "",
    agent_response_id: int | None = None,
    task_id: str = "",
    session_id: str = "",
    channel_user_id: str = "",
    is_developer: bool = False,
) -> LLMUsageRecord:
    """One usage record for a tool call (feature "tool_call", prompt name the tool's name, model
    name the host called); an HTTP status of 400 or more, or an error, makes it a failure."""
    if isinstance(outcome, ToolResult):
        request, status = outcome.request, outcome.status_code
        error = f"The tool answered HTTP {status}." if status >= 400 else ""
        response = {
            "status_code": status,
            "content_type": outcome.content_type,
            "body": outcome.body_text,
            "truncated": outcome.truncated,
            "elapsed_ms": outcome.elapsed_ms,
        }
    else:
        request, status, error, response = outcome.request, outcome.status_code, outcome.message, {}
    return usage.record_call(
        session,
        org_id=org_id,
        user_id=user_id,
        agent_id=agent_id,
        llm_config=None,
        integration="api_tool",
        prompt_name=tool_name,
        feature_name="tool_call",
        model_name=urlsplit(request["url"]).netloc if request else "",
        channel=channel,
        started=started,
        ended=ended,
        status_code=status,
        error=error,
        request_payload={"tool": tool_name, "arguments": dict(arguments), "request": request},
        response_payload=response,
        request_tokens=0,
        response_tokens=0,
        agent_response_id=agent_response_id,
        task_id=task_id,
        description=f"tool call {tool_name}" + (f" for agent {agent_id}" if agent_id else ""),
        session_id=session_id,
        channel_user_id=channel_user_id,
        is_developer=is_developer,
    )
