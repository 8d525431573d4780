"""Feature flags: global defaults with per-organisation overrides."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import AuditMixin, Base, IdMixin, IdType


class FeatureFlag(IdMixin, AuditMixin, Base):
    __tablename__ = "feature_flags"
    __table_args__ = (UniqueConstraint("org_id", "name"),)

    org_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("organizations.id"), nullable=True)
    name: Mapped[str] = mapped_column(String(100))
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
