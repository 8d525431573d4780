"""Links between outside systems and Parley: which agent a surface caller talks to, and
mailbox authorisations for email indexing."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import AuditMixin, Base, IdMixin, IdType, JsonType, SoftDeleteMixin


class SurfaceBinding(IdMixin, AuditMixin, Base):
    """Which agent answers a caller on a surface that has no agent id in its path
    (SuperOffice), keyed by user or API key; a null key is the organisation default."""

    __tablename__ = "surface_bindings"
    __table_args__ = (UniqueConstraint("org_id", "surface", "user_id", "api_key_id"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    surface: Mapped[str] = mapped_column(String(30))
    user_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), nullable=True
    )
    api_key_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("api_keys.id", ondelete="CASCADE"), nullable=True
    )
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"))


class EmailAuthorization(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "email_authorizations"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    corpus_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("corpora.id"), nullable=True)
    provider: Mapped[str] = mapped_column(String(30))  # imap | microsoft | google
    mailbox: Mapped[str] = mapped_column(String(320))
    settings: Mapped[dict] = mapped_column(JsonType, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="authorized")
    status_reason: Mapped[str] = mapped_column(Text, default="")
