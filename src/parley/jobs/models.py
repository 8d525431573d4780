"""Durable background jobs (ingestion, reindexing) with stages, progress, leases and attempts."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import Base, IdMixin, IdType, JsonType, UtcDateTime, utcnow

JOB_STATUSES = ("queued", "running", "completed", "failed", "cancelled")


class Job(IdMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_available", "status", "available_on"),
        Index("ix_jobs_document", "document_id"),
    )

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    kind: Mapped[str] = mapped_column(String(50))  # ingest_document | reindex_document | ...
    document_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("documents.id"), nullable=True)
    corpus_id: Mapped[int | None] = mapped_column(IdType, ForeignKey("corpora.id"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    stage: Mapped[str] = mapped_column(String(20), default="queued")
    progress: Mapped[float] = mapped_column(default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    error: Mapped[str] = mapped_column(Text, default="")
    payload: Mapped[dict] = mapped_column(JsonType, default=dict)
    # {stage: seconds} for finished stages.
    stage_timings: Mapped[dict] = mapped_column(JsonType, default=dict)
    locked_by: Mapped[str] = mapped_column(String(100), default="")
    lease_expires_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    available_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    created_on: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
    finished_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)
