"""Users of an organisation and their capability permissions ("User Permission").

Plain typed functions taking the session and the caller; every read is scoped with
``user_visible`` so another organisation's users answer 404. Organisation admins manage users;
everyone else may read the organisation's users and edit their own name and password.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Select, and_, func, or_, select, update
from sqlalchemy.orm import Session

from parley.access.capabilities import CAPABILITIES, has_capability
from parley.access.policy import load_all_visible, load_visible, team_visible, user_visible
from parley.access.principal import Principal
from parley.accounts import secret_policy
from parley.accounts import service as accounts
from parley.accounts.models import ApiKey, AuthToken, Organization, Team, TeamMember, User, UserPermission
from parley.accounts.security import hash_password, verify_password
from parley.db.base import utcnow
from parley.errors import ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError


def _require_admin(principal: Principal, action: str) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError(f"Only organization administrators can {action}.")


def organization(session: Session, principal: Principal) -> Organization:
    org = session.get(Organization, principal.org_id)
    assert org is not None  # a principal always belongs to an existing organisation
    return org


def get_user(session: Session, principal: Principal, user_id: int) -> User:
    return load_visible(session, User, user_id, user_visible(principal), "User")


def _visible_team_ids(session: Session, principal: Principal, team_ids: Sequence[int]) -> list[int]:
    """The given team ids, deduplicated; any team the caller cannot see is a 404."""
    load_all_visible(session, Team, team_ids, team_visible(principal), "Team")
    return list(dict.fromkeys(team_ids))


def create_user(
    session: Session,
    principal: Principal,
    *,
    email: str,
    first_name: str,
    last_name: str,
    password: str | None,
    is_superuser: bool,
    team_ids: Sequence[int],
) -> User:
    """A new user in the caller's organisation; without a password they cannot log in yet."""
    _require_admin(principal, "create users")
    teams = _visible_team_ids(session, principal, team_ids)
    user = accounts.create_user(
        session,
        org_id=principal.org_id,
        email=email,
        password=password,
        first_name=first_name,
        last_name=last_name,
        is_superuser=is_superuser,
        created_by=principal.email,
    )
    session.add_all(TeamMember(team_id=team_id, user_id=user.id, role="Member") for team_id in teams)
    session.flush()
    return user


def _matches(query: str | None) -> list[ColumnElement[bool]]:
    if not query or not query.strip():
        return []
    needle = query.strip().lower()
    return [
        or_(
            func.lower(User.email).contains(needle, autoescape=True),
            func.lower(User.first_name).contains(needle, autoescape=True),
            func.lower(User.last_name).contains(needle, autoescape=True),
        )
    ]


def users_query(principal: Principal, query: str | None = None) -> Select[tuple[User]]:
    """Get All Users By Organization: the organisation's users, oldest first."""
    return select(User).where(user_visible(principal), *_matches(query)).order_by(User.id)


def filtered_users_query(
    principal: Principal,
    *,
    team_ids: Sequence[int] = (),
    is_superuser: bool | None = None,
    is_active: bool | None = None,
    query: str | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> Select[tuple[User]]:
    """User Filtered: ``created_on`` within [start, end) (``end`` exclusive). Teams the caller
    cannot see match nothing, so a filter never reveals the membership of another team."""
    clauses = [user_visible(principal), *_matches(query)]
    if team_ids:
        in_teams = (
            select(TeamMember.user_id)
            .join(Team, Team.id == TeamMember.team_id)
            .where(TeamMember.team_id.in_(sorted(set(team_ids))), team_visible(principal))
        )
        clauses.append(User.id.in_(in_teams))
    if is_superuser is not None:
        clauses.append(User.is_superuser.is_(is_superuser))
    if is_active is not None:
        clauses.append(User.is_active.is_(is_active))
    if start is not None:
        clauses.append(User.created_on >= start)
    if end is not None:
        clauses.append(User.created_on < end)
    return select(User).where(and_(*clauses)).order_by(User.id)


def _other_active_admins(session: Session, user: User) -> int:
    return (
        session.scalar(
            select(func.count())
            .select_from(User)
            .where(
                User.org_id == user.org_id,
                User.id != user.id,
                User.is_superuser.is_(True),
                User.is_active.is_(True),
                User.is_deleted.is_(False),
            )
        )
        or 0
    )


def edit_user(
    session: Session,
    principal: Principal,
    user_id: int,
    changes: dict,
    current_password: str | None = None,
) -> User:
    """Users edit their own name and password (proving the current one); admins edit anyone,
    set passwords directly and change ``is_superuser`` / ``is_active``."""
    user = get_user(session, principal, user_id)
    changes = dict(changes)
    is_self = user.id == principal.user_id
    if not is_self and not principal.is_admin:
        raise PermissionDeniedError("You do not have permission to edit this user.")
    if {"is_superuser", "is_active"} & changes.keys() and not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can change is_superuser or is_active.")
    if is_self and changes.get("is_active") is False:
        raise InvalidInputError("You cannot deactivate your own account.")
    if (
        is_self
        and changes.get("is_superuser") is False
        and user.is_superuser
        and not _other_active_admins(session, user)
    ):
        raise InvalidInputError(
            "You are the last administrator of the organization and cannot remove your admin role."
        )
    if "password" in changes:
        if not principal.is_admin and not verify_password(current_password or "", user.password_hash):
            raise InvalidInputError("The current password is incorrect.")
        password = changes.pop("password")
        secret_policy.check_password(password)
        user.password_hash = hash_password(password)
        # Login sessions opened with the old password end; API keys are separate credentials.
        _revoke_login_tokens(session, user.id)
    for field, value in changes.items():
        setattr(user, field, value)
    user.modified_by = principal.email
    session.flush()
    return user


def _revoke_login_tokens(session: Session, user_id: int) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id == user_id, AuthToken.revoked_on.is_(None))
        .values(revoked_on=utcnow())
    )


