"""Notifications: raising them (the one function every event source calls) and each user's
own inbox (list, read, mark read, delete).

A notification belongs to one user: only that user sees, reads or deletes it; for everyone
else (organisation admins included) it does not exist.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Select, and_, func, select, update
from sqlalchemy.orm import Session

from parley.access.policy import load_visible, user_visible
from parley.access.principal import Principal
from parley.accounts.models import User
from parley.db.base import utcnow
from parley.errors import PermissionDeniedError
from parley.notifications.models import Notification

if TYPE_CHECKING:
    from parley.corpora.models import Document

# What raises notifications; the Notification endpoints filter on these.
KINDS = ("document_indexed", "document_failed", "response_comment", "agent_shared", "general")


def notify(
    session: Session,
    *,
    org_id: int,
    user_id: int,
    kind: str,
    title: str,
    message: str = "",
    target: dict | None = None,
    created_by: str = "system",
) -> Notification:
    """Add a notification for ``user_id`` in the caller's transaction (it appears when the event
    itself commits, and not at all when the event is rolled back)."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    row = Notification(
        org_id=org_id,
        user_id=user_id,
        kind=kind,
        title=title[:300],
        message=message,
        target=target or {},
        created_by=created_by,
    )
    session.add(row)
    return row


# -- event sources ---------------------------------------------------------------------------


def _document_target(document: Document) -> dict:
    return {"type": "document", "id": document.id, "corpus_id": document.corpus_id}


def document_indexed(session: Session, document: Document) -> Notification:
    """Tell the uploader their document is searchable (ingestion calls this as it completes)."""
    return notify(
        session,
        org_id=document.org_id,
        user_id=document.user_id,
        kind="document_indexed",
        title=f'Document "{document.name}" is indexed',
        message=f"{document.chunk_count} chunk(s) are ready to search.",
        target=_document_target(document),
    )


def document_failed(session: Session, document: Document, reason: str) -> Notification:
    """Tell the uploader their document could not be indexed (after the last attempt)."""
    return notify(
        session,
        org_id=document.org_id,
        user_id=document.user_id,
        kind="document_failed",
        title=f'Document "{document.name}" could not be indexed',
        message=reason,
        target=_document_target(document),
    )


# -- the caller's inbox ---------------------------------------------------------------------


def own_notifications(principal: Principal) -> ColumnElement[bool]:
    return and_(
        Notification.org_id == principal.org_id,
        Notification.user_id == principal.user_id,
        Notification.is_deleted.is_(False),
    )


def notifications_query(
    principal: Principal, *, is_read: bool | None = None, kind: str | None = None
) -> Select[tuple[Notification]]:
    """The caller's notifications, newest first; ``None`` filters do not restrict."""
    stmt = select(Notification).where(own_notifications(principal))
    if is_read is not None:
        stmt = stmt.where(Notification.is_read.is_(is_read))
    if kind is not None:
        stmt = stmt.where(Notification.kind == kind)
    return stmt.order_by(Notification.created_on.desc(), Notification.id.desc())


def unread_count(session: Session, principal: Principal) -> int:
    stmt = select(func.count(Notification.id)).where(
        own_notifications(principal), Notification.is_read.is_(False)
    )
    return session.scalar(stmt) or 0


def get_notification(session: Session, principal: Principal, notification_id: int) -> Notification:
    return load_visible(session, Notification, notification_id, own_notifications(principal), "Notification")


def create_notification(
    session: Session, principal: Principal, *, user_id: int | None, title: str, message: str, target: dict
) -> Notification:
    """A "general" notification: for the caller, or (organisation admins) for any user of the
    organisation. The event kinds are raised by their events only."""
    recipient = user_id or principal.user_id
    if recipient != principal.user_id:
        load_visible(session, User, recipient, user_visible(principal), "User")
        if not principal.is_admin:
            raise PermissionDeniedError("Only organization administrators can notify other users.")
    row = notify(
        session,
        org_id=principal.org_id,
        user_id=recipient,
        kind="general",
        title=title,
        message=message,
        target=target,
        created_by=principal.email,
    )
    session.flush()
    return row


def set_read(session: Session, principal: Principal, notification_id: int, is_read: bool) -> Notification:
    row = get_notification(session, principal, notification_id)
    if row.is_read != is_read:
        row.is_read = is_read
        row.read_on = utcnow() if is_read else None
        session.flush()
    return row


def read_all(session: Session, principal: Principal, user_id: int) -> int:
    """Mark every unread notification of the caller read; returns how many changed. Another
    user's inbox is not the caller's to read: 404 outside the organisation, else 403."""
    if user_id != principal.user_id:
        load_visible(session, User, user_id, user_visible(principal), "User")
        raise PermissionDeniedError("You can only read your own notifications.")
    result = session.execute(
        update(Notification)
        .where(own_notifications(principal), Notification.is_read.is_(False))
        .values(is_read=True, read_on=utcnow())
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def delete_notification(session: Session, principal: Principal, notification_id: int) -> Notification:
    row = get_notification(session, principal, notification_id)
    row.is_deleted = True
    session.flush()
    return row
