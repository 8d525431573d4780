"""Agent responses (chat logs) and what users attach to them: comments, feedback, pins."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    PrimaryKeyConstraint,
    String,
    Text,
)
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
    # How the response ended: completed, or cancelled (the client left mid-stream).
    status: Mapped[str] = mapped_column(String(16), default="completed", server_default="completed")


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


# -- daily rollups of live responses (migration 0005) -------------------------------------------
# Kept in step with agent_responses and response_feedback by database triggers, so every write
# path (the answer path, the response log, votes, deletes, bulk loads) updates them in its own
# transaction. The dashboard reads whole UTC days from the smallest rollup that has the
# dimensions a statement needs (parley/responses/dashboard.py). A cell's row goes when its last
# live response does. project_id is 0 for responses without a project: a key column cannot be
# NULL (unique keys treat NULLs as distinct, so upserts would never meet). On SQLite the tables
# are WITHOUT ROWID, stored in key order, so a range of days is read as one contiguous run.

ROLLUP_MEASURES = (
    "responses",
    "total_tokens",
    "prompt_tokens",
    "completion_tokens",
    "cost_units",  # cost in units of 10^-8, the cost column's scale, summed exactly
    "latency_sum",  # latency_ms of the responses that measured one (> 0)
    "latency_count",
    "cache_hits",
    "upvotes",
    "downvotes",
)


class _Rollup:
    org_id: Mapped[int] = mapped_column(IdType)
    responses: Mapped[int] = mapped_column(BigInteger, default=0)
    total_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    prompt_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    completion_tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost_units: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_sum: Mapped[int] = mapped_column(BigInteger, default=0)
    latency_count: Mapped[int] = mapped_column(BigInteger, default=0)
    cache_hits: Mapped[int] = mapped_column(BigInteger, default=0)
    upvotes: Mapped[int] = mapped_column(BigInteger, default=0)
    downvotes: Mapped[int] = mapped_column(BigInteger, default=0)


class _DailyRollup(_Rollup):
    day: Mapped[date] = mapped_column(Date)  # the UTC day of created_on


class ResponseDailyOrgRollup(_DailyRollup, Base):
    """Per organisation and day: totals and the daily series without filters."""

    __tablename__ = "response_daily_org_rollup"
    __table_args__ = (PrimaryKeyConstraint("org_id", "day"), {"sqlite_with_rowid": False})


class ResponseDailyUserRollup(_DailyRollup, Base):
    """Per organisation, day and user: distinct users without other filters, and by user."""

    __tablename__ = "response_daily_user_rollup"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "day", "user_id"),
        Index("ix_response_daily_user_rollup_user_day", "user_id", "day"),
        {"sqlite_with_rowid": False},
    )

    user_id: Mapped[int] = mapped_column(IdType)


class ResponseDailyAgentRollup(_DailyRollup, Base):
    """Per organisation, day, agent, project and query source: the sums of those breakdowns."""

    __tablename__ = "response_daily_agent_rollup"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "day", "agent_id", "project_id", "query_source"),
        Index("ix_response_daily_agent_rollup_agent_day", "agent_id", "day"),
        {"sqlite_with_rowid": False},
    )

    agent_id: Mapped[int] = mapped_column(IdType)
    project_id: Mapped[int] = mapped_column(IdType)
    query_source: Mapped[str] = mapped_column(String(50))


class ResponseDailyRollup(_DailyRollup, Base):
    """Per organisation, day, agent, project, query source and user: every dimension, so any
    filter and distinct users in any breakdown."""

    __tablename__ = "response_daily_rollup"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "day", "agent_id", "project_id", "query_source", "user_id"),
        Index("ix_response_daily_rollup_agent_user", "agent_id", "user_id", "day"),
        Index("ix_response_daily_rollup_user_day", "user_id", "day"),
        {"sqlite_with_rowid": False},
    )

    agent_id: Mapped[int] = mapped_column(IdType)
    project_id: Mapped[int] = mapped_column(IdType)
    query_source: Mapped[str] = mapped_column(String(50))
    user_id: Mapped[int] = mapped_column(IdType)


# -- monthly rollups (migration 0006) ------------------------------------------------------------
# The per-user and per-agent daily rollups summed per calendar month, kept by triggers as they are:
# the whole months of a long range are read from here, a twelfth of the days' rows or fewer.


class _MonthlyRollup(_Rollup):
    month: Mapped[date] = mapped_column(Date)  # the first day of the UTC month


class ResponseMonthlyUserRollup(_MonthlyRollup, Base):
    __tablename__ = "response_monthly_user_rollup"
    __table_args__ = (PrimaryKeyConstraint("org_id", "month", "user_id"), {"sqlite_with_rowid": False})

    user_id: Mapped[int] = mapped_column(IdType)


class ResponseMonthlyAgentRollup(_MonthlyRollup, Base):
    __tablename__ = "response_monthly_agent_rollup"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "month", "agent_id", "project_id", "query_source"),
        {"sqlite_with_rowid": False},
    )

    agent_id: Mapped[int] = mapped_column(IdType)
    project_id: Mapped[int] = mapped_column(IdType)
    query_source: Mapped[str] = mapped_column(String(50))


# -- user chains: distinct users over long ranges (migration 0006) --------------------------------
# One row per (organisation, dimension value, user, UTC day) with live responses, like the finest
# rollup without the other dimensions, plus ``next_day``: the next day the same (value, user) pair
# has responses (CHAIN_END when none). The pairs seen in whole days [first, last) are then the
# rows with first <= day < last and next_day >= last: each pair's last row in the range, read
# through the (org_id, next_day) index, so a year-long range reads about one row per pair instead
# of one per pair and day. Kept by the same kind of triggers as the rollups (on PostgreSQL under
# an advisory lock per user, so concurrent writers of one pair link it one after the other).

CHAIN_END = date(9999, 12, 31)


class _UserChain:
    org_id: Mapped[int] = mapped_column(IdType)
    user_id: Mapped[int] = mapped_column(IdType)
    day: Mapped[date] = mapped_column(Date)
    responses: Mapped[int] = mapped_column(BigInteger, default=0)
    next_day: Mapped[date] = mapped_column(Date)


class ResponseUserChainOrg(_UserChain, Base):
    """Per organisation and user: distinct users in all."""

    __tablename__ = "response_user_chain_org"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "user_id", "day"),
        Index("ix_response_user_chain_org_next", "org_id", "next_day", "day", "user_id"),
        {"sqlite_with_rowid": False},
    )


class ResponseUserChainAgent(_UserChain, Base):
    """Per organisation, agent and user: distinct users by agent."""

    __tablename__ = "response_user_chain_agent"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "agent_id", "user_id", "day"),
        Index("ix_response_user_chain_agent_next", "org_id", "next_day", "day", "agent_id", "user_id"),
        {"sqlite_with_rowid": False},
    )

    agent_id: Mapped[int] = mapped_column(IdType)


class ResponseUserChainProject(_UserChain, Base):
    """Per organisation, project (0: none) and user: distinct users by project."""

    __tablename__ = "response_user_chain_project"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "project_id", "user_id", "day"),
        Index("ix_response_user_chain_project_next", "org_id", "next_day", "day", "project_id", "user_id"),
        {"sqlite_with_rowid": False},
    )

    project_id: Mapped[int] = mapped_column(IdType)


class ResponseUserChainSource(_UserChain, Base):
    """Per organisation, query source and user: distinct users by query source."""

    __tablename__ = "response_user_chain_source"
    __table_args__ = (
        PrimaryKeyConstraint("org_id", "query_source", "user_id", "day"),
        Index("ix_response_user_chain_source_next", "org_id", "next_day", "day", "query_source", "user_id"),
        {"sqlite_with_rowid": False},
    )

    query_source: Mapped[str] = mapped_column(String(50))
