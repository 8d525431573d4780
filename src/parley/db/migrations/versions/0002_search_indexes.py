"""Search structures that differ per backend.

SQLite: an FTS5 index over chunk context and text, kept in step by triggers.
PostgreSQL: BM25 postings (term, chunk, term frequency) filled by triggers from the English
text-search parser, a GIN index on chunk metadata for filters, and a partial HNSW index for
384-dimensional embeddings.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SQLITE_UP = [
    """CREATE VIRTUAL TABLE chunks_fts USING fts5(
        context, text, content='chunks', content_rowid='id', tokenize='porter unicode61')""",
    """CREATE TRIGGER chunks_fts_insert AFTER INSERT ON chunks BEGIN
        INSERT INTO chunks_fts(rowid, context, text) VALUES (new.id, new.context, new.text);
    END""",
    """CREATE TRIGGER chunks_fts_delete AFTER DELETE ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, context, text)
        VALUES ('delete', old.id, old.context, old.text);
    END""",
    """CREATE TRIGGER chunks_fts_update AFTER UPDATE OF context, text ON chunks BEGIN
        INSERT INTO chunks_fts(chunks_fts, rowid, context, text)
        VALUES ('delete', old.id, old.context, old.text);
        INSERT INTO chunks_fts(rowid, context, text) VALUES (new.id, new.context, new.text);
    END""",
]
SQLITE_DOWN = [
    "DROP TRIGGER IF EXISTS chunks_fts_update",
    "DROP TRIGGER IF EXISTS chunks_fts_delete",
    "DROP TRIGGER IF EXISTS chunks_fts_insert",
    "DROP TABLE IF EXISTS chunks_fts",
]

POSTGRES_UP = [
    """CREATE TABLE chunk_terms (
        chunk_id BIGINT NOT NULL REFERENCES chunks(id) ON DELETE CASCADE,
        term TEXT NOT NULL,
        tf INTEGER NOT NULL)""",
    "CREATE INDEX ix_chunk_terms_term ON chunk_terms (term) INCLUDE (chunk_id, tf)",
    "CREATE INDEX ix_chunk_terms_chunk ON chunk_terms (chunk_id)",
    """CREATE FUNCTION parley_chunk_length() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.lexical_length := (
            SELECT COALESCE(SUM(COALESCE(array_length(positions, 1), 1)), 0)
            FROM unnest(to_tsvector('english', NEW.context || ' ' || NEW.text)));
        RETURN NEW;
    END $$""",
    """CREATE FUNCTION parley_chunk_postings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' THEN
            DELETE FROM chunk_terms WHERE chunk_id = OLD.id;
        END IF;
        INSERT INTO chunk_terms (chunk_id, term, tf)
        SELECT NEW.id, lexeme, COALESCE(array_length(positions, 1), 1)
        FROM unnest(to_tsvector('english', NEW.context || ' ' || NEW.text));
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER chunks_length BEFORE INSERT OR UPDATE OF context, text ON chunks
        FOR EACH ROW EXECUTE FUNCTION parley_chunk_length()""",
    """CREATE TRIGGER chunks_postings AFTER INSERT OR UPDATE OF context, text ON chunks
        FOR EACH ROW EXECUTE FUNCTION parley_chunk_postings()""",
    "CREATE INDEX ix_chunks_metadata_gin ON chunks USING gin (metadata jsonb_path_ops)",
    """CREATE INDEX ix_chunks_embedding_384 ON chunks
        USING hnsw ((embedding::vector(384)) vector_cosine_ops) WHERE embedding_dim = 384""",
]
POSTGRES_DOWN = [
    "DROP INDEX IF EXISTS ix_chunks_embedding_384",
    "DROP INDEX IF EXISTS ix_chunks_metadata_gin",
    "DROP TRIGGER IF EXISTS chunks_postings ON chunks",
    "DROP TRIGGER IF EXISTS chunks_length ON chunks",
    "DROP FUNCTION IF EXISTS parley_chunk_postings()",
    "DROP FUNCTION IF EXISTS parley_chunk_length()",
    "DROP TABLE IF EXISTS chunk_terms",
]


def _run(statements: list[str]) -> None:
    for statement in statements:
        op.execute(statement)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_UP)
    else:
        _run(POSTGRES_UP)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _run(SQLITE_DOWN)
    else:
        _run(POSTGRES_DOWN)
