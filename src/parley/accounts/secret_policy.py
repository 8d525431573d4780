"""The one policy for secrets, wherever they come from: the API, the CLI and the first-start
bootstrap (``PARLEY_INIT_*``) all check passwords and given API keys here.

- A password has 8 to 1,024 characters (the upper bound keeps argon2's work per attempt bounded).
- A key Parley makes carries 32 random bytes (``security.new_token``).
- A key an operator chooses (``PARLEY_INIT_API_KEY``) has at least 24 characters.
- Only a hint of a key's first characters is stored in clear (``api_keys.prefix``), too few to
  use it: the lookup goes by the key's SHA-256 digest.
"""

from __future__ import annotations

from parley.errors import InvalidInputError

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
GENERATED_KEY_BYTES = 32
MIN_GIVEN_KEY_LENGTH = 24
KEY_HINT_LENGTH = 6


def check_password(password: str, name: str = "A password") -> None:
    """InvalidInputError naming ``name`` (the field or variable) when the password is refused."""
    if not MIN_PASSWORD_LENGTH <= len(password) <= MAX_PASSWORD_LENGTH:
        raise InvalidInputError(
            f"{name} must have between {MIN_PASSWORD_LENGTH} and {MAX_PASSWORD_LENGTH} characters."
        )


def check_given_key(secret: str, name: str = "An API key") -> None:
    if len(secret) < MIN_GIVEN_KEY_LENGTH:
        raise InvalidInputError(
            f"{name} must have at least {MIN_GIVEN_KEY_LENGTH} characters; make a random one with "
            "`python -c 'import secrets; print(secrets.token_urlsafe(32))'`."
        )


def key_hint(secret: str) -> str:
    """What is stored and shown of a key to tell it apart: its first few characters."""
    return secret[:KEY_HINT_LENGTH]
