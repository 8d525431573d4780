"""Dependencies shared by every surface: the unit of work, settings and the caller."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.accounts import service as accounts
from parley.accounts.models import ApiKey
from parley.db.engine import session_scope
from parley.errors import AuthenticationError, PermissionDeniedError
from parley.settings import Settings

logger = logging.getLogger("parley.auth")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def get_settings(request: Request) -> Settings:
    return request.app.state.settings


def get_session(request: Request) -> Iterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on error.

    Read requests take a deferred transaction, writes an immediate one (SQLite).
    """
    factory = request.app.state.write_sessions
    if request.method in READ_METHODS:
        factory = request.app.state.read_sessions
    with session_scope(factory) as session:
        yield session


def get_read_session(request: Request) -> Iterator[Session]:
    """A read transaction whatever the method: for handlers that write in transactions of
    their own (the answer path must not hold SQLite's write lock while a model runs)."""
    with session_scope(request.app.state.read_sessions) as session:
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the client instead of being lost after a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def _record_key_use(request: Request, session: Session, key: ApiKey, writable: bool) -> None:
    """A writing request's transaction records it; otherwise a short transaction of its own
    does, best effort, so a read never upgrades to a write (which SQLite refuses while
    another writer is active)."""
    if not accounts.key_use_is_stale(key):
        return
    if writable:
        accounts.mark_key_used(session, key.id)
        return
    try:
        with session_scope(request.app.state.write_sessions) as session:
            accounts.mark_key_used(session, key.id)
    except OperationalError:
        logger.warning("could not record API key use", extra={"api_key_id": key.id})


def resolve_credential(
    request: Request, session: Session, credential: str, writable: bool
) -> Principal | None:
    """A bearer value may be a login access token or an API key secret."""
    found = accounts.user_for_access_token(session, credential)
    if found is not None:
        return accounts.load_principal(session, found[0])
    keyed = accounts.user_for_api_key(session, credential)
    if keyed is not None:
        user, key = keyed
        _record_key_use(request, session, key, writable)
        return accounts.load_principal(session, user, accounts.key_scope(key))
    return None


def authenticate(request: Request, session: SessionDep) -> Principal:
    return _authenticate(request, session, writable=request.method not in READ_METHODS)


def authenticate_reading(request: Request) -> Principal:
    """For handlers with transactions of their own: the credential is checked in a short read
    transaction, closed before the handler runs, so a long answer holds no idle connection."""
    with session_scope(request.app.state.read_sessions) as session:
        return _authenticate(request, session, writable=False)


def _authenticate(request: Request, session: Session, writable: bool) -> Principal:
    """Accept ``Authorization: Bearer`` (token or API key) and ``Ocp-Apim-Subscription-Key``.

    When both are sent both must be valid and belong to the same organisation; the bearer
    identifies the user, and an API key's scope limits what the request may do.
    """
    bearer = _bearer(request)
    subscription = request.headers.get("ocp-apim-subscription-key", "").strip() or None
    if bearer is None and subscription is None:
        raise AuthenticationError("Authentication credentials were not provided.")
    principal = resolve_credential(request, session, bearer, writable) if bearer else None
    if bearer and principal is None:
        raise AuthenticationError("Invalid or expired token.")
    if subscription and subscription != bearer:
        keyed = accounts.user_for_api_key(session, subscription)
        if keyed is None:
            raise AuthenticationError("Invalid subscription key.")
        user, key = keyed
        _record_key_use(request, session, key, writable)
        if principal is None:
            principal = accounts.load_principal(session, user, accounts.key_scope(key))
        elif principal.org_id != user.org_id:
            raise AuthenticationError("The subscription key and the token belong to different organizations.")
        elif principal.key_scope is None:
            principal = Principal(
                user_id=principal.user_id,
                org_id=principal.org_id,
                email=principal.email,
                is_admin=principal.is_admin,
                team_roles=principal.team_roles,
                key_scope=accounts.key_scope(key),
            )
    assert principal is not None
    request.state.principal = principal
    return principal


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
# For handlers that manage their own transactions (see get_read_session).
ReadingPrincipal = Annotated[Principal, Depends(authenticate_reading)]


def api_category(category: str, *, own_transactions: bool = False):  # type: ignore[no-untyped-def]
    """Router dependency: the API key scope must allow this category (reads vs writes)."""
    dependency = authenticate_reading if own_transactions else authenticate

    # A default, not an Annotated hint: postponed annotations cannot see this closure's variable.
    def check(request: Request, principal: Principal = Depends(dependency)) -> None:
        if principal.key_scope is None:
            return
        write = request.method not in READ_METHODS
        if not principal.key_scope.allows(category, write):
            kind = "write to" if write else "read"
            raise PermissionDeniedError(
                f"This API key is not allowed to {kind} {category.replace('_', ' ')}."
            )

    return Depends(check)


def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can do this.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
