"""Ingestion: a document's job goes queued → parsing → chunking → embedding → indexing →
completed (or failed with a reason, or cancelled).

Only the last stage writes chunks, in one transaction that first removes any chunks the
document had: a process killed at any point leaves either the old state or the new one, never
half an index, and the job is picked up again when its lease runs out.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
from sqlalchemy import delete, insert, update
from sqlalchemy.orm import Session

from parley.accounts.models import Organization
from parley.corpora.models import Chunk, Corpus, Document, DocumentFile, DocumentText
from parley.db.base import utcnow
from parley.db.engine import session_scope
from parley.embeddings import Embedder, EmbeddingError, OpenAICompatibleEmbedder, create_embedder, org_config
from parley.embeddings.org_config import EmbedderSpec, OrgEmbedder
from parley.ingest.chunking import ChunkSpan, chunk_document
from parley.ingest.parsers import ParsedDocument, ParseError, parse_document
from parley.ingest.web import WebFetchError, fetch
from parley.jobs import service as jobs
from parley.jobs.models import Job
from parley.jobs.worker import JobAbandoned, JobContext, JobKind, PermanentJobError, Worker
from parley.notifications import service as notifications
from parley.search.vector import to_blob
from parley.settings import Settings
from parley.usage import service as usage

INGEST_KIND = "ingest_document"


class EmbedderProvider:
    """Builds each embedder once per process, on first use: the installation's, and one per
    organisation endpoint (and key) in use."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._embedders: dict[tuple[EmbedderSpec, str | None], Embedder] = {}

    def get(self) -> Embedder:
        """The installation's embedder."""
        return self._build(org_config.installation_spec(self.settings))

    def for_org(self, session: Session, org_id: int) -> OrgEmbedder:
        """The organisation's embedder and its signature; EmbeddingError when it cannot be used
        (e.g. its key's variable is unset)."""
        spec = org_config.org_spec(session, org_id, self.settings)
        return OrgEmbedder(self._build(spec), spec.signature)

    def _build(self, spec: EmbedderSpec) -> Embedder:
        key = org_config.api_key(spec, self.settings) if spec.is_remote else None
        with self._lock:
            embedder = self._embedders.get((spec, key))
            if embedder is None:
                options = (
                    {
                        "base_url": spec.base_url,
                        "model": spec.model,
                        "api_key": key,
                        "dimension": spec.dimension,
                    }
                    if spec.is_remote
                    else {}
                )
                embedder = create_embedder(spec.kind, **options)
                self._embedders[(spec, key)] = embedder
            return embedder


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
    small batches, which waste most of the model's time), then index each document. Each
    organisation's documents are embedded with its own embedder."""
    by_org: dict[int, OrgEmbedder] = {}
    prepared: list[_Prepared] = []

    def embedder_of(ctx: JobContext) -> OrgEmbedder:
        if ctx.org_id not in by_org:
            with session_scope(ctx.sessions) as session:
                try:
                    by_org[ctx.org_id] = embedders.for_org(session, ctx.org_id)
                except EmbeddingError as exc:
                    raise PermanentJobError(f"The embedding model cannot be used: {exc.message}") from exc
        return by_org[ctx.org_id]

    def prepare(ctx: JobContext) -> None:
        ctx.on_stage = _set_document_stage(ctx.document_id)  # type: ignore[arg-type]
        ctx.stage("parsing")
        embedder = embedder_of(ctx).embedder
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
    groups: dict[int, list[_Prepared]] = defaultdict(list)
    for item in prepared:
        if not item.context.finished:
            groups[item.context.org_id].append(item)
    for org_id, group in groups.items():
        _embed_group(worker, group, by_org[org_id], settings)

    by_context = {id(p.context): p for group in groups.values() for p in group}

    def index(ctx: JobContext) -> None:
        item = by_context[id(ctx)]
        chosen = by_org[ctx.org_id]
        ctx.stage("indexing")
        try:
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
                # Vectors of an embedder the organisation left meanwhile must not be written as
                # searchable (org_config's rule); the organisation row lock orders this against
                # the change.
                session.get(Organization, ctx.org_id, with_for_update={"read": True} if lock else False)
                if org_config.org_spec(session, ctx.org_id, settings).signature != chosen.signature:
                    raise _EmbedderChanged
                write_chunks(
                    session, current, item.spans, item.contexts, item.vectors, chosen.embedder.model_name
                )  # type: ignore[arg-type]
                org_config.record_corpus_embedder(session, current.corpus_id, chosen.signature)
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
        except _EmbedderChanged:
            worker.release_job(ctx)  # queued again, to be embedded with the new embedder
            return
        ctx.finished = True

    worker.run_each([p.context for g in groups.values() for p in g], index)


class _EmbedderChanged(Exception):
    """The organisation's embedder changed while a batch was being embedded."""


def _embed_group(worker: Worker, group: list[_Prepared], chosen: OrgEmbedder, settings: Settings) -> None:
    """Embed one organisation's chunks; a failure of its embedder fails those documents with the
    reason. A remote endpoint's call is a usage record of the organisation."""
    texts = [f"{c}\n{s.text}" for p in group for c, s in zip(p.contexts, p.spans, strict=True)]
    contexts = [p.context for p in group]
    started = datetime.now(UTC)
    try:
        vectors = _embed(chosen.embedder, texts, settings.ingest.embedding_batch_size, contexts)
    except EmbeddingError as exc:
        _record_embedding(contexts[0], chosen.embedder, group, texts, started, exc.message)
        for ctx in contexts:
            if not ctx.finished:
                worker.fail_job(ctx, f"Embedding failed: {exc.message}", retryable=False)
        return
    _record_embedding(contexts[0], chosen.embedder, group, texts, started, "")
    offset = 0
    for item in group:
        item.vectors = vectors[offset : offset + len(item.spans)]
        offset += len(item.spans)


def _record_embedding(
    ctx: JobContext,
    embedder: Embedder,
    group: list[_Prepared],
    texts: list[str],
    started: datetime,
    error: str,
) -> None:
    if not isinstance(embedder, OpenAICompatibleEmbedder) or not texts:
        return
    tokens = sum(embedder.count_tokens(text) for text in texts)
    document_ids = [p.context.document_id for p in group]
    with session_scope(ctx.sessions) as session:
        usage.record_call(
            session,
            org_id=ctx.org_id,
            user_id=None,
            agent_id=None,
            llm_config=None,
            integration="openai-embeddings",
            prompt_name="document_embedding",
            feature_name="embedding",
            model_name=embedder.model_name,
            channel="ingestion",
            started=started,
            ended=datetime.now(UTC),
            status_code=502 if error else 200,
            error=error,
            # The chunk texts are the organisation's documents, already stored: counts only.
            request_payload={
                "model": embedder.model_name,
                "inputs": len(texts),
                "document_ids": document_ids,
            },
            response_payload={} if error else {"dimension": embedder.dimension},
            request_tokens=tokens,
            response_tokens=0,
            task_id=f"ingest:{ctx.job_id}",
            description=f"embedding of {len(texts)} chunks from {len(group)} document(s)",
        )


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
    # Search caches find the documents whose chunks changed by this mark (search/snapshots.py).
    document.indexed_on = utcnow()
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
