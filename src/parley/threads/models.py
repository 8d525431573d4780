"""Chat threads: one conversation of a user with an agent (a SuperOffice ChatId, a
Contextual conversation)."""

from __future__ import annotations

from sqlalchemy import Boolean, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import AuditMixin, Base, IdMixin, IdType, SoftDeleteMixin


class ChatThread(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "chat_threads"
    __table_args__ = (
        Index("ix_chat_threads_agent_user", "agent_id", "user_id"),
        Index("ix_chat_threads_org_chat_id", "org_id", "chat_id"),
    )

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id"))
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)
    corpus_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("corpora.id"), nullable=True)
    title: Mapped[str] = mapped_column(String(500), default="New Chat")
    chat_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    query_source: Mapped[str] = mapped_column(String(50), default="web")
    is_system_created: Mapped[bool] = mapped_column(Boolean, default=False)


class ChatThreadCorpus(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "chat_thread_corpora"
    __table_args__ = (Index("ix_chat_thread_corpora_pair", "chat_thread_id", "corpus_id"),)

    chat_thread_id: Mapped[int] = mapped_column(IdType, ForeignKey("chat_threads.id", ondelete="CASCADE"))
    corpus_id: Mapped[int] = mapped_column(IdType, ForeignKey("corpora.id", ondelete="CASCADE"))
    connected_by: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
