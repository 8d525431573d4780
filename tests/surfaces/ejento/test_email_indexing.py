"""Ejento V2 Email Indexing Authorization group: storing, listing and revoking mailbox
authorisations, with credentials encrypted and never shown."""

from __future__ import annotations

import json
from dataclasses import dataclass

import pytest
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.accounts.security import decrypt_secret
from parley.corpora.models import Corpus
from parley.integrations.models import EmailAuthorization
from parley.settings import Settings
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    AUDIT_KEYS,
    TIMESTAMP,
    assert_error,
    assert_hidden,
    assert_read_only,
    count,
    ids,
    make_corpus,
    reload,
    succeeded,
)

AUTHORIZE = "/v2/api/email-indexing/authorize"
BASE = "/v2/api/email-indexing/authorization"
JSON = {"Content-Type": "application/json"}
PASSWORD = "imap-Pa55word-SECRET"
REFRESH = "refresh-token-SECRET-0123456789"
ACCESS = "access-token-SECRET-abcdef"
VIEW_KEYS = {
    "id",
    "user",
    "organization",
    "mailbox",
    "provider",
    "corpus",
    "settings",
    "credential_fields",
    "status",
    "status_reason",
    *AUDIT_KEYS,
}
AUTHORIZED = "Email authorized successfully."
IMAP = {
    "mailbox": "support@acme.example",
    "provider": "imap",
    "host": "imap.acme.example",
    "password": PASSWORD,
}


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    alice: Actor
    bob: Actor
    corpus: Corpus  # alice's


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org("Acme")
    admin, alice, bob = world.user(org, admin=True), world.user(org), world.user(org)
    return Tenant(org, admin, alice, bob, make_corpus(db, alice, name="Mail"))


def authorize(actor: Actor, **body: object) -> dict:
    return succeeded(actor.post(AUTHORIZE, json=body), 201, AUTHORIZED)


def stored_secrets(db: Session, settings: Settings, authorization_id: int) -> dict:
    row = reload(db, EmailAuthorization, authorization_id)
    return json.loads(decrypt_secret(row.settings["credentials"].encode(), settings.secret()))


def test_email_authorize_stores_credentials_encrypted_and_never_shows_them(t: Tenant, db: Session, settings):
    r = t.alice.post(
        AUTHORIZE, json={**IMAP, "mailbox": " support@acme.example ", "folders": ["INBOX", "Sales"]}
    )
    data = succeeded(r, 201, AUTHORIZED)
    assert PASSWORD not in r.text
    assert set(data) == VIEW_KEYS
    assert (data["user"], data["organization"], data["mailbox"], data["provider"], data["corpus"]) == (
        t.alice.id, t.org.id, "support@acme.example", "imap", None,
    )  # fmt: skip
    assert data["settings"] == {
        "host": "imap.acme.example",
        "port": 993,
        "use_ssl": True,
        "username": "support@acme.example",
        "folders": ["INBOX", "Sales"],
    }
    assert data["credential_fields"] == ["password"]
    assert data["status"] == "authorized"
    assert data["status_reason"] == "Credentials stored; the mailbox has not been contacted."
    assert data["created_by"] == t.alice.email and data["modified_by"] == "" and data["is_deleted"] is False
    assert TIMESTAMP.match(data["created_on"])
    row = reload(db, EmailAuthorization, data["id"])
    assert PASSWORD not in json.dumps(row.settings)  # only the encrypted form is stored
    assert stored_secrets(db, settings, data["id"]) == {"password": PASSWORD}

    oauth = t.alice.post(
        AUTHORIZE,
        json={
            "mailbox": "alice@acme.example",
            "provider": "microsoft",
            "corpus_id": t.corpus.id,
            "refresh_token": REFRESH,
            "access_token": ACCESS,
        },
    )
    data = succeeded(oauth, 201, AUTHORIZED)
    assert REFRESH not in oauth.text and ACCESS not in oauth.text
    assert data["provider"] == "microsoft" and data["corpus"] == t.corpus.id
    assert data["settings"] == {"folders": ["INBOX"]}
    assert data["credential_fields"] == ["access_token", "refresh_token"]
    assert stored_secrets(db, settings, data["id"]) == {"access_token": ACCESS, "refresh_token": REFRESH}
    # The same mailbox with another provider is another authorisation.
    google = authorize(t.alice, mailbox="support@acme.example", provider="google", refresh_token=REFRESH)
    assert google["credential_fields"] == ["refresh_token"]


