"""Ejento V2 endpoints: User (users of the caller's organisation and their permissions).

Ejento documents this group by name only; paths and fields are Parley's choice
(docs/api/ejento.md).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter
from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from parley.access.capabilities import CAPABILITIES
from parley.accounts import secret_policy, users
from parley.accounts.models import Organization, User, UserPermission
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.ejento.envelope import PageDep, created, ok, paginate
from parley.surfaces.ejento.params import (
    BodyId,
    DateRangeQuery,
    IdsQuery,
    PathId,
    SearchQuery,
    UserIdsBody,
    id_list,
    ids_to_remove,
)
from parley.surfaces.ejento.serializers import audit, user_full

router = APIRouter(tags=["Ejento: User"], dependencies=[api_category("users")])

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")


def _email(value: str) -> str:
    value = value.strip().lower()
    if not _EMAIL.match(value):
        raise ValueError("Enter a valid email address.")
    return value


Email = Annotated[str, Field(max_length=320), AfterValidator(_email)]
FirstName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=150)]
LastName = Annotated[str, StringConstraints(strip_whitespace=True, max_length=150)]
Password = Annotated[
    str, Field(min_length=secret_policy.MIN_PASSWORD_LENGTH, max_length=secret_policy.MAX_PASSWORD_LENGTH)
]


class CreateUserBody(BaseModel):
    email: Email
    first_name: FirstName
    last_name: LastName = ""
    password: Password | None = None
    is_superuser: bool = False
    team_ids: list[BodyId] = Field(default_factory=list, max_length=100)


class EditUserBody(BaseModel):
    # Explicit nulls are rejected (400); omitted fields are left unchanged.
    first_name: FirstName = Field(default=None)
    last_name: LastName = Field(default=None)
    password: Password = Field(default=None)
    current_password: str | None = Field(default=None, max_length=1024)
    is_superuser: bool = Field(default=None)
    is_active: bool = Field(default=None)


class CreatePermissionBody(BaseModel):
    permission: str = Field(min_length=1, max_length=64)
    is_allowed: bool


class EditPermissionBody(BaseModel):
    is_allowed: bool


def _users(org: Organization, rows: Sequence[User]) -> list[dict]:
    return [user_full(u, org) for u in rows]


def _permission(row: UserPermission) -> dict:
    return {
        "id": row.id,
        "user": row.user_id,
        "permission": row.permission,
        "description": CAPABILITIES[row.permission],
        "is_allowed": row.is_allowed,
        **audit(row),
    }


@router.post("/v2/api/user")
def create_user(body: CreateUserBody, session: SessionDep, principal: CurrentPrincipal):
    user = users.create_user(
        session,
        principal,
        email=body.email,
        first_name=body.first_name,
        last_name=body.last_name,
        password=body.password,
        is_superuser=body.is_superuser,
        team_ids=body.team_ids,
    )
    return created(user_full(user, users.organization(session, principal)), "User created successfully.")


@router.get("/v2/api/user")
def get_all_users(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    query: SearchQuery = None,
):
    org = users.organization(session, principal)
    data = paginate(
        session, users.users_query(principal, query), page, "users", lambda rows: _users(org, rows)
    )
    return ok(data, "Users fetched successfully.")


# Some clients cannot send a body with DELETE: ``?user_ids=1,2`` works too, and so does the POST twin.
@router.delete("/v2/api/user")
@router.post("/v2/api/user/batch-delete")
def batch_delete_users(
    session: SessionDep,
    principal: CurrentPrincipal,
    body: UserIdsBody | None = None,
    user_ids: IdsQuery = None,
):
    deleted = users.batch_delete_users(session, principal, ids_to_remove(body, user_ids))
    return ok(_users(users.organization(session, principal), deleted), "Users deleted successfully.")


@router.get("/v2/api/user/filtered")
def user_filtered(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    created_on: DateRangeQuery,
    team_ids: IdsQuery = None,
    is_superuser: bool | None = None,
    is_active: bool | None = None,
    query: SearchQuery = None,
):
    stmt = users.filtered_users_query(
        principal,
        team_ids=id_list(team_ids, "team_ids"),
        is_superuser=is_superuser,
        is_active=is_active,
        query=query,
        start=created_on.start,
        end=created_on.end,
    )
    org = users.organization(session, principal)
    return ok(
        paginate(session, stmt, page, "users", lambda rows: _users(org, rows)), "Users fetched successfully."
    )


@router.get("/v2/api/user/{user_id}")
def get_user(user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    user = users.get_user(session, principal, user_id)
    return ok(user_full(user, users.organization(session, principal)), "User fetched successfully.")


@router.put("/v2/api/user/{user_id}")
def edit_user(user_id: PathId, body: EditUserBody, session: SessionDep, principal: CurrentPrincipal):
    changes = body.model_dump(exclude_unset=True, exclude={"current_password"})
    user = users.edit_user(session, principal, user_id, changes, body.current_password)
    return ok(user_full(user, users.organization(session, principal)), "User updated successfully.")


@router.delete("/v2/api/user/{user_id}")
def delete_user(user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    user = users.delete_user(session, principal, user_id)
    return ok(user_full(user, users.organization(session, principal)), "User deleted successfully.")


@router.post("/v2/api/user/{user_id}/permission")
def create_user_permission(
    user_id: PathId, body: CreatePermissionBody, session: SessionDep, principal: CurrentPrincipal
):
    row = users.create_user_permission(session, principal, user_id, body.permission, body.is_allowed)
    return created(_permission(row), "User permission created successfully.")


@router.get("/v2/api/user/{user_id}/permission")
def get_user_permission(user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    rows, effective = users.user_permissions(session, principal, user_id)
    data = {"user": user_id, "permissions": [_permission(r) for r in rows], "effective": effective}
    return ok(data, "User permissions fetched successfully.")


@router.put("/v2/api/user/{user_id}/permission/{permission}")
def edit_user_permission(
    user_id: PathId,
    permission: str,
    body: EditPermissionBody,
    session: SessionDep,
    principal: CurrentPrincipal,
):
    row = users.edit_user_permission(session, principal, user_id, permission, body.is_allowed)
    return ok(_permission(row), "User permission updated successfully.")


@router.delete("/v2/api/user/{user_id}/permission/{permission}")
def delete_user_permission(
    user_id: PathId, permission: str, session: SessionDep, principal: CurrentPrincipal
):
    row = users.delete_user_permission(session, principal, user_id, permission)
    return ok(_permission(row), "User permission deleted successfully.")
