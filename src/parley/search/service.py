"""Hybrid retrieval: BM25 and vector rankings fused, then the winning chunks loaded.

The caller's permissions and the metadata filter are applied before either ranking is cut
to its candidates, in the search's own read transaction:

* the requested corpora are narrowed to those the principal may read (the policy's SQL);
* PostgreSQL: both ranking queries carry the corpus scope and the compiled filter;
* SQLite: the compiled filter selects the admitted documents in one query over ``documents``
  (the metadata chunks are filtered on is their document's), and both rankings keep only
  the chunks of those documents, as array masks over every match, before taking the top.
  The admitted documents are remembered per filter and corpus version (``filter_cache``).
  Both rankings are computed in memory from per-corpus caches (``VectorCache``): exact cosine
  over the vectors, exact BM25 over postings read from FTS5.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, select, text
from sqlalchemy.orm import Session

from parley.access.policy import corpus_visible
from parley.access.principal import Principal
from parley.corpora.models import Chunk, Corpus, Document
from parley.db.engine import execute_request_shaped
from parley.search.arrays import locate
from parley.search.bm25_index import inverse_document_frequencies
from parley.search.filter_cache import filter_key
from parley.search.filters import BaseFilter, CompositeFilter, FilterCompiler, filter_fields
from parley.search.fusion import LEXICAL_WEIGHT, convex_fusion
from parley.search.lexical import POSTINGS_BUDGET, fts5_matches, postgres_bm25, query_terms, word_tokens
from parley.search.snapshots import CorpusChunks
from parley.search.vector import VectorCache, numpy_search, pgvector_search, top_k

Filter = BaseFilter | CompositeFilter


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 8
    # Each ranking contributes this many candidates to the fusion.
    candidates: int = 200
    lexical_weight: float = LEXICAL_WEIGHT
    postings_budget: int = POSTINGS_BUDGET


@dataclass
class SearchHit:
    chunk_id: int
    document_id: int
    corpus_id: int
    score: float
    lexical_score: float | None
    vector_score: float | None
    text: str
    context: str
    page: int | None
    section: str | None
    char_start: int
    char_end: int
    document_name: str
    document_source: str
    metadata: dict = field(default_factory=dict)


def hybrid_search(
    session: Session,
    cache: VectorCache,
    query: str,
    query_vector: np.ndarray | None,
    corpus_ids: list[int],
    filters: Filter | None = None,
    options: SearchOptions | None = None,
    principal: Principal | None = None,
) -> list[SearchHit]:
    """The best chunks for ``query`` in ``corpus_ids``; with a ``principal``, only in the corpora
    they may read (``None`` is for trusted in-process callers: the CLI, benchmarks)."""
    options = options or SearchOptions()
    if principal is not None and corpus_ids:
        corpus_ids = list(
            session.scalars(select(Corpus.id).where(Corpus.id.in_(corpus_ids), corpus_visible(principal)))
        )
    if not corpus_ids:
        return []
    terms = query_terms(query)
    if session.get_bind().dialect.name == "postgresql":
        lexical = postgres_bm25(session, terms, corpus_ids, filters, options.candidates) if terms else []
        vector = (
            pgvector_search(session, query_vector, corpus_ids, filters, options.candidates)
            if query_vector is not None
            else []
        )
    else:
        parts = _allowed_chunks(session, cache, corpus_ids, filters)
        lexical = _sqlite_lexical(session, cache, terms, parts, options) if terms else []
        vector = (
            numpy_search(session, cache, query_vector, parts, options.candidates)
            if query_vector is not None
            else []
        )
    fused = convex_fusion(lexical, vector, options.lexical_weight)
    return load_hits(session, fused[: options.top_k], dict(lexical), dict(vector))


def _allowed_chunks(
    session: Session, cache: VectorCache, corpus_ids: list[int], filters: Filter | None
) -> list[tuple[CorpusChunks, np.ndarray | None]]:
    """Each corpus's chunk arrays with a mask of the live chunks the filter admits (None: every
    slot)."""
    parts = cache.corpora(session, corpus_ids)
    if filters is None:
        return [(part, part.allowed(None)) for part in parts]
    # A chunk's filterable metadata is its document's metadata plus the document's tags. The
    # merged object costs a JSON rewrite per read, so it is built (once per document) only for
    # a filter that reads ``tags``; other filters read the metadata column as it is.
    source = "documents AS filterable"
    if "tags" in filter_fields(filters):
        source = """(WITH merged AS MATERIALIZED (
            SELECT id, corpus_id, created_on, is_deleted, json_set(metadata, '$.tags', json(tags)) AS metadata
            FROM documents WHERE corpus_id IN :corpus_ids
        ) SELECT * FROM merged) AS filterable"""
    compiler = FilterCompiler(
        "sqlite",
        metadata_column="filterable.metadata",
        document_id_column="filterable.id",
        date_column="filterable.created_on",
        corpus_id_column="filterable.corpus_id",
    )
    condition = compiler.sql(filters)
    statement = text(
        f"SELECT filterable.id FROM {source} "
        f"WHERE filterable.corpus_id IN :corpus_ids AND NOT filterable.is_deleted AND {condition}"
    ).bindparams(bindparam("corpus_ids", expanding=True), corpus_ids=list(corpus_ids), **compiler.params)
    # The versions this transaction reads decide the result (metadata edits bump them too).
    versions = [(part.corpus_id, part.version) for part in parts]
    admitted = cache.admitted.get(
        filter_key(versions, source, condition, compiler.params),
        lambda: np.array(execute_request_shaped(session, statement).scalars().all(), dtype=np.int64),
    )
    return [(part, part.allowed(admitted)) for part in parts]


def _sqlite_lexical(
    session: Session,
    cache: VectorCache,
    terms: list[str],
    parts: list[tuple[CorpusChunks, np.ndarray | None]],
    options: SearchOptions,
) -> list[tuple[int, float]]:
    """BM25 over the allowed chunks: exact, from the corpora's in-memory postings; through FTS5
    itself (pruned to the postings budget) when a corpus has none or a word is a phrase."""
    indexes = [index for part, _ in parts if (index := cache.lexical(session, part)) is not None]
    tokens = word_tokens(session, terms)
    if len(indexes) < len(parts) or any(len(tokens[word]) > 1 for word in terms):
        return _fts5_lexical(session, terms, parts, options)
    stems = [stem for word in terms for stem in tokens[word]]
    idf = inverse_document_frequencies(indexes, stems)
    ids, scores = [], []
    for (part, mask), index in zip(parts, indexes, strict=True):
        part_scores = index.scores(stems, idf)
        matched = part_scores > 0
        if mask is not None:
            matched &= mask
        positions = np.flatnonzero(matched)
        ids.append(part.ids[positions])
        scores.append(part_scores[positions])
    if not ids:
        return []
    return top_k(np.concatenate(ids), np.concatenate(scores), options.candidates)


def _fts5_lexical(
    session: Session,
    terms: list[str],
    parts: list[tuple[CorpusChunks, np.ndarray | None]],
    options: SearchOptions,
) -> list[tuple[int, float]]:
    ids, scores = fts5_matches(session, terms, options.postings_budget)
    if not ids.size:
        return []
    allowed = np.concatenate([part.ids if mask is None else part.ids[mask] for part, mask in parts])
    allowed.sort()
    _, keep = locate(allowed, ids)
    return top_k(ids[keep], scores[keep], options.candidates)


# Columns rather than Chunk objects (no embedding blob, no ORM identity bookkeeping), and one
# statement built once: its construction cost more than running it.
_HITS = (
    select(
        Chunk.id,
        Chunk.document_id,
        Chunk.corpus_id,
        Chunk.text,
        Chunk.context,
        Chunk.page,
        Chunk.section,
        Chunk.char_start,
        Chunk.char_end,
        Chunk.chunk_metadata,
        Document.name,
        Document.source,
    )
    .join(Document, Document.id == Chunk.document_id)
    .where(Chunk.id.in_(bindparam("ids", expanding=True)))
)


def load_hits(
    session: Session,
    ranked: list[tuple[int, float]],
    lexical: dict[int, float],
    vector: dict[int, float],
) -> list[SearchHit]:
    if not ranked:
        return []
    ids = [chunk_id for chunk_id, _ in ranked]
    rows = {row.id: row for row in session.execute(_HITS, {"ids": ids})}
    hits = []
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None:
            continue  # removed between ranking and loading
        hits.append(
            SearchHit(
                chunk_id=row.id,
                document_id=row.document_id,
                corpus_id=row.corpus_id,
                score=score,
                lexical_score=lexical.get(chunk_id),
                vector_score=vector.get(chunk_id),
                text=row.text,
                context=row.context,
                page=row.page,
                section=row.section,
                char_start=row.char_start,
                char_end=row.char_end,
                document_name=row.name,
                document_source=row.source,
                metadata=dict(row.chunk_metadata or {}),
            )
        )
    return hits
