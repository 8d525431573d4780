"""Ejento V2 endpoints: Email Indexing Authorization.

The sidebar names one endpoint, "Email Authorize"; the paths follow the spec's suggested base
(``/v2/api/email-indexing/...``), and listing, reading and revoking authorisations are
Parley's additions (docs/api/ejento-parts/email-indexing.md). Secrets are write-only: a
response names which ones are stored (``credential_fields``), never their values.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, SecretStr, StrictBool, StrictInt, StringConstraints, model_validator

from parley.http.deps import CurrentPrincipal, SessionDep, SettingsDep, api_category
from parley.integrations import email
from parley.integrations.models import EmailAuthorization
from parley.surfaces.ejento.envelope import created, ok
from parley.surfaces.ejento.params import NO_NUL, BodyId, PathId
from parley.surfaces.ejento.serializers import audit

router = APIRouter(
    tags=["Ejento: Email Indexing Authorization"], dependencies=[api_category("email_indexing")]
)

Mailbox = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, max_length=320, pattern=r"^[^@\s\x00]+@[^@\s\x00]+\.[^@\s\x00]+$"
    ),
]
Host = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=253, pattern=r"^[A-Za-z0-9.-]+$")
]
Username = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=320, pattern=NO_NUL)
]
Folder = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200, pattern=NO_NUL)
]
Secret = Annotated[SecretStr, Field(min_length=1, max_length=8192)]

IMAP_FIELDS = frozenset({"host", "port", "use_ssl", "username", "password"})
OAUTH_FIELDS = frozenset({"access_token", "refresh_token"})


class EmailAuthorizeBody(BaseModel):
    mailbox: Mailbox
    provider: Literal[email.PROVIDERS]  # type: ignore[valid-type]
    corpus_id: BodyId | None = None  # where the mail is to be indexed
    folders: list[Folder] = Field(default_factory=lambda: ["INBOX"], min_length=1, max_length=20)
    # provider "imap"
    host: Host | None = None
    port: StrictInt = Field(default=993, ge=1, le=65535)
    use_ssl: StrictBool = True
    username: Username | None = None  # the mailbox address when left out
    password: Secret | None = None
    # providers "microsoft" and "google" (OAuth)
    access_token: Secret | None = None
    refresh_token: Secret | None = None

    @model_validator(mode="after")
    def _provider_fields(self) -> EmailAuthorizeBody:
        sent = self.model_fields_set
        if self.provider == "imap":
            if sent & OAUTH_FIELDS:
                raise ValueError("access_token and refresh_token are for the microsoft and google providers")
            if self.host is None or self.password is None:
                raise ValueError("the imap provider needs host and password")
        else:
            if sent & IMAP_FIELDS:
                raise ValueError(f"{', '.join(sorted(IMAP_FIELDS))} are for the imap provider")
            if self.access_token is None and self.refresh_token is None:
                raise ValueError(f"the {self.provider} provider needs a refresh_token or an access_token")
        return self

    def options(self) -> dict:
        """What is stored in the clear (and shown)."""
        if self.provider == "imap":
            return {
                "host": self.host,
                "port": self.port,
                "use_ssl": self.use_ssl,
                "username": self.username or self.mailbox,
                "folders": self.folders,
            }
        return {"folders": self.folders}

    def secrets(self) -> dict[str, str]:
        given = {
            "password": self.password,
            "access_token": self.access_token,
            "refresh_token": self.refresh_token,
        }
        return {name: value.get_secret_value() for name, value in given.items() if value is not None}


def email_authorization(row: EmailAuthorization) -> dict:
    return {
        "id": row.id,
        "user": row.user_id,
        "organization": row.org_id,
        "mailbox": row.mailbox,
        "provider": row.provider,
        "corpus": row.corpus_id,
        "settings": email.public_settings(row),
        "credential_fields": email.credential_fields(row),
        "status": row.status,
        "status_reason": row.status_reason,
        "is_deleted": row.is_deleted,
        **audit(row),
    }


@router.post("/v2/api/email-indexing/authorize")
def email_authorize(
    body: EmailAuthorizeBody, session: SessionDep, principal: CurrentPrincipal, settings: SettingsDep
):
    row = email.authorize(
        session,
        principal,
        settings.secret(),
        mailbox=body.mailbox,
        provider=body.provider,
        corpus_id=body.corpus_id,
        options=body.options(),
        secrets=body.secrets(),
    )
    return created(email_authorization(row), "Email authorized successfully.")


@router.get("/v2/api/email-indexing/authorization")
def get_email_authorizations(session: SessionDep, principal: CurrentPrincipal):
    rows = email.authorizations(session, principal)
    return ok([email_authorization(r) for r in rows], "Email authorizations fetched successfully.")


@router.get("/v2/api/email-indexing/authorization/{authorization_id}")
def get_email_authorization(authorization_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = email.get_authorization(session, principal, authorization_id)
    return ok(email_authorization(row), "Email authorization fetched successfully.")


@router.delete("/v2/api/email-indexing/authorization/{authorization_id}")
def revoke_email_authorization(authorization_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = email.revoke(session, principal, authorization_id)
    return ok(email_authorization(row), "Email authorization revoked successfully.")
