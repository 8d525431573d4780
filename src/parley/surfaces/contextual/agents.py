"""Contextual AI agents (Parley agents; their datastores are their enabled corpus links).

Paths and choices: docs/api/contextual.md.
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.contextual import ids, service, views
from parley.surfaces.contextual.datastores import DEFAULT_LIMIT, Cursor, Limit
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.schemas import AgentBody, AgentUpdateBody

router = APIRouter(tags=["Contextual AI: Agents"], dependencies=[api_category("agents")])


@router.post("/v1/agents")
def create_agent(body: AgentBody, session: SessionDep, principal: CurrentPrincipal) -> dict:
    agent = service.create_agent(session, principal, body)
    datastores = service.agent_datastore_ids(session, agent)
    return {
        "id": ids.encode(Kind.AGENT, agent.id),
        "datastore_ids": [ids.encode(Kind.DATASTORE, corpus_id) for corpus_id in datastores],
    }


@router.get("/v1/agents")
def list_agents(
    session: SessionDep, principal: CurrentPrincipal, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> dict:
    page = service.agents_page(session, principal, cursor, limit)
    return views.page_of(page, "agents", [views.agent_item(agent) for agent in page.rows])


@router.get("/v1/agents/{agent_id}/metadata")
def agent_metadata(agent_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    agent = service.get_agent(session, principal, agent_id)
    return views.agent_metadata(
        agent, service.agent_datastore_ids(session, agent), service.agent_query_count(session, agent)
    )


@router.put("/v1/agents/{agent_id}")
def update_agent(
    agent_id: str, body: AgentUpdateBody, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    service.update_agent(session, principal, agent_id, body)
    return {}


@router.delete("/v1/agents/{agent_id}")
def delete_agent(agent_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    service.delete_agent(session, principal, agent_id)
    return {}
