"""LLM configs data layer: the models an organisation answers with, their API keys, and which
config answers for an agent.

Organisation admins create, edit and delete configs; members see only the active ones (an
inactive or another organisation's config is "not found"). At most one live config per
organisation is the default: making one the default clears the others.

API keys are write-only. ``api_key_ref`` holds either ``encrypted:<token>`` (the key encrypted
with the server secret) or ``env:NAME`` (an environment variable read when the key is needed);
neither the key nor the reference ever leaves this module except through :func:`api_key_for`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Literal
from urllib.parse import urlsplit

from cryptography.fernet import InvalidToken
from pydantic import BaseModel, Field, SecretStr, StrictInt, model_validator
from sqlalchemy import ColumnElement, and_, func, or_, select, update
from sqlalchemy.orm import Session

from parley.access.policy import load_visible
from parley.access.principal import Principal
from parley.accounts.models import Organization
from parley.accounts.security import decrypt_secret, encrypt_secret
from parley.agents import service as agents_service
from parley.agents.models import Agent
from parley.db.rows import apply_changes, name_taken, soft_delete
from parley.errors import ConflictError, InvalidInputError, NotFoundError, ParleyError, PermissionDeniedError
from parley.llm.models import PROVIDERS, LLMConfig
from parley.settings import Settings

ENCRYPTED = "encrypted:"
ENV = "env:"
# Keys may only come from variables with this prefix: an org admin is not the server's operator
# and must not be able to send PARLEY_SECRET_KEY or a database password to an endpoint they choose.
ENV_KEY_PREFIX = "PARLEY_LLM_KEY_"
_ENV_NAME = re.compile(re.escape(ENV_KEY_PREFIX) + r"[A-Z0-9_]+")
# Providers that call a remote HTTP API and so need its URL.
URL_PROVIDERS = ("openai", "azure")
MAX_TIMEOUT_SECONDS = 3600.0
_INT32_MAX = 2**31 - 1
# Numeric(18, 6): twelve integer digits and six decimals.
_PRICE_STEP = Decimal("0.000001")
_PRICE_LIMIT = Decimal(10) ** 12

Source = Literal["agent", "default", "offline"]


class LLMConfigFields(BaseModel):
    """What an admin may set on a config. On edit only the fields sent change; an explicit
    null is refused (400) except for ``api_key`` / ``api_key_env``, where it removes the key."""

    name: str = Field(default=None)
    provider: str = Field(default=None)
    model: str = Field(default=None)
    deployment_name: str = Field(default=None)
    endpoint: str = Field(default=None)
    api_version: str = Field(default=None)
    # Write-only: encrypted on the way in, never serialised.
    api_key: SecretStr | None = None
    # The name of an environment variable holding the key, read when a call is made.
    api_key_env: str | None = None
    price_input_per_million: Decimal = Field(default=None)
    price_output_per_million: Decimal = Field(default=None)
    context_window: StrictInt = Field(default=None)
    max_output_tokens: StrictInt = Field(default=None)
    temperature: float = Field(default=None)
    timeout_seconds: float = Field(default=None)
    is_active: bool = Field(default=None)
    is_default: bool = Field(default=None)
    description: str = Field(default=None)

    @model_validator(mode="after")
    def _one_key_source(self) -> LLMConfigFields:
        if {"api_key", "api_key_env"} <= self.model_fields_set:
            raise ValueError("send either api_key or api_key_env, not both")
        return self


class KeyUnavailableError(ParleyError):
    """A config names an API key that cannot be read (unset variable, changed server secret)."""

    status_code = 502


# -- reading ------------------------------------------------------------------------------------


def config_visible(principal: Principal) -> ColumnElement[bool]:
    """Live configs of the caller's organisation; members see only the active ones."""
    scope = and_(LLMConfig.org_id == principal.org_id, LLMConfig.is_deleted.is_(False))
    return scope if principal.is_admin else and_(scope, LLMConfig.is_active.is_(True))


def list_configs(session: Session, principal: Principal) -> Sequence[LLMConfig]:
    return session.scalars(select(LLMConfig).where(config_visible(principal)).order_by(LLMConfig.id)).all()


def get_config(session: Session, principal: Principal, config_id: int) -> LLMConfig:
    return load_visible(session, LLMConfig, config_id, config_visible(principal), "LLM config")


