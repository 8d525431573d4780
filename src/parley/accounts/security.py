"""Password hashing (argon2) and the digests that opaque tokens and API keys are stored as."""

from __future__ import annotations

import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from parley.accounts.secret_policy import GENERATED_KEY_BYTES

# argon2-cffi's defaults (RFC 9106's low-memory profile) until the application or the CLI sets
# the configured cost with use_password_hashing. A hash records its own parameters, so hashes
# made at any cost keep verifying after the cost changes.
_hasher = PasswordHasher()


def use_password_hashing(time_cost: int, memory_kib: int) -> None:
    """Hash new passwords at this cost (``AuthSettings``: production strength by default, cheap
    in tests). Called once at start, before any request."""
    global _hasher
    if (_hasher.time_cost, _hasher.memory_cost) != (time_cost, memory_kib):
        _hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        _dummy_hash.cache_clear()


@functools.cache
def _dummy_hash() -> str:
    """Verifying against this keeps the time of a login with an unknown email close to a real
    one. Made on first use, never at import."""
    return _hasher.hash("parley-dummy-password")


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _dummy_hash(), password) and password_hash is not None
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
