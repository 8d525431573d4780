"""Ejento V2 endpoints: LLM Config.

Ejento documents only the names of this group; the paths follow the spec's suggestion
(``/v2/api/llm-config[/{id}]``) and the pattern of the seen groups (docs/api/ejento-parts/
llm-config.md). Create, edit and delete are Parley's own additions. API keys are write-only:
a config shows ``api_key_set`` and never the key or where it is kept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from parley.db.base import MAX_ID
from parley.http.deps import CurrentPrincipal, SessionDep, SettingsDep, api_category
from parley.llm import service as llm
from parley.llm.models import LLMConfig
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import NO_NUL, BodyId, PathId
from parley.surfaces.ejento.serializers import agents_full, audit

router = APIRouter(tags=["Ejento: LLM Config"], dependencies=[api_category("llm_configs")])

# Prices as DRF prints a DecimalField(decimal_places=6): "2.500000".
PRICE_STEP = Decimal("0.000001")
ModelQuery = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_NUL)]
AgentQuery = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class CreateLLMConfigBody(llm.LLMConfigFields):
    name: str  # required on create; the other fields have the model's defaults


class AgentConfigBody(BaseModel):
    llm_config_id: BodyId | None  # required; null goes back to the organisation default


def llm_config(c: LLMConfig) -> dict:
    return {
        "id": c.id,
        "name": c.name,
        "provider": c.provider,
        "model": c.model,
        "deployment_name": c.deployment_name,
        "endpoint": c.endpoint,
        "api_version": c.api_version,
        "api_key_set": bool(c.api_key_ref),
        "price_input_per_million": format(Decimal(c.price_input_per_million).quantize(PRICE_STEP), "f"),
        "price_output_per_million": format(Decimal(c.price_output_per_million).quantize(PRICE_STEP), "f"),
        "context_window": c.context_window,
        "max_output_tokens": c.max_output_tokens,
        "temperature": c.temperature,
        "timeout_seconds": c.timeout_seconds,
        "is_active": c.is_active,
        "is_default": c.is_default,
        "description": c.description,
        "organization": c.org_id,
        "is_deleted": c.is_deleted,
        **audit(c),
    }


def deployment(c: LLMConfig) -> dict:
    return {
        "llm_config": c.id,
        "name": c.name,
        "provider": c.provider,
        "model": c.model,
        "deployment_name": c.deployment_name,
        "endpoint": c.endpoint,
        "api_version": c.api_version,
    }


# Static paths first: "{config_id}" would otherwise capture "active", "org", "deployment".


@router.get("/v2/api/llm-config")
def get_all_llm_configs(session: SessionDep, principal: CurrentPrincipal):
    return ok(
        [llm_config(c) for c in llm.list_configs(session, principal)], "LLM configs fetched successfully."
    )


@router.post("/v2/api/llm-config")
def create_llm_config(
    body: CreateLLMConfigBody, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
):
    config = llm.create_config(session, principal, body, settings)
    return created(llm_config(config), "LLM config created successfully.")


@router.get("/v2/api/llm-config/active")
def get_active_config(session: SessionDep, principal: CurrentPrincipal, agent_id: AgentQuery = None):
    agent, config, source = llm.active_config(session, principal, agent_id)
    data = {
        "agent": agent.id if agent else None,
        "source": source,
        "llm_config": llm_config(config) if config else None,
    }
    return ok(data, "Active LLM config fetched successfully.")


@router.get("/v2/api/llm-config/org")
def get_org_configs(session: SessionDep, principal: CurrentPrincipal):
    org, configs, default = llm.org_configs(session, principal)
    data = {
        "organization": {"id": org.id, "org_name": org.org_name},
        "default_llm_config": default.id if default else None,
        "llm_configs": [llm_config(c) for c in configs],
    }
    return ok(data, "Organization LLM configs fetched successfully.")


@router.get("/v2/api/llm-config/deployment")
def get_model_deployment(model: ModelQuery, session: SessionDep, principal: CurrentPrincipal):
    config = llm.find_deployment(session, principal, model)
    return ok(deployment(config), "Model deployment fetched successfully.")


@router.get("/v2/api/llm-config/{config_id}")
def get_llm_config(config_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(llm_config(llm.get_config(session, principal, config_id)), "LLM config fetched successfully.")


@router.put("/v2/api/llm-config/{config_id}")
def edit_llm_config(
    config_id: PathId,
    body: llm.LLMConfigFields,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
):
    config = llm.edit_config(session, principal, config_id, body, settings)
    return ok(llm_config(config), "LLM config updated successfully.")


@router.delete("/v2/api/llm-config/{config_id}")
def delete_llm_config(config_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    config = llm.delete_config(session, principal, config_id)
    return ok(llm_config(config), "LLM config deleted successfully.")


# It changes an agent, so an API key needs write access to agents as well.
@router.put("/v2/api/agent/{agent_id}/llm-config", dependencies=[api_category("agents")])
def set_agent_config_view(
    agent_id: PathId, body: AgentConfigBody, session: SessionDep, principal: CurrentPrincipal
):
    agent = llm.set_agent_config(session, principal, agent_id, body.llm_config_id)
    return ok(agents_full(session, [agent])[0], "Agent LLM config updated successfully.")
