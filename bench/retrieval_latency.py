"""Hybrid retrieval latency over a large index, with and without a metadata filter.

    python bench/retrieval_latency.py [--chunks 100000] [--queries 300] [--database-url URL]
        [--data-dir DIR] [--fts5] [--postings-budget N]

Builds a corpus of ``--chunks`` chunks directly in a fresh database (texts are SciFact sentences
in groups of three, vectors random unit vectors, metadata with a year, a kind and tags), then
times ``hybrid_search`` for SciFact queries: the search alone, and the search plus the query
embedding. The filter keeps about 30% of the chunks:
year >= 2015 AND kind in (guide, report). Indexes are built the way ingestion builds them
(the FTS5 triggers or PostgreSQL postings fire on insert).

On SQLite the lexical side uses the in-memory BM25 postings (built on the first search, timed
separately); ``--fts5`` ranks through FTS5 itself instead, pruned to ``--postings-budget``.
Search times are wall clock and, in brackets, the searching thread's CPU time, which a busy
machine inflates far less (BLAS threads of the vector product are not in it). The machine's
load average is printed, since other work on it shows in every wall-clock figure.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
FILTER = {
    "filters": [
        {"field": "year", "operator": "gte", "value": 2015},
        {"field": "kind", "operator": "containsany", "value": ["guide", "report"]},
    ],
    "operator": "AND",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def build_corpus(sessions, scifact: Path, chunks: int, postgres: bool) -> int:  # type: ignore[no-untyped-def]
    """A corpus of ``chunks`` chunks written straight into the database; returns its id."""
    from sqlalchemy import insert

    from parley.accounts import service as accounts
    from parley.corpora.models import Chunk, Corpus, Document
    from parley.db.engine import session_scope
    from parley.ingest.pipeline import bump_index_version
    from parley.search.vector import to_blob

    rng = random.Random(7)
    sentences = []
    for line in (scifact / "corpus.jsonl").open():
        sentences += [s.strip() + "." for s in json.loads(line)["text"].split(". ") if len(s) > 20]
    vectors = np.random.default_rng(7).standard_normal((chunks, 384)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)

    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Bench")
        user = accounts.create_user(session, org_id=org.id, email="bench@example.com", password=None)
        corpus = Corpus(org_id=org.id, owner_id=user.id, name="bench")
        session.add(corpus)
        session.flush()
        corpus_id = corpus.id
        per_document = 50
        for first in range(0, chunks, per_document):
            meta = {
                "year": rng.randint(2005, 2024),
                "kind": rng.choice(["guide", "report", "memo", "paper"]),
                "tags": rng.sample(["hr", "legal", "it", "sales", "ops"], 2),
            }
            document = Document(
                org_id=org.id,
                corpus_id=corpus_id,
                user_id=user.id,
                name=f"doc-{first}",
                content_type="text",
                status="completed",
                doc_metadata=meta,
            )
            session.add(document)
            session.flush()
            rows = []
            for i in range(first, min(first + per_document, chunks)):
                text = " ".join(rng.choice(sentences) for _ in range(3))
                rows.append(
                    {
                        "org_id": org.id,
                        "corpus_id": corpus_id,
                        "document_id": document.id,
                        "ordinal": i - first,
                        "text": text,
                        "context": document.name,
                        "char_start": 0,
                        "char_end": len(text),
                        "embedding": vectors[i] if postgres else to_blob(vectors[i]),
                        "embedding_model": "bench",
                        "embedding_dim": 384,
                        "chunk_metadata": meta,
                    }
                )
            session.execute(insert(Chunk), rows)
        bump_index_version(session, corpus_id)
    return corpus_id


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder")
    parser.add_argument("--chunks", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="keep the SQLite data here; reused when already built"
    )
    parser.add_argument("--postings-budget", type=int, default=None, help="SQLite FTS5 lexical budget")
    parser.add_argument("--fts5", action="store_true", help="SQLite: rank through FTS5 itself")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from sqlalchemy import select

    from parley.app import prepare_database
    from parley.corpora.models import Corpus
    from parley.db.engine import create_db_engine, create_session_factory
    from parley.ingest.pipeline import EmbedderProvider
    from parley.search.filters import parse_filter
    from parley.search.service import SearchOptions, hybrid_search
    from parley.search.vector import VectorCache
    from parley.settings import Settings

    queries = [json.loads(line)["text"] for line in (args.scifact / "queries.jsonl").open()][: args.queries]

    data_dir = args.data_dir or Path(tempfile.mkdtemp(prefix="parley-bench-"))
    reuse = args.database_url is None and (data_dir / "parley.db").exists()
    settings = Settings(data_dir=data_dir, database_url=args.database_url)
    prepare_database(settings)
    engine = create_db_engine(settings)
    sessions = create_session_factory(engine)
    postgres = engine.dialect.name == "postgresql"
    started = time.perf_counter()
    if reuse:
        with sessions() as session:
            corpus_id = session.scalar(select(Corpus.id).where(Corpus.name == "bench"))
    else:
        corpus_id = build_corpus(sessions, args.scifact, args.chunks, postgres)
        if postgres:
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
    build_seconds = time.perf_counter() - started

    embedder = EmbedderProvider(settings).get()
    cache = VectorCache(memory_index_max_chunks=0) if args.fts5 else VectorCache()
    reads = create_session_factory(engine, writes=False)
    options = SearchOptions(top_k=10)
    if args.postings_budget:
        options = SearchOptions(top_k=10, postings_budget=args.postings_budget)
    filters = parse_filter(FILTER)
    warm = ""
    if not postgres:  # what the first search after a change to the corpus pays
        with reads() as session:
            t0 = time.perf_counter()
            part = cache.corpora(session, [corpus_id])[0]
            cache.vectors(session, part, 384)
            t1 = time.perf_counter()
            index = cache.lexical(session, part)
            t2 = time.perf_counter()
        warm = f"chunk ids and vectors loaded in {t1 - t0:.1f} s"
        if index is not None:
            warm += f"; BM25 postings built in {t2 - t1:.1f} s, {index.nbytes / 1e6:.0f} MB"
    with reads() as session:  # warm the page cache
        hybrid_search(
            session, cache, queries[0], embedder.embed_query(queries[0]), [corpus_id], filters, options
        )

    load_before = os.getloadavg()[0]
    results = {}
    for label, active in (("no filter", None), ("with filter", filters)):
        search_ms, cpu_ms, total_ms = [], [], []
        for query in queries:
            t0 = time.perf_counter()
            vector = embedder.embed_query(query)
            t1, c1 = time.perf_counter(), time.thread_time()
            with reads() as session:
                hits = hybrid_search(session, cache, query, vector, [corpus_id], active, options)
            t2, c2 = time.perf_counter(), time.thread_time()
            assert hits
            search_ms.append((t2 - t1) * 1000)
            cpu_ms.append((c2 - c1) * 1000)
            total_ms.append((t2 - t0) * 1000)
        results[label] = (search_ms, cpu_ms, total_ms)

    lexical = "FTS5" if args.fts5 or postgres else "in-memory BM25"
    print(
        f"chunks {args.chunks}, queries {len(queries)}, backend {engine.dialect.name} ({lexical}), "
        f"built in {build_seconds:.0f} s; load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    if warm:
        print(warm)
    print(f"{'':12} {'search p50':>16} {'p95':>16} {'mean':>7} | {'+embed p50':>10} {'p95':>7}")
    for label, (search_ms, cpu_ms, total_ms) in results.items():
        print(
            f"{label:12} {percentile(search_ms, 0.5):7.1f} ({percentile(cpu_ms, 0.5):5.1f} cpu) "
            f"{percentile(search_ms, 0.95):7.1f} ({percentile(cpu_ms, 0.95):5.1f} cpu) "
            f"{statistics.fmean(search_ms):7.1f} | "
            f"{percentile(total_ms, 0.5):10.1f} {percentile(total_ms, 0.95):7.1f}"
        )
    print("target (with filter, search only): p50 <= 15 ms, p95 <= 40 ms")


if __name__ == "__main__":
    main()
