"""Hybrid retrieval: BM25 and vector rankings fused, then the winning chunks loaded.

The caller's permissions and the metadata filter are applied before either ranking is cut
to its candidates, in the search's own read transaction:

* the requested corpora are narrowed to those the principal may read (the policy's SQL);
* PostgreSQL: both ranking queries carry the corpus scope and the compiled filter;
* SQLite: the compiled filter selects the admitted documents in one query over ``documents``
  (the metadata chunks are filtered on is their document's), and both rankings keep only
  the chunks of those documents, as array masks over every match, before taking the top.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from parley.access.policy import corpus_visible
from parley.access.principal import Principal
from parley.corpora.models import Chunk, Corpus, Document
from parley.search.filters import BaseFilter, CompositeFilter, FilterCompiler
from parley.search.fusion import LEXICAL_WEIGHT, convex_fusion
from parley.search.lexical import POSTINGS_BUDGET, fts5_matches, postgres_bm25, query_terms
from parley.search.vector import CorpusChunks, VectorCache, numpy_search, pgvector_search, top_k

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
        lexical = _sqlite_lexical(session, terms, parts, options) if terms else []
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
    """Each corpus's chunk arrays with a mask of the chunks the filter admits (None: all)."""
    parts = cache.corpora(session, corpus_ids)
    if filters is None:
        return [(part, None) for part in parts]
    compiler = FilterCompiler(
        "sqlite",
        # A chunk's filterable metadata is its document's metadata plus the document's tags.
        metadata_column="json_set(documents.metadata, '$.tags', json(documents.tags))",
        document_id_column="documents.id",
    )
    condition = text(compiler.sql(filters)).bindparams(**compiler.params)
    admitted = np.fromiter(
        session.scalars(
            select(Document.id).where(
                Document.corpus_id.in_(corpus_ids), Document.is_deleted.is_(False), condition
            )
        ),
        dtype=np.int64,
    )
    return [(part, np.isin(part.document_ids, admitted)) for part in parts]


def _sqlite_lexical(
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
    positions = np.searchsorted(allowed, ids).clip(max=max(allowed.size - 1, 0))
    keep = allowed[positions] == ids if allowed.size else np.zeros(ids.size, bool)
    return top_k(ids[keep], scores[keep], options.candidates)


def load_hits(
    session: Session,
    ranked: list[tuple[int, float]],
    lexical: dict[int, float],
    vector: dict[int, float],
) -> list[SearchHit]:
    if not ranked:
        return []
    ids = [chunk_id for chunk_id, _ in ranked]
    rows = {
        chunk.id: (chunk, name, source)
        for chunk, name, source in session.execute(
            select(Chunk, Document.name, Document.source)
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.id.in_(ids))
        )
    }
    hits = []
    for chunk_id, score in ranked:
        if chunk_id not in rows:
            continue  # removed between ranking and loading
        chunk, name, source = rows[chunk_id]
        hits.append(
            SearchHit(
                chunk_id=chunk.id,
                document_id=chunk.document_id,
                corpus_id=chunk.corpus_id,
                score=score,
                lexical_score=lexical.get(chunk_id),
                vector_score=vector.get(chunk_id),
                text=chunk.text,
                context=chunk.context,
                page=chunk.page,
                section=chunk.section,
                char_start=chunk.char_start,
                char_end=chunk.char_end,
                document_name=name,
                document_source=source,
                metadata=dict(chunk.chunk_metadata or {}),
            )
        )
    return hits
