"""Login, token refresh and API keys.

Ejento documents its auth service only by name; the paths here are Parley's choice
(docs/api/ejento.md) and answer in the Ejento envelope.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Request
from pydantic import AliasChoices, BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.accounts import secret_policy
from parley.accounts import service as accounts
from parley.accounts.models import ApiKey, User
from parley.db.base import utcnow
from parley.errors import NotFoundError, PermissionDeniedError
from parley.http.deps import CurrentPrincipal, SessionDep, SettingsDep
from parley.http.sign_in import sign_in
from parley.surfaces.ejento.envelope import created, iso, ok
from parley.surfaces.ejento.serializers import user_full

router = APIRouter(tags=["Ejento: Auth"])


class LoginBody(BaseModel):
    email: str = Field(min_length=3, max_length=320)
    password: str = Field(min_length=1, max_length=secret_policy.MAX_PASSWORD_LENGTH)


class RefreshBody(BaseModel):
    refresh_token: str = Field(validation_alias=AliasChoices("refresh_token", "refreshToken"), min_length=1)


@router.post("/v2/api/auth/login")
def login(request: Request, body: LoginBody, settings: SettingsDep):
    """Throttled per account and client address (http/sign_in.py): 429 with Retry-After."""

    def issue(session: Session, user: User) -> dict:
        return {**accounts.issue_tokens(session, user, settings), "user": user_full(user)}

    return ok(sign_in(request, body.email, body.password, issue), "Login successful")


@router.post("/v2/api/auth/refresh")
def refresh(body: RefreshBody, session: SessionDep, settings: SettingsDep):
    return ok(accounts.refresh_tokens(session, body.refresh_token, settings), "Token refreshed successfully")


@router.post("/v2/api/auth/logout")
def logout(request: Request, principal: CurrentPrincipal, session: SessionDep):
    header = request.headers.get("authorization", "")
    token = header.partition(" ")[2].strip()
    found = accounts.user_for_access_token(session, token) if token else None
    if found is not None:
        accounts.revoke_family(session, found[1].family)
    return ok(None, "Logged out successfully")


@router.get("/v2/api/auth/me")
def me(principal: CurrentPrincipal, session: SessionDep):
    user = session.get(User, principal.user_id)
    return ok(user_full(user), "User fetched successfully")  # type: ignore[arg-type]


class ApiKeyBody(BaseModel):
    name: str = Field(default="", max_length=200)
    scope: Literal["all", "read_only", "restricted"] = "all"
    permissions: dict[str, Literal["none", "read", "write"]] = Field(default_factory=dict)
    expires_on: datetime | None = None


def api_key_view(key: ApiKey) -> dict:
    return {
        "id": key.id,
        "name": key.name,
        "client_id": key.client_id,
        "prefix": key.prefix,
        "scope": key.scope,
        "permissions": key.permissions,
        "is_active": key.is_active and key.revoked_on is None,
        "created_by": key.created_by,
        "created_on": iso(key.created_on),
        "expires_on": iso(key.expires_on),
        "last_used_on": iso(key.last_used_on),
        "user": key.user_id,
    }


@router.post("/v2/api/api-key")
def create_api_key(body: ApiKeyBody, principal: CurrentPrincipal, session: SessionDep, settings: SettingsDep):
    """Create a key for the caller. The secret is shown in this response only."""
    user = session.get(User, principal.user_id)
    # A key cannot grant more than the key used to create it.
    if principal.key_scope is not None and principal.key_scope.scope != "all":
        raise PermissionDeniedError("Only a login session or an unrestricted key can create API keys.")
    key, secret = accounts.create_api_key(
        session,
        user=user,  # type: ignore[arg-type]
        settings=settings,
        name=body.name,
        scope=body.scope,
        permissions=dict(body.permissions),
        expires_on=body.expires_on,
    )
    return created({**api_key_view(key), "secret": secret}, "API key created successfully.")


@router.get("/v2/api/api-key")
def list_api_keys(principal: CurrentPrincipal, session: SessionDep):
    """The caller's keys; organisation admins see every key of the organisation."""
    stmt = select(ApiKey).where(ApiKey.org_id == principal.org_id)
    if not principal.is_admin:
        stmt = stmt.where(ApiKey.user_id == principal.user_id)
    keys = session.scalars(stmt.order_by(ApiKey.id)).all()
    return ok([api_key_view(k) for k in keys], "API keys fetched successfully.")


@router.delete("/v2/api/api-key/{key_id}")
def revoke_api_key(key_id: int, principal: CurrentPrincipal, session: SessionDep):
    stmt = select(ApiKey).where(ApiKey.id == key_id, ApiKey.org_id == principal.org_id)
    if not principal.is_admin:
        stmt = stmt.where(ApiKey.user_id == principal.user_id)
    key = session.scalars(stmt).first()
    if key is None:
        raise NotFoundError("API key")
    # Like creation: a scoped key cannot act on other keys, but may always revoke itself.
    scope = principal.key_scope
    if scope is not None and scope.scope != "all" and scope.api_key_id != key.id:
        raise PermissionDeniedError("Only a login session or an unrestricted key can revoke other API keys.")
    key.is_active = False
    key.revoked_on = utcnow()
    return ok(api_key_view(key), "API key revoked successfully.")