def test_email_authorize_bad_input_writes_nothing(t: Tenant, world: World, db: Session):
    for payload in (
        {},
        {**IMAP, "mailbox": "not-an-address"},
        {**IMAP, "mailbox": ""},
        {**IMAP, "mailbox": "a@b.c" + "x" * 320},
        {**IMAP, "provider": "pop3"},
        {**IMAP, "host": None},
        {key: value for key, value in IMAP.items() if key != "password"},
        {key: value for key, value in IMAP.items() if key != "host"},
        {**IMAP, "password": ""},
        {**IMAP, "host": "imap acme"},
        {**IMAP, "port": 0},
        {**IMAP, "port": 70000},
        {**IMAP, "port": True},
        {**IMAP, "use_ssl": "yes"},
        {**IMAP, "folders": []},
        {**IMAP, "folders": [""]},
        {**IMAP, "refresh_token": REFRESH},  # an OAuth token for an IMAP mailbox
        {"mailbox": "a@acme.example", "provider": "google"},  # no token
        {"mailbox": "a@acme.example", "provider": "google", "refresh_token": REFRESH, "password": "x"},
        {"mailbox": "a@acme.example", "provider": "google", "refresh_token": REFRESH, "host": "imap.x.com"},
        {**IMAP, "corpus_id": 0},
        {**IMAP, "corpus_id": "abc"},
    ):
        r = t.alice.post(AUTHORIZE, json=payload)
        assert_error(r, 400)
        assert PASSWORD not in r.text and REFRESH not in r.text
    assert_error(t.alice.post(AUTHORIZE, content=b"{nope", headers=JSON), 400, "Malformed JSON body.")
    # The corpus must exist, be visible and be one the caller may add documents to.
    theirs = make_corpus(db, world.user(world.org()))
    for corpus_id in (987654, theirs.id):
        assert_error(t.alice.post(AUTHORIZE, json={**IMAP, "corpus_id": corpus_id}), 404, "Corpus not found.")
    public = make_corpus(db, t.bob, is_public=True)
    assert_error(
        t.alice.post(AUTHORIZE, json={**IMAP, "corpus_id": public.id}),
        403,
        "You do not have permission to index mail into this corpus.",
    )
    assert count(db, EmailAuthorization) == 0
    # One live authorisation per user, provider and mailbox (compared case-insensitively).
    authorize(t.alice, **IMAP)
    assert_error(
        t.alice.post(AUTHORIZE, json={**IMAP, "mailbox": "SUPPORT@acme.example"}),
        409,
        "This mailbox is already authorized; revoke that authorization first.",
    )
    assert count(db, EmailAuthorization) == 1
    # Another user may authorise the same mailbox for themselves.
    authorize(t.bob, **IMAP)
    assert count(db, EmailAuthorization) == 2


