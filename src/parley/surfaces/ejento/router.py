"""All Ejento V2 routers, mounted under ``/v2/api``.

Order matters: a group's static paths (``/agent/recent``) are registered before its
parameterised ones (``/agent/{agent_id}``) inside each module.
"""

from __future__ import annotations

from fastapi import APIRouter

from parley.surfaces.ejento import (
    agent_corpora,
    agent_extras,
    agent_responses,
    agents,
    auth,
    chat_threads,
    conversation_starters,
    corpora,
    documents,
    email_indexing,
    feature_flags,
    llm_configs,
    notifications,
    projects,
    responses,
    teams,
    tools,
    users,
)


def build_router() -> APIRouter:
    router = APIRouter()
    # Static /agent/alias, /agent/rating, /agent/user, /agent/tags before /agent/{agent_id}.
    router.include_router(agent_extras.router)
    for module in (auth, agents, agent_corpora, chat_threads, projects, teams, users, documents, corpora):
        router.include_router(module.router)
    router.include_router(llm_configs.router)
    router.include_router(agent_responses.router)
    # The log path /agent/{id}/response/log before the answer path /agent/{id}/response.
    router.include_router(responses.router)
    router.include_router(responses.answers_router)
    for module in (notifications, feature_flags, email_indexing, conversation_starters):
        router.include_router(module.router)
    router.include_router(tools.router)
    # Read by the login page before sign-in: no credentials.
    router.include_router(feature_flags.login_router)
    return router
