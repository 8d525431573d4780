"""Agent responses (chat logs) and what users attach to them: comments, feedback, pins."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import Base, CreatedMixin, IdMixin, IdType, JsonType, SoftDeleteMixin, UtcDateTime


class AgentResponse(IdMixin, CreatedMixin, SoftDeleteMixin, Base):
    __tablename__ = "agent_responses"
    __table_args__ = (
        Index("ix_agent_responses_org_created", "org_id", "created_on"),
        Index("ix_agent_responses_agent_created", "agent_id", "created_on"),
        Index("ix_agent_responses_thread", "chat_thread_id"),
        Index("ix_agent_responses_user_created", "user_id", "created_on"),
    )

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"))
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id"))
    project_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("projects.id"), nullable=True, index=True
    )
    chat_thread_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("chat_threads.id"), nullable=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    llm_config_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("llm_configs.id"), nullable=True)
    question: Mapped[str] = mapped_column(Text)
    response: Mapped[dict] = mapped_column(JsonType, default=dict)
    run_id: Mapped[str] = mapped_column(String(36), default="")
    total_tokens: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cache_hit: Mapped[bool] = mapped_column(Boolean, default=False)
    query_source: Mapped[str] = mapped_column(String(50), default="web")
    message_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    cost: Mapped[Decimal] = mapped_column(Numeric(18, 8), default=Decimal(0))
    latency_ms: Mapped[int] = mapped_column(Integer, default=0)
    pinned: Mapped[bool] = mapped_column(Boolean, default=False)
    pinned_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    # Mean groundedness of the answer's sentences, 0..1 (None when not scored).
    groundedness: Mapped[float | None] = mapped_column(nullable=True)


class ResponseComment(IdMixin, CreatedMixin, SoftDeleteMixin, Base):
    __tablename__ = "response_comments"

    agent_response_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("agent_responses.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    comment: Mapped[str] = mapped_column(Text)


class ResponseFeedback(IdMixin, CreatedMixin, Base):
    __tablename__ = "response_feedback"

    agent_response_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("agent_responses.id", ondelete="CASCADE"), index=True
    )
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    is_upvote: Mapped[bool] = mapped_column(Boolean, default=False)
    is_downvote: Mapped[bool] = mapped_column(Boolean, default=False)
    comment: Mapped[str] = mapped_column(Text, default="")
