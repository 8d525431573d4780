"""Throttling of password sign-ins: failures per account and per client address, and the
lockouts they earn, in the ``sign_in_throttles`` table so every API process sees them.

Each failure is one atomic upsert (``INSERT ... ON CONFLICT DO UPDATE ... RETURNING``) on the
subject's row. An account is throttled by the email it was tried with whether or not such a
user exists, so the answers tell nothing about which accounts exist.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, select, update
from sqlalchemy.orm import Session

from parley.accounts.models import SignInThrottle
from parley.db.rows import upsert
from parley.errors import RateLimitedError
from parley.settings import SignInSettings

LOCKED = "Too many failed sign-in attempts. Try again later."
# An exponent past this gives a lockout longer than any sensible cap.
MAX_DOUBLINGS = 40


@dataclass(frozen=True)
class Subject:
    key: str
    free_failures: int


def subjects(email: str, address: str | None, settings: SignInSettings) -> tuple[Subject, ...]:
    """The account tried and, when known, the client address it was tried from."""
    account = Subject(f"account:{email.strip().lower()}", settings.free_failures_per_account)
    if address is None:
        return (account,)
    return account, Subject(f"address:{address}", settings.free_failures_per_address)


def refuse_while_locked(session: Session, tried: Sequence[Subject], now: datetime) -> None:
    """RateLimitedError, with the seconds until the last lockout ends, when any subject is locked."""
    until = session.scalar(
        select(func.max(SignInThrottle.locked_until)).where(
            SignInThrottle.subject.in_([subject.key for subject in tried]),
            SignInThrottle.locked_until > now,
        )
    )
    if until is not None:
        raise RateLimitedError(LOCKED, max(1, math.ceil((until - now).total_seconds())))


def lockout(failures: int, free_failures: int, settings: SignInSettings) -> timedelta | None:
    """How long the sign-ins of a subject with this many recent failures are refused."""
    if failures <= free_failures:
        return None
    doublings = min(failures - free_failures - 1, MAX_DOUBLINGS)
    seconds = min(settings.max_lockout_seconds, settings.first_lockout_seconds * 2**doublings)
    return timedelta(seconds=seconds)


def record_failure(
    session: Session, tried: Sequence[Subject], settings: SignInSettings, now: datetime
) -> None:
    """Count a failed sign-in against every subject, locking those past their free failures,
    and drop the rows of subjects quiet for long enough to be forgotten."""
    table = SignInThrottle.__table__
    forgotten = now - timedelta(seconds=settings.forget_after_seconds)
    for subject in tried:
        insert = upsert(session, SignInThrottle).values(
            subject=subject.key, failures=1, last_failure_on=now, locked_until=None
        )
        statement = insert.on_conflict_do_update(
            index_elements=[table.c.subject],
            set_={
                "failures": case((table.c.last_failure_on < forgotten, 1), else_=table.c.failures + 1),
                "last_failure_on": now,
            },
        ).returning(table.c.failures)
        locked_for = lockout(session.scalar(statement), subject.free_failures, settings)
        if locked_for is not None:
            session.execute(
                update(SignInThrottle)
                .where(SignInThrottle.subject == subject.key)
                .values(locked_until=now + locked_for)
            )
    session.execute(
        delete(SignInThrottle).where(
            SignInThrottle.last_failure_on < forgotten,
            (SignInThrottle.locked_until.is_(None)) | (SignInThrottle.locked_until <= now),
        )
    )


def forget(session: Session, subject: Subject) -> None:
    """A successful sign-in: the account starts over (its address does not: one good password
    must not buy an address more guesses at other accounts)."""
    session.execute(delete(SignInThrottle).where(SignInThrottle.subject == subject.key))
