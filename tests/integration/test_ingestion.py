"""The ingestion pipeline and hybrid search, on both backends, with the real embedding model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from parley.accounts import service as accounts
from parley.corpora.models import Chunk, Corpus, Document, DocumentFile, DocumentText
from parley.db.base import utcnow
from parley.db.engine import create_db_engine, create_session_factory, session_scope
from parley.ingest.pipeline import EmbedderProvider, make_worker, queue_document
from parley.jobs import service as jobs
from parley.jobs.models import Job
from parley.search.filters import parse_filter
from parley.search.service import hybrid_search
from parley.search.vector import VectorCache
from tests.conftest import TEST_DATA

DOCS = TEST_DATA / "docs"


@pytest.fixture(scope="session")
def embedders_by_settings():
    cache = {}

    def get(settings):
        if "provider" not in cache:
            cache["provider"] = EmbedderProvider(settings)
        return cache["provider"]

    return get


@pytest.fixture
def env(settings, embedders_by_settings):
    engine = create_db_engine(settings)
    sessions = create_session_factory(engine)
    embedders = embedders_by_settings(settings)
    worker = make_worker(settings, sessions, embedders)
    worker.poll_interval = 0.01
    with session_scope(sessions) as session:
        org = accounts.create_organization(session, "Ingest Org")
        user = accounts.create_user(session, org_id=org.id, email="ingest@example.com", password=None)
        corpus = Corpus(org_id=org.id, owner_id=user.id, name="Docs")
        session.add(corpus)
        session.flush()
        ids = {"org": org.id, "user": user.id, "corpus": corpus.id}
    yield sessions, worker, embedders, ids
    engine.dispose()


def add_document(sessions, ids, name, data, content_type="file", metadata=None, tags=None):
    with session_scope(sessions) as session:
        document = Document(
            org_id=ids["org"],
            corpus_id=ids["corpus"],
            user_id=ids["user"],
            name=name,
            content_type=content_type,
            source=name,
            size_bytes=len(data),
            doc_metadata=metadata or {},
            tags=tags or [],
        )
        session.add(document)
        session.flush()
        session.add(DocumentFile(document_id=document.id, data=data))
        queue_document(session, document)
        return document.id


def drain(worker):
    while worker.run_once():
        pass


def test_documents_are_parsed_chunked_embedded_and_searchable(env):
    sessions, worker, embedders, ids = env
    pdf = add_document(
        sessions,
        ids,
        "multi_page.pdf",
        (DOCS / "pdf" / "multi_page.pdf").read_bytes(),
        metadata={"kind": "manual", "year": 2021},
    )
    note = add_document(
        sessions,
        ids,
        "note.md",
        b"# Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund.\n",
        metadata={"kind": "policy", "year": 2024},
    )
    drain(worker)
    with session_scope(sessions) as session:
        docs = {d.id: d for d in session.scalars(select(Document))}
        assert docs[pdf].status == "completed" and docs[note].status == "completed"
        assert docs[pdf].page_count == 5 and docs[pdf].chunk_count > 1
        text = session.get(DocumentText, pdf).text
        for chunk in session.scalars(select(Chunk).where(Chunk.document_id == pdf)):
            assert text[chunk.char_start : chunk.char_end] == chunk.text
            assert chunk.page is not None and chunk.embedding_dim == 384
        job = session.scalars(select(Job).where(Job.document_id == pdf)).one()
        assert job.status == "completed" and job.attempts == 1
        assert {"parsing", "chunking", "embedding", "indexing"} <= set(job.stage_timings)

        embedder = embedders.get()
        cache = VectorCache()
        query = "how long do customers have to return goods for a refund"
        hits = hybrid_search(session, cache, query, embedder.embed_query(query), [ids["corpus"]])
        assert hits[0].document_id == note
        assert hits[0].lexical_score is not None and hits[0].vector_score is not None

        only_manuals = parse_filter({"field": "kind", "operator": "equals", "value": "manual"})
        hits = hybrid_search(
            session, cache, query, embedder.embed_query(query), [ids["corpus"]], only_manuals
        )
        assert hits and all(h.document_id == pdf for h in hits)
        recent = parse_filter({"field": "year", "operator": "gte", "value": 2022})
        hits = hybrid_search(session, cache, query, embedder.embed_query(query), [ids["corpus"]], recent)
        assert {h.document_id for h in hits} == {note}
        assert hybrid_search(session, cache, query, embedder.embed_query(query), []) == []


def test_bad_files_fail_with_a_reason_and_leave_no_chunks(env):
    sessions, worker, _, ids = env
    empty = add_document(sessions, ids, "empty.txt", b"")
    corrupt = add_document(sessions, ids, "broken.pdf", b"%PDF-1.7 this is not really a pdf")
    binary = add_document(sessions, ids, "photo.png", b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    drain(worker)
    with session_scope(sessions) as session:
        for doc_id in (empty, corrupt, binary):
            document = session.get(Document, doc_id)
            assert document.status == "failed", document.status_reason
            assert document.status_reason
            assert (
                session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == doc_id))
                == 0
            )
            job = session.scalars(select(Job).where(Job.document_id == doc_id)).one()
            assert job.status == "failed" and job.attempts == 1  # not retried: retrying cannot help
        assert "empty" in session.get(Document, empty).status_reason.lower()


def test_a_job_whose_worker_died_is_resumed_without_duplicate_chunks(env):
    sessions, worker, _, ids = env
    doc_id = add_document(sessions, ids, "policy.txt", b"Vacation requests need two weeks notice. " * 50)
    drain(worker)
    # Reindex, and let a worker "die" right after claiming the job.
    with session_scope(sessions) as session:
        queue_document(session, session.get(Document, doc_id))
    with session_scope(sessions) as session:
        [dead] = jobs.claim(session, "dead-worker", 60, "ingest_document")
    assert not worker.run_once(), "a job under a live lease must not be taken"
    with session_scope(sessions) as session:
        session.get(Job, dead.id).lease_expires_on = utcnow() - timedelta(seconds=1)
    drain(worker)
    with session_scope(sessions) as session:
        job = session.get(Job, dead.id)
        assert job.status == "completed" and job.attempts == 2 and job.locked_by == ""
        ordinals = session.scalars(select(Chunk.ordinal).where(Chunk.document_id == doc_id)).all()
        assert sorted(ordinals) == list(range(len(ordinals)))
        assert session.get(Document, doc_id).chunk_count == len(ordinals)


def test_cancelled_jobs_do_not_write(env):
    sessions, worker, _, ids = env
    doc_id = add_document(sessions, ids, "cancel.txt", b"Some text to index. " * 20)
    with session_scope(sessions) as session:
        assert jobs.cancel_for_document(session, doc_id) == 1
    drain(worker)
    with session_scope(sessions) as session:
        assert session.scalar(select(func.count()).select_from(Chunk).where(Chunk.document_id == doc_id)) == 0
