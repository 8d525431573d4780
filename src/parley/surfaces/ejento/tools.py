"""Ejento V2 endpoints: Tool, Agent Tool Connection, Organization Tool, API Tool Template.

Ejento documents only the names of these groups; the paths follow the spec's suggestions
(``/v2/api/tool``, ``/v2/api/agent/{agent_id}/tool[/{tool_id}]``, ``/v2/api/organization/tool``,
``/v2/api/api-tool-template``). Getting, editing and deleting one template, disabling an
organisation tool and listing an agent's connected tools are Parley's additions
(docs/api/ejento-parts/tools.md). API keys need the "tools" category; enabling or disabling an
agent's tool changes the agent, so it needs write access to "agents" as well.
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.http.deps import CurrentPrincipal, SessionDep, SettingsDep, api_category
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import PathId
from parley.surfaces.ejento.serializers import audit
from parley.tools import service as tools
from parley.tools.models import AgentTool, ApiToolTemplate, OrganizationTool

router = APIRouter(dependencies=[api_category("tools")])
tool_router = APIRouter(tags=["Ejento: Tool"])
agent_tool_router = APIRouter(tags=["Ejento: Agent Tool Connection"])
organization_tool_router = APIRouter(tags=["Ejento: Organization Tool"])
template_router = APIRouter(tags=["Ejento: API Tool Template"])


def tool(state: tools.ToolState) -> dict:
    t = state.tool
    return {
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "tool_type": t.tool_type,
        "api_tool_template": t.api_tool_template_id,
        "config": t.config,
        "is_active": t.is_active,
        "is_builtin": t.org_id is None,
        "organization": t.org_id,
        "organization_enabled": state.organization_enabled,
        "is_deleted": t.is_deleted,
        **audit(t),
    }


def agent_tool(link: AgentTool, state: tools.ToolState) -> dict:
    return {
        "id": link.id,
        "agent": link.agent_id,
        "tool": tool(state),
        "is_enabled": link.is_enabled,
        **audit(link),
    }


def organization_tool(row: OrganizationTool, state: tools.ToolState) -> dict:
    return {
        "id": row.id,
        "organization": row.org_id,
        "tool": tool(state),
        "is_enabled": row.is_enabled,
        **audit(row),
    }


def api_tool_template(t: ApiToolTemplate) -> dict:
    # The secret and its encrypted form are never shown: only whether one is stored.
    return {
        "id": t.id,
        "name": t.name,
        "description": t.description,
        "method": t.method,
        "url_template": t.url_template,
        "parameters": t.parameters,
        "headers": t.headers,
        "body_template": tools.stored_body_template(t),
        "auth": {
            "type": t.auth.get("type", "none"),
            "header": t.auth.get("header"),
            "username": t.auth.get("username"),
            "secret_set": bool(t.auth.get("secret_ref")),
        },
        "timeout_seconds": t.timeout_seconds,
        "organization": t.org_id,
        "is_deleted": t.is_deleted,
        **audit(t),
    }


# -- Tool ------------------------------------------------------------------------------------------


@tool_router.post("/v2/api/tool")
def create_tool(body: tools.CreateToolFields, session: SessionDep, principal: CurrentPrincipal):
    return created(tool(tools.create_tool(session, principal, body)), "Tool created successfully.")


@tool_router.get("/v2/api/tool")
def get_all_tools(session: SessionDep, principal: CurrentPrincipal):
    return ok([tool(s) for s in tools.list_tools(session, principal)], "Tools fetched successfully.")


@tool_router.get("/v2/api/tool/{tool_id}")
def get_tool(tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(tool(tools.get_tool(session, principal, tool_id)), "Tool fetched successfully.")


@tool_router.put("/v2/api/tool/{tool_id}")
def edit_tool(tool_id: PathId, body: tools.ToolFields, session: SessionDep, principal: CurrentPrincipal):
    return ok(tool(tools.edit_tool(session, principal, tool_id, body)), "Tool updated successfully.")


@tool_router.delete("/v2/api/tool/{tool_id}")
def delete_tool(tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(tool(tools.delete_tool(session, principal, tool_id)), "Tool deleted successfully.")


# -- Agent Tool Connection -------------------------------------------------------------------------


@agent_tool_router.get("/v2/api/agent/{agent_id}/tool")
def get_all_agent_tools(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    found = tools.agent_tools(session, principal, agent_id)
    return ok(
        [{**tool(state), "is_enabled": enabled} for state, enabled in found],
        "Agent tools fetched successfully.",
    )


# Static before "{tool_id}".
@agent_tool_router.get("/v2/api/agent/{agent_id}/tool/connected")
def get_connected_agent_tools(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    found = tools.connected_agent_tools(session, principal, agent_id)
    return ok(
        [agent_tool(link, state) for link, state in found], "Connected agent tools fetched successfully."
    )


@agent_tool_router.post("/v2/api/agent/{agent_id}/tool/{tool_id}", dependencies=[api_category("agents")])
def enable_agent_tool(agent_id: PathId, tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    link, state = tools.enable_agent_tool(session, principal, agent_id, tool_id)
    return created(agent_tool(link, state), "Agent tool enabled successfully.")


@agent_tool_router.delete("/v2/api/agent/{agent_id}/tool/{tool_id}", dependencies=[api_category("agents")])
def disable_agent_tool(agent_id: PathId, tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    link, state = tools.disable_agent_tool(session, principal, agent_id, tool_id)
    return ok(agent_tool(link, state), "Agent tool disabled successfully.")


# -- Organization Tool -----------------------------------------------------------------------------


@organization_tool_router.post("/v2/api/organization/tool/{tool_id}")
def enable_organization_tool(tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row, state = tools.set_organization_tool(session, principal, tool_id, True)
    return created(organization_tool(row, state), "Organization tool enabled successfully.")


@organization_tool_router.delete("/v2/api/organization/tool/{tool_id}")
def disable_organization_tool(tool_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row, state = tools.set_organization_tool(session, principal, tool_id, False)
    return ok(organization_tool(row, state), "Organization tool disabled successfully.")


# -- API Tool Template -----------------------------------------------------------------------------


@template_router.post("/v2/api/api-tool-template")
def create_api_tool_template(
    body: tools.CreateTemplateFields, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
):
    template = tools.create_template(session, principal, body, settings)
    return created(api_tool_template(template), "API tool template created successfully.")


@template_router.get("/v2/api/api-tool-template")
def get_all_api_tool_templates(session: SessionDep, principal: CurrentPrincipal):
    found = tools.list_templates(session, principal)
    return ok([api_tool_template(t) for t in found], "API tool templates fetched successfully.")


@template_router.get("/v2/api/api-tool-template/{template_id}")
def get_api_tool_template(template_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    template = tools.get_template(session, principal, template_id)
    return ok(api_tool_template(template), "API tool template fetched successfully.")


@template_router.put("/v2/api/api-tool-template/{template_id}")
def edit_api_tool_template(
    template_id: PathId,
    body: tools.TemplateFields,
    session: SessionDep,
    principal: CurrentPrincipal,
    settings: SettingsDep,
):
    template = tools.edit_template(session, principal, template_id, body, settings)
    return ok(api_tool_template(template), "API tool template updated successfully.")


@template_router.delete("/v2/api/api-tool-template/{template_id}")
def delete_api_tool_template(template_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    template = tools.delete_template(session, principal, template_id)
    return ok(api_tool_template(template), "API tool template deleted successfully.")


for _group in (tool_router, agent_tool_router, organization_tool_router, template_router):
    router.include_router(_group)
