"""Dependencies shared by every surface: the unit of work, settings and the caller.

The cheap ones are ``async def``: FastAPI runs a sync dependency in the thread pool, a hop that
costs more than the work of these. Only database work goes to the thread pool: the commit of
the unit of work, and the credential lookup when the principal cache cannot answer.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import replace
from functools import partial
from typing import Annotated

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from parley.access.principal import Principal
from parley.accounts import service as accounts
from parley.accounts.principal_cache import CachedCredential, Credential, PrincipalCache
from parley.accounts.security import digest
from parley.db.engine import session_scope
from parley.errors import AuthenticationError, PermissionDeniedError
from parley.settings import Settings

logger = logging.getLogger("parley.auth")
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
# The bearer value and the subscription key a request sent, either possibly missing.
Sent = tuple[str | None, str | None]


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def _unit_of_work(factory: sessionmaker[Session]) -> AsyncIterator[Session]:
    """``session_scope`` with its commit or rollback in the thread pool. Opening a session does
    no I/O, and a session that never began a transaction has nothing to commit."""
    scope = session_scope(factory)
    session = scope.__enter__()
    try:
        yield session
    except BaseException as exc:
        await run_in_threadpool(scope.__exit__, type(exc), exc, exc.__traceback__)
        raise
    if session.in_transaction():
        await run_in_threadpool(scope.__exit__, None, None, None)
    else:
        scope.__exit__(None, None, None)


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One unit of work per request: committed when the handler returns, rolled back on error.

    Read requests take a deferred transaction, writes an immediate one (SQLite).
    """
    factory = request.app.state.write_sessions
    if request.method in READ_METHODS:
        factory = request.app.state.read_sessions
    async for session in _unit_of_work(factory):
        yield session


async def get_read_session(request: Request) -> AsyncIterator[Session]:
    """A read transaction whatever the method: for handlers that write in transactions of
    their own (the answer path must not hold SQLite's write lock while a model runs)."""
    async for session in _unit_of_work(request.app.state.read_sessions):
        yield session