def _soft_delete(session: Session, principal: Principal, users: Sequence[User]) -> None:
    """Deleted users disappear from every list and all their credentials stop working."""
    ids = [u.id for u in users]
    now = utcnow()
    for user in users:
        user.is_deleted = True
        user.is_active = False
        user.modified_by = principal.email
    session.execute(
        update(AuthToken)
        .where(AuthToken.user_id.in_(ids), AuthToken.revoked_on.is_(None))
        .values(revoked_on=now)
    )
    session.execute(
        update(ApiKey)
        .where(ApiKey.user_id.in_(ids), ApiKey.revoked_on.is_(None))
        .values(is_active=False, revoked_on=now)
    )
    session.flush()


def delete_user(session: Session, principal: Principal, user_id: int) -> User:
    user = get_user(session, principal, user_id)
    _require_admin(principal, "delete users")
    if user.id == principal.user_id:
        raise InvalidInputError("You cannot delete your own account.")
    _soft_delete(session, principal, [user])
    return user


def batch_delete_users(session: Session, principal: Principal, user_ids: Sequence[int]) -> list[User]:
    """All or nothing: one unknown (or foreign) id and no user is deleted."""
    _require_admin(principal, "delete users")
    if principal.user_id in user_ids:
        raise InvalidInputError("You cannot delete your own account.")
    users = load_all_visible(session, User, user_ids, user_visible(principal), "User")
    _soft_delete(session, principal, users)
    return users


# -- user permissions (capabilities) ---------------------------------------------------------


def _known_capability(permission: str) -> str:
    if permission not in CAPABILITIES:
        raise InvalidInputError(
            f"Unknown permission '{permission}'. Known permissions: {', '.join(CAPABILITIES)}."
        )
    return permission


def _permission_row(session: Session, user: User, permission: str) -> UserPermission:
    row = session.scalars(
        select(UserPermission).where(
            UserPermission.user_id == user.id, UserPermission.permission == _known_capability(permission)
        )
    ).first()
    if row is None:
        raise NotFoundError("User permission")
    return row


def user_permissions(
    session: Session, principal: Principal, user_id: int
) -> tuple[list[UserPermission], dict]:
    """The user's permission rows and the effective value of every capability."""
    user = get_user(session, principal, user_id)
    if user.id != principal.user_id and not principal.is_admin:
        raise PermissionDeniedError("You do not have permission to view this user's permissions.")
    rows = session.scalars(
        select(UserPermission).where(UserPermission.user_id == user.id).order_by(UserPermission.id)
    ).all()
    subject = accounts.load_principal(session, user)
    effective = {name: has_capability(session, subject, name) for name in CAPABILITIES}
    return list(rows), effective


def create_user_permission(
    session: Session, principal: Principal, user_id: int, permission: str, is_allowed: bool
) -> UserPermission:
    user = get_user(session, principal, user_id)
    _require_admin(principal, "manage user permissions")
    _known_capability(permission)
    exists = session.scalar(
        select(UserPermission.id).where(
            UserPermission.user_id == user.id, UserPermission.permission == permission
        )
    )
    if exists is not None:
        raise ConflictError("This permission is already set for the user.")
    row = UserPermission(
        org_id=user.org_id,
        user_id=user.id,
        permission=permission,
        is_allowed=is_allowed,
        created_by=principal.email,
    )
    session.add(row)
    session.flush()
    return row


def edit_user_permission(
    session: Session, principal: Principal, user_id: int, permission: str, is_allowed: bool
) -> UserPermission:
    user = get_user(session, principal, user_id)
    _require_admin(principal, "manage user permissions")
    row = _permission_row(session, user, permission)
    row.is_allowed = is_allowed
    row.modified_by = principal.email
    session.flush()
    return row


def delete_user_permission(
    session: Session, principal: Principal, user_id: int, permission: str
) -> UserPermission:
    """Removing the row restores the default: the capability is allowed again."""
    user = get_user(session, principal, user_id)
    _require_admin(principal, "manage user permissions")
    row = _permission_row(session, user, permission)
    session.delete(row)
    session.flush()
    return row
