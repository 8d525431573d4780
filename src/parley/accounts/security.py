"""Password hashing (argon2) and the digests that opaque tokens and API keys are stored as."""

from __future__ import annotations

import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from parley.accounts.secret_policy import GENERATED_KEY_BYTES

_hasher = PasswordHasher()

# Verifying against this keeps the time of a login with an unknown email close to a real one.
_DUMMY_HASH = _hasher.hash("parley-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def digest(secret: str) -> str:
    """SHA-256 of a high-entropy secret; enough for tokens and keys, which are never guessable."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token(prefix: str) -> str:
    return f"{prefix}{secrets.token_urlsafe(GENERATED_KEY_BYTES)}"


def _fernet(server_secret: str):  # type: ignore[no-untyped-def]
    import base64

    from cryptography.fernet import Fernet

    key = base64.urlsafe_b64encode(hashlib.sha256(("api-key-secrets:" + server_secret).encode()).digest())
    return Fernet(key)


def encrypt_secret(secret: str, server_secret: str) -> bytes:
    """Reversible copy of an API key secret, needed to check HMAC-signed (Kore) JWTs."""
    return _fernet(server_secret).encrypt(secret.encode())


def decrypt_secret(token: bytes, server_secret: str) -> str:
    return _fernet(server_secret).decrypt(token).decode()
