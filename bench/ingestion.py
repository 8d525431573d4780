"""Ingestion throughput against the raw throughput of the same embedding model, in one run.

    python bench/ingestion.py [--docs 1000] [--slices 5] [--database-url URL]

1. raw: the embedder alone on exactly the texts the pipeline embeds (each chunk with its
   context line), in the pipeline's batch size;
2. pipeline: the same documents queued as text documents in a fresh database and processed
   by one in-process worker (parse, chunk, embed, index, job bookkeeping), timed from the first
   claim to the last completion.
The documents are split into ``--slices`` slices and the two alternate slice by slice (raw on
slice 1, pipeline on slice 1, raw on slice 2...), so that other load on a shared machine falls
on both alike. Wall time and the process's CPU time are summed per side; the CPU-time ratio is
the steadier one when the machine is busy. Prints documents/s and chunks/s for both and the
ratios (target: pipeline >= 80% of raw).
"""

from __future__ import annotations

import argparse
import atexit
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

SCIFACT = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "scifact"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--scifact", type=Path, default=SCIFACT, help="BEIR SciFact folder")
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument("--slices", type=int, default=5, help="alternations of raw and pipeline")
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()
    os.environ.setdefault("PARLEY_ENVIRONMENT", "development")

    from sqlalchemy import func, select

    from parley.accounts import service as accounts
    from parley.accounts.models import User
    from parley.app import prepare_database
    from parley.corpora.models import Chunk, Corpus, Document
    from parley.db.engine import create_db_engine, create_session_factory, session_scope
    from parley.evaluation.beir import document_text
    from parley.ingest.chunking import chunk_document
    from parley.ingest.local import LocalItem, queue_items
    from parley.ingest.parsers import parse_document
    from parley.ingest.pipeline import EmbedderProvider, chunk_context, make_worker
    from parley.settings import Settings

    entries = [
        json.loads(line)
        for line, _ in zip((args.scifact / "corpus.jsonl").open(), range(args.docs), strict=False)
    ]
    data_dir = Path(tempfile.mkdtemp(prefix="parley-bench-"))
    atexit.register(shutil.rmtree, data_dir, ignore_errors=True)
    settings = Settings(data_dir=data_dir, database_url=args.database_url)
    embedders = EmbedderProvider(settings)
    embedder = embedders.get()

    # The exact texts the pipeline will embed, per slice.
    slices = [entries[i :: args.slices] for i in range(args.slices)]
    texts: list[list[str]] = []
    for part in slices:
        texts.append([])
        for entry in part:
            name = entry.get("title") or entry["_id"]
            parsed = parse_document(document_text(entry).encode(), "text.txt", "text/plain")
            _, spans = chunk_document(parsed, embedder.count_tokens, embedder.token_offsets)
            texts[-1] += [f"{chunk_context(name, s.section)}\n{s.text}" for s in spans]
    embedder.embed_documents(texts[0][:64])  # warm up
    batch = settings.ingest.embedding_batch_size

    prepare_database(settings)
    sessions = create_session_factory(create_db_engine(settings))
    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Bench")
        user = accounts.create_user(session, org_id=org.id, email="bench@example.com", password=None)
        corpus = Corpus(org_id=org.id, owner_id=user.id, name="bench")
        session.add(corpus)
    worker = make_worker(settings, sessions, embedders)

    wall = {"raw": 0.0, "pipeline": 0.0}
    cpu = {"raw": 0.0, "pipeline": 0.0}
    for part, part_texts in zip(slices, texts, strict=True):
        with session_scope(sessions) as session:
            queue_items(
                session,
                session.get(User, user.id),
                session.get(Corpus, corpus.id),
                (LocalItem(e.get("title") or e["_id"], document_text(e).encode(), "text") for e in part),
            )
        started, started_cpu = time.perf_counter(), time.process_time()
        for start in range(0, len(part_texts), batch):
            embedder.embed_documents(part_texts[start : start + batch])
        wall["raw"] += time.perf_counter() - started
        cpu["raw"] += time.process_time() - started_cpu
        started, started_cpu = time.perf_counter(), time.process_time()
        while worker.run_once():
            pass
        wall["pipeline"] += time.perf_counter() - started
        cpu["pipeline"] += time.process_time() - started_cpu
    with session_scope(sessions) as session:
        done = session.scalar(
            select(func.count()).select_from(Document).where(Document.status == "completed")
        )
        chunks = session.scalar(select(func.count()).select_from(Chunk))
    embedded = sum(len(t) for t in texts)
    assert done == len(entries) and chunks == embedded, (done, chunks, embedded)

    backend = "postgresql" if args.database_url else "sqlite"
    print(
        f"documents {len(entries)}, chunks {embedded}, backend {backend}, embedder {settings.ingest.embedder}"
    )
    print(f"{'':10} {'seconds':>8} {'docs/s':>8} {'chunks/s':>9} {'CPU s':>7}")
    for label in ("raw", "pipeline"):
        seconds = wall[label]
        print(
            f"{label:10} {seconds:8.1f} {len(entries) / seconds:8.1f} {embedded / seconds:9.1f} "
            f"{cpu[label]:7.1f}"
        )
    print(
        f"pipeline / raw = {wall['raw'] / wall['pipeline']:.1%} by wall time, "
        f"{cpu['raw'] / cpu['pipeline']:.1%} by CPU time  (target >= 80%); "
        f"{args.slices} slices, load average {os.getloadavg()[0]:.2f}"
    )


if __name__ == "__main__":
    main()