def _usable(org_id: int) -> ColumnElement[bool]:
    return and_(LLMConfig.org_id == org_id, LLMConfig.is_deleted.is_(False), LLMConfig.is_active.is_(True))


def org_default(session: Session, org_id: int) -> LLMConfig | None:
    """The organisation's active default config (the lowest id, should two ever be marked)."""
    return session.scalars(
        select(LLMConfig).where(_usable(org_id), LLMConfig.is_default.is_(True)).order_by(LLMConfig.id)
    ).first()


def resolve_for_agent(session: Session, agent: Agent) -> LLMConfig | None:
    """The config that answers for an agent: its own if live and active, else the organisation's
    default, else None (the built-in offline answerer)."""
    if agent.llm_config_id is not None:
        own = session.scalars(
            select(LLMConfig).where(LLMConfig.id == agent.llm_config_id, _usable(agent.org_id))
        ).first()
        if own is not None:
            return own
    return org_default(session, agent.org_id)


def usable_config(session: Session, org_id: int, config_id: int) -> LLMConfig:
    """An active config of the organisation, picked for one question instead of the agent's."""
    found = session.scalars(select(LLMConfig).where(LLMConfig.id == config_id, _usable(org_id))).first()
    if found is None:
        raise NotFoundError("LLM config")
    return found


def active_config(
    session: Session, principal: Principal, agent_id: int | None
) -> tuple[Agent | None, LLMConfig | None, Source]:
    """What answers for a visible agent (or, without one, for an agent that names no config),
    and why: the agent's own config, the organisation default, or the offline answerer."""
    agent = agents_service.get_agent(session, principal, agent_id) if agent_id is not None else None
    config = resolve_for_agent(session, agent) if agent else org_default(session, principal.org_id)
    if config is None:
        return agent, None, "offline"
    return agent, config, "agent" if agent and config.id == agent.llm_config_id else "default"


def org_configs(
    session: Session, principal: Principal
) -> tuple[Organization, Sequence[LLMConfig], LLMConfig | None]:
    """The caller's organisation, its active configs and its default."""
    org = session.get(Organization, principal.org_id)
    assert org is not None  # the caller's own organisation
    configs = session.scalars(select(LLMConfig).where(_usable(org.id)).order_by(LLMConfig.id)).all()
    return org, configs, org_default(session, org.id)


_MODEL_NAMES = (LLMConfig.model, LLMConfig.deployment_name, LLMConfig.name)


def find_deployment(session: Session, principal: Principal, model: str) -> LLMConfig:
    """The active config serving a model name, as a legacy answer request names it (``gpt4-o``):
    an exact, case-insensitive match on ``model``, ``deployment_name`` or ``name``; the default
    wins, then the lowest id."""
    wanted = model.strip().lower()
    found = session.scalars(
        select(LLMConfig)
        .where(
            _usable(principal.org_id),
            or_(*(func.lower(column) == wanted for column in _MODEL_NAMES)),
        )
        .order_by(LLMConfig.is_default.desc(), LLMConfig.id)
    ).first()
    if found is None:
        raise NotFoundError("Model deployment")
    return found


# -- API keys -----------------------------------------------------------------------------------


def _column_length(name: str) -> int | None:
    """The column's length limit (None for unbounded text), checked here so that SQLite, which
    ignores it, refuses the same values as PostgreSQL."""
    return getattr(LLMConfig.__table__.c[name].type, "length", None)


# Provider keys are well under this; anything longer is a paste gone wrong.
MAX_API_KEY = 1000
MAX_ENV_NAME = 128


def _key_ref(fields: LLMConfigFields, settings: Settings) -> str | None:
    """The new ``api_key_ref`` when the request sets or removes the key, else None."""
    given = fields.model_fields_set
    if "api_key" in given:
        if fields.api_key is None:
            return ""
        secret = fields.api_key.get_secret_value().strip()
        if not secret:
            raise InvalidInputError("api_key cannot be empty; send null to remove the key.")
        if len(secret) > MAX_API_KEY:
            raise InvalidInputError(f"api_key cannot be longer than {MAX_API_KEY} characters.")
        return ENCRYPTED + encrypt_secret(secret, settings.secret()).decode()
    if "api_key_env" in given:
        if fields.api_key_env is None:
            return ""
        name = fields.api_key_env.strip()
        if not _ENV_NAME.fullmatch(name) or len(name) > MAX_ENV_NAME:
            raise InvalidInputError(
                f"api_key_env must be the name of an environment variable starting with {ENV_KEY_PREFIX} "
                "(capital letters, digits and underscores)."
            )
        return ENV + name
    return None


