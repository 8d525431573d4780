"""Organisation-level capabilities a user may be granted or refused ("User Permission").

Everything is allowed unless a permission row refuses it; organisation admins hold every
capability regardless.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.accounts.models import UserPermission
from parley.errors import PermissionDeniedError

CAPABILITIES = {
    "create_agent": "create agents",
    "create_corpus": "create corpora",
    "create_project": "create projects",
    "create_team": "create teams",
    "upload_documents": "upload documents",
    "share_agent": "share agents with other users",
    "view_dashboard": "view usage dashboards",
    "manage_tools": "manage tools and API tool templates",
}


def has_capability(session: Session, principal: Principal, capability: str) -> bool:
    if principal.is_admin:
        return True
    allowed = session.scalar(
        select(UserPermission.is_allowed).where(
            UserPermission.user_id == principal.user_id, UserPermission.permission == capability
        )
    )
    return allowed is None or allowed


def require_capability(session: Session, principal: Principal, capability: str) -> None:
    if not has_capability(session, principal, capability):
        raise PermissionDeniedError(f"You do not have permission to {CAPABILITIES[capability]}.")
