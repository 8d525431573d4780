"""Ejento V2 endpoints: Notification.

Ejento documents only the names of this group; the paths follow the spec's suggestion
(``/v2/api/notification[/{id}]``, PUT marks read) and the seen ``/v2/api/user/{user_id}/...``
pattern (docs/api/ejento-parts/notifications.md). Every endpoint works on the caller's own
notifications: another user's notification answers 404, as if it did not exist.
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field, StrictBool, StrictInt, StrictStr, StringConstraints

from parley.db.base import MAX_ID
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.notifications import service as notifications
from parley.notifications.models import Notification
from parley.surfaces.ejento.envelope import PageDep, created, iso, ok, paginate
from parley.surfaces.ejento.params import NO_NUL, BodyId, PathId

router = APIRouter(tags=["Ejento: Notification"], dependencies=[api_category("notifications")])

Kind = Literal[notifications.KINDS]  # type: ignore[valid-type]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300, pattern=NO_NUL)]
TargetKey = Annotated[str, StringConstraints(min_length=1, max_length=50, pattern=NO_NUL)]
TargetValue = (
    Annotated[StrictStr, StringConstraints(max_length=500, pattern=NO_NUL)]
    | Annotated[StrictInt, Field(ge=-MAX_ID, le=MAX_ID)]
    | StrictBool
    | None
)


class CreateNotificationBody(BaseModel):
    user_id: BodyId | None = None  # the recipient; the caller when left out
    title: Title
    message: str = Field(default="", max_length=5000, pattern=NO_NUL)
    # What it is about, e.g. {"type": "agent", "id": 12}: a flat object of short values.
    target: dict[TargetKey, TargetValue] = Field(default_factory=dict, max_length=20)


class ReadNotificationBody(BaseModel):
    is_read: StrictBool = True  # false marks it unread again


def notification(n: Notification) -> dict:
    return {
        "id": n.id,
        "user": n.user_id,
        "kind": n.kind,
        "title": n.title,
        "message": n.message,
        "target": n.target,
        "is_read": n.is_read,
        "read_on": iso(n.read_on),
        "is_deleted": n.is_deleted,
        "created_by": n.created_by,
        "created_on": iso(n.created_on),
    }


@router.post("/v2/api/notification")
def create_notification(body: CreateNotificationBody, session: SessionDep, principal: CurrentPrincipal):
    row = notifications.create_notification(
        session, principal, user_id=body.user_id, title=body.title, message=body.message, target=body.target
    )
    return created(notification(row), "Notification created successfully.")


@router.get("/v2/api/notification")
def retrieve_all_notifications(
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    is_read: bool | None = None,
    kind: Kind | None = None,
):
    stmt = notifications.notifications_query(principal, is_read=is_read, kind=kind)
    data = paginate(session, stmt, page, "notifications", lambda rows: [notification(n) for n in rows])
    data["unread_count"] = notifications.unread_count(session, principal)
    return ok(data, "Notifications fetched successfully.")


@router.put("/v2/api/user/{user_id}/notification/read")
def read_notifications_by_user_id(user_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    marked = notifications.read_all(session, principal, user_id)
    return ok({"user": user_id, "marked_read": marked, "unread_count": 0}, "Notifications marked as read.")


@router.get("/v2/api/notification/{notification_id}")
def retrieve_notification(notification_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = notifications.get_notification(session, principal, notification_id)
    return ok(notification(row), "Notification fetched successfully.")


@router.put("/v2/api/notification/{notification_id}")
def read_notification(
    notification_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    body: ReadNotificationBody | None = None,
):
    is_read = body.is_read if body is not None else True
    row = notifications.set_read(session, principal, notification_id, is_read)
    message = "Notification marked as read." if is_read else "Notification marked as unread."
    return ok(notification(row), message)


@router.delete("/v2/api/notification/{notification_id}")
def delete_notification(notification_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    row = notifications.delete_notification(session, principal, notification_id)
    return ok(notification(row), "Notification deleted successfully.")
