"""The migrations build exactly the schema the models describe, on both backends."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from parley.db.engine import create_db_engine
from parley.db.models import Base

# Search structures that live outside the models on purpose (migration 0002): FTS5 and its
# shadow tables on SQLite; the BM25 postings, the metadata GIN and the HNSW index on PostgreSQL.
SEARCH_TABLES = {
    "chunks_fts", "chunks_fts_data", "chunks_fts_idx", "chunks_fts_content", "chunks_fts_docsize",
    "chunks_fts_config", "chunk_terms", "alembic_version",
}  # fmt: skip
SEARCH_INDEXES = {"ix_chunks_embedding_384", "ix_chunks_metadata_gin"}


def _differences(settings) -> list:  # type: ignore[no-untyped-def]
    engine = create_db_engine(settings)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        found = compare_metadata(context, Base.metadata)
    engine.dispose()
    return [d for d in found if not (isinstance(d, tuple) and _about_search_table(d))]


def _about_search_table(difference: tuple) -> bool:
    subject = difference[1]
    if getattr(subject, "name", None) in SEARCH_INDEXES:
        return True
    table = getattr(subject, "table", subject)
    return getattr(table, "name", None) in SEARCH_TABLES


def test_migrations_match_the_models(settings):
    assert _differences(settings) == []
