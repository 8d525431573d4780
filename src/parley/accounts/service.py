"""Accounts data layer: organisations, users, teams, login tokens, API keys, bootstrap.

Plain typed functions taking a session; no HTTP here.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from parley.access.principal import API_KEY_CATEGORIES, API_KEY_SCOPES, CATEGORY_LEVELS, KeyScope, Principal
from parley.accounts.models import ApiKey, AuthToken, Organization, TeamMember, User
from parley.accounts.security import digest, encrypt_secret, hash_password, new_token, verify_password
from parley.db.base import utcnow
from parley.errors import AuthenticationError, ConflictError, InvalidInputError
from parley.settings import Settings

# last_used_on is refreshed at most this often, so reads do not turn into writes.
_LAST_USED_RESOLUTION = timedelta(minutes=5)


def create_organization(session: Session, name: str) -> Organization:
    org = Organization(org_name=name, settings={})
    session.add(org)
    session.flush()
    return org


def get_user_by_email(session: Session, email: str) -> User | None:
    return session.scalars(select(User).where(User.email == email.strip().lower())).first()


def create_user(
    session: Session,
    *,
    org_id: int,
    email: str,
    password: str | None,
    first_name: str = "",
    last_name: str = "",
    is_superuser: bool = False,
    created_by: str = "",
) -> User:
    email = email.strip().lower()
    if get_user_by_email(session, email) is not None:
        raise ConflictError("A user with this email already exists.")
    user = User(
        org_id=org_id,
        email=email,
        first_name=first_name,
        last_name=last_name,
        password_hash=hash_password(password) if password else None,
        is_superuser=is_superuser,
        created_by=created_by,
    )
    session.add(user)
    session.flush()
    return user


def load_principal(session: Session, user: User, key_scope: KeyScope | None = None) -> Principal:
    roles = session.execute(
        select(TeamMember.team_id, TeamMember.role).where(TeamMember.user_id == user.id)
    ).all()
    return Principal(
        user_id=user.id,
        org_id=user.org_id,
        email=user.email,
        is_admin=user.is_superuser,
        team_roles={team_id: role for team_id, role in roles},
        key_scope=key_scope,
    )


# -- login tokens ------------------------------------------------------------------------


def authenticate_password(session: Session, email: str, password: str) -> User:
    user = get_user_by_email(session, email)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active or user.is_deleted:
        raise AuthenticationError("Invalid email or password.")
    user.last_login = utcnow()
    return user


def issue_tokens(session: Session, user: User, settings: Settings, family: str | None = None) -> dict:
    family = family or uuid.uuid4().hex
    now = utcnow()
    access = new_token("pat_")
    refresh = new_token("prt_")
    session.add_all(
        [
            AuthToken(
                user_id=user.id,
                token_hash=digest(access),
                kind="access",
                expires_on=now + timedelta(seconds=settings.auth.access_token_ttl_seconds),
                family=family,
            ),
            AuthToken(
                user_id=user.id,
                token_hash=digest(refresh),
                kind="refresh",
                expires_on=now + timedelta(seconds=settings.auth.refresh_token_ttl_seconds),
                family=family,
            ),
        ]
    )
    session.flush()
    return {
        "access_token": access,
        "ejento_access_token": access,
        "refresh_token": refresh,
        "token_type": "bearer",
        "expires_in": settings.auth.access_token_ttl_seconds,
    }


def _live_token(session: Session, token: str, kind: str) -> AuthToken | None:
    row = session.scalars(
        select(AuthToken).where(AuthToken.token_hash == digest(token), AuthToken.kind == kind)
    ).first()
    if row is None or row.revoked_on is not None or row.expires_on <= utcnow():
        return None
    return row


def refresh_tokens(session: Session, refresh_token: str, settings: Settings) -> dict:
    """Rotate: the old refresh token (and its access tokens) stop working."""
    row = _live_token(session, refresh_token, "refresh")
    if row is None:
        raise AuthenticationError("The refresh token is invalid or expired.")
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.is_deleted:
        raise AuthenticationError("The refresh token is invalid or expired.")
    revoke_family(session, row.family)
    return issue_tokens(session, user, settings)


def revoke_family(session: Session, family: str) -> None:
    session.execute(
        update(AuthToken)
        .where(AuthToken.family == family, AuthToken.revoked_on.is_(None))
        .values(revoked_on=utcnow())
    )


def user_for_access_token(session: Session, token: str) -> tuple[User, AuthToken] | None:
    row = _live_token(session, token, "access")
    if row is None:
        return None
    user = session.get(User, row.user_id)
    if user is None or not user.is_active or user.is_deleted:
        return None
    return user, row


# -- API keys ----------------------------------------------------------------------------


def validate_key_scope(scope: str, permissions: dict[str, str] | None) -> dict[str, str]:
    if scope not in API_KEY_SCOPES:
        raise InvalidInputError(f"scope must be one of: {', '.join(API_KEY_SCOPES)}.")
    permissions = permissions or {}
    for category, level in permissions.items():
        if category not in API_KEY_CATEGORIES:
            raise InvalidInputError(f"Unknown API key category '{category}'.")
        if level not in CATEGORY_LEVELS:
            raise InvalidInputError(
                f"Permission for '{category}' must be one of: {', '.join(CATEGORY_LEVELS)}."
            )
    return permissions if scope == "restricted" else {}


def create_api_key(
    session: Session,
    *,
    user: User,
    settings: Settings,
    name: str = "",
    scope: str = "all",
    permissions: dict[str, str] | None = None,
    secret: str | None = None,
    client_id: str | None = None,
    expires_on: datetime | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; the secret is returned once and stored only as a digest (plus the
    encrypted copy Kore JWT verification needs)."""
    permissions = validate_key_scope(scope, permissions)
    secret = secret or new_token("pk-")
    client_id = client_id or f"cs-{uuid.uuid4()}"
    if session.scalar(select(ApiKey.id).where(ApiKey.secret_hash == digest(secret))) is not None:
        raise ConflictError("An API key with this secret already exists.")
    if session.scalar(select(ApiKey.id).where(ApiKey.client_id == client_id)) is not None:
        raise ConflictError("An API key with this client id already exists.")
    key = ApiKey(
        org_id=user.org_id,
        user_id=user.id,
        name=name,
        client_id=client_id,
        prefix=secret[:8],
        secret_hash=digest(secret),
        secret_encrypted=encrypt_secret(secret, settings.secret()),
        scope=scope,
        permissions=permissions,
        expires_on=expires_on,
        created_by=user.email,
    )
    session.add(key)
    session.flush()
    return key, secret


