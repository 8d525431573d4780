"""Projects group agents inside a team."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import (
    AuditMixin,
    Base,
    CreatedMixin,
    IdMixin,
    IdType,
    SoftDeleteMixin,
    UtcDateTime,
    utcnow,
)


class Project(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "projects"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    team_id: Mapped[int] = mapped_column(IdType, ForeignKey("teams.id"), index=True)
    project_name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")


class ProjectMember(IdMixin, CreatedMixin, Base):
    __tablename__ = "project_members"
    __table_args__ = (UniqueConstraint("project_id", "user_id"),)

    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("projects.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)


class RecentProject(IdMixin, CreatedMixin, Base):
    __tablename__ = "recent_projects"
    __table_args__ = (UniqueConstraint("user_id", "project_id"),)

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("projects.id", ondelete="CASCADE"))
    last_used_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
