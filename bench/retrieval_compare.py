"""SciFact retrieval quality and latency: Parley's hybrid search against plain BM25 (bm25s),
plain vector search (numpy brute force) and Chroma, all over the same chunks and embeddings.

    python bench/retrieval_compare.py [--data-dir /tmp/parley-bench-scifact] [--queries 0]

The SciFact corpus is ingested once through Parley's normal pipeline (SQLite, the configured
embedder, documents named by title as ``parley eval retrieval`` does) into ``--data-dir`` and
reused by later runs. Every system then works from what Parley stored, so no embedding is paid
twice: the chunk vectors are read from Parley's database, and the query vectors are computed
once with Parley's embedder and cached in ``--data-dir``.

* parley: ``hybrid_search`` (FTS5 BM25 + cached-matrix cosine, convex fusion, hits loaded);
* bm25s: BM25 (bm25s defaults, English stop words) over each chunk's embedded text (context
  line + text); also over whole abstracts, the usual way BEIR is scored;
* numpy: exact cosine, one matrix product over the same chunk vectors;
* chroma: an embedded ``chromadb.PersistentClient`` collection (HNSW, cosine, Chroma's default
  index settings) holding the same vectors, chunk texts and document ids.

Quality: each system returns 200 chunks per query, ranked to documents by their best chunk;
nDCG@10 and recall@100 over the train judgements. Latency: a second pass asking each system for
the top 10 chunks with their texts, query embedding excluded (it is the same for every system
that uses vectors and is printed on its own line).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"
CORPUS = "scifact"
QUALITY_CHUNKS = 200
LATENCY_CHUNKS = 10


def ingest_scifact(settings, sessions, data) -> int:  # type: ignore[no-untyped-def]
    """The SciFact corpus's id, ingesting it through the pipeline when it is not there yet."""
    from sqlalchemy import func, select

    from parley.accounts import service as accounts
    from parley.corpora.models import Document
    from parley.db.engine import session_scope
    from parley.evaluation.beir import document_text
    from parley.ingest.local import LocalItem, corpus_by_name, queue_items
    from parley.ingest.pipeline import EmbedderProvider, make_worker

    with session_scope(sessions) as session:
        owner = accounts.get_user_by_email(session, "bench@example.com")
        if owner is None:
            org = accounts.create_organization(session, "Bench")
            owner = accounts.create_user(session, org_id=org.id, email="bench@example.com", password=None)
        corpus = corpus_by_name(session, owner, CORPUS)
        corpus_id = corpus.id
        statuses = dict(
            session.execute(
                select(Document.status, func.count())
                .where(Document.corpus_id == corpus_id)
                .group_by(Document.status)
            ).all()
        )
        if not statuses:
            queue_items(
                session,
                owner,
                corpus,
                (
                    LocalItem(
                        e.get("title") or e["_id"], document_text(e).encode(), "text", {"beir_id": e["_id"]}
                    )
                    for e in data.corpus
                ),
            )
    if statuses.get("completed") == len(data.corpus):
        return corpus_id
    print(f"ingesting {len(data.corpus)} SciFact abstracts into {settings.data_dir} (once) ...", flush=True)
    worker = make_worker(settings, sessions, EmbedderProvider(settings))
    started = time.perf_counter()
    while worker.run_once():
        pass
    print(f"ingested in {time.perf_counter() - started:.0f} s", flush=True)
    return corpus_id


