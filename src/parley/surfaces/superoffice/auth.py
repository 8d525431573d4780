"""SuperOffice's ``Authorization`` schemes: Basic (a user's email and password), Bearer (a login
token or an API key) and SoTicket (refused unless ``auth.accept_soticket`` is set: Parley issues
no SuperOffice tickets, so a configured ticket is a Parley API key or login token).

An unauthenticated request gets 401 with SuperOffice's ``WWW-Authenticate`` challenge.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request, Response
from fastapi.routing import APIRoute

from parley.access.principal import Principal
from parley.accounts import service as accounts
from parley.db.engine import session_scope
from parley.errors import AuthenticationError, PermissionDeniedError
from parley.http.deps import resolve_credential
from parley.http.errors import error_response
from parley.http.sign_in import sign_in

CHALLENGE = 'Basic realm="SuperOffice Username or Ticket"'
NO_CREDENTIALS = "Authentication credentials were not provided: use Basic or Bearer authorization."
SOTICKET_REFUSED = (
    "SoTicket authentication is not configured on this server: use Basic (email and password) "
    "or Bearer (a login token or an API key)."
)


class SuperOfficeRoute(APIRoute):
    """Adds SuperOffice's challenge to every 401, wherever the credential check failed."""

    def get_route_handler(self) -> Callable[[Request], Awaitable[Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except AuthenticationError as exc:
                return error_response(request, 401, exc.message, headers={"WWW-Authenticate": CHALLENGE})

        return route


def _basic(request: Request, value: str) -> Principal:
    try:
        email, colon, password = base64.b64decode(value, validate=True).decode("utf-8").partition(":")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise AuthenticationError("Malformed Basic credentials.") from exc
    if not colon or not email:
        raise AuthenticationError("Malformed Basic credentials.")
    return sign_in(request, email, password, accounts.load_principal)


def _bearer(request: Request, value: str) -> Principal:
    with session_scope(request.app.state.read_sessions) as session:
        principal = resolve_credential(request, session, value, writable=False)
    if principal is None:
        raise AuthenticationError("Invalid or expired token.")
    return principal


def authenticate(request: Request) -> Principal:
    """The caller, in transactions of its own: no session is held while an answer is made."""
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    scheme, value = scheme.lower(), value.strip()
    if scheme == "soticket":
        if not request.app.state.settings.auth.accept_soticket:
            raise AuthenticationError(SOTICKET_REFUSED)
        scheme = "bearer"  # the ticket is a Parley credential, configured as such
    if not value or scheme not in ("basic", "bearer"):
        raise AuthenticationError(NO_CREDENTIALS)
    principal = _basic(request, value) if scheme == "basic" else _bearer(request, value)
    request.state.principal = principal
    return principal


SuperOfficePrincipal = Annotated[Principal, Depends(authenticate)]


def require_scope(principal: Principal, category: str, *, write: bool) -> None:
    """An API key's scope must allow this (every call here is a POST, reads included)."""
    if principal.key_scope is not None and not principal.key_scope.allows(category, write):
        kind = "write to" if write else "read"
        raise PermissionDeniedError(f"This API key is not allowed to {kind} {category.replace('_', ' ')}.")
