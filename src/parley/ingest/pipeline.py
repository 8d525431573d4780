"""Ingestion: a document's job goes queued → parsing → chunking → embedding → indexing →
completed (or failed with a reason, or cancelled).

Only the last stage writes chunks, in one transaction that first removes any chunks the
document had: a process killed at any point leaves either the old state or the new one, never
half an index, and the job is picked up again when its lease runs out.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from parley.corpora.models import Chunk, Corpus, Document, DocumentFile, DocumentText
from parley.db.base import utcnow
from parley.db.engine import session_scope
from parley.embeddings import Embedder, create_embedder
from parley.ingest.chunking import ChunkSpan, chunk_document
from parley.ingest.parsers import ParsedDocument, ParseError, parse_document
from parley.ingest.web import WebFetchError, fetch
from parley.jobs import service as jobs
from parley.jobs.models import Job
from parley.jobs.worker import JobAbandoned, JobContext, JobKind, PermanentJobError, Worker
from parley.notifications import service as notifications
from parley.search.vector import to_blob
from parley.settings import Settings

INGEST_KIND = "ingest_document"


class EmbedderProvider:
    """Loads the configured embedder once per process, on first use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._embedder: Embedder | None = None

    def get(self) -> Embedder:
        with self._lock:
            if self._embedder is None:
                self._embedder = create_embedder(
                    self.settings.ingest.embedder, **_embedder_options(self.settings)
                )
            return self._embedder


def _embedder_options(settings: Settings) -> dict:
    ingest = settings.ingest
    if ingest.embedder != "openai":
        return {}
    key = ingest.embedder_api_key
    return {
        "base_url": ingest.embedder_base_url,
        "model": ingest.embedder_model,
        "api_key": key.get_secret_value() if key else None,
        "dimension": ingest.embedder_dimension,
    }


def chunk_context(document_name: str, section: str | None) -> str:
    return f"{document_name} > {section}" if section else document_name


def _set_document_stage(document_id: int) -> Callable[[Session, str], None]:
    def apply(session: Session, stage: str) -> None:
        session.execute(
            update(Document).where(Document.id == document_id).values(status=stage, status_reason="")
        )

    return apply


def _load_source(ctx: JobContext, settings: Settings) -> tuple[Document, bytes, str | None]:
    with session_scope(ctx.sessions) as session:
        document = session.get(Document, ctx.document_id)
        if document is None or document.is_deleted:
            raise JobAbandoned("the document was deleted")
        session.expunge(document)
        stored = session.get(DocumentFile, ctx.document_id)
        data = stored.data if stored is not None else b""
    if document.content_type == "weblink" and not data:
        try:
            data, mime = fetch(document.source, settings.ingest, settings.limits.max_upload_bytes)
        except WebFetchError as exc:
            raise PermanentJobError(str(exc)) from exc
        return document, data, mime
    return document, data, document.mime_type or None


@dataclass
class _Prepared:
    context: JobContext
    document: Document
    page_count: int | None
    text: str
    spans: list[ChunkSpan]
    contexts: list[str]
    vectors: np.ndarray | None = None


def run_ingestion(
    worker: Worker, batch: list[JobContext], settings: Settings, embedders: EmbedderProvider
) -> None:
    """Parse and chunk each document, embed all their chunks together (small documents make
    small batches, which waste most of the model's time), then index each document."""
    embedder = embedders.get()
    prepared: list[_Prepared] = []

    def prepare(ctx: JobContext) -> None:
        ctx.on_stage = _set_document_stage(ctx.document_id)  # type: ignore[arg-type]
        ctx.stage("parsing")
        document, data, mime = _load_source(ctx, settings)
        parsed = _parse(document, data, mime, settings)
        ctx.stage("chunking")
        text, spans = chunk_document(parsed, embedder.count_tokens, embedder.token_offsets)
        if not spans:
            raise PermanentJobError("No text could be extracted from the document.")
        contexts = [chunk_context(document.name, span.section) for span in spans]
        prepared.append(_Prepared(ctx, document, parsed.page_count, text, spans, contexts))

    worker.run_each(batch, prepare)
    worker.run_each([p.context for p in prepared], lambda ctx: ctx.stage("embedding"))
    live = [p for p in prepared if not p.context.finished]
    texts = [f"{c}\n{s.text}" for p in live for c, s in zip(p.contexts, p.spans, strict=True)]
    vectors = _embed(embedder, texts, settings.ingest.embedding_batch_size, [p.context for p in live])
    offset = 0
    for item in live:
        item.vectors = vectors[offset : offset + len(item.spans)]
        offset += len(item.spans)

    by_context = {id(p.context): p for p in live}

    def index(ctx: JobContext) -> None:
        item = by_context[id(ctx)]
        ctx.stage("indexing")
        with session_scope(ctx.sessions) as session:
            # Lock the job and the document (PostgreSQL) so a cancel, delete or metadata edit
            # committing meanwhile is seen here instead of being overwritten.
            lock = session.get_bind().dialect.name == "postgresql"
            job = session.get(Job, ctx.job_id, with_for_update=lock)
            if job is None or job.status != "running" or job.locked_by != ctx.worker_id:
                raise JobAbandoned("the job is no longer ours")
            current = session.get(Document, ctx.document_id, with_for_update=lock)
            if current is None or current.is_deleted:
                raise JobAbandoned("the document was deleted")
            write_chunks(session, current, item.spans, item.contexts, item.vectors, embedder.model_name)  # type: ignore[arg-type]
            session.merge(DocumentText(document_id=current.id, text=item.text))
            current.status = "completed"
            current.status_reason = ""
            current.page_count = item.page_count
            current.chunk_count = len(item.spans)
            current.token_count = sum(span.token_count for span in item.spans)
            current.indexed_on = utcnow()
            notifications.document_indexed(session, current)
            job.stage_timings = {**(job.stage_timings or {}), **ctx.finish_stage_timing()}
            jobs.complete(session, job)
        ctx.finished = True

    worker.run_each([p.context for p in live], index)