def cached_query_vectors(embedder, queries: list[str], cache_dir: Path, model: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Query embeddings from Parley's embedder, computed once per model and query set."""
    key = hashlib.sha256("\n".join([model, *queries]).encode()).hexdigest()[:16]
    path = cache_dir / f"query-vectors-{key}.npy"
    if path.exists():
        return np.load(path)
    vectors = np.stack([embedder.embed_query(q) for q in queries]).astype(np.float32)
    np.save(path, vectors)
    return vectors


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/parley-bench-scifact"))
    parser.add_argument("--beir", type=Path, default=SCIFACT, help="BEIR folder (corpus, queries, qrels)")
    parser.add_argument("--queries", type=int, default=0, help="first N judged queries; 0: all 809")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")
    args.data_dir.mkdir(parents=True, exist_ok=True)

    import bm25s
    import chromadb
    from sqlalchemy import select

    from parley.app import prepare_database
    from parley.corpora.models import Chunk, Document
    from parley.db.engine import create_db_engine, create_session_factory
    from parley.evaluation.beir import BeirData, document_text, load_beir, ndcg_at, recall_at
    from parley.ingest.pipeline import EmbedderProvider
    from parley.search.service import SearchOptions, hybrid_search
    from parley.search.vector import VectorCache, from_blob, top_k
    from parley.settings import Settings

    data = load_beir(args.beir, args.beir / "qrels" / "train.tsv")
    if args.queries:
        data = BeirData(data.corpus, dict(list(data.queries.items())[: args.queries]), data.qrels)
    settings = Settings(data_dir=args.data_dir)
    prepare_database(settings)
    engine = create_db_engine(settings)
    sessions = create_session_factory(engine)
    corpus_id = ingest_scifact(settings, sessions, data)

    # What Parley stored: each chunk's embedded text, document and vector.
    with sessions() as session:
        rows = session.execute(
            select(Chunk.id, Chunk.context, Chunk.text, Chunk.embedding, Document.doc_metadata)
            .join(Document, Document.id == Chunk.document_id)
            .where(Chunk.corpus_id == corpus_id, Document.is_deleted.is_(False))
            .order_by(Chunk.id)
        ).all()
    chunk_ids = np.array([r[0] for r in rows], dtype=np.int64)
    chunk_texts = [f"{r[1]}\n{r[2]}" for r in rows]
    chunk_docs = [r[4]["beir_id"] for r in rows]
    matrix = np.stack([from_blob(r[3]) for r in rows])

    embedder = EmbedderProvider(settings).get()
    queries = list(data.queries.values())
    query_vectors = cached_query_vectors(embedder, queries, args.data_dir, settings.ingest.embedder)
    embed_ms = []
    for query in queries[:100]:
        t0 = time.perf_counter()
        embedder.embed_query(query)
        embed_ms.append((time.perf_counter() - t0) * 1000)

    # Each system: (query index, k) -> the top k chunks' texts and document ids, best first.
    systems: dict[str, Callable[[int, int], tuple[list[str], list[str]]]] = {}
    builds: dict[str, float] = {}
    reads = create_session_factory(engine, writes=False)
    cache = VectorCache()

    def parley(i: int, k: int) -> tuple[list[str], list[str]]:
        options = SearchOptions(top_k=k, candidates=max(k, QUALITY_CHUNKS))
        with reads() as session:
            hits = hybrid_search(session, cache, queries[i], query_vectors[i], [corpus_id], None, options)
        return [h.text for h in hits], [h.metadata["beir_id"] for h in hits]

    systems["parley hybrid"] = parley

    t0 = time.perf_counter()
    chunk_bm25 = bm25s.BM25()
    chunk_bm25.index(bm25s.tokenize(chunk_texts, stopwords="en", show_progress=False), show_progress=False)
    builds["bm25s, chunks"] = time.perf_counter() - t0

    def bm25_chunks(i: int, k: int) -> tuple[list[str], list[str]]:
        found, _ = chunk_bm25.retrieve(
            bm25s.tokenize([queries[i]], stopwords="en", show_progress=False), k=k, show_progress=False
        )
        return [chunk_texts[j] for j in found[0]], [chunk_docs[j] for j in found[0]]

    systems["bm25s, chunks"] = bm25_chunks

    abstracts = [document_text(e) for e in data.corpus]
    abstract_ids = [e["_id"] for e in data.corpus]
    t0 = time.perf_counter()
    doc_bm25 = bm25s.BM25()
    doc_bm25.index(bm25s.tokenize(abstracts, stopwords="en", show_progress=False), show_progress=False)
    builds["bm25s, whole abstracts"] = time.perf_counter() - t0

    def bm25_abstracts(i: int, k: int) -> tuple[list[str], list[str]]:
        found, _ = doc_bm25.retrieve(
            bm25s.tokenize([queries[i]], stopwords="en", show_progress=False),
            k=min(k, len(abstracts)),
            show_progress=False,
        )
        return [abstracts[j] for j in found[0]], [abstract_ids[j] for j in found[0]]

    systems["bm25s, whole abstracts"] = bm25_abstracts

    def numpy_exact(i: int, k: int) -> tuple[list[str], list[str]]:
        best = top_k(np.arange(len(chunk_texts)), matrix @ query_vectors[i], k)
        return [chunk_texts[j] for j, _ in best], [chunk_docs[j] for j, _ in best]

    systems["numpy brute force"] = numpy_exact

    chroma_dir = args.data_dir / "chroma"
    shutil.rmtree(chroma_dir, ignore_errors=True)
    client = chromadb.PersistentClient(
        path=str(chroma_dir), settings=chromadb.config.Settings(anonymized_telemetry=False)
    )
    collection = client.create_collection(
        "scifact", embedding_function=None, configuration={"hnsw": {"space": "cosine"}}
    )
    t0 = time.perf_counter()
    step = client.get_max_batch_size()
    for start in range(0, len(chunk_texts), step):
        end = start + step
        collection.add(
            ids=[str(c) for c in chunk_ids[start:end]],
            embeddings=matrix[start:end],
            documents=chunk_texts[start:end],
            metadatas=[{"beir_id": d} for d in chunk_docs[start:end]],
        )
    builds["chroma (HNSW)"] = time.perf_counter() - t0

    def chroma(i: int, k: int) -> tuple[list[str], list[str]]:
        found = collection.query(query_embeddings=query_vectors[i : i + 1], n_results=k)
        return found["documents"][0], [m["beir_id"] for m in found["metadatas"][0]]

    systems["chroma (HNSW)"] = chroma

    qids = list(data.queries)
    results = {}
    for name, run in systems.items():
        run(0, LATENCY_CHUNKS)  # warm caches (Parley's vector matrix, page cache)
        ndcgs, recalls = [], []
        for i, qid in enumerate(qids):
            ranked = list(dict.fromkeys(run(i, QUALITY_CHUNKS)[1]))
            ndcgs.append(ndcg_at(ranked, data.qrels[qid]))
            recalls.append(recall_at(ranked, data.qrels[qid]))
        latency = []
        for i in range(len(qids)):
            t0 = time.perf_counter()
            texts, _ = run(i, LATENCY_CHUNKS)
            latency.append((time.perf_counter() - t0) * 1000)
            assert len(texts) == LATENCY_CHUNKS
        results[name] = (statistics.fmean(ndcgs), statistics.fmean(recalls), latency)
        print(f"  {name}: done", flush=True)

    print(
        f"\nSciFact train: {len(qids)} queries, {len(data.corpus)} documents, {len(chunk_texts)} chunks "
        f"(embedder {settings.ingest.embedder}, {matrix.shape[1]}-d); load average {os.getloadavg()[0]:.2f}"
    )
    ref_ndcg, _, ref_latency = results["parley hybrid"]
    ref_p50 = percentile(ref_latency, 0.5)
    print(
        f"  {'system':24} {'nDCG@10':>8} {'R@100':>6} {'p50 ms':>7} {'p95 ms':>7} {'build s':>7}"
        f"   {'nDCG parley/x':>13} {'p50 parley/x':>12}"
    )
    for name, (ndcg, recall, latency) in results.items():
        p50 = percentile(latency, 0.5)
        build = f"{builds[name]:7.1f}" if name in builds else f"{'':7}"
        print(
            f"  {name:24} {ndcg:8.4f} {recall:6.3f} {p50:7.2f} {percentile(latency, 0.95):7.2f} {build}"
            f"   {ref_ndcg / ndcg:13.3f} {ref_p50 / p50:12.1f}"
        )
    print(
        f"  query embedding (parley, numpy, chroma): p50 {percentile(embed_ms, 0.5):.2f} ms, "
        f"p95 {percentile(embed_ms, 0.95):.2f} ms"
    )
    print("  target: parley nDCG@10 >= 0.74 (embedded default)")


if __name__ == "__main__":
    main()
