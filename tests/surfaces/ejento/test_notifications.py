"""Ejento V2 Notification group, and the notifications document ingestion raises."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.corpora.models import Document
from parley.notifications.models import Notification
from parley.notifications.service import notify
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    QUEUED,
    TIMESTAMP,
    _save,
    add_text,
    assert_error,
    assert_hidden,
    assert_read_only,
    count,
    fresh,
    ids,
    make_corpus,
    poll,
    reload,
    succeeded,
    upload,
)

BASE = "/v2/api/notification"
JSON = {"Content-Type": "application/json"}
NOTIFICATION_KEYS = [
    "id",
    "user",
    "kind",
    "title",
    "message",
    "target",
    "is_read",
    "read_on",
    "is_deleted",
    "created_by",
    "created_on",
]
FETCHED = "Notifications fetched successfully."


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    alice: Actor
    bob: Actor


@pytest.fixture
def t(world: World) -> Tenant:
    org = world.org("Acme")
    return Tenant(org, world.user(org, admin=True), world.user(org), world.user(org))


def note(
    db: Session,
    actor: Actor,
    title: str = "Hello",
    *,
    kind: str = "general",
    is_read: bool = False,
    age_minutes: int = 0,
) -> Notification:
    db.commit()
    row = notify(db, org_id=actor.org_id, user_id=actor.id, kind=kind, title=title, target={"type": "x"})
    row.is_read = is_read
    row.created_on = datetime.now(UTC) - timedelta(minutes=age_minutes)
    return _save(db, row)


def inbox(actor: Actor, **params: object) -> dict:
    return succeeded(actor.get(BASE, params=params), 200, FETCHED)


# -- raised by document ingestion ----------------------------------------------------------------


def test_ingestion_notifies_the_uploader_when_a_document_is_indexed_or_fails(t: Tenant, db: Session):
    corpus = make_corpus(db, t.alice, name="Handbook")
    indexed = add_text(t.alice, corpus.id, "Refund policy\n\nGoods may be returned within thirty days.\n")
    broken = succeeded(
        upload(t.alice, corpus.id, "file", ("broken.pdf", b"%PDF-1.7 not really a pdf", "application/pdf")),
        201,
        QUEUED,
    )
    assert poll(t.alice, indexed["id"])["status"] == "completed"
    failed = poll(t.alice, broken["id"])
    assert failed["status"] == "failed"

    data = inbox(t.alice)
    assert data["count"] == 2 and data["unread_count"] == 2
    by_kind = {n["kind"]: n for n in data["notifications"]}
    done, bad = by_kind["document_indexed"], by_kind["document_failed"]
    assert list(done) == NOTIFICATION_KEYS
    chunks = reload(db, Document, indexed["id"]).chunk_count
    assert done["title"] == 'Document "Refund policy" is indexed'
    assert done["message"] == f"{chunks} chunk(s) are ready to search."
    assert done["target"] == {"type": "document", "id": indexed["id"], "corpus_id": corpus.id}
    assert done["user"] == t.alice.id and done["is_read"] is False and done["created_by"] == "system"
    assert bad["title"] == 'Document "broken.pdf" could not be indexed'
    assert bad["message"] == failed["status_reason"] and bad["message"]
    assert bad["target"] == {"type": "document", "id": broken["id"], "corpus_id": corpus.id}
    # Only the uploader hears of it.
    assert inbox(t.bob)["count"] == 0 and inbox(t.admin)["count"] == 0


def test_an_upload_on_behalf_of_a_user_notifies_that_user(t: Tenant, db: Session):
    corpus = make_corpus(db, t.bob)
    doc = add_text(t.admin, corpus.id, "Leave rules\n\nRequest leave two weeks ahead.\n", user_id=t.bob.id)
    assert poll(t.bob, doc["id"])["status"] == "completed"
    assert [n["target"]["id"] for n in inbox(t.bob)["notifications"]] == [doc["id"]]
    assert inbox(t.admin)["count"] == 0


# -- Create Notification ----------------------------------------------------------------------


def test_create_notification_for_oneself_and_by_an_admin_for_others(t: Tenant, db: Session):
    data = succeeded(
        t.alice.post(
            BASE,
            json={
                "title": "  Call the supplier  ",
                "message": "Before Friday.",
                "target": {"type": "agent", "id": 4},
            },
        ),
        201,
        "Notification created successfully.",
    )
    assert list(data) == NOTIFICATION_KEYS
    assert (data["user"], data["kind"], data["title"], data["message"]) == (
        t.alice.id, "general", "Call the supplier", "Before Friday.",
    )  # fmt: skip
    assert data["target"] == {"type": "agent", "id": 4}
    assert data["is_read"] is False and data["read_on"] is None and data["is_deleted"] is False
    assert data["created_by"] == t.alice.email and TIMESTAMP.match(data["created_on"])
    row = reload(db, Notification, data["id"])
    assert (row.org_id, row.user_id, row.kind) == (t.org.id, t.alice.id, "general")

    # The event kinds belong to their events: a "kind" sent here is ignored.
    sent = succeeded(
        t.admin.post(BASE, json={"user_id": t.bob.id, "title": "Welcome", "kind": "document_indexed"}),
        201,
        "Notification created successfully.",
    )
    assert sent["user"] == t.bob.id and sent["kind"] == "general" and sent["created_by"] == t.admin.email
    assert ids(inbox(t.bob)["notifications"]) == [sent["id"]]
    assert inbox(t.admin)["count"] == 0


def test_create_notification_bad_input_writes_nothing(t: Tenant, other: Actor, db: Session):
    for payload in (
        {},
        {"title": ""},
        {"title": "   "},
        {"title": "x" * 301},
        {"title": 5},
        {"title": "ok", "message": "x" * 5001},
        {"title": "ok", "message": None},
        {"title": "bad\x00title"},
        {"title": "ok", "target": "document"},
        {"title": "ok", "target": {"nested": {"a": 1}}},
        {"title": "ok", "target": {"list": [1]}},
        {"title": "ok", "target": {str(i): i for i in range(21)}},
        {"title": "ok", "target": {"id": 10**30}},
        {"title": "ok", "user_id": 0},
        {"title": "ok", "user_id": "abc"},
    ):
        assert_error(t.alice.post(BASE, json=payload), 400)
    assert_error(t.alice.post(BASE, content=b"{nope", headers=JSON), 400, "Malformed JSON body.")
    # Another user of the organisation: only admins may notify them.
    assert_error(
        t.alice.post(BASE, json={"title": "hi", "user_id": t.bob.id}),
        403,
        "Only organization administrators can notify other users.",
    )
    # A user of another organisation, or none at all, is unknown.
    for user_id in (other.id, 987654):
        assert_error(t.admin.post(BASE, json={"title": "hi", "user_id": user_id}), 404, "User not found.")
    assert count(db, Notification) == 0


# -- Retrieve All Notifications --------------------------------------------------------------------


def test_retrieve_all_notifications_paginates_filters_and_counts_unread(t: Tenant, db: Session):
    oldest = note(db, t.alice, "oldest", kind="document_indexed", is_read=True, age_minutes=30)
    middle = note(db, t.alice, "middle", kind="document_failed", age_minutes=20)
    newest = note(db, t.alice, "newest", age_minutes=10)
    note(db, t.bob, "bob's")
    deleted = note(db, t.alice, "deleted")
    deleted.is_deleted = True
    _save(db, deleted)

    data = inbox(t.alice)
    assert set(data) == {"count", "num_pages", "current_page", "notifications", "unread_count"}
    assert (data["count"], data["num_pages"], data["current_page"], data["unread_count"]) == (3, 1, 1, 2)
    assert ids(data["notifications"]) == [newest.id, middle.id, oldest.id]  # newest first

    page = inbox(t.alice, page=2, items_per_page=2)
    assert (page["count"], page["num_pages"], page["current_page"]) == (3, 2, 2)
    assert ids(page["notifications"]) == [oldest.id]
    assert ids(inbox(t.alice, is_read="false")["notifications"]) == [newest.id, middle.id]
    assert ids(inbox(t.alice, is_read="true")["notifications"]) == [oldest.id]
    filtered = inbox(t.alice, kind="document_failed", is_read=False)
    assert ids(filtered["notifications"]) == [middle.id] and filtered["count"] == 1
    assert filtered["unread_count"] == 2  # of the whole inbox, not of the filter
    beyond = inbox(t.alice, page=999)
    assert beyond["notifications"] == [] and beyond["count"] == 3

    for params in (
        {"items_per_page": 0},
        {"page": 0},
        {"page": "x"},
        {"kind": "bogus"},
        {"is_read": "maybe"},
    ):
        assert_error(t.alice.get(BASE, params=params), 400)


# -- Retrieve Notification, Read Notification, Delete Notification ---------------------------------


def test_retrieve_read_and_delete_one_notification(t: Tenant, db: Session):
    row = note(db, t.alice, "Indexed", kind="document_indexed")
    path = f"{BASE}/{row.id}"
    got = succeeded(t.alice.get(path), 200, "Notification fetched successfully.")
    assert list(got) == NOTIFICATION_KEYS
    assert (got["id"], got["title"], got["kind"], got["target"]) == (
        row.id,
        "Indexed",
        "document_indexed",
        {"type": "x"},
    )

    read = succeeded(t.alice.put(path), 200, "Notification marked as read.")
    assert read["is_read"] is True and TIMESTAMP.match(read["read_on"])
    stored = reload(db, Notification, row.id)
    assert stored.is_read is True and stored.read_on is not None
    # Reading it again keeps the first reading time.
    again = succeeded(t.alice.put(path, json={}), 200, "Notification marked as read.")
    assert again["read_on"] == read["read_on"]
    unread = succeeded(t.alice.put(path, json={"is_read": False}), 200, "Notification marked as unread.")
    assert unread["is_read"] is False and unread["read_on"] is None
    assert reload(db, Notification, row.id).is_read is False

    for payload in ({"is_read": "yes"}, {"is_read": None}, {"is_read": 1}):
        assert_error(t.alice.put(path, json=payload), 400)
    assert_error(t.alice.put(path, content=b"{", headers=JSON), 400, "Malformed JSON body.")
    assert reload(db, Notification, row.id).is_read is False

    gone = succeeded(t.alice.delete(path), 200, "Notification deleted successfully.")
    assert gone["id"] == row.id and gone["is_deleted"] is True
    assert reload(db, Notification, row.id).is_deleted is True
    for method in ("GET", "PUT", "DELETE"):
        assert_error(t.alice.request(method, path), 404, "Notification not found.")
    assert inbox(t.alice)["count"] == 0

    for bad in ("abc", "0", "-1", "99999999999999999999999"):
        assert_error(t.alice.get(f"{BASE}/{bad}"), 400)
    assert_error(t.alice.get(f"{BASE}/987654"), 404, "Notification not found.")


def test_only_the_recipient_sees_a_notification(t: Tenant, db: Session):
    row = note(db, t.alice, "Private matter")
    path = f"{BASE}/{row.id}"
    # Another user of the organisation, even an admin, gets "not found" and changes nothing.
    for actor in (t.bob, t.admin):
        assert_hidden(
            actor, [("GET", path, None), ("PUT", path, None), ("DELETE", path, None)], "Private matter"
        )
        assert inbox(actor)["count"] == 0
    stored = reload(db, Notification, row.id)
    assert stored.is_read is False and stored.is_deleted is False


# -- Read Notifications By User ID -------------------------------------------------------------------


def test_read_notifications_by_user_id_marks_the_callers_inbox_read(t: Tenant, other: Actor, db: Session):
    first, second = note(db, t.alice, "one"), note(db, t.alice, "two")
    already = note(db, t.alice, "three", is_read=True)
    bobs = note(db, t.bob, "bob's")
    path = f"/v2/api/user/{t.alice.id}/notification/read"
    data = succeeded(t.alice.put(path), 200, "Notifications marked as read.")
    assert data == {"user": t.alice.id, "marked_read": 2, "unread_count": 0}
    for row in (first, second):
        stored = reload(db, Notification, row.id)
        assert stored.is_read is True and stored.read_on is not None
    assert reload(db, Notification, already.id).read_on is None  # was read before: untouched
    assert reload(db, Notification, bobs.id).is_read is False
    assert inbox(t.alice)["unread_count"] == 0
    assert succeeded(t.alice.put(path), 200, "Notifications marked as read.")["marked_read"] == 0

    # Another user's inbox: 403 inside the organisation (admins too), 404 outside it.
    for actor in (t.alice, t.admin):
        assert_error(
            actor.put(f"/v2/api/user/{t.bob.id}/notification/read"),
            403,
            "You can only read your own notifications.",
        )
    for user_id in (other.id, 987654):
        assert_error(t.alice.put(f"/v2/api/user/{user_id}/notification/read"), 404, "User not found.")
    assert_error(other.put(path), 404, "User not found.")
    assert_error(t.alice.put("/v2/api/user/abc/notification/read"), 400)
    assert reload(db, Notification, bobs.id).is_read is False


# -- tenants and API keys -------------------------------------------------------------------------


def test_another_organisation_never_sees_the_notifications(t: Tenant, other: Actor, db: Session):
    row = note(db, t.alice, "Quarterly numbers")
    path = f"{BASE}/{row.id}"
    assert_hidden(
        other, [("GET", path, None), ("PUT", path, None), ("DELETE", path, None)], "Quarterly numbers"
    )
    mine = succeeded(other.post(BASE, json={"title": "mine"}), 201, "Notification created successfully.")
    listed = inbox(other)
    assert ids(listed["notifications"]) == [mine["id"]] and listed["count"] == 1
    stored = reload(db, Notification, row.id)
    assert stored.is_read is False and stored.is_deleted is False


def test_read_only_and_restricted_keys(t: Tenant, world: World, db: Session):
    row = note(db, t.alice, "Keys")
    path = f"{BASE}/{row.id}"
    reads = [BASE, path]
    writes = [
        ("POST", BASE, {"title": "x"}),
        ("PUT", path, {"is_read": True}),
        ("PUT", f"/v2/api/user/{t.alice.id}/notification/read", None),
        ("DELETE", path, None),
    ]
    for scope, permissions in (("read_only", None), ("restricted", {"notifications": "read"})):
        assert_read_only(world.key_for(t.alice, scope, permissions), reads, writes)
    wrong_category = world.key_for(t.alice, "restricted", {"agents": "write", "documents": "write"})
    for method, p, body in [("GET", BASE, None), ("GET", path, None), *writes]:
        assert_error(wrong_category.request(method, p, json=body), 403)
    writer = world.key_for(t.alice, "restricted", {"notifications": "write"})
    succeeded(writer.put(path), 200, "Notification marked as read.")
    fresh(db)
    assert count(db, Notification) == 1 and reload(db, Notification, row.id).is_deleted is False
