"""Mailbox authorisations for email indexing: who allowed Parley to read which mailbox, with
which (encrypted) credentials, and into which corpus its mail should go.

An authorisation is seen and revoked by the user who made it and by organisation admins; for
anyone else it does not exist. Secrets (passwords, OAuth tokens) are stored encrypted with the
server secret under ``settings["credentials"]`` and never leave this module; revoking erases
them. Nothing here contacts a mail server: storing credentials does not prove they work.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from sqlalchemy import ColumnElement, and_, func, select
from sqlalchemy.orm import Session

from parley.access.policy import corpus_editable, corpus_visible, load_allowed, load_visible
from parley.access.principal import Principal
from parley.accounts.security import encrypt_secret
from parley.corpora.models import Corpus
from parley.errors import ConflictError
from parley.integrations.models import EmailAuthorization

PROVIDERS = ("imap", "microsoft", "google")
CREDENTIALS = "credentials"  # the settings key of the encrypted secrets
AUTHORIZED_REASON = "Credentials stored; the mailbox has not been contacted."


def authorization_visible(principal: Principal) -> ColumnElement[bool]:
    scope = and_(EmailAuthorization.org_id == principal.org_id, EmailAuthorization.is_deleted.is_(False))
    if principal.is_admin:
        return scope
    return and_(scope, EmailAuthorization.user_id == principal.user_id)


def public_settings(row: EmailAuthorization) -> dict:
    """The settings without the encrypted secrets."""
    return {k: v for k, v in (row.settings or {}).items() if k not in (CREDENTIALS, "credential_fields")}


def credential_fields(row: EmailAuthorization) -> list[str]:
    """Which secrets are stored (names only, never values)."""
    return list((row.settings or {}).get("credential_fields", []))


def authorize(
    session: Session,
    principal: Principal,
    server_secret: str,
    *,
    mailbox: str,
    provider: str,
    corpus_id: int | None,
    options: Mapping[str, object],
    secrets: Mapping[str, str],
) -> EmailAuthorization:
    """Store the caller's authorisation for a mailbox; the target corpus must be one the caller
    may add documents to. One live authorisation per user, provider and mailbox."""
    if corpus_id is not None:
        load_allowed(
            session,
            Corpus,
            corpus_id,
            corpus_visible(principal),
            corpus_editable(principal),
            "Corpus",
            "index mail into this corpus",
        )
    taken = session.scalar(
        select(EmailAuthorization.id).where(
            EmailAuthorization.org_id == principal.org_id,
            EmailAuthorization.user_id == principal.user_id,
            EmailAuthorization.provider == provider,
            func.lower(EmailAuthorization.mailbox) == mailbox.lower(),
            EmailAuthorization.is_deleted.is_(False),
        )
    )
    if taken is not None:
        raise ConflictError("This mailbox is already authorized; revoke that authorization first.")
    sealed = encrypt_secret(json.dumps(dict(secrets)), server_secret).decode()
    row = EmailAuthorization(
        org_id=principal.org_id,
        user_id=principal.user_id,
        corpus_id=corpus_id,
        provider=provider,
        mailbox=mailbox,
        settings={**options, "credential_fields": sorted(secrets), CREDENTIALS: sealed},
        status="authorized",
        status_reason=AUTHORIZED_REASON,
        created_by=principal.email,
    )
    session.add(row)
    session.flush()
    return row


def authorizations(session: Session, principal: Principal) -> list[EmailAuthorization]:
    """The caller's live authorisations (an admin's: the whole organisation's), by id."""
    stmt = select(EmailAuthorization).where(authorization_visible(principal)).order_by(EmailAuthorization.id)
    return list(session.scalars(stmt))


def get_authorization(session: Session, principal: Principal, authorization_id: int) -> EmailAuthorization:
    return load_visible(
        session, EmailAuthorization, authorization_id, authorization_visible(principal), "Email authorization"
    )


def revoke(session: Session, principal: Principal, authorization_id: int) -> EmailAuthorization:
    """Revoke it: the secrets are erased at once and the row is kept (soft-deleted) for audit."""
    row = get_authorization(session, principal, authorization_id)
    row.settings = public_settings(row)
    row.status = "revoked"
    row.status_reason = f"Revoked by {principal.email}."
    row.is_deleted = True
    row.modified_by = principal.email
    session.flush()
    return row