# scope="function": the commit happens before the response is sent, so a failed commit is
# reported to the client instead of being lost after a 200.
SessionDep = Annotated[Session, Depends(get_session, scope="function")]
ReadSessionDep = Annotated[Session, Depends(get_read_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]


def _principal_cache(request: Request) -> PrincipalCache:
    return request.app.state.principal_cache


def _record_key_use(request: Request, session: Session, key_id: int, writable: bool) -> None:
    """A writing request's transaction records it; otherwise a short transaction of its own
    does, best effort, so a read never upgrades to a write (which SQLite refuses while
    another writer is active)."""
    if writable:
        accounts.mark_key_used(session, key_id)
        return
    try:
        with session_scope(request.app.state.write_sessions) as own:
            accounts.mark_key_used(own, key_id)
    except OperationalError:
        logger.warning("could not record API key use", extra={"api_key_id": key_id})


def _lookup(request: Request, session: Session, secret: str, writable: bool) -> Credential | None:
    """The credential from the cache or else the database (which fills the cache); records an
    API key's use when its last_used_on is due."""
    cache = _principal_cache(request)
    hashed = digest(secret)
    entry = cache.get(hashed)
    if entry is None:
        token = cache.fill_token()
        credential = accounts.credential_for_secret(session, secret)
        if credential is None:
            return None
        entry = cache.put(hashed, credential, token)
        if entry is None:  # not cached: judge the use by what was read
            if credential.api_key_id is not None and accounts.key_use_is_stale(credential.last_used_on):
                _record_key_use(request, session, credential.api_key_id, writable)
            return credential
    key_id = entry.credential.api_key_id
    if key_id is not None and cache.claim_use(entry):
        _record_key_use(request, session, key_id, writable)
    return entry.credential


def resolve_credential(
    request: Request, session: Session, credential: str, writable: bool
) -> Principal | None:
    """A bearer value may be a login access token or an API key secret."""
    found = _lookup(request, session, credential, writable)
    return found.principal if found is not None else None


def _credentials(request: Request) -> Sent:
    """``Authorization: Bearer`` (token or API key) and ``Ocp-Apim-Subscription-Key``."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    bearer = value.strip() if scheme.lower() == "bearer" and value.strip() else None
    subscription = request.headers.get("ocp-apim-subscription-key", "").strip() or None
    if bearer is None and subscription is None:
        raise AuthenticationError("Authentication credentials were not provided.")
    return bearer, subscription


def _cached(request: Request, secrets: Iterable[str | None]) -> list[Credential | None] | None:
    """Every credential from the cache with no database work due, or None (go to the database)."""
    cache = _principal_cache(request)
    found: list[Credential | None] = []
    for secret in secrets:
        entry: CachedCredential | None = cache.get(digest(secret)) if secret else None
        if secret and (entry is None or entry.use_is_due()):
            return None
        found.append(entry.credential if entry is not None else None)
    return found


def _combine(bearer: Credential | None, subscription: Credential | None, sent: Sent) -> Principal:
    """When both are sent both must be valid and belong to the same organisation; the bearer
    identifies the user, and an API key's scope limits what the request may do."""
    bearer_secret, subscription_secret = sent
    if bearer_secret and bearer is None:
        raise AuthenticationError("Invalid or expired token.")
    if not subscription_secret or subscription_secret == bearer_secret:
        assert bearer is not None
        return bearer.principal
    if subscription is None or subscription.api_key_id is None:  # a key, not a login token
        raise AuthenticationError("Invalid subscription key.")
    if bearer is None:
        return subscription.principal
    if bearer.principal.org_id != subscription.principal.org_id:
        raise AuthenticationError("The subscription key and the token belong to different organizations.")
    if bearer.principal.key_scope is not None:
        return bearer.principal
    return replace(bearer.principal, key_scope=subscription.principal.key_scope)


def _resolve(request: Request, session: Session, sent: Sent, *, writable: bool) -> Principal:
    bearer, subscription = sent
    found_bearer = _lookup(request, session, bearer, writable) if bearer else None
    if bearer and found_bearer is None:
        raise AuthenticationError("Invalid or expired token.")
    found_subscription = None
    if subscription and subscription != bearer:
        found_subscription = _lookup(request, session, subscription, writable)
    return _combine(found_bearer, found_subscription, sent)


async def _authenticated(request: Request, resolve: Callable[[Sent], Principal]) -> Principal:
    """The caller from the cache when it can answer, else ``resolve`` in the thread pool."""
    sent = _credentials(request)
    cached = _cached(request, sent)
    if cached is not None:
        principal = _combine(cached[0], cached[1], sent)
    else:
        principal = await run_in_threadpool(resolve, sent)
    request.state.principal = principal
    return principal


async def authenticate(request: Request, session: SessionDep) -> Principal:
    writable = request.method not in READ_METHODS
    return await _authenticated(request, partial(_resolve, request, session, writable=writable))


def _resolve_reading(request: Request, sent: Sent) -> Principal:
    with session_scope(request.app.state.read_sessions) as session:
        return _resolve(request, session, sent, writable=False)


async def authenticate_reading(request: Request) -> Principal:
    """For handlers with transactions of their own: the credential is checked in a short read
    transaction, closed before the handler runs, so a long answer holds no idle connection."""
    return await _authenticated(request, partial(_resolve_reading, request))


CurrentPrincipal = Annotated[Principal, Depends(authenticate)]
# For handlers that manage their own transactions (see get_read_session).
ReadingPrincipal = Annotated[Principal, Depends(authenticate_reading)]


def api_category(category: str, *, own_transactions: bool = False):  # type: ignore[no-untyped-def]
    """Router dependency: the API key scope must allow this category (reads vs writes)."""
    dependency = authenticate_reading if own_transactions else authenticate

    # A default, not an Annotated hint: postponed annotations cannot see this closure's variable.
    async def check(request: Request, principal: Principal = Depends(dependency)) -> None:
        if principal.key_scope is None:
            return
        write = request.method not in READ_METHODS
        if not principal.key_scope.allows(category, write):
            kind = "write to" if write else "read"
            raise PermissionDeniedError(
                f"This API key is not allowed to {kind} {category.replace('_', ' ')}."
            )

    return Depends(check)


async def require_admin(principal: CurrentPrincipal) -> Principal:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can do this.")
    return principal


AdminPrincipal = Annotated[Principal, Depends(require_admin)]