def user_for_api_key(session: Session, secret: str) -> tuple[User, ApiKey] | None:
    key = session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest(secret))).first()
    if key is None or not key.is_active or key.revoked_on is not None:
        return None
    now = utcnow()
    if key.expires_on is not None and key.expires_on <= now:
        return None
    user = session.get(User, key.user_id)
    if user is None or not user.is_active or user.is_deleted:
        return None
    return user, key


def key_use_is_stale(key: ApiKey) -> bool:
    return key.last_used_on is None or utcnow() - key.last_used_on > _LAST_USED_RESOLUTION


def mark_key_used(session: Session, key_id: int) -> None:
    session.execute(update(ApiKey).where(ApiKey.id == key_id).values(last_used_on=utcnow()))


def key_scope(key: ApiKey) -> KeyScope:
    return KeyScope(scope=key.scope, permissions=dict(key.permissions or {}), api_key_id=key.id)


# -- first start ---------------------------------------------------------------------------


def bootstrap(session: Session, settings: Settings) -> bool:
    """Create the default organisation, admin and API key from PARLEY_INIT_* once.

    Returns True when something was created; a later start with the same values is a no-op.
    """
    boot = settings.bootstrap
    if not (boot.admin_email and boot.admin_password and boot.api_key):
        return False
    created = False
    admin = get_user_by_email(session, boot.admin_email)
    if admin is None:
        org = create_organization(session, boot.org_name)
        admin = create_user(
            session,
            org_id=org.id,
            email=boot.admin_email,
            password=boot.admin_password.get_secret_value(),
            first_name="Admin",
            is_superuser=True,
            created_by="System",
        )
        created = True
    key_secret = boot.api_key.get_secret_value()
    existing = session.scalars(select(ApiKey).where(ApiKey.secret_hash == digest(key_secret))).first()
    if existing is None:
        create_api_key(
            session,
            user=admin,
            settings=settings,
            name="Bootstrap key",
            secret=key_secret,
            client_id=boot.api_key_id or None,
        )
        created = True
    return created