def test_owners_see_their_own_authorisations_and_admins_see_all(t: Tenant):
    alices = authorize(t.alice, **IMAP)
    bobs = authorize(t.bob, **{**IMAP, "mailbox": "bob@acme.example"})
    listed = succeeded(t.alice.get(BASE), 200, "Email authorizations fetched successfully.")
    assert ids(listed) == [alices["id"]] and set(listed[0]) == VIEW_KEYS
    assert ids(t.bob.get(BASE).json()["data"]) == [bobs["id"]]
    assert ids(t.admin.get(BASE).json()["data"]) == [alices["id"], bobs["id"]]

    got = succeeded(t.alice.get(f"{BASE}/{alices['id']}"), 200, "Email authorization fetched successfully.")
    assert got == alices
    assert t.admin.get(f"{BASE}/{bobs['id']}").json()["data"]["mailbox"] == "bob@acme.example"
    # Another member of the organisation does not see it at all.
    path = f"{BASE}/{alices['id']}"
    assert_hidden(t.bob, [("GET", path, None), ("DELETE", path, None)], "support@acme.example")
    for bad in ("abc", "0", "99999999999999999999999"):
        assert_error(t.alice.get(f"{BASE}/{bad}"), 400)
    assert_error(t.alice.get(f"{BASE}/987654"), 404, "Email authorization not found.")


def test_revoking_erases_the_credentials(t: Tenant, db: Session):
    mine = authorize(t.alice, **IMAP)
    bobs = authorize(t.bob, **{**IMAP, "mailbox": "bob@acme.example"})
    path = f"{BASE}/{mine['id']}"
    data = succeeded(t.alice.delete(path), 200, "Email authorization revoked successfully.")
    assert set(data) == VIEW_KEYS
    assert data["status"] == "revoked" and data["status_reason"] == f"Revoked by {t.alice.email}."
    assert data["is_deleted"] is True and data["credential_fields"] == []
    assert data["modified_by"] == t.alice.email and data["settings"]["host"] == "imap.acme.example"
    row = reload(db, EmailAuthorization, mine["id"])
    assert "credentials" not in row.settings and row.is_deleted is True and row.status == "revoked"
    for method in ("GET", "DELETE"):
        assert_error(t.alice.request(method, path), 404, "Email authorization not found.")
    assert t.alice.get(BASE).json()["data"] == []
    # Once revoked, the mailbox may be authorised again.
    authorize(t.alice, **IMAP)
    # Admins may revoke anyone's.
    revoked = succeeded(
        t.admin.delete(f"{BASE}/{bobs['id']}"), 200, "Email authorization revoked successfully."
    )
    assert revoked["modified_by"] == t.admin.email
    assert reload(db, EmailAuthorization, bobs["id"]).is_deleted is True


def test_another_organisation_gets_404(t: Tenant, other: Actor, db: Session):
    mine = authorize(t.alice, **IMAP)
    path = f"{BASE}/{mine['id']}"
    assert_hidden(other, [("GET", path, None), ("DELETE", path, None)], "support@acme.example")
    assert other.get(BASE).json()["data"] == []
    assert_error(other.post(AUTHORIZE, json={**IMAP, "corpus_id": t.corpus.id}), 404, "Corpus not found.")
    row = reload(db, EmailAuthorization, mine["id"])
    assert row.is_deleted is False and "credentials" in row.settings
    assert count(db, EmailAuthorization) == 1


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    mine = authorize(t.alice, **IMAP)
    path = f"{BASE}/{mine['id']}"
    writes = [("POST", AUTHORIZE, {**IMAP, "mailbox": "other@acme.example"}), ("DELETE", path, None)]
    for scope, permissions in (("read_only", None), ("restricted", {"email_indexing": "read"})):
        assert_read_only(world.key_for(t.alice, scope, permissions), [BASE, path], writes)
    wrong_category = world.key_for(t.alice, "restricted", {"corpora": "write", "documents": "write"})
    for method, p, body in [("GET", BASE, None), ("GET", path, None), *writes]:
        assert_error(wrong_category.request(method, p, json=body), 403)
    assert (
        count(db, EmailAuthorization) == 1 and reload(db, EmailAuthorization, mine["id"]).is_deleted is False
    )
    writer = world.key_for(t.alice, "restricted", {"email_indexing": "write"})
    succeeded(writer.delete(path), 200, "Email authorization revoked successfully.")
