"""Tools data layer: the tools agents can use, the API tool templates behind API tools, and
which organisations and agents enable them.

Rules
- Built-in tools (no organisation: "Rag Tool", "Attachment Tool") are visible to everyone and
  cannot be changed. Every other tool and every template belongs to one organisation; another
  organisation's ids answer "not found".
- Creating a tool or template needs the ``manage_tools`` capability; editing or deleting one
  needs it too, and being its creator or an organisation admin.
- A tool is enabled in an organisation unless the organisation's admins disabled it
  (Organization Tool). An agent uses a tool when its link is enabled and the tool is live,
  active and enabled in the agent's organisation (:func:`tool_usable`).
- A template's auth secret is encrypted with the server secret and never returned; a stored
  secret is only ever sent to the server it was given for (changing the scheme, host or port
  needs the secret again).
- A tool's ``config`` is free-form, except ``config.offline`` (:class:`OfflineTrigger`): the
  words that make the offline answerer call the tool, checked against the tool's template.

How a template's URL, body and parameters are rendered and called: parley/tools/runtime.py.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    ValidationError,
    model_validator,
)
from sqlalchemy import ColumnElement, Select, and_, or_, select
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import load_visible
from parley.access.principal import Principal
from parley.accounts.security import encrypt_secret
from parley.agents import service as agents_service
from parley.corpora import links as corpus_links
from parley.db.base import MAX_ID
from parley.db.rows import apply_changes, name_taken, refuse_to_orphan, soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from parley.settings import Settings
from parley.tools.models import AgentTool, ApiToolTemplate, OrganizationTool, Tool

# -- the template grammar (shared with the runtime) ------------------------------------------------

_PARAMETER_NAME = r"[A-Za-z_][A-Za-z0-9_]{0,63}"
PLACEHOLDER = re.compile(r"\{(" + _PARAMETER_NAME + r")\}")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
BODY_METHODS = ("POST", "PUT", "PATCH")
ParameterType = Literal["string", "integer", "number", "boolean"]
ENCRYPTED = "encrypted:"
MAX_TIMEOUT_SECONDS = 60.0
MAX_URL = 2000
MAX_BODY_TEMPLATE = 20_000
MAX_CONFIG = 10_000
MAX_SECRET = 4000
MAX_PARAMETERS = 50
# Headers the HTTP client sets itself, and credentials, which belong in ``auth`` (never returned).
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
    }
)

_NO_NUL = r"^[^\x00]*$"
_PRINTABLE_ASCII = re.compile(r"[\x20-\x7e]+")
_Name = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=_NO_NUL)
]
_Description = Annotated[str, StringConstraints(max_length=5000, pattern=_NO_NUL)]
_Id = Annotated[int, Field(ge=1, le=MAX_ID)]
_UrlTemplate = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
_ParameterName = Annotated[str, StringConstraints(pattern=f"^{_PARAMETER_NAME}$")]
_HeaderName = Annotated[str, StringConstraints(pattern=r"^[!#$%&'*+.^_`|~0-9A-Za-z-]{1,100}$")]
# Printable ASCII and tabs: a line break would split the header, and HTTP headers are ASCII.
_HeaderValue = Annotated[str, StringConstraints(max_length=2000, pattern=r"^[\t\x20-\x7e]*$")]
_Username = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f:]+$")]
_Scalar = StrictBool | StrictInt | StrictFloat | Annotated[StrictStr, StringConstraints(max_length=1000)]
_Method = Annotated[
    Literal["GET", "POST", "PUT", "PATCH", "DELETE"],
    BeforeValidator(lambda value: value.strip().upper() if isinstance(value, str) else value),
]


def fits_type(value: object, kind: str) -> bool:
    """Whether a JSON value is of a parameter type (a bool is not a number)."""
    if kind == "boolean":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    if kind == "integer":
        return isinstance(value, int)
    if kind == "number":
        return isinstance(value, int | float) and math.isfinite(value)
    return kind == "string" and isinstance(value, str) and "\x00" not in value


class ParameterSpec(BaseModel):
    """One parameter: a JSON-schema property of a scalar type."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    type: ParameterType
    title: Annotated[str, StringConstraints(max_length=200, pattern=_NO_NUL)] | None = None
    description: Annotated[str, StringConstraints(max_length=1000, pattern=_NO_NUL)] = ""
    enum: list[_Scalar] | None = Field(default=None, min_length=1, max_length=100)
    default: _Scalar | None = None

    @model_validator(mode="after")
    def _values_fit_the_type(self) -> ParameterSpec:
        values = [*(self.enum or []), *([] if self.default is None else [self.default])]
        if not all(fits_type(value, self.type) for value in values):
            raise ValueError(f"enum and default values must be of type {self.type}")
        if self.enum is not None and self.default is not None and self.default not in self.enum:
            raise ValueError("default must be one of enum")
        return self


