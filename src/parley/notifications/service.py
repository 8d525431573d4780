"""Raising notifications: the one function every event source calls."""

from __future__ import annotations

from sqlalchemy.orm import Session

from parley.notifications.models import Notification

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
