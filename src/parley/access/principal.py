"""The authenticated caller, as every service sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

API_KEY_CATEGORIES = (
    "agents",
    "agent_responses",
    "chat_threads",
    "corpora",
    "documents",
    "projects",
    "teams",
    "users",
    "notifications",
    "feature_flags",
    "tools",
    "llm_configs",
    "usage_logs",
    "email_indexing",
)
API_KEY_SCOPES = ("all", "read_only", "restricted")
CATEGORY_LEVELS = ("none", "read", "write")


@dataclass(frozen=True)
class KeyScope:
    """What an API key allows: everything, reads only, or per-category levels."""

    scope: str = "all"
    permissions: Mapping[str, str] = field(default_factory=dict)
    api_key_id: int | None = None

    def allows(self, category: str, write: bool) -> bool:
        if self.scope == "all":
            return True
        if self.scope == "read_only":
            return not write
        level = self.permissions.get(category, "none")
        return level == "write" or (level == "read" and not write)


@dataclass(frozen=True)
class Principal:
    user_id: int
    org_id: int
    email: str
    is_admin: bool
    # team id -> role ("Owner", "Admin", "Member")
    team_roles: Mapping[int, str] = field(default_factory=dict)
    key_scope: KeyScope | None = None

    @property
    def team_ids(self) -> frozenset[int]:
        return frozenset(self.team_roles)

    def manages_team(self, team_id: int) -> bool:
        return self.is_admin or self.team_roles.get(team_id) in ("Owner", "Admin")