class ParametersSchema(BaseModel):
    """The JSON schema of a template's parameters, as a model's function call fills them in."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["object"] = "object"
    properties: dict[_ParameterName, ParameterSpec] = Field(default_factory=dict, max_length=MAX_PARAMETERS)
    required: list[_ParameterName] = Field(default_factory=list, max_length=MAX_PARAMETERS)

    @model_validator(mode="after")
    def _required_are_declared(self) -> ParametersSchema:
        undeclared = [name for name in self.required if name not in self.properties]
        if undeclared:
            raise ValueError(f"required names undeclared parameters: {', '.join(undeclared)}")
        if len(set(self.required)) != len(self.required):
            raise ValueError("required lists a parameter twice")
        return self


class AuthFields(BaseModel):
    """How the call authenticates. ``secret`` is write-only: the bearer token, the API key sent
    in ``header``, or the password of ``username`` (basic)."""

    type: Literal["none", "bearer", "header", "basic"] = "none"
    header: _HeaderName | None = None
    username: _Username | None = None
    secret: SecretStr | None = Field(default=None, min_length=1, max_length=MAX_SECRET)

    @model_validator(mode="after")
    def _fields_of_the_type(self) -> AuthFields:
        if (self.header is not None) != (self.type == "header"):
            raise ValueError("header is required with type 'header' and only used with it")
        if (self.username is not None) != (self.type == "basic"):
            raise ValueError("username is required with type 'basic' and only used with it")
        if self.type == "none" and self.secret is not None:
            raise ValueError("type 'none' takes no secret")
        return self


class TemplateFields(BaseModel):
    """What a caller may set on a template. On edit only the fields sent change; an explicit
    null is refused (400) except for ``body_template``, where it removes the body."""

    name: _Name = Field(default=None)
    description: _Description = Field(default=None)
    method: _Method = Field(default=None)
    url_template: _UrlTemplate = Field(default=None)
    parameters: ParametersSchema = Field(default=None)
    headers: dict[_HeaderName, _HeaderValue] = Field(default=None, max_length=50)
    # A JSON value whose strings may hold {placeholders}; sent as the request's JSON body.
    body_template: dict[str, Any] | list[Any] | None = None
    auth: AuthFields = Field(default=None)
    timeout_seconds: float = Field(default=None, gt=0, le=MAX_TIMEOUT_SECONDS)


class CreateTemplateFields(TemplateFields):
    name: _Name
    url_template: _UrlTemplate


OFFLINE_CONFIG = "offline"
_Keyword = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=_NO_NUL)
]


class OfflineTrigger(BaseModel):
    """``config.offline`` of a tool: without a model, the answer path calls the tool when the
    question has one of ``keywords`` (whole words, any case), with ``arguments`` and the
    question itself in the string parameter ``question_argument``."""

    model_config = ConfigDict(extra="forbid")

    keywords: list[_Keyword] = Field(min_length=1, max_length=50)
    question_argument: _ParameterName | None = None
    arguments: dict[_ParameterName, _Scalar] = Field(default_factory=dict, max_length=MAX_PARAMETERS)


def _checked_config(config: dict[str, Any], template: ApiToolTemplate) -> dict[str, Any]:
    """The config with ``offline`` validated and normalised; its names must be parameters of
    the template (the question goes into a string one)."""
    _check_json("config", config, MAX_CONFIG)
    if OFFLINE_CONFIG not in config:
        return config
    try:
        trigger = OfflineTrigger.model_validate(config[OFFLINE_CONFIG])
    except ValidationError as exc:
        problem = exc.errors()[0]
        where = ".".join(str(part) for part in problem["loc"])
        raise InvalidInputError(f"config.offline{'.' + where if where else ''}: {problem['msg']}.") from None
    properties = (template.parameters or {}).get("properties", {})
    unknown = sorted({*trigger.arguments, *filter(None, [trigger.question_argument])} - set(properties))
    if unknown:
        raise InvalidInputError(f"config.offline names parameters the template lacks: {', '.join(unknown)}.")
    if trigger.question_argument and properties[trigger.question_argument]["type"] != "string":
        raise InvalidInputError("config.offline.question_argument must be a string parameter.")
    return {**config, OFFLINE_CONFIG: trigger.model_dump(exclude_none=True)}


class ToolFields(BaseModel):
    """What a caller may set on a tool; only API tools are created through the API."""

    name: _Name = Field(default=None)
    description: _Description = Field(default=None)
    tool_type: Literal["api"] = Field(default=None)
    api_tool_template_id: _Id = Field(default=None)
    config: dict[str, Any] = Field(default=None)
    is_active: StrictBool = Field(default=None)


class CreateToolFields(ToolFields):
    name: _Name
    api_tool_template_id: _Id


def placeholders(value: object) -> Iterator[str]:
    """The parameter names a template's URL (a string) or body (any JSON value) uses."""
    if isinstance(value, str):
        yield from PLACEHOLDER.findall(value)
    elif isinstance(value, list):
        for item in value:
            yield from placeholders(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from placeholders(item)


def _json_problem(value: object) -> str | None:
    """Why PostgreSQL's JSONB would refuse a value (a NUL character, a non-finite number)."""
    if isinstance(value, str):
        return "NUL characters" if "\x00" in value else None
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN or infinite numbers"
    if isinstance(value, dict):
        value = [*value.keys(), *value.values()]
    if isinstance(value, list):
        return next((p for p in map(_json_problem, value) if p), None)
    return None


def _check_json(name: str, value: object, limit: int) -> None:
    problem = _json_problem(value)
    if problem:
        raise InvalidInputError(f"{name} must not contain {problem}.")
    if len(json.dumps(value)) > limit:
        raise InvalidInputError(f"{name} must be at most {limit} characters as JSON.")


# -- API tool templates ------------------------------------------------------------------------


def template_visible(principal: Principal) -> ColumnElement[bool]:
    return and_(ApiToolTemplate.org_id == principal.org_id, ApiToolTemplate.is_deleted.is_(False))


def list_templates(session: Session, principal: Principal) -> Sequence[ApiToolTemplate]:
    return session.scalars(
        select(ApiToolTemplate).where(template_visible(principal)).order_by(ApiToolTemplate.id)
    ).all()


def get_template(session: Session, principal: Principal, template_id: int) -> ApiToolTemplate:
    return load_visible(
        session, ApiToolTemplate, template_id, template_visible(principal), "API tool template"
    )


def _require_manager(session: Session, principal: Principal, row: Tool | ApiToolTemplate, what: str) -> None:
    require_capability(session, principal, "manage_tools")
    if not principal.is_admin and row.created_by != principal.email:
        raise PermissionDeniedError(
            f"Only the {what}'s creator or an organization administrator can change it."
        )


def _check_url_template(url: str, names: set[str]) -> None:
    if len(url) > MAX_URL or re.search(r"[\s\x00]", url):
        raise InvalidInputError(f"url_template must be a URL of at most {MAX_URL} characters without spaces.")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError when the port is not a number from 0 to 65535
    except ValueError:
        raise InvalidInputError("url_template is not a valid URL.") from None
    if "{" in parts.netloc or "}" in parts.netloc:
        raise InvalidInputError("The host and port of url_template cannot be placeholders.")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("url_template must be an http or https URL with a host.")
    if "@" in parts.netloc:
        raise InvalidInputError("Put credentials in auth, not in url_template.")
    if re.search(r"[{}]", PLACEHOLDER.sub("", url)):
        raise InvalidInputError("url_template has a brace that is not part of a {parameter} placeholder.")
    undeclared = sorted(set(PLACEHOLDER.findall(url)) - names)
    if undeclared:
        raise InvalidInputError(f"url_template uses undeclared parameters: {', '.join(undeclared)}.")


def _check_template(values: Mapping[str, Any]) -> None:
    """Refuse a template that could not be called, or could not be stored on every backend."""
    names = set(values["parameters"]["properties"])
    _check_url_template(values["url_template"], names)
    body = values["body_template"]
    if body is not None:
        if values["method"] not in BODY_METHODS:
            raise InvalidInputError("body_template is only sent with POST, PUT and PATCH.")
        _check_json("body_template", body, MAX_BODY_TEMPLATE)
        undeclared = sorted(set(placeholders(body)) - names)
        if undeclared:
            raise InvalidInputError(f"body_template uses undeclared parameters: {', '.join(undeclared)}.")
    header_names = [name.lower() for name in values["headers"]]
    reserved = sorted(set(header_names) & RESERVED_HEADERS)
    if reserved:
        raise InvalidInputError(
            f"headers cannot set {', '.join(reserved)}: credentials go in auth, and the others are set "
            "by the client."
        )
    auth_header = values["auth"].get("header")
    if auth_header and auth_header.lower() in RESERVED_HEADERS - {"authorization"}:
        raise InvalidInputError(f"auth.header cannot be {auth_header}.")
    if len(set(header_names)) != len(header_names) or (auth_header and auth_header.lower() in header_names):
        raise InvalidInputError("A header is given twice (header names are case-insensitive).")


def _stored_auth(fields: AuthFields, current: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The auth column for ``fields``: the new secret encrypted, or (same type, no secret sent)
    the stored one kept."""
    stored: dict[str, Any] = {"type": fields.type}
    if fields.header is not None:
        stored["header"] = fields.header
    if fields.username is not None:
        stored["username"] = fields.username
    if fields.type == "none":
        return stored
    if fields.secret is not None:
        secret = fields.secret.get_secret_value()
        if not _PRINTABLE_ASCII.fullmatch(secret):
            raise InvalidInputError("auth.secret must be printable ASCII without line breaks.")
        stored["secret_ref"] = ENCRYPTED + encrypt_secret(secret, settings.secret()).decode()
    elif current.get("type") == fields.type and current.get("secret_ref"):
        stored["secret_ref"] = current["secret_ref"]
    else:
        raise InvalidInputError(f"auth.secret is required for auth type {fields.type!r}.")
    return stored


def _given(fields: TemplateFields) -> dict[str, Any]:
    given = fields.model_dump(exclude_unset=True, exclude={"auth"})
    if "parameters" in given:
        given["parameters"] = fields.parameters.model_dump(exclude_none=True)
    return given


def _refuse_taken_template_name(
    session: Session, org_id: int, name: str, exclude_id: int | None = None
) -> None:
    if name_taken(
        session, ApiToolTemplate.name, name, ApiToolTemplate.org_id == org_id, exclude_id=exclude_id
    ):
        raise ConflictError("An API tool template with this name already exists.")


def _stored_body(body: object) -> str | None:
    return None if body is None else json.dumps(body)


def stored_body_template(template: ApiToolTemplate) -> Any:
    """The template's body as the JSON value it was given as (None without a body)."""
    return None if template.body_template is None else json.loads(template.body_template)


def create_template(
    session: Session, principal: Principal, fields: CreateTemplateFields, settings: Settings
) -> ApiToolTemplate:
    require_capability(session, principal, "manage_tools")
    values: dict[str, Any] = {
        "description": "",
        "method": "GET",
        "parameters": ParametersSchema().model_dump(),
        "headers": {},
        "body_template": None,
        "timeout_seconds": ApiToolTemplate.__table__.c.timeout_seconds.default.arg,  # type: ignore[union-attr]
        **_given(fields),
        "auth": _stored_auth(fields.auth or AuthFields(), {}, settings),
    }
    _check_template(values)
    _refuse_taken_template_name(session, principal.org_id, values["name"])
    template = ApiToolTemplate(
        org_id=principal.org_id,
        created_by=principal.email,
        **{**values, "body_template": _stored_body(values["body_template"])},
    )
    session.add(template)
    session.flush()
    return template


def edit_template(
    session: Session, principal: Principal, template_id: int, fields: TemplateFields, settings: Settings
) -> ApiToolTemplate:
    """Change only the fields sent; the result is checked as a whole."""
    template = get_template(session, principal, template_id)
    _require_manager(session, principal, template, "API tool template")
    changes = _given(fields)
    if "auth" in fields.model_fields_set:
        changes["auth"] = _stored_auth(fields.auth, template.auth, settings)
    current = {
        "url_template": template.url_template,
        "method": template.method,
        "parameters": template.parameters,
        "headers": template.headers,
        "body_template": stored_body_template(template),
        "auth": template.auth,
    }
    values = {**current, **changes}
    _check_template(values)
    new_secret = fields.auth is not None and fields.auth.secret is not None
    if values["auth"].get("secret_ref") and not new_secret and _origin(values) != _origin(current):
        raise InvalidInputError(
            "Send auth.secret again when changing the scheme, host or port of url_template: a stored "
            "secret is only sent to the server it was given for."
        )
    if "name" in changes:
        _refuse_taken_template_name(session, template.org_id, changes["name"], exclude_id=template.id)
    if "body_template" in changes:
        changes["body_template"] = _stored_body(changes["body_template"])
    apply_changes(session, principal, template, changes)
    return template


def _origin(values: Mapping[str, Any]) -> str:
    parts = urlsplit(values["url_template"])
    return f"{parts.scheme}://{parts.netloc.lower()}"


def delete_template(session: Session, principal: Principal, template_id: int) -> ApiToolTemplate:
    """Soft delete; refused while a live tool still calls the template."""
    template = get_template(session, principal, template_id)
    _require_manager(session, principal, template, "API tool template")
    refuse_to_orphan(session, "API tool template", template.id, Tool.api_tool_template_id, "tool")
    soft_delete(session, principal, template)
    return template


# -- tools -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ToolState:
    tool: Tool
    organization_enabled: bool  # not disabled by the caller's organisation


def tool_visible(principal: Principal) -> ColumnElement[bool]:
    return and_(Tool.is_deleted.is_(False), or_(Tool.org_id.is_(None), Tool.org_id == principal.org_id))


def _disabled_in_org(org_id: int) -> Select[tuple[int]]:
    return select(OrganizationTool.tool_id).where(
        OrganizationTool.org_id == org_id, OrganizationTool.is_enabled.is_(False)
    )


def tool_usable(org_id: int) -> ColumnElement[bool]:
    """Tools an organisation's agents may use: live, active, built-in or the organisation's own,
    and not disabled by the organisation."""
    return and_(
        Tool.is_deleted.is_(False),
        Tool.is_active.is_(True),
        or_(Tool.org_id.is_(None), Tool.org_id == org_id),
        Tool.id.not_in(_disabled_in_org(org_id)),
    )


def _states(session: Session, org_id: int, tools: Sequence[Tool]) -> list[ToolState]:
    ids = [tool.id for tool in tools]
    disabled = set(session.scalars(_disabled_in_org(org_id).where(OrganizationTool.tool_id.in_(ids))))
    return [ToolState(tool, tool.id not in disabled) for tool in tools]


def list_tools(session: Session, principal: Principal) -> list[ToolState]:
    tools = session.scalars(select(Tool).where(tool_visible(principal)).order_by(Tool.id)).all()
    return _states(session, principal.org_id, tools)


def get_tool(session: Session, principal: Principal, tool_id: int) -> ToolState:
    tool = load_visible(session, Tool, tool_id, tool_visible(principal), "Tool")
    return _states(session, principal.org_id, [tool])[0]


def _refuse_taken_tool_name(session: Session, org_id: int, name: str, exclude_id: int | None = None) -> None:
    """Names are unique among the organisation's live tools and the built-in ones."""
    scope = or_(Tool.org_id.is_(None), Tool.org_id == org_id)
    if name_taken(session, Tool.name, name, scope, exclude_id=exclude_id):
        raise ConflictError("A tool with this name already exists.")


def create_tool(session: Session, principal: Principal, fields: CreateToolFields) -> ToolState:
    require_capability(session, principal, "manage_tools")
    template = get_template(session, principal, fields.api_tool_template_id)
    config = _checked_config(fields.config if fields.config is not None else {}, template)
    _refuse_taken_tool_name(session, principal.org_id, fields.name)
    tool = Tool(
        org_id=principal.org_id,
        name=fields.name,
        description=fields.description or "",
        tool_type="api",
        api_tool_template_id=template.id,
        config=config,
        is_active=fields.is_active if fields.is_active is not None else True,
        created_by=principal.email,
    )
    session.add(tool)
    session.flush()
    return ToolState(tool, True)


def _changeable_tool(session: Session, principal: Principal, tool_id: int) -> ToolState:
    state = get_tool(session, principal, tool_id)
    if state.tool.org_id is None:
        raise PermissionDeniedError("Built-in tools cannot be changed.")
    _require_manager(session, principal, state.tool, "tool")
    return state


def edit_tool(session: Session, principal: Principal, tool_id: int, fields: ToolFields) -> ToolState:
    state = _changeable_tool(session, principal, tool_id)
    changes = fields.model_dump(exclude_unset=True, exclude={"tool_type"})
    template_id = changes.get("api_tool_template_id", state.tool.api_tool_template_id)
    if "api_tool_template_id" in changes or "config" in changes:
        template = get_template(session, principal, template_id)
        changes["config"] = _checked_config(changes.get("config", state.tool.config or {}), template)
    if "name" in changes:
        _refuse_taken_tool_name(session, principal.org_id, changes["name"], exclude_id=state.tool.id)
    apply_changes(session, principal, state.tool, changes)
    return state


def delete_tool(session: Session, principal: Principal, tool_id: int) -> ToolState:
    """Soft delete: agents' links stay but no longer count (the tool is hidden everywhere)."""
    state = _changeable_tool(session, principal, tool_id)
    soft_delete(session, principal, state.tool)
    return state


# -- agent tools ---------------------------------------------------------------------------------


def agent_tools(session: Session, principal: Principal, agent_id: int) -> list[tuple[ToolState, bool]]:
    """Every tool the caller sees, with whether the agent has it enabled. The built-in "Rag Tool"
    is on when the agent answers from its corpora (an enabled corpus connection), which is what
    the answer path searches, whatever its tool link says."""
    agent = agents_service.get_agent(session, principal, agent_id)
    enabled = set(
        session.scalars(
            select(AgentTool.tool_id).where(AgentTool.agent_id == agent.id, AgentTool.is_enabled.is_(True))
        )
    )
    retrieves = corpus_links.answers_from_corpora(session, agent.id)
    return [
        (state, retrieves if _is_rag(state.tool) else state.tool.id in enabled)
        for state in list_tools(session, principal)
    ]


def _is_rag(tool: Tool) -> bool:
    return tool.org_id is None and tool.tool_type == "rag"


def connected_agent_tools(
    session: Session, principal: Principal, agent_id: int
) -> list[tuple[AgentTool, ToolState]]:
    """The agent's enabled links to live tools, in the order they were made."""
    agent = agents_service.get_agent(session, principal, agent_id)
    rows = session.execute(
        select(AgentTool, Tool)
        .join(Tool, Tool.id == AgentTool.tool_id)
        .where(AgentTool.agent_id == agent.id, AgentTool.is_enabled.is_(True), tool_visible(principal))
        .order_by(AgentTool.id)
    ).all()
    states = _states(session, principal.org_id, [tool for _, tool in rows])
    return [(link, state) for (link, _), state in zip(rows, states, strict=True)]


def _agent_link(session: Session, agent_id: int, tool_id: int) -> AgentTool | None:
    return session.scalars(
        select(AgentTool).where(AgentTool.agent_id == agent_id, AgentTool.tool_id == tool_id)
    ).first()


def enable_agent_tool(
    session: Session, principal: Principal, agent_id: int, tool_id: int
) -> tuple[AgentTool, ToolState]:
    """Link (or re-enable) a tool the organisation may use; enabling twice changes nothing."""
    agent = agents_service.get_editable_agent(session, principal, agent_id, "change this agent's tools")
    state = get_tool(session, principal, tool_id)
    if not state.tool.is_active:
        raise InvalidInputError("This tool is not active.")
    if not state.organization_enabled:
        raise InvalidInputError("This tool is disabled for your organization.")
    link = _agent_link(session, agent.id, state.tool.id)
    if link is None:
        link = AgentTool(
            agent_id=agent.id, tool_id=state.tool.id, is_enabled=True, created_by=principal.email
        )
        session.add(link)
        session.flush()
    elif not link.is_enabled:
        apply_changes(session, principal, link, {"is_enabled": True})
    return link, state


def disable_agent_tool(
    session: Session, principal: Principal, agent_id: int, tool_id: int
) -> tuple[AgentTool, ToolState]:
    """The link stays, disabled (who connected the tool is kept); a tool never linked is 404."""
    agent = agents_service.get_editable_agent(session, principal, agent_id, "change this agent's tools")
    state = get_tool(session, principal, tool_id)
    link = _agent_link(session, agent.id, state.tool.id)
    if link is None:
        raise NotFoundError("Agent tool")
    if link.is_enabled:
        apply_changes(session, principal, link, {"is_enabled": False})
    return link, state


# -- organisation tools --------------------------------------------------------------------------


def set_organization_tool(
    session: Session, principal: Principal, tool_id: int, enabled: bool
) -> tuple[OrganizationTool, ToolState]:
    """An organisation admin enables or disables a tool for every agent of the organisation."""
    state = get_tool(session, principal, tool_id)
    if not principal.is_admin:
        raise PermissionDeniedError(
            "Only organization administrators can enable or disable organization tools."
        )
    row = session.scalars(
        select(OrganizationTool).where(
            OrganizationTool.org_id == principal.org_id, OrganizationTool.tool_id == state.tool.id
        )
    ).first()
    if row is None:
        row = OrganizationTool(
            org_id=principal.org_id, tool_id=state.tool.id, is_enabled=enabled, created_by=principal.email
        )
        session.add(row)
        session.flush()
    elif row.is_enabled != enabled:
        apply_changes(session, principal, row, {"is_enabled": enabled})
    return row, ToolState(state.tool, enabled)