def api_key_for(config: LLMConfig, settings: Settings) -> str | None:
    """The config's API key, or None when it has none. A key it names but that cannot be read
    (an unset variable, a server secret that changed since it was stored) raises
    KeyUnavailableError rather than calling the provider without it."""
    ref = config.api_key_ref
    if not ref:
        return None
    if ref.startswith(ENV) and _ENV_NAME.fullmatch(name := ref.removeprefix(ENV)):
        key = os.environ.get(name, "").strip()
        if not key:
            raise KeyUnavailableError(
                f"The API key of LLM config {config.name!r} is not available: the environment "
                f"variable {name} is not set."
            )
        return key
    if ref.startswith(ENCRYPTED):
        try:
            return decrypt_secret(ref.removeprefix(ENCRYPTED).encode(), settings.secret())
        except InvalidToken:
            raise KeyUnavailableError(
                f"The API key of LLM config {config.name!r} cannot be decrypted (the server secret "
                "changed since it was stored); set the key again."
            ) from None
    raise KeyUnavailableError(f"The API key of LLM config {config.name!r} is not usable; set the key again.")


# -- writing ------------------------------------------------------------------------------------

# The columns LLMConfigFields sets directly (the key goes through _key_ref).
_FIELDS = (
    "name",
    "provider",
    "model",
    "deployment_name",
    "endpoint",
    "api_version",
    "price_input_per_million",
    "price_output_per_million",
    "context_window",
    "max_output_tokens",
    "temperature",
    "timeout_seconds",
    "is_active",
    "is_default",
    "description",
)
_TEXT_FIELDS = ("name", "provider", "model", "deployment_name", "endpoint", "api_version", "description")
_STRIPPED = ("name", "model", "deployment_name", "endpoint", "api_version")


def _defaults() -> dict[str, Any]:
    """A new config's values before the request's: the model's column defaults."""
    defaults: dict[str, Any] = {"name": ""}
    for name in _FIELDS[1:]:
        defaults[name] = LLMConfig.__table__.c[name].default.arg  # type: ignore[union-attr]
    return defaults


def _given(fields: LLMConfigFields) -> dict[str, Any]:
    given = fields.model_dump(include=set(_FIELDS), exclude_unset=True)
    for name in _STRIPPED:
        if name in given:
            given[name] = given[name].strip()
    if "provider" in given:
        given["provider"] = given["provider"].strip().lower()
    return given


def _is_http_url(text: str) -> bool:
    parts = urlsplit(text)
    return parts.scheme in ("http", "https") and bool(parts.hostname) and not re.search(r"\s", text)


def _check(values: dict[str, Any]) -> None:
    """Refuse a config that could not work or could not be stored, the same way on every backend."""
    for name in _TEXT_FIELDS:
        limit = _column_length(name)
        if "\x00" in values[name]:
            raise InvalidInputError(f"{name} must not contain NUL characters.")
        if limit is not None and len(values[name]) > limit:
            raise InvalidInputError(f"{name} must be at most {limit} characters.")
    if not values["name"] or not values["model"]:
        raise InvalidInputError("An LLM config needs a name and a model.")
    provider = values["provider"]
    if provider not in PROVIDERS:
        raise InvalidInputError(f"provider must be one of: {', '.join(PROVIDERS)}.")
    if provider in URL_PROVIDERS and not _is_http_url(values["endpoint"]):
        raise InvalidInputError(f"endpoint must be an http(s) URL for the {provider} provider.")
    for name in ("price_input_per_million", "price_output_per_million"):
        price: Decimal = values[name]
        if not (price.is_finite() and 0 <= price < _PRICE_LIMIT) or price != price.quantize(_PRICE_STEP):
            raise InvalidInputError(f"{name} must be a decimal from 0 below 10^12 with at most 6 decimals.")
    for name in ("context_window", "max_output_tokens"):
        if not 1 <= values[name] <= _INT32_MAX:
            raise InvalidInputError(f"{name} must be a positive integer (at most {_INT32_MAX}).")
    if values["max_output_tokens"] > values["context_window"]:
        raise InvalidInputError("max_output_tokens cannot exceed context_window.")
    # Written as "not (a <= x <= b)" so NaN fails too.
    if not 0 <= values["temperature"] <= 2:
        raise InvalidInputError("temperature must be between 0 and 2.")
    if not 0 < values["timeout_seconds"] <= MAX_TIMEOUT_SECONDS:
        raise InvalidInputError(f"timeout_seconds must be above 0 and at most {MAX_TIMEOUT_SECONDS:g}.")
    if values["is_default"] and not values["is_active"]:
        raise InvalidInputError("The default LLM config must be active.")


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can manage LLM configs.")


