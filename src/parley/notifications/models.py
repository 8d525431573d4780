"""Notifications raised by events (a document indexed, a comment, an agent shared)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import Base, CreatedMixin, IdMixin, IdType, JsonType, SoftDeleteMixin, UtcDateTime


class Notification(IdMixin, CreatedMixin, SoftDeleteMixin, Base):
    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user_read", "user_id", "is_read"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(50), default="general")
    title: Mapped[str] = mapped_column(String(300), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    # What the notification is about, e.g. {"type": "document", "id": 12}.
    target: Mapped[dict] = mapped_column(JsonType, default=dict)
    is_read: Mapped[bool] = mapped_column(Boolean, default=False)
    read_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
