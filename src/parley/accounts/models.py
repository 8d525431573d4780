"""Organisations, teams, users, roles, permissions, login tokens and API keys."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import (
    AuditMixin,
    Base,
    CreatedMixin,
    IdMixin,
    IdType,
    JsonType,
    SoftDeleteMixin,
    UtcDateTime,
    utcnow,
)

TEAM_ROLES = ("Owner", "Admin", "Member")


class Organization(IdMixin, CreatedMixin, Base):
    __tablename__ = "organizations"

    org_name: Mapped[str] = mapped_column(String(200))
    # Organisation-wide preferences (payload redaction, embedding endpoint, outbound hosts...).
    settings: Mapped[dict] = mapped_column(JsonType, default=dict)


class User(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "users"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    first_name: Mapped[str] = mapped_column(String(150), default="")
    last_name: Mapped[str] = mapped_column(String(150), default="")
    password_hash: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # Organisation administrator: sees and manages everything inside its organisation.
    is_superuser: Mapped[bool] = mapped_column(Boolean, default=False)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class Team(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "teams"
    __table_args__ = (Index("ix_teams_org_name", "org_id", "team_name"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    team_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class TeamMember(IdMixin, CreatedMixin, Base):
    __tablename__ = "team_members"
    __table_args__ = (UniqueConstraint("team_id", "user_id"),)

    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(20), default="Member")


class RecentTeam(IdMixin, CreatedMixin, Base):
    __tablename__ = "recent_teams"
    __table_args__ = (UniqueConstraint("user_id", "team_id"),)

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id", ondelete="CASCADE"))
    last_used_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class UserPermission(IdMixin, AuditMixin, Base):
    """An organisation-level capability granted to (or withheld from) one user."""

    __tablename__ = "user_permissions"
    __table_args__ = (UniqueConstraint("user_id", "permission"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(64))
    is_allowed: Mapped[bool] = mapped_column(Boolean, default=True)


class AuthToken(IdMixin, Base):
    """Opaque login tokens; only their SHA-256 digest is stored."""

    __tablename__ = "auth_tokens"

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # "access" or "refresh"
    created_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    expires_on: Mapped[datetime] = mapped_column(UtcDateTime())
    revoked_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # The refresh token and the access tokens it issued share a family, revoked together.
    family: Mapped[str] = mapped_column(String(32), index=True)


class ApiKey(IdMixin, CreatedMixin, Base):
    """Scoped API keys. The secret is stored as a SHA-256 digest for lookup; a copy encrypted
    with the server secret is kept only because Kore-style JWTs are HMAC-signed with it.
    ``prefix`` is a display hint of the key's first few characters, far too few to use it."""

    __tablename__ = "api_keys"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    client_id: Mapped[str] = mapped_column(String(80), unique=True)
    prefix: Mapped[str] = mapped_column(String(16))
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    secret_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    scope: Mapped[str] = mapped_column(String(20), default="all")  # all | read_only | restricted
    # For restricted keys: {category: "none" | "read" | "write"}.
    permissions: Mapped[dict] = mapped_column(JsonType, default=dict)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    last_used_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    revoked_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class SignInThrottle(Base):
    """Recent failed password sign-ins of one subject, an account (``account:<email>``, known
    or not) or a client address (``address:<ip>``), and until when its sign-ins are refused."""

    __tablename__ = "sign_in_throttles"

    subject: Mapped[str] = mapped_column(String(400), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer)
    last_failure_on: Mapped[datetime] = mapped_column(UtcDateTime(), index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
