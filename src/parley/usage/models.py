"""One row per model call (generation, query rewrite, follow-ups, remote embedding, tool call)."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import Boolean, ForeignKey, Index, Integer, Numeric, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import Base, IdMixin, IdType, JsonType, UtcDateTime


class LLMUsageRecord(IdMixin, Base):
    __tablename__ = "llm_usage_records"
    __table_args__ = (
        Index("ix_usage_org_agent_start", "org_id", "agent_id", "start_time"),
        Index("ix_usage_org_start", "org_id", "start_time"),
        Index("ix_usage_org_user_start", "org_id", "user_id", "start_time"),
        Index("ix_usage_org_time_taken", "org_id", "agent_id", "time_taken_ms"),
        # Covers the Kore.ai page "a user's calls in a date range by time taken" (migration 0004).
        Index(
            "ix_usage_org_user_start_cover",
            "org_id",
            "user_id",
            "start_time",
            "agent_id",
            "is_developer",
            "time_taken_ms",
        ),
    )

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"))
    agent_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("agents.id"), nullable=True)
    user_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("users.id"), nullable=True)
    agent_response_id: Mapped[int | None] = mapped_column(IdType, nullable=True, index=True)
    llm_config_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("llm_configs.id"), nullable=True)
    prompt_name: Mapped[str] = mapped_column(String(100), default="")
    integration: Mapped[str] = mapped_column(String(100), default="")
    feature_name: Mapped[str] = mapped_column(String(100), default="")
    model_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(50), default="")
    channel_user_id: Mapped[str] = mapped_column(String(200), default="")
    session_id: Mapped[str] = mapped_column(String(100), default="")
    task_id: Mapped[str] = mapped_column(String(100), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    start_time: Mapped[datetime] = mapped_column(UtcDateTime())
    end_time: Mapped[datetime] = mapped_column(UtcDateTime())
    time_taken_ms: Mapped[int] = mapped_column(Integer, default=0)
    status_code: Mapped[int] = mapped_column(Integer, default=200)
    status: Mapped[str] = mapped_column(String(20), default="success")  # success | failure
    error: Mapped[str] = mapped_column(Text, default="")
    request_payload: Mapped[dict] = mapped_column(JsonType, default=dict)
    response_payload: Mapped[dict] = mapped_column(JsonType, default=dict)
    request_tokens: Mapped[int] = mapped_column(Integer, default=0)
    response_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[Decimal] = mapped_column(Numeric(18, 8), default=Decimal(0))
    is_developer: Mapped[bool] = mapped_column(Boolean, default=False)
