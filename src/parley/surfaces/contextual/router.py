"""All Contextual AI routers, mounted under ``/v1`` (clients put ``/v1`` in ``base_url``)."""

from __future__ import annotations

from fastapi import APIRouter

from parley.surfaces.contextual import agents, datastores, query


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(datastores.datastores_router)
    router.include_router(datastores.documents_router)
    router.include_router(agents.router)
    router.include_router(query.answers_router)
    router.include_router(query.router)
    return router
