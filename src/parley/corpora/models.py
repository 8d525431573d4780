"""Corpora, their documents and chunks, permissions, and agent↔corpus links."""

from __future__ import annotations

from datetime import datetime

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from parley.db.base import (
    AuditMixin,
    Base,
    IdMixin,
    IdType,
    JsonType,
    SoftDeleteMixin,
    UtcDateTime,
)

# float32 vectors: pgvector on PostgreSQL, raw little-endian bytes on SQLite. The PostgreSQL
# column has no fixed dimension so organisations may use other embedders; HNSW indexes are
# partial, one per dimension.
EmbeddingType = LargeBinary().with_variant(Vector(), "postgresql")

INDEXING_MODES = {1: "exhaustive", 2: "standard", 3: "basic"}
DOCUMENT_STATUSES = (
    "queued",
    "parsing",
    "chunking",
    "embedding",
    "indexing",
    "completed",
    "failed",
    "cancelled",
)


class Corpus(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "corpora"
    __table_args__ = (Index("ix_corpora_org_owner", "org_id", "owner_id"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    owner_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    corpus_type: Mapped[str] = mapped_column(String(20), default="document")  # document | attachment
    indexing_mode_id: Mapped[int] = mapped_column(Integer, default=1)
    is_public: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[list] = mapped_column(JsonType, default=list)
    settings: Mapped[dict] = mapped_column(JsonType, default=dict)
    # Bumped in the same transaction as any change to the corpus's chunks, so in-process
    # vector caches know when to reload.
    index_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class CorpusPermission(IdMixin, AuditMixin, Base):
    """Access to a corpus for one user or a whole team."""

    __tablename__ = "corpus_permissions"

    corpus_id: Mapped[int] = mapped_column(IdType, ForeignKey("corpora.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True
    )
    team_id: Mapped[int | None] = mapped_column(
        IdType, ForeignKey("teams.id", ondelete="CASCADE"), nullable=True, index=True
    )
    permission: Mapped[str] = mapped_column(String(10), default="read")  # read | write


class Document(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "documents"
    __table_args__ = (Index("ix_documents_corpus_hash", "corpus_id", "content_hash"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    corpus_id: Mapped[int] = mapped_column(IdType, ForeignKey("corpora.id"), index=True)
    user_id: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
    name: Mapped[str] = mapped_column(String(500))
    content_type: Mapped[str] = mapped_column(String(20))  # file | text | weblink
    source: Mapped[str] = mapped_column(Text, default="")  # file name, URL, or "text"
    upload_from: Mapped[str] = mapped_column(String(50), default="web")
    mime_type: Mapped[str] = mapped_column(String(200), default="")
    size_bytes: Mapped[int] = mapped_column(Integer, default=0)
    content_hash: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(20), default="queued", index=True)
    status_reason: Mapped[str] = mapped_column(Text, default="")
    page_count: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chunk_count: Mapped[int] = mapped_column(Integer, default=0)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    tags: Mapped[list] = mapped_column(JsonType, default=list)
    doc_metadata: Mapped[dict] = mapped_column("metadata", JsonType, default=dict)
    indexed_on: Mapped[datetime | None] = mapped_column(UtcDateTime(), nullable=True)


class DocumentFile(Base):
    """The uploaded bytes, kept in the database so any worker process can read them."""

    __tablename__ = "document_files"

    document_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    data: Mapped[bytes] = mapped_column(LargeBinary)


class DocumentText(Base):
    """The text extracted from a document; chunk offsets point into it."""

    __tablename__ = "document_texts"

    document_id: Mapped[int] = mapped_column(
        IdType, ForeignKey("documents.id", ondelete="CASCADE"), primary_key=True
    )
    text: Mapped[str] = mapped_column(Text)


class Chunk(IdMixin, Base):
    __tablename__ = "chunks"
    __table_args__ = (Index("ix_chunks_document_ordinal", "document_id", "ordinal", unique=True),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    corpus_id: Mapped[int] = mapped_column(IdType, ForeignKey("corpora.id"), index=True)
    document_id: Mapped[int] = mapped_column(IdType, ForeignKey("documents.id", ondelete="CASCADE"))
    ordinal: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    page: Mapped[int | None] = mapped_column(Integer, nullable=True)
    section: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Document title and section path, prepended when embedding and indexed for search.
    context: Mapped[str] = mapped_column(Text, default="")
    char_start: Mapped[int] = mapped_column(Integer)
    char_end: Mapped[int] = mapped_column(Integer)
    token_count: Mapped[int] = mapped_column(Integer, default=0)
    # Number of indexed terms (PostgreSQL BM25 length normalisation), set by a trigger.
    lexical_length: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    embedding: Mapped[bytes | None] = mapped_column(EmbeddingType, nullable=True)
    embedding_model: Mapped[str] = mapped_column(String(200), default="")
    embedding_dim: Mapped[int] = mapped_column(Integer, default=0)
    # Document metadata and tags copied onto the chunk so filters compile into the search query.
    chunk_metadata: Mapped[dict] = mapped_column("metadata", JsonType, default=dict)


class AgentCorpus(IdMixin, AuditMixin, SoftDeleteMixin, Base):
    __tablename__ = "agent_corpora"
    __table_args__ = (Index("ix_agent_corpora_agent_corpus", "agent_id", "corpus_id"),)

    org_id: Mapped[int] = mapped_column(IdType, ForeignKey("organizations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(IdType, ForeignKey("agents.id", ondelete="CASCADE"), index=True)
    corpus_id: Mapped[int] = mapped_column(IdType, ForeignKey("corpora.id", ondelete="CASCADE"), index=True)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    connected_by: Mapped[int] = mapped_column(IdType, ForeignKey("users.id"))
