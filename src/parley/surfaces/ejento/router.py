"""All Ejento V2 routers, mounted under ``/v2/api``.

Order matters: a group's static paths (``/agent/recent``) are registered before its
parameterised ones (``/agent/{agent_id}``) inside each module.
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.surfaces.ejento import (
    agent_corpora,
    agents,
    auth,
    chat_threads,
    corpora,
    documents,
    llm_configs,
    projects,
    responses,
    teams,
    users,
)


def build_router() -> APIRouter:
    router = APIRouter()
    for module in (auth, agents, agent_corpora, chat_threads, projects, teams, users, documents, corpora):
        router.include_router(module.router)
    router.include_router(llm_configs.router)
    # The log path /agent/{id}/response/log before the answer path /agent/{id}/response.
    router.include_router(responses.router)
    router.include_router(responses.answers_router)
    return router
