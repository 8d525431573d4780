"""The web console: one static page and its ES modules, served from the package (no build
step, nothing fetched from elsewhere), plus the Parley-native endpoints it reads.

Only ``/`` and ``/assets/...`` are served (the console routes by the URL fragment), so the
console never answers for an API path: unknown paths keep their surface's own 404.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from parley.console import api
from parley.errors import NotFoundError

STATIC = Path(__file__).parent / "static"
ASSETS = (STATIC / "assets").resolve()
# The page runs only its own scripts and styles and talks only to this server; documents
# opened from citations are blob: URLs the page made itself.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "frame-src blob:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # Revalidate (ETag) on every load, so an upgraded server never runs with stale modules.
    "Cache-Control": "no-cache",
}


def build_router() -> APIRouter:
    router = APIRouter()
    router.include_router(api.router)

    @router.get("/", include_in_schema=False)
    def console_page() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html", headers=SECURITY_HEADERS)

    @router.get("/assets/{name:path}", include_in_schema=False)
    def console_asset(name: str) -> FileResponse:
        path = (ASSETS / name).resolve()
        if not path.is_relative_to(ASSETS) or not path.is_file():
            raise NotFoundError("Asset")
        return FileResponse(path, headers=SECURITY_HEADERS)

    return router
