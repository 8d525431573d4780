"""Ejento V2 endpoints: agent–corpus connections.

The docs show some of these answers without the envelope; Parley wraps them like every other
answer (docs/api/ejento.md). API keys need the "agents" category:
a connection is part of the agent's configuration.
"""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, StrictBool

from parley.corpora import links
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import PathId
from parley.surfaces.ejento.serializers import agent_corpora

router = APIRouter(tags=["Ejento: Agent Corpus Connection"], dependencies=[api_category("agents")])

FETCHED = "Agent corpus connection fetched successfully."


class ConnectionEditBody(BaseModel):
    is_enabled: StrictBool


@router.post("/v2/api/agent/{agent_id}/corpus/{corpus_id}")
def create_agent_corpus_connection(
    agent_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    link = links.connect(session, principal, agent_id, corpus_id)
    return created(agent_corpora(session, [link])[0], "Agent corpus connection created successfully.")


@router.get("/v2/api/agent/{agent_id}/corpus/{corpus_id}")
def get_agent_corpus_connection(
    agent_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    return ok(agent_corpora(session, [links.get_link(session, principal, agent_id, corpus_id)])[0], FETCHED)


@router.put("/v2/api/agent/{agent_id}/corpus/{corpus_id}")
def edit_agent_corpus_connection(
    agent_id: PathId,
    corpus_id: PathId,
    body: ConnectionEditBody,
    session: SessionDep,
    principal: CurrentPrincipal,
):
    link = links.set_enabled(session, principal, agent_id, corpus_id, body.is_enabled)
    return ok(agent_corpora(session, [link])[0], "Agent corpus connection updated successfully.")


@router.delete("/v2/api/agent/{agent_id}/corpus/{corpus_id}")
def delete_agent_corpus_connection(
    agent_id: PathId, corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal
):
    link = links.disconnect(session, principal, agent_id, corpus_id)
    return ok(agent_corpora(session, [link])[0], "Agent corpus connection deleted successfully.")


@router.get("/v2/api/agent/{agent_id}/corpus")
def get_all_agent_corpus_connections(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    return ok(agent_corpora(session, links.list_links(session, principal, agent_id)), FETCHED)


@router.delete("/v2/api/agent/{agent_id}/corpus")
def delete_all_agent_corpus_connections(agent_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    removed = links.disconnect_all(session, principal, agent_id)
    return ok(agent_corpora(session, removed), "Agent corpus connections deleted successfully.")
