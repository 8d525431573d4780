"""How long the first search after a corpus change waits for the in-memory search arrays.

    python bench/index_updates.py --data-dir DIR [--chunks 100000] [--rounds 5]

Uses the 100k-chunk corpus of ``retrieval_latency.py`` (built into ``--data-dir`` when missing;
the changes below are written into that database). One ``VectorCache`` is warmed (ids, vectors,
BM25 postings), then each round makes one change and times bringing that cache up to date
(``update``), and, for comparison, building a fresh cache for the same version (``rebuild``:
what every change cost before updates were incremental). Changes: a new 50-chunk document, a
document re-indexed (its 50 chunks replaced), a document deleted, and 20 new documents at once.
After each change the updated and the fresh cache must return the same hits in the same order
with the same BM25 scores for 20 SciFact queries, with and without a filter. Last, the masked slots are
compacted and that is timed too.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from pathlib import Path

import numpy as np
from retrieval_latency import FILTER, SCIFACT, build_corpus


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from sqlalchemy import select

    from parley.accounts import service as accounts
    from parley.accounts.models import User
    from parley.app import prepare_database
    from parley.corpora.documents import delete_documents
    from parley.corpora.models import Corpus, Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.ingest.chunking import ChunkSpan
    from parley.ingest.pipeline import write_chunks
    from parley.search import snapshots
    from parley.search.filters import parse_filter
    from parley.search.service import SearchOptions, hybrid_search
    from parley.search.vector import VectorCache
    from parley.settings import Settings

    settings = Settings(data_dir=args.data_dir)
    existing = (args.data_dir / "parley.db").exists()
    prepare_database(settings)
    engine = create_db_engine(settings)
    writes, reads = create_session_factory(engine), create_session_factory(engine, writes=False)
    if not existing:
        build_corpus(writes, args.chunks, postgres=False)
    with reads() as session:
        corpus = session.scalars(select(Corpus).where(Corpus.name == "bench")).one()
        corpus_id, org_id, owner_id = corpus.id, corpus.org_id, corpus.owner_id

    rng = np.random.default_rng(11)
    sentences = [json.loads(line)["text"] for line in (SCIFACT / "corpus.jsonl").open()][:5000]
    queries = [json.loads(line)["text"] for line in (SCIFACT / "queries.jsonl").open()][:20]
    filters = parse_filter(FILTER)
    options = SearchOptions(top_k=10)

    def warm(cache: VectorCache) -> float:
        """Seconds to bring ``cache`` to the current version: ids, 384-d vectors, postings."""
        with reads() as session:
            started = time.perf_counter()
            part = cache.corpora(session, [corpus_id])[0]
            cache.vectors(session, part, 384)
            cache.lexical(session, part)
            return time.perf_counter() - started

    def hits(cache: VectorCache) -> list[tuple]:
        """Per query and filter: the hits' ids, BM25 scores, cosines and fused scores."""
        out = []
        with reads() as session:
            for i, query in enumerate(queries):
                for active in (None, filters):
                    found = hybrid_search(session, cache, query, rng_query[i], [corpus_id], active, options)
                    out.append(
                        (
                            [h.chunk_id for h in found],
                            [h.lexical_score for h in found],
                            np.array([h.vector_score or 0.0 for h in found]),
                            np.array([h.score for h in found]),
                        )
                    )
        return out

    def same(got: list[tuple], expected: list[tuple]) -> bool:
        """Same hits in the same order, the same BM25 scores; cosines (and so fused scores) may
        differ in the last float32 bit, as a filtered product over runs of rows and the full
        product do."""
        return all(
            a[0] == b[0]
            and a[1] == b[1]
            and np.allclose(a[2], b[2], rtol=0, atol=1e-6)
            and np.allclose(a[3], b[3], rtol=0, atol=1e-6)
            for a, b in zip(got, expected, strict=True)
        )

    def chunks(count: int) -> tuple[list[ChunkSpan], np.ndarray]:
        texts = [" ".join(rng.choice(sentences, 2)) for _ in range(count)]
        vectors = rng.standard_normal((count, 384)).astype(np.float32)
        vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
        return [ChunkSpan(t, 0, len(t), None, None, len(t.split())) for t in texts], vectors

    def add_documents(session, count: int) -> None:  # type: ignore[no-untyped-def]
        for _ in range(count):
            document = Document(
                org_id=org_id,
                corpus_id=corpus_id,
                user_id=owner_id,
                name=f"added-{rng.integers(1 << 40)}",
                content_type="text",
                status="completed",
                doc_metadata={"year": 2020, "kind": "guide", "tags": ["it"]},
            )
            session.add(document)
            session.flush()
            spans, vectors = chunks(50)
            write_chunks(session, document, spans, [document.name] * 50, vectors, "bench")

    def some_document(session) -> Document:  # type: ignore[no-untyped-def]
        ids = session.scalars(
            select(Document.id).where(Document.corpus_id == corpus_id, Document.is_deleted.is_(False))
        ).all()
        return session.get(Document, int(rng.choice(ids)))

    def reindex(session) -> None:  # type: ignore[no-untyped-def]
        document = some_document(session)
        spans, vectors = chunks(50)
        write_chunks(session, document, spans, [document.name] * 50, vectors, "bench")

    def delete(session) -> None:  # type: ignore[no-untyped-def]
        principal = accounts.load_principal(session, session.get(User, owner_id))
        delete_documents(session, principal, corpus_id, [some_document(session).id])

    rng_query = rng.standard_normal((len(queries), 384)).astype(np.float32)
    rng_query /= np.linalg.norm(rng_query, axis=1, keepdims=True)
    cache = VectorCache()
    first = warm(cache)
    hits(cache)
    load_before = os.getloadavg()[0]
    changes = {
        "add a 50-chunk document": lambda s: add_documents(s, 1),
        "re-index a 50-chunk document": reindex,
        "delete a 50-chunk document": delete,
        "add 20 documents (1,000 chunks)": lambda s: add_documents(s, 20),
    }
    results: dict[str, tuple[list[float], list[float]]] = {}
    for _ in range(args.rounds):
        for label, change in changes.items():
            with session_scope(writes) as session:
                change(session)
            update = warm(cache)
            fresh = VectorCache()
            rebuild = warm(fresh)
            if not same(hits(cache), hits(fresh)):
                raise SystemExit(f"{label}: the updated cache ranks differently from a fresh one")
            results.setdefault(label, ([], []))
            results[label][0].append(update)
            results[label][1].append(rebuild)

    with reads() as session:
        part = cache.corpora(session, [corpus_id])[0]
        masked = part.ids.size - part.live_count
        started = time.perf_counter()
        snapshots.compacted(part)
        compaction = time.perf_counter() - started

    print(
        f"corpus of {part.live_count} chunks, {args.rounds} rounds; first load {first:.1f} s; "
        f"load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print(f"{'change':34} {'update p50':>11} {'max':>8} | {'rebuild p50':>11} {'max':>8} | ratio")
    for label, (update, rebuild) in results.items():
        ratio = statistics.median(rebuild) / statistics.median(update)
        print(
            f"{label:34} {statistics.median(update) * 1000:8.1f} ms {max(update) * 1000:5.0f} ms | "
            f"{statistics.median(rebuild) * 1000:8.0f} ms {max(rebuild) * 1000:5.0f} ms | {ratio:5.0f}x"
        )
    print(f"compaction of {masked} masked slots: {compaction * 1000:.0f} ms (in memory, no database read)")
    print("every update ranked like a fresh cache: same hits, same order, same BM25 scores")


if __name__ == "__main__":
    main()
