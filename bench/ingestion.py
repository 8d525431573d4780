"""Ingestion throughput against the raw throughput of the same embedding model, in one run.

    python bench/ingestion.py [--docs 1000] [--database-url URL]

1. raw: the embedder alone on exactly the texts the pipeline embeds (each chunk with its
   context line), in the pipeline's batch size;
2. pipeline: the same documents queued as text documents in a fresh database and processed
   by one in-process worker (parse, chunk, embed, index, job bookkeeping), timed from the first
   claim to the last completion.
Prints documents/s and chunks/s for both and the ratio (target: pipeline >= 80% of raw).
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact" / "corpus.jsonl"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from sqlalchemy import func, select

    from parley.accounts import service as accounts
    from parley.app import prepare_database
    from parley.corpora.models import Chunk, Corpus, Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.evaluation.beir import document_text
    from parley.ingest.chunking import chunk_document
    from parley.ingest.local import LocalItem, queue_items
    from parley.ingest.parsers import parse_document
    from parley.ingest.pipeline import EmbedderProvider, chunk_context, make_worker
    from parley.settings import Settings

    entries = [json.loads(line) for line, _ in zip(SCIFACT.open(), range(args.docs), strict=False)]
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    settings = Settings(data_dir=data_dir, database_url=args.database_url)
    embedders = EmbedderProvider(settings)
    embedder = embedders.get()

    # The exact texts the pipeline will embed.
    texts = []
    for entry in entries:
        name = entry.get("title") or entry["_id"]
        parsed = parse_document(document_text(entry).encode(), "text.txt", "text/plain")
        _, spans = chunk_document(parsed, embedder.count_tokens, embedder.token_offsets)
        texts += [f"{chunk_context(name, s.section)}\n{s.text}" for s in spans]
    embedder.embed_documents(texts[:64])  # warm up
    batch = settings.ingest.embedding_batch_size
    started = time.perf_counter()
    for start in range(0, len(texts), batch):
        embedder.embed_documents(texts[start : start + batch])
    raw_seconds = time.perf_counter() - started

    prepare_database(settings)
    sessions = create_session_factory(create_db_engine(settings))
    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Bench")
        user = accounts.create_user(session, org_id=org.id, email="bench@example.com", password=None)
        corpus = Corpus(org_id=org.id, owner_id=user.id, name="bench")
        session.add(corpus)
        session.flush()
        queue_items(
            session,
            user,
            corpus,
            (LocalItem(e.get("title") or e["_id"], document_text(e).encode(), "text") for e in entries),
        )
    worker = make_worker(settings, sessions, embedders)
    started = time.perf_counter()
    while worker.run_once():
        pass
    pipeline_seconds = time.perf_counter() - started
    with session_scope(sessions) as session:
        done = session.scalar(
            select(func.count()).select_from(Document).where(Document.status == "completed")
        )
        chunks = session.scalar(select(func.count()).select_from(Chunk))
    assert done == len(entries) and chunks == len(texts), (done, chunks, len(texts))

    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"documents {len(entries)}, chunks {len(texts)}, backend {backend}, "
        f"embedder {settings.ingest.embedder}"
    )
    print(f"{'':10} {'seconds':>8} {'docs/s':>8} {'chunks/s':>9}")
    for label, seconds in (("raw", raw_seconds), ("pipeline", pipeline_seconds)):
        print(f"{label:10} {seconds:8.1f} {len(entries) / seconds:8.1f} {len(texts) / seconds:9.1f}")
    print(f"pipeline / raw = {raw_seconds / pipeline_seconds:.1%}  (target >= 80%)")


if __name__ == "__main__":
    main()
