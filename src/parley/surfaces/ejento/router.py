"""All Ejento V2 routers, mounted under ``/v2/api``."""

from __future__ import annotations

from fastapi import APIRouter

from parley.surfaces.ejento import auth


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(auth.router)
    return router
