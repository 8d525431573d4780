"""Password sign-in for every surface that takes a password (Ejento login, SuperOffice Basic),
under the throttle of accounts/sign_in.py.

A locked account or client address is refused (429 with Retry-After) before argon2 runs, so
the cost of hashing cannot be turned against the server. The check, the password, the failure
count or the caller's work on success share one short write transaction of their own, which
commits a failure even though the request fails. The client address is the connection's peer:
Parley runs its server without proxy headers, so a forwarded address is never trusted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from fastapi import Request
from sqlalchemy.orm import Session

from parley.accounts import secret_policy
from parley.accounts import service as accounts
from parley.accounts import sign_in as throttle
from parley.accounts.models import User
from parley.db.base import utcnow
from parley.db.engine import session_scope
from parley.errors import AuthenticationError

T = TypeVar("T")
INVALID = "Invalid email or password."


def sign_in(request: Request, email: str, password: str, then: Callable[[Session, User], T]) -> T:
    """``then(session, user)`` for the user with this email and password, in the sign-in's
    transaction; AuthenticationError for a wrong password, RateLimitedError while locked."""
    settings = request.app.state.settings.sign_in
    address = request.client.host if request.client else None
    tried = throttle.subjects(email, address, settings)
    now = utcnow()
    with session_scope(request.app.state.write_sessions) as session:
        throttle.refuse_while_locked(session, tried, now)
        # A password longer than any that may be set is wrong without argon2's work.
        fits = len(password) <= secret_policy.MAX_PASSWORD_LENGTH
        user = accounts.password_user(session, email, password) if fits else None
        if user is None:
            throttle.record_failure(session, tried, settings, now)
        else:
            throttle.forget(session, tried[0])
            return then(session, user)
    raise AuthenticationError(INVALID)
