"""Agents and everything attached to one: type, instructions, users, tags, votes, reviews,
ratings, comments, conversation starters, recent and starred marks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text, UniqueConstraint
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

ACCESS_LEVELS = ("Only me", "Only team", "Public")


class AgentType(IdMixin, AuditMixin, Base):
    __tablename__ = "agent_types"

    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")


class Agent(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "agents"

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    project_id: Mapped[int] = mapped_column(IdType, ForeignKey("projects.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"), index=True)  # owner
    agent_type_id: Mapped[int] = mapped_column(IdType, ForeignKey("agent_types.id"))
    llm_config_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("llm_configs.id"), nullable=True)
    cloned_from_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("agents.id"), nullable=True)

    agent_name: Mapped[str] = mapped_column(String(200))
    industry_area: Mapped[str] = mapped_column(String(200), default="")
    domain: Mapped[str] = mapped_column(Text, default="")  # the description, as Ejento names it
    sample_q1: Mapped[str] = mapped_column(Text, default="")
    sample_q2: Mapped[str] = mapped_column(Text, default="")
    sample_q3: Mapped[str] = mapped_column(Text, default="")
    prefix_prompt: Mapped[str] = mapped_column(Text, default="")
    alias: Mapped[str | None] = mapped_column(String(320), nullable=True, unique=True)
    access: Mapped[str] = mapped_column(String(20), default="Only me")
    status: Mapped[str] = mapped_column(String(30), default="Live")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    caching_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    chunk_count: Mapped[int] = mapped_column(Integer, default=5)
    react_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    react_max_iteration_count: Mapped[int] = mapped_column(Integer, default=50)
    agent_image: Mapped[str | None] = mapped_column(Text, nullable=True)
    summary: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[str] = mapped_column(Text, default="")
    character_voice_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    # Retrieval and generation settings shared by every surface (system prompt, multi-turn,
    # default filters, top-k, rerank, groundedness thresholds...).
    settings: Mapped[dict] = mapped_column(JsonType, default=dict)


class AgentInstruction(IdMixin, CreatedMixin, SoftDeleteMixin, Base):
    __tablename__ = "agent_instructions"

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    instruction: Mapped[str] = mapped_column(Text)


class AgentUser(IdMixin, AuditMixin, Base):
    """A user the agent is shared with, and what they may do with it."""

    __tablename__ = "agent_users"
    __table_args__ = (UniqueConstraint("agent_id", "user_id"),)

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    permission: Mapped[str] = mapped_column(String(10), default="view")  # view | edit


class AgentTag(IdMixin, CreatedMixin, Base):
    __tablename__ = "agent_tags"
    __table_args__ = (UniqueConstraint("agent_id", "tag"),)

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    tag: Mapped[str] = mapped_column(String(100), index=True)


class RecentAgent(IdMixin, CreatedMixin, Base):
    __tablename__ = "recent_agents"
    __table_args__ = (UniqueConstraint("user_id", "agent_id"),)

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"))
    last_used_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class StarredAgent(IdMixin, CreatedMixin, Base):
    __tablename__ = "starred_agents"
    __table_args__ = (UniqueConstraint("user_id", "agent_id"),)

    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"))


class AgentVote(IdMixin, AuditMixin, Base):
    __tablename__ = "agent_votes"
    __table_args__ = (UniqueConstraint("agent_id", "user_id"),)

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    vote: Mapped[str] = mapped_column(String(5))  # up | down


class AgentReview(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "agent_reviews"

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    review: Mapped[str] = mapped_column(Text)
    rating: Mapped[int | None] = mapped_column(Integer, nullable=True)


class AgentRating(IdMixin, AuditMixin, Base):
    __tablename__ = "agent_ratings"
    __table_args__ = (UniqueConstraint("agent_id", "user_id"),)

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    rating: Mapped[int] = mapped_column(Integer)


class AgentComment(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "agent_comments"

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id", ondelete="CASCADE"))
    comment: Mapped[str] = mapped_column(Text)


class ConversationStarter(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "conversation_starters"

    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    starter: Mapped[str] = mapped_column(Text)
    position: Mapped[int] = mapped_column(Integer, default=0)
