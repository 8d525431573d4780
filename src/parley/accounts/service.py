"""Accounts data layer: organisations, users, teams, login tokens, API keys, bootstrap.

Plain typed functions taking a session; no HTTP here.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Row, and_, bindparam, select, update
from sqlalchemy.orm import Session

from parley.access.principal import API_KEY_CATEGORIES, API_KEY_SCOPES, CATEGORY_LEVELS, KeyScope, Principal
from parley.accounts import secret_policy
from parley.accounts.models import ApiKey, AuthToken, Organization, TeamMember, User
from parley.accounts.principal_cache import PRINCIPAL_NEUTRAL, Credential
from parley.accounts.security import digest, encrypt_secret, hash_password, new_token, verify_password
from parley.db.base import utcnow
from parley.errors import AuthenticationError, ConflictError, InvalidInputError
from parley.settings import Settings

# last_used_on is refreshed at most this often, so reads do not turn into writes.
KEY_USE_RESOLUTION = timedelta(minutes=5)


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
    if password is not None:
        secret_policy.check_password(password)
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


def password_user(session: Session, email: str, password: str) -> User | None:
    """The live user with this email and password (its last_login recorded), else None. The
    caller throttles attempts (http/sign_in.py): this is the argon2 work an attacker would buy."""
    user = get_user_by_email(session, email)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active or user.is_deleted:
        return None
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
    if secret is not None:
        secret_policy.check_given_key(secret)
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
        prefix=secret_policy.key_hint(secret),
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


# -- credentials on the request path ---------------------------------------------------------
# Core statements built once: each resolves a credential, its live user and the user's team
# roles (one row per team, or one row with NULL team columns) in a single query.

_keys, _tokens = ApiKey.__table__, AuthToken.__table__
_users, _members = User.__table__, TeamMember.__table__
_PRINCIPAL_COLUMNS = (
    _users.c.id,
    _users.c.org_id,
    _users.c.email,
    _users.c.is_superuser,
    _members.c.team_id,
    _members.c.role,
)
_LIVE_USER = and_(_users.c.is_active.is_(True), _users.c.is_deleted.is_(False))
_TOKEN_CREDENTIAL = (
    select(_tokens.c.expires_on, *_PRINCIPAL_COLUMNS)
    .select_from(
        _tokens.join(_users, _users.c.id == _tokens.c.user_id).outerjoin(
            _members, _members.c.user_id == _users.c.id
        )
    )
    .where(
        _tokens.c.token_hash == bindparam("digest"),
        _tokens.c.kind == "access",
        _tokens.c.revoked_on.is_(None),
        _LIVE_USER,
    )
)
_KEY_CREDENTIAL = (
    select(
        _keys.c.expires_on,
        *_PRINCIPAL_COLUMNS,
        _keys.c.id,
        _keys.c.scope,
        _keys.c.permissions,
        _keys.c.last_used_on,
    )
    .select_from(
        _keys.join(_users, _users.c.id == _keys.c.user_id).outerjoin(
            _members, _members.c.user_id == _users.c.id
        )
    )
    .where(
        _keys.c.secret_hash == bindparam("digest"),
        _keys.c.is_active.is_(True),
        _keys.c.revoked_on.is_(None),
        _LIVE_USER,
    )
)


def credential_for_secret(session: Session, secret: str) -> Credential | None:
    """A bearer value may be a login access token or an API key secret: the live credential it
    names, with its user's principal, or None."""
    hashed = digest(secret)
    now = utcnow()
    rows = session.execute(_TOKEN_CREDENTIAL, {"digest": hashed}).all()
    if rows:
        expires_on = rows[0][0]
        if expires_on <= now:
            return None
        return Credential(_principal_from_rows(rows, None), expires_on=expires_on)
    rows = session.execute(_KEY_CREDENTIAL, {"digest": hashed}).all()
    if not rows:
        return None
    expires_on, key_id, scope, permissions, last_used_on = rows[0][0], *rows[0][7:]
    if expires_on is not None and expires_on <= now:
        return None
    key_scope = KeyScope(scope=scope, permissions=dict(permissions or {}), api_key_id=key_id)
    return Credential(_principal_from_rows(rows, key_scope), key_id, expires_on, last_used_on)


def _principal_from_rows(rows: Sequence[Row], key_scope: KeyScope | None) -> Principal:
    _, user_id, org_id, email, is_superuser = rows[0][:5]
    return Principal(
        user_id=user_id,
        org_id=org_id,
        email=email,
        is_admin=is_superuser,
        team_roles={row[5]: row[6] for row in rows if row[5] is not None},
        key_scope=key_scope,
    )


def key_use_is_stale(last_used_on: datetime | None) -> bool:
    return last_used_on is None or utcnow() - last_used_on > KEY_USE_RESOLUTION


def mark_key_used(session: Session, key_id: int) -> None:
    # Neutral for the principal cache: recording a use changes no one's access.
    session.execute(
        update(ApiKey).where(ApiKey.id == key_id).values(last_used_on=utcnow()),
        execution_options={PRINCIPAL_NEUTRAL: True},
    )


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
