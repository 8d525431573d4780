"""Feature flags: the installation's global defaults (reference_data.FEATURE_FLAGS, rows with
no organisation) and each organisation's overrides (rows with its org_id and the same name).

An organisation's effective value is its override when it has one, else the global default.
Only organisation admins set or reset overrides; defaults change only with the reference data.

The flags that name something Parley does gate it (GATED, checked by the services that do it
with :func:`require_enabled`); the others are informational: stored and listed for clients
(docs/api/ejento.md, "Feature flags that gate features").
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.access.principal import Principal
from parley.errors import NotFoundError, PermissionDeniedError
from parley.flags.models import FeatureFlag

# The sign-in options a login page offers ("Get OAuth Feature Flags").
OAUTH_SUFFIX = "_oauth"
# Flag -> what it turns off, as the refusal names it.
GATED = {
    "agent_alias": "Agent email aliases are",
    "share_agent": "Sharing agents with users is",
    "chat_agent_creation": "Creating agents with the agent builder is",
}


@dataclass(frozen=True)
class FlagState:
    flag: FeatureFlag  # the global default
    override: FeatureFlag | None  # the organisation's, if any

    @property
    def is_enabled(self) -> bool:
        return self.override.is_enabled if self.override is not None else self.flag.is_enabled


def flag_key(name: str) -> str:
    """Names match case-insensitively, ignoring hyphens, underscores and spaces, so the paths
    may say ``dall-e``, ``share-agent`` or ``ms_sso_oauth``."""
    return re.sub(r"[-_\s]", "", name.lower())


def _global_flags(session: Session) -> Sequence[FeatureFlag]:
    return session.scalars(
        select(FeatureFlag).where(FeatureFlag.org_id.is_(None)).order_by(FeatureFlag.name)
    ).all()


def _overrides(session: Session, org_id: int, names: Sequence[str]) -> dict[str, FeatureFlag]:
    rows = session.scalars(
        select(FeatureFlag).where(FeatureFlag.org_id == org_id, FeatureFlag.name.in_(names))
    )
    return {row.name: row for row in rows}


def _states(session: Session, org_id: int, flags: Sequence[FeatureFlag]) -> list[FlagState]:
    overrides = _overrides(session, org_id, [f.name for f in flags])
    return [FlagState(f, overrides.get(f.name)) for f in flags]


def all_flags(session: Session, principal: Principal) -> list[FlagState]:
    """Every flag with the caller's organisation's effective value, by name."""
    return _states(session, principal.org_id, _global_flags(session))


def oauth_flags(session: Session, principal: Principal) -> list[FlagState]:
    return [s for s in all_flags(session, principal) if s.flag.name.endswith(OAUTH_SUFFIX)]


def login_defaults(session: Session) -> dict[str, bool]:
    """The sign-in flags before anyone is signed in: the organisation is not known yet, so the
    installation's defaults."""
    return {f.name: f.is_enabled for f in _global_flags(session) if f.name.endswith(OAUTH_SUFFIX)}


def _global_flag(session: Session, name: str) -> FeatureFlag:
    key = flag_key(name)
    for flag in _global_flags(session):
        if flag_key(flag.name) == key:
            return flag
    raise NotFoundError("Feature flag")


def get_flag(session: Session, principal: Principal, name: str) -> FlagState:
    return _states(session, principal.org_id, [_global_flag(session, name)])[0]


def is_enabled(session: Session, org_id: int, name: str) -> bool:
    """The effective value for an organisation, for code that checks a flag."""
    return _states(session, org_id, [_global_flag(session, name)])[0].is_enabled


def require_enabled(session: Session, org_id: int, name: str) -> None:
    """Refuse (403) what a gated flag covers when the organisation has it off."""
    if not is_enabled(session, org_id, name):
        raise PermissionDeniedError(
            f"{GATED[name]} turned off for this organization (feature flag '{name}')."
        )


def _require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise PermissionDeniedError("Only organization administrators can change feature flags.")


def set_override(session: Session, principal: Principal, name: str, is_enabled: bool) -> FlagState:
    """Pin the organisation's value (even to the default: it then stays when the default moves)."""
    _require_admin(principal)
    state = get_flag(session, principal, name)
    override = state.override
    if override is None:
        override = FeatureFlag(
            org_id=principal.org_id,
            name=state.flag.name,
            is_enabled=is_enabled,
            description=state.flag.description,
            created_by=principal.email,
        )
        session.add(override)
    elif override.is_enabled != is_enabled:
        override.is_enabled = is_enabled
        override.modified_by = principal.email
    session.flush()
    return FlagState(state.flag, override)


def reset_override(session: Session, principal: Principal, name: str) -> FlagState:
    """Back to the global default: the override row goes (there is nothing to keep of it)."""
    _require_admin(principal)
    state = get_flag(session, principal, name)
    if state.override is not None:
        session.delete(state.override)
        session.flush()
    return FlagState(state.flag, None)
