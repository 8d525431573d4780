"""Kore's ``auth: <JWT>`` header: a JWT signed with the secret of a Parley API key.

The JWT's ``appId`` claim (else ``iss`` / ``kore_iss``, as SDK-style tokens carry it) is the
key's public client id ``cs-<uuid>``; the HMAC key is the key's secret, which Parley keeps
encrypted with the server secret for exactly this check (only a digest would not do: an HMAC
cannot be verified without the key). HS256 and HS512 are accepted; ``none`` and the RSA
algorithms (which would need an uploaded public key Parley has no place for) are refused.
``exp``, ``nbf`` and ``iat`` are enforced when present, with a minute of clock skew.
"""

from __future__ import annotations

from typing import Annotated

import jwt
from cryptography.fernet import InvalidToken
from fastapi import Depends, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.accounts.models import ApiKey
from parley.accounts.security import decrypt_secret
from parley.errors import AuthenticationError, PermissionDeniedError
from parley.http.deps import ReadSessionDep, SettingsDep, resolve_credential
from parley.settings import Settings

INVALID_CREDENTIALS = "Invalid SDK credentials"
ALGORITHMS = ("HS256", "HS512")
CLIENT_ID_CLAIMS = ("appId", "iss", "kore_iss")
LEEWAY_SECONDS = 60
USAGE_LOGS = "usage_logs"


def _claims(token: str) -> tuple[str, str]:
    """The algorithm and client id the token names, before its signature is known good."""
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError as exc:
        raise AuthenticationError(INVALID_CREDENTIALS) from exc
    client_id = next((claims[c] for c in CLIENT_ID_CLAIMS if isinstance(claims.get(c), str)), None)
    if algorithm not in ALGORITHMS or not client_id:
        raise AuthenticationError(INVALID_CREDENTIALS)
    return algorithm, client_id


def _key_secret(session: Session, settings: Settings, client_id: str) -> str:
    encrypted = session.scalar(select(ApiKey.secret_encrypted).where(ApiKey.client_id == client_id))
    if encrypted is None:
        raise AuthenticationError(INVALID_CREDENTIALS)
    try:
        return decrypt_secret(encrypted, settings.secret())
    except InvalidToken as exc:  # encrypted under another server secret
        raise AuthenticationError(INVALID_CREDENTIALS) from exc


def verified_key_secret(session: Session, settings: Settings, token: str) -> str:
    """The secret of the API key that signed ``token``; AuthenticationError when the token is
    malformed, expired, not yet valid, or not signed by a known key."""
    algorithm, client_id = _claims(token)
    secret = _key_secret(session, settings, client_id)
    try:
        jwt.decode(
            token, secret, algorithms=[algorithm], options={"verify_aud": False}, leeway=LEEWAY_SECONDS
        )
    except jwt.PyJWTError as exc:
        raise AuthenticationError(INVALID_CREDENTIALS) from exc
    return secret


def authenticate_jwt(request: Request, session: ReadSessionDep, settings: SettingsDep) -> Principal:
    """The key's user, limited by the key's scope, which must allow reading usage logs."""
    token = request.headers.get("auth", "").strip()
    if not token:
        raise AuthenticationError(INVALID_CREDENTIALS)
    secret = verified_key_secret(session, settings, token)
    # The same checks as any API key use: active, not revoked or expired, its user active.
    principal = resolve_credential(request, session, secret, writable=False)
    if principal is None:
        raise AuthenticationError(INVALID_CREDENTIALS)
    if principal.key_scope is not None and not principal.key_scope.allows(USAGE_LOGS, write=False):
        raise PermissionDeniedError("This API key is not allowed to read usage logs.")
    request.state.principal = principal
    return principal


KorePrincipal = Annotated[Principal, Depends(authenticate_jwt)]