def _parse(document: Document, data: bytes, mime: str | None, settings: Settings) -> ParsedDocument:
    filename = "text.txt" if document.content_type == "text" else document.name
    if document.content_type == "weblink" and not filename.lower().endswith((".html", ".htm", ".pdf")):
        filename = "page.html"
    if len(data) > settings.limits.max_upload_bytes:
        raise PermanentJobError(
            f"The file is larger than the limit of {settings.limits.max_upload_bytes} bytes."
        )
    try:
        return parse_document(
            data, filename, mime, max_uncompressed_bytes=settings.ingest.max_uncompressed_bytes
        )
    except ParseError as exc:
        raise PermanentJobError(exc.reason) from exc


def _embed(embedder: Embedder, texts: list[str], batch_size: int, contexts: list[JobContext]) -> np.ndarray:
    if not texts:
        return np.empty((0, embedder.dimension), dtype=np.float32)
    parts = []
    for start in range(0, len(texts), batch_size):
        parts.append(embedder.embed_documents(texts[start : start + batch_size]))
        for ctx in contexts:
            if not ctx.finished:
                ctx.progress((start + batch_size) / len(texts))
    return np.vstack(parts)


def write_chunks(
    session: Session,
    document: Document,
    spans: list[ChunkSpan],
    contexts: list[str],
    vectors: np.ndarray,
    model_name: str,
) -> None:
    """Replace the document's chunks (search indexes follow through triggers)."""
    session.execute(delete(Chunk).where(Chunk.document_id == document.id))
    postgres = session.get_bind().dialect.name == "postgresql"
    metadata = chunk_metadata(document)
    rows = [
        {
            "org_id": document.org_id,
            "corpus_id": document.corpus_id,
            "document_id": document.id,
            "ordinal": i,
            "text": span.text,
            "context": context,
            "page": span.page,
            "section": span.section,
            "char_start": span.char_start,
            "char_end": span.char_end,
            "token_count": span.token_count,
            "embedding": vector if postgres else to_blob(vector),
            "embedding_model": model_name,
            "embedding_dim": int(vector.shape[0]),
            "chunk_metadata": metadata,
        }
        for i, (span, context, vector) in enumerate(zip(spans, contexts, vectors, strict=True))
    ]
    if rows:
        session.execute(insert(Chunk), rows)
    bump_index_version(session, document.corpus_id)


def bump_index_version(session: Session, corpus_id: int) -> None:
    session.execute(
        update(Corpus).where(Corpus.id == corpus_id).values(index_version=Corpus.index_version + 1)
    )


def record_failure(session: Session, job: Job, reason: str) -> None:
    """Mirror a job failure on its document: failed with the reason, or queued for a retry."""
    if job.document_id is None:
        return
    if job.status == "failed":
        values = {"status": "failed", "status_reason": reason}
    else:
        values = {"status": "queued", "status_reason": f"Retrying after an error: {reason}"}
    session.execute(update(Document).where(Document.id == job.document_id).values(**values))
    if job.status == "failed":
        document = session.get(Document, job.document_id)
        if document is not None and not document.is_deleted:
            notifications.document_failed(session, document, reason)


def make_worker(settings: Settings, sessions, embedders: EmbedderProvider) -> Worker:  # type: ignore[no-untyped-def]
    worker = Worker(sessions, {}, on_failure=record_failure, lease_seconds=settings.ingest.job_lease_seconds)
    worker.kinds[INGEST_KIND] = JobKind(
        lambda batch: run_ingestion(worker, batch, settings, embedders), settings.ingest.documents_per_batch
    )
    return worker


def queue_document(session: Session, document: Document) -> Job:
    """Mark the document queued and add its ingestion job (same transaction as the caller's)."""
    jobs.cancel_for_document(session, document.id)
    document.status = "queued"
    document.status_reason = ""
    return jobs.enqueue(
        session,
        org_id=document.org_id,
        kind=INGEST_KIND,
        document_id=document.id,
        corpus_id=document.corpus_id,
    )


def chunk_metadata(document: Document) -> dict:
    """What a chunk carries for filters: the document's metadata plus its tags."""
    return {**(document.doc_metadata or {}), "tags": list(document.tags or [])}
