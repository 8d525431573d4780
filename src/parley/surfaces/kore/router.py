"""Kore.ai ``getLLMUsageLogs``, routed with and without the ``/api`` prefix.

Errors use Kore's envelope ``{"errors": [{"msg", "code"}]}`` (http/errors.py); credential
failures are 401 with Kore's own code 4002 instead of the status. Paths and choices:
docs/api/kore.md.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute

from parley.errors import AuthenticationError
from parley.http.deps import ReadSessionDep, SettingsDep
from parley.surfaces.kore import service
from parley.surfaces.kore.auth import INVALID_CREDENTIALS, KorePrincipal

INVALID_CREDENTIALS_CODE = 4002


class KoreRoute(APIRoute):
    """Reports every credential failure, wherever raised, as Kore does: 401 with code 4002."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthenticationError:
                body = {"errors": [{"msg": INVALID_CREDENTIALS, "code": INVALID_CREDENTIALS_CODE}]}
                return JSONResponse(body, status_code=401)

        return route


router = APIRouter(route_class=KoreRoute, tags=["Kore.ai: LLM usage logs"])


@router.post("/api/1.1/public/bot/{bot_id}/getLLMUsageLogs")
@router.post("/1.1/public/bot/{bot_id}/getLLMUsageLogs")
def get_llm_usage_logs(
    request: Request,
    bot_id: str,
    body: service.UsageLogsBody,
    principal: KorePrincipal,
    session: ReadSessionDep,
    settings: SettingsDep,
) -> JSONResponse:
    """A bare JSON array of usage records (no wrapper): a client pages until it gets fewer
    than ``limit`` records."""
    logs = service.usage_logs(
        session,
        request.app.state.write_sessions,
        principal,
        bot_id,
        body,
        settings.limits.max_items_per_page,
    )
    return JSONResponse(logs)
