"""Hybrid retrieval: BM25 and vector rankings fused, then the winning chunks loaded.

Callers pass corpus ids they have already checked with the permission policy; filters and
corpus scope are part of each search query.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.corpora.models import Chunk, Document
from parley.search.filters import BaseFilter, CompositeFilter
from parley.search.fusion import LEXICAL_WEIGHT, convex_fusion
from parley.search.lexical import lexical_search
from parley.search.vector import VectorCache, vector_search


@dataclass(frozen=True)
class SearchOptions:
    top_k: int = 8
    # Each ranking contributes this many candidates to the fusion.
    candidates: int = 200
    lexical_weight: float = LEXICAL_WEIGHT


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
    filters: BaseFilter | CompositeFilter | None = None,
    options: SearchOptions | None = None,
) -> list[SearchHit]:
    options = options or SearchOptions()
    lexical = lexical_search(session, query, corpus_ids, filters, options.candidates)
    vector = (
        vector_search(session, cache, query_vector, corpus_ids, filters, options.candidates)
        if query_vector is not None
        else []
    )
    fused = convex_fusion(lexical, vector, options.lexical_weight)
    top = fused[: options.top_k]
    return load_hits(session, top, dict(lexical), dict(vector))


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