def _lock_org(session: Session, org_id: int) -> None:
    """Config writes of one organisation take turns, so two concurrent requests can neither both
    take a name nor both become the default (PostgreSQL; SQLite writers already take turns)."""
    session.execute(select(Organization.id).where(Organization.id == org_id).with_for_update())


def _refuse_taken_name(session: Session, org_id: int, name: str, exclude_id: int | None = None) -> None:
    if name_taken(session, LLMConfig.name, name, LLMConfig.org_id == org_id, exclude_id=exclude_id):
        raise ConflictError("An LLM config with this name already exists.")


def _clear_other_defaults(session: Session, principal: Principal, config: LLMConfig) -> None:
    session.execute(
        update(LLMConfig)
        .where(LLMConfig.org_id == config.org_id, LLMConfig.id != config.id, LLMConfig.is_default.is_(True))
        .values(is_default=False, modified_by=principal.email)
    )


def create_config(
    session: Session, principal: Principal, fields: LLMConfigFields, settings: Settings
) -> LLMConfig:
    _require_admin(principal)
    values = {**_defaults(), **_given(fields)}
    _check(values)
    key_ref = _key_ref(fields, settings)
    _lock_org(session, principal.org_id)
    _refuse_taken_name(session, principal.org_id, values["name"])
    config = LLMConfig(
        org_id=principal.org_id, api_key_ref=key_ref or "", created_by=principal.email, extra={}, **values
    )
    session.add(config)
    session.flush()
    if config.is_default:
        _clear_other_defaults(session, principal, config)
    return config


def edit_config(
    session: Session, principal: Principal, config_id: int, fields: LLMConfigFields, settings: Settings
) -> LLMConfig:
    """Change only the fields sent; the result is checked as a whole (a new provider needs the
    endpoint it calls)."""
    config = get_config(session, principal, config_id)
    _require_admin(principal)
    changes = _given(fields)
    _check({**{name: getattr(config, name) for name in _FIELDS}, **changes})
    key_ref = _key_ref(fields, settings)
    if key_ref is not None:
        changes["api_key_ref"] = key_ref
    _lock_org(session, config.org_id)
    if "name" in changes:
        _refuse_taken_name(session, config.org_id, changes["name"], exclude_id=config.id)
    apply_changes(session, principal, config, changes)
    if config.is_default:
        _clear_other_defaults(session, principal, config)
    return config


def delete_config(session: Session, principal: Principal, config_id: int) -> LLMConfig:
    """Soft delete. Agents that named the config go back to the organisation default; logged
    responses and usage records keep its id."""
    config = get_config(session, principal, config_id)
    _require_admin(principal)
    session.execute(
        update(Agent)
        .where(Agent.org_id == config.org_id, Agent.llm_config_id == config.id)
        .values(llm_config_id=None, modified_by=principal.email)
    )
    soft_delete(session, principal, config)
    return config


def set_agent_config(session: Session, principal: Principal, agent_id: int, config_id: int | None) -> Agent:
    """Point an agent the caller may edit at an active config (None: the organisation default)."""
    agent = agents_service.get_editable_agent(session, principal, agent_id, "change this agent's LLM config")
    if config_id is not None and not get_config(session, principal, config_id).is_active:
        raise InvalidInputError("This LLM config is not active.")
    apply_changes(session, principal, agent, {"llm_config_id": config_id})
    return agent
