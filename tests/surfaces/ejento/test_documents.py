"""Ejento V2 Document group and the document endpoints of the Corpus group, with real ingestion
by the test app's in-process worker (tests poll Document Polling until the status is final)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.accounts.models import Organization, UserPermission
from parley.corpora.models import Chunk, Corpus, CorpusPermission, Document, DocumentFile
from parley.jobs.models import Job
from parley.search.filters import parse_filter
from parley.search.service import hybrid_search
from parley.search.vector import VectorCache
from tests.conftest import TEST_DATA
from tests.support.world import Actor, World
from tests.surfaces.ejento.factories import (
    QUEUED,
    TIMESTAMP,
    _save,
    add_text,
    assert_error,
    count,
    fresh,
    make_corpus,
    poll,
    reload,
    succeeded,
    upload,
)

DOCS = TEST_DATA / "docs"
VIEW_KEYS = {
    "id", "corpus", "user", "name", "content_type", "source", "upload_from", "mime_type", "size_bytes",
    "content_hash", "status", "step", "status_reason", "page_count", "chunk_count", "token_count", "tags",
    "metadata", "is_deleted", "created_by", "created_on", "modified_by", "modified_on", "indexed_on",
    "access_url",
}  # fmt: skip
POLLING_KEYS = {
    "id", "status", "step", "progress", "attempts", "status_reason", "stage_timings", "chunk_count",
    "page_count", "token_count", "created_on", "indexed_on", "job_id",
}  # fmt: skip
REFUND = "Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund.\n"
LEAVE = "Leave rules\n\nEmployees request vacation two weeks in advance through the portal.\n"


@dataclass
class Tenant:
    org: Organization
    admin: Actor
    owner: Actor
    reader: Actor  # granted read on the corpus
    corpus: Corpus  # private, owned by ``owner``


@pytest.fixture
def t(world: World, db: Session) -> Tenant:
    org = world.org("Acme")
    admin, owner, reader = world.user(org, admin=True), world.user(org), world.user(org)
    corpus = make_corpus(db, owner, name="Handbook")
    _save(db, CorpusPermission(corpus_id=corpus.id, user_id=reader.id, permission="read", created_by="t"))
    return Tenant(org, admin, owner, reader, corpus)


def chunks_of(db: Session, document_id: int) -> list[Chunk]:
    fresh(db)
    return list(db.scalars(select(Chunk).where(Chunk.document_id == document_id).order_by(Chunk.ordinal)))


def searched(db: Session, corpus_id: int, query: str, raw_filter: dict | None = None) -> set[int]:
    fresh(db)
    filters = parse_filter(raw_filter) if raw_filter else None
    return {h.document_id for h in hybrid_search(db, VectorCache(), query, None, [corpus_id], filters)}


# -- Create Document In Corpus, Document Polling, Get Document, content ----------------------------


def test_uploads_are_stored_queued_and_indexed_by_the_worker(t, db):
    tagged = add_text(
        t.owner, t.corpus.id, REFUND, user_id=t.owner.id, tags="hr, policy,hr", metadata='{"year": 2024}'
    )
    pdf_bytes = (DOCS / "pdf" / "multi_page.pdf").read_bytes()
    pdf = succeeded(
        upload(t.owner, t.corpus.id, "file", ("multi_page.pdf", pdf_bytes, "application/pdf")), 201, QUEUED
    )
    html_bytes = (DOCS / "html" / "example_01.html").read_bytes()
    html = succeeded(
        upload(
            t.owner,
            t.corpus.id,
            "file",
            ("../../example_01.html", html_bytes, "application/octet-stream"),
            tags='["web"]',
        ),
        201,
        QUEUED,
    )

    # The V2 indexing answer {id, source, access_url, step: "pending"} plus the document.
    assert VIEW_KEYS | {"statusQueryGetUri", "job_id", "duplicate_of"} == set(tagged)
    base = "http://testserver"
    assert tagged["step"] == "pending" and tagged["status"] == "queued" and tagged["status_reason"] == ""
    assert tagged["statusQueryGetUri"] == f"{base}/v2/api/document/{tagged['id']}/polling"
    assert tagged["access_url"] == f"{base}/v2/api/document/{tagged['id']}/content"
    assert (
        tagged["name"] == "Refund policy" and tagged["source"] == "text" and tagged["content_type"] == "text"
    )
    assert tagged["mime_type"] == "text/plain" and tagged["size_bytes"] == len(REFUND.encode())
    assert tagged["content_hash"] == hashlib.sha256(REFUND.encode()).hexdigest()
    assert tagged["tags"] == ["hr", "policy"] and tagged["metadata"] == {"year": 2024}
    assert tagged["corpus"] == t.corpus.id and tagged["user"] == t.owner.id and tagged["upload_from"] == "web"
    assert (
        tagged["created_by"] == t.owner.email
        and tagged["modified_by"] == ""
        and tagged["is_deleted"] is False
    )
    assert TIMESTAMP.match(tagged["created_on"]) and tagged["indexed_on"] is None
    assert tagged["chunk_count"] == 0 and tagged["page_count"] is None and tagged["duplicate_of"] == []
    assert (pdf["name"], pdf["source"], pdf["mime_type"], pdf["size_bytes"]) == (
        "multi_page.pdf", "multi_page.pdf", "application/pdf", len(pdf_bytes),
    )  # fmt: skip
    # Directories are dropped from file names; a generic declared type gives way to the extension.
    assert html["name"] == "example_01.html" and html["mime_type"] == "text/html" and html["tags"] == ["web"]
    fresh(db)
    assert db.get(DocumentFile, pdf["id"]).data == pdf_bytes
    assert db.get(Job, pdf["job_id"]).document_id == pdf["id"]

    for doc in (tagged, pdf, html):
        done = poll(t.owner, doc["id"])
        assert set(done) == POLLING_KEYS
        assert done["status"] == "completed" and done["step"] == "completed", done
        assert done["chunk_count"] > 0 and done["token_count"] > 0 and done["progress"] == 1.0
        assert done["attempts"] == 1 and done["job_id"] == doc["job_id"] and done["status_reason"] == ""
        assert {"parsing", "chunking", "embedding", "indexing"} <= set(done["stage_timings"])
        assert TIMESTAMP.match(done["indexed_on"])
        assert len(chunks_of(db, doc["id"])) == done["chunk_count"]
    assert poll(t.owner, pdf["id"])["page_count"] == 5
    # Chunks carry the document's metadata and tags, for filters.
    metadata = [c.chunk_metadata for c in chunks_of(db, tagged["id"])]
    assert metadata and all(m == {"year": 2024, "tags": ["hr", "policy"]} for m in metadata)

    got = succeeded(t.owner.get(f"/v2/api/document/{pdf['id']}"), 200, "Document fetched successfully.")
    assert set(got) == VIEW_KEYS and got["status"] == "completed" and got["page_count"] == 5
    assert got["step"] == "completed" and TIMESTAMP.match(got["indexed_on"])

    r = t.reader.get(f"/v2/api/document/{pdf['id']}/content")
    assert r.status_code == 200 and r.content == pdf_bytes
    assert r.headers["content-type"] == "application/pdf" and r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["content-disposition"].startswith('attachment; filename="multi_page.pdf"')
    r = t.owner.get(f"/v2/api/document/{tagged['id']}/content")
    assert r.content == REFUND.encode() and r.headers["content-type"].startswith("text/plain")
    assert 'filename="Refund policy.txt"' in r.headers["content-disposition"]


def test_unreadable_documents_fail_with_a_reason_and_no_chunks(t, db):
    corrupt = upload(
        t.owner, t.corpus.id, "file", ("broken.pdf", b"%PDF-1.7 not really a pdf", "application/pdf")
    )
    empty = upload(t.owner, t.corpus.id, "file", ("empty.txt", b"", "text/plain"))
    link = upload(t.owner, t.corpus.id, "weblink", "https://example.com/handbook.html")
    corrupt, empty, link = (succeeded(r, 201, QUEUED) for r in (corrupt, empty, link))
    assert empty["size_bytes"] == 0
    # A web link keeps its URL: it is the name, the source and the access URL; nothing is stored.
    assert link["name"] == link["source"] == link["access_url"] == "https://example.com/handbook.html"
    assert link["content_hash"] == "" and link["size_bytes"] == 0
    for doc in (corrupt, empty, link):
        done = poll(t.owner, doc["id"])
        assert done["status"] == "failed" and done["step"] == "failed" and done["status_reason"], done
        assert done["chunk_count"] == 0 and chunks_of(db, doc["id"]) == []
        assert done["attempts"] == 1 and done["progress"] == 1.0  # not retried: it cannot help
    assert "empty" in poll(t.owner, empty["id"])["status_reason"].lower()
    assert "Fetching web links is disabled" in poll(t.owner, link["id"])["status_reason"]
    fresh(db)
    assert db.get(DocumentFile, link["id"]) is None
    assert_error(
        t.owner.get(f"/v2/api/document/{link['id']}/content"), 404, "This document has no stored content."
    )


def test_create_document_refuses_bad_input_and_writes_nothing(t, world, db):
    stranger = world.user(world.org("Elsewhere"))
    url = f"/v2/api/corpus/{t.corpus.id}/document"
    cases = [
        (upload(t.owner, t.corpus.id, "pdf", "hello"), 400),
        (t.owner.post(url, data={"source": "hello"}, files={"_": ("", b"")}), 400),  # no content_type
        (upload(t.owner, t.corpus.id, "text", None), 400),
        (upload(t.owner, t.corpus.id, "text", "   \n  "), 400),
        (upload(t.owner, t.corpus.id, "file", "not a file"), 400),
        (upload(t.owner, t.corpus.id, "text", ("a.txt", b"a file", "text/plain")), 400),
        (upload(t.owner, t.corpus.id, "text", "nul \x00 byte"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", metadata="{not json"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", metadata="[1, 2]"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", metadata='{"tags": ["x"]}'), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", metadata='{"a": "\\u0000"}'), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", metadata='{"a":' * 40 + "1" + "}" * 40), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", tags='["ok", 5]'), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", tags="[unclosed"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", tags=",".join(f"t{i}" for i in range(51))), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", upload_from="x" * 51), 400),
        (upload(t.owner, t.corpus.id, "weblink", "ftp://example.com/file.pdf"), 400),
        (upload(t.owner, t.corpus.id, "weblink", "javascript:alert(1)"), 400),
        (upload(t.owner, t.corpus.id, "weblink", "https://"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", user_id="abc"), 400),
        (upload(t.owner, t.corpus.id, "text", "hello", user_id=t.reader.id), 403),  # not an admin
        (upload(t.admin, t.corpus.id, "text", "hello", user_id=stranger.id), 404),  # another organisation
        (upload(t.owner, 999_999, "text", "hello"), 404),
        (t.owner.post("/v2/api/corpus/abc/document", data={"content_type": "text", "source": "x"}), 400),
        (t.owner.post(url, json={"content_type": "text", "source": "hello"}), 400),  # not a form
    ]
    for r, status in cases:
        assert_error(r, status)
    assert count(db, Document) == 0 and count(db, DocumentFile) == 0 and count(db, Job) == 0


def test_an_admin_uploads_on_behalf_of_a_user(t, db):
    doc = add_text(t.admin, t.corpus.id, LEAVE, user_id=t.reader.id)
    assert doc["user"] == t.reader.id and doc["created_by"] == t.admin.email
    assert reload(db, Document, doc["id"]).user_id == t.reader.id


# -- Get All Documents From Corpus -----------------------------------------------------------------


def _document(db: Session, corpus: Corpus, owner: Actor, name: str, **values: object) -> Document:
    fields = {"content_type": "text", "source": "text", "status": "completed", "created_by": owner.email}
    return _save(
        db,
        Document(
            org_id=corpus.org_id, corpus_id=corpus.id, user_id=owner.id, name=name, **{**fields, **values}
        ),
    )


def test_get_all_documents_from_corpus_paginates_and_filters(t, db):
    url = f"/v2/api/corpus/{t.corpus.id}/document"
    a = _document(db, t.corpus, t.owner, "Alpha 100% guide.pdf", tags=["hr", "guide"])
    b = _document(db, t.corpus, t.owner, "beta notes.txt", status="failed", tags=["hr"])
    c = _document(db, t.corpus, t.owner, "Gamma.docx", status="queued")
    _document(db, t.corpus, t.owner, "deleted.txt", is_deleted=True)
    _document(db, make_corpus(db, t.owner), t.owner, "another corpus.txt")

    data = succeeded(t.reader.get(url), 200, "Documents fetched successfully.")
    assert {k: data[k] for k in ("count", "num_pages", "current_page")} == {
        "count": 3,
        "num_pages": 1,
        "current_page": 1,
    }
    assert [d["id"] for d in data["documents"]] == [c.id, b.id, a.id]  # newest first
    assert set(data["documents"][0]) == VIEW_KEYS and data["documents"][0]["step"] == "pending"

    def listed(**params: object) -> list[int]:
        found = succeeded(t.reader.get(url, params=params), 200, "Documents fetched successfully.")
        return [d["id"] for d in found["documents"]]

    assert listed(status="failed") == [b.id]
    assert listed(tag="hr") == [b.id, a.id] and listed(tag="guide") == [a.id] and listed(tag="HR") == []
    assert listed(query="ALPHA") == [a.id] and listed(query="100%") == [a.id] and listed(query="_") == []
    assert listed(query="a", status="completed", tag="guide") == [a.id]
    page = succeeded(
        t.reader.get(url, params={"items_per_page": 2, "page": 2}), 200, "Documents fetched successfully."
    )
    assert page["num_pages"] == 2 and [d["id"] for d in page["documents"]] == [a.id]
    assert (
        succeeded(t.reader.get(url, params={"page": 1000}), 200, "Documents fetched successfully.")[
            "documents"
        ]
        == []
    )
    for params in ({"items_per_page": 0}, {"status": "pending"}, {"page": "x"}, {"tag": "x" * 101}):
        assert_error(t.reader.get(url, params=params), 400)
    assert_error(t.reader.get("/v2/api/corpus/999999/document"), 404, "Corpus not found.")


# -- Edit Document, Add Or Remove Tags On Document --------------------------------------------------


def test_metadata_and_tag_edits_reach_the_chunks_and_filters_at_once(t, db):
    doc = add_text(t.owner, t.corpus.id, REFUND, tags="hr", metadata='{"kind": "policy"}')
    assert poll(t.owner, doc["id"])["status"] == "completed"
    url = f"/v2/api/document/{doc['id']}"
    query = "customers return goods refund"
    assert searched(db, t.corpus.id, query, {"field": "kind", "operator": "equals", "value": "policy"}) == {
        doc["id"]
    }

    edited = succeeded(
        t.owner.put(url, json={"name": "Refunds", "metadata": {"kind": "manual", "year": 2025}}),
        200,
        "Document updated successfully.",
    )
    assert edited["name"] == "Refunds" and edited["metadata"] == {"kind": "manual", "year": 2025}
    assert edited["modified_by"] == t.owner.email and edited["tags"] == ["hr"]
    expected = {"kind": "manual", "year": 2025, "tags": ["hr"]}
    assert all(c.chunk_metadata == expected for c in chunks_of(db, doc["id"]))
    assert (
        searched(db, t.corpus.id, query, {"field": "kind", "operator": "equals", "value": "policy"}) == set()
    )
    assert searched(db, t.corpus.id, query, {"field": "year", "operator": "gte", "value": 2025}) == {
        doc["id"]
    }
    # A name-only edit leaves the metadata alone.
    renamed = succeeded(t.owner.put(url, json={"name": " Returns "}), 200, "Document updated successfully.")
    assert renamed["name"] == "Returns" and renamed["metadata"] == {"kind": "manual", "year": 2025}

    tagged = succeeded(
        t.owner.put(f"{url}/tags", json={"add": ["legal", "hr", "legal"], "remove": ["missing"]}),
        200,
        "Document tags updated successfully.",
    )
    assert tagged["tags"] == ["hr", "legal"]
    tagged = succeeded(
        t.owner.put(f"{url}/tags", json={"remove": ["hr"]}), 200, "Document tags updated successfully."
    )
    assert tagged["tags"] == ["legal"]
    assert all(c.chunk_metadata["tags"] == ["legal"] for c in chunks_of(db, doc["id"]))
    assert searched(db, t.corpus.id, query, {"field": "tags", "operator": "equals", "value": "legal"}) == {
        doc["id"]
    }
    assert searched(db, t.corpus.id, query, {"field": "tags", "operator": "equals", "value": "hr"}) == set()

    before = [(c.id, dict(c.chunk_metadata)) for c in chunks_of(db, doc["id"])]
    stored = reload(db, Document, doc["id"])
    snapshot = (stored.name, stored.doc_metadata, stored.tags)
    for path, body in [
        (url, {"name": None}),
        (url, {"name": "  "}),
        (url, {"metadata": None}),
        (url, {"metadata": ["not", "an", "object"]}),
        (url, {"metadata": {"tags": ["sneaky"]}}),
        (url, {"metadata": {"note": "nul \x00"}}),
        (f"{url}/tags", {}),
        (f"{url}/tags", {"add": ["x"], "remove": ["x"]}),
        (f"{url}/tags", {"add": "legal"}),
        (f"{url}/tags", {"add": [""]}),
        (f"{url}/tags", {"add": [f"t{i}" for i in range(50)]}),  # 51 tags in all
    ]:
        assert_error(t.owner.put(path, json=body), 400)
    assert_error(t.owner.put("/v2/api/document/999999", json={"name": "x"}), 404, "Document not found.")
    assert_error(t.owner.put("/v2/api/document/999999/tags", json={"add": ["x"]}), 404, "Document not found.")
    stored = reload(db, Document, doc["id"])
    assert (stored.name, stored.doc_metadata, stored.tags) == snapshot
    assert [(c.id, dict(c.chunk_metadata)) for c in chunks_of(db, doc["id"])] == before


# -- Delete Document(s) from Corpus ------------------------------------------------------------------


def test_deleting_documents_removes_their_chunks_and_cancels_their_jobs(t, db):
    refund, leave = add_text(t.owner, t.corpus.id, REFUND), add_text(t.owner, t.corpus.id, LEAVE)
    assert poll(t.owner, refund["id"])["status"] == poll(t.owner, leave["id"])["status"] == "completed"
    assert searched(db, t.corpus.id, "refund goods") == {refund["id"]}
    # A third document whose job another worker holds: deleting it must cancel the job.
    held = _document(db, t.corpus, t.owner, "held.txt", status="parsing")
    job = _save(db, Job(org_id=t.org.id, kind="ingest_document", document_id=held.id, corpus_id=t.corpus.id,
                        status="running", stage="parsing", locked_by="elsewhere"))  # fmt: skip
    version = reload(db, Corpus, t.corpus.id).index_version
    url = f"/v2/api/corpus/{t.corpus.id}/document"

    # All or nothing: one unknown id (or one of another corpus) and nothing is deleted.
    other_doc = _document(db, make_corpus(db, t.owner), t.owner, "other corpus.txt")
    for ids in ([refund["id"], 999_999], [refund["id"], other_doc.id]):
        assert_error(t.owner.request("DELETE", url, json={"document_ids": ids}), 404, "Document not found.")
    for body, params in [
        ({}, None),
        ({"document_ids": []}, None),
        (None, {"document_ids": "1,x"}),
        (None, None),
    ]:
        assert_error(t.owner.request("DELETE", url, json=body, params=params), 400)
    assert count(db, Document, Document.is_deleted.is_(True)) == 0

    deleted = succeeded(
        t.owner.request("DELETE", url, json={"document_ids": [refund["id"], held.id, refund["id"]]}),
        200,
        "Documents deleted successfully.",
    )
    assert [d["id"] for d in deleted] == [refund["id"], held.id] and all(d["is_deleted"] for d in deleted)
    assert all(d["modified_by"] == t.owner.email for d in deleted)
    assert chunks_of(db, refund["id"]) == [] and chunks_of(db, leave["id"])
    assert reload(db, Job, job.id).status == "cancelled"
    assert reload(db, Corpus, t.corpus.id).index_version > version
    assert searched(db, t.corpus.id, "refund goods") == set()
    assert_error(t.owner.get(f"/v2/api/document/{refund['id']}"), 404, "Document not found.")
    assert_error(t.owner.get(f"/v2/api/document/{refund['id']}/polling"), 404)
    assert [d["id"] for d in t.owner.get(url).json()["data"]["documents"]] == [leave["id"]]
    # Ids may come in the query string; an already deleted id is unknown.
    assert_error(t.owner.delete(url, params={"document_ids": str(refund["id"])}), 404)
    succeeded(
        t.owner.delete(url, params={"document_ids": str(leave["id"])}), 200, "Documents deleted successfully."
    )
    assert count(db, Chunk) == 0


# -- Check Duplicate Documents ---------------------------------------------------------------------


def test_duplicates_are_found_by_name_and_content(t, db):
    first = add_text(t.owner, t.corpus.id, REFUND)
    again = add_text(t.owner, t.corpus.id, REFUND)
    assert again["duplicate_of"] == [first["id"]] and again["content_hash"] == first["content_hash"]
    elsewhere = make_corpus(db, t.owner)
    _document(db, elsewhere, t.owner, "Refund policy", content_hash=first["content_hash"])
    url = f"/v2/api/corpus/{t.corpus.id}/document/duplicates"
    message = "Duplicate check completed successfully."

    data = succeeded(
        t.reader.post(
            url, json={"names": ["REFUND POLICY", "unknown.pdf"], "hashes": [first["content_hash"].upper()]}
        ),
        200,
        message,
    )
    assert [(n["name"], [d["id"] for d in n["duplicates"]]) for n in data["names"]] == [
        ("REFUND POLICY", [first["id"], again["id"]]),
        ("unknown.pdf", []),
    ]
    assert data["hashes"][0]["hash"] == first["content_hash"]
    assert [d["id"] for d in data["hashes"][0]["duplicates"]] == [first["id"], again["id"]]
    assert data["files"] == [] and data["has_duplicates"] is True
    assert set(data["hashes"][0]["duplicates"][0]) == VIEW_KEYS

    files = [
        ("files", ("copy.txt", REFUND.encode(), "text/plain")),
        ("files", ("new.txt", b"fresh", "text/plain")),
    ]
    data = succeeded(t.owner.post(url, data={"names": ["nothing"]}, files=files), 200, message)
    assert [
        (f["filename"], f["content_hash"], [d["id"] for d in f["duplicates"]]) for f in data["files"]
    ] == [
        ("copy.txt", first["content_hash"], [first["id"], again["id"]]),
        ("new.txt", hashlib.sha256(b"fresh").hexdigest(), []),
    ]
    assert data["names"] == [{"name": "nothing", "duplicates": []}]
    # A deleted document is no longer a duplicate.
    t.owner.request("DELETE", f"/v2/api/corpus/{t.corpus.id}/document", json={"document_ids": [first["id"]]})
    data = succeeded(t.owner.post(url, json={"hashes": [first["content_hash"]]}), 200, message)
    assert [d["id"] for d in data["hashes"][0]["duplicates"]] == [again["id"]]
    assert succeeded(t.owner.post(url, json={"names": ["x"]}), 200, message)["has_duplicates"] is False

    for body in ({}, {"hashes": ["abc"]}, {"names": [""]}, {"names": "x"}, {"hashes": ["g" * 64]}):
        assert_error(t.owner.post(url, json=body), 400)
    assert_error(t.owner.post(url, content=b"{bad", headers={"Content-Type": "application/json"}), 400)
    assert_error(t.owner.post(url, data={"files": "not a file"}, files={"_": ("", b"")}), 400)
    assert_error(t.owner.post("/v2/api/corpus/999999/document/duplicates", json={"names": ["x"]}), 404)


# -- refresh: Document and Corpus --------------------------------------------------------------------


def test_refresh_reindexes_without_duplicate_chunks(t, db):
    doc = add_text(t.owner, t.corpus.id, REFUND)
    other = add_text(t.owner, t.corpus.id, LEAVE)
    first = poll(t.owner, doc["id"])
    poll(t.owner, other["id"])
    chunk_count = first["chunk_count"]

    again = succeeded(
        t.owner.post(f"/v2/api/document/{doc['id']}/refresh"), 200, "Document has been queued for reindexing"
    )
    assert again["id"] == doc["id"] and again["step"] == "pending" and again["job_id"] != doc["job_id"]
    assert again["statusQueryGetUri"].endswith(f"/v2/api/document/{doc['id']}/polling")
    done = poll(t.owner, doc["id"])
    assert (
        done["status"] == "completed"
        and done["job_id"] == again["job_id"]
        and done["chunk_count"] == chunk_count
    )
    assert len(chunks_of(db, doc["id"])) == chunk_count
    assert count(db, Job, Job.document_id == doc["id"]) == 2

    data = succeeded(
        t.owner.post(f"/v2/api/corpus/{t.corpus.id}/refresh"),
        200,
        "Corpus documents have been queued for reindexing",
    )
    assert data["corpus"] == t.corpus.id and data["count"] == 2
    assert data["document_ids"] == [doc["id"], other["id"]] and len(set(data["job_ids"])) == 2
    for doc_id in data["document_ids"]:
        assert poll(t.owner, doc_id)["status"] == "completed"
    assert len(chunks_of(db, doc["id"])) == chunk_count
    assert count(db, Chunk) == chunk_count + len(chunks_of(db, other["id"]))
    empty = make_corpus(db, t.owner)
    assert (
        succeeded(
            t.owner.post(f"/v2/api/corpus/{empty.id}/refresh"),
            200,
            "Corpus documents have been queued for reindexing",
        )["count"]
        == 0
    )
    assert_error(t.owner.post("/v2/api/document/999999/refresh"), 404)
    assert_error(t.owner.post("/v2/api/corpus/999999/refresh"), 404)
    assert_error(t.owner.post("/v2/api/document/0/refresh"), 400)


# -- Annotate Corpus ---------------------------------------------------------------------------------


def test_annotate_corpus_replaces_tags_and_description(t, db):
    url = f"/v2/api/corpus/{t.corpus.id}/annotate"
    data = succeeded(
        t.owner.put(url, json={"tags": ["hr", " legal ", "hr"]}), 200, "Corpus annotated successfully."
    )
    assert data["id"] == t.corpus.id and data["tags"] == ["hr", "legal"] and data["description"] == ""
    assert data["modified_by"] == t.owner.email and data["name"] == "Handbook"
    data = succeeded(
        t.owner.put(url, json={"tags": [], "description": "Policies"}), 200, "Corpus annotated successfully."
    )
    assert data["tags"] == [] and data["description"] == "Policies"
    for body in (
        {},
        {"tags": "hr"},
        {"tags": [""]},
        {"tags": ["x"], "description": None},
        {"tags": ["x"] * 51},
    ):
        assert_error(t.owner.put(url, json=body), 400)
    stored = reload(db, Corpus, t.corpus.id)
    assert (stored.tags, stored.description) == ([], "Policies")
    assert_error(t.reader.put(url, json={"tags": ["x"]}), 403)
    assert_error(t.owner.put("/v2/api/corpus/999999/annotate", json={"tags": ["x"]}), 404)


# -- permissions ---------------------------------------------------------------------------------


def _every_request(corpus_id: int, doc_id: int) -> list[tuple[str, str, object]]:
    return [
        ("GET", f"/v2/api/document/{doc_id}", None),
        ("PUT", f"/v2/api/document/{doc_id}", {"name": "x"}),
        ("PUT", f"/v2/api/document/{doc_id}/tags", {"add": ["x"]}),
        ("GET", f"/v2/api/document/{doc_id}/polling", None),
        ("POST", f"/v2/api/document/{doc_id}/refresh", None),
        ("GET", f"/v2/api/document/{doc_id}/content", None),
        ("GET", f"/v2/api/corpus/{corpus_id}/document", None),
        ("DELETE", f"/v2/api/corpus/{corpus_id}/document", {"document_ids": [doc_id]}),
        ("POST", f"/v2/api/corpus/{corpus_id}/document/duplicates", {"names": ["secret.txt"]}),
        ("PUT", f"/v2/api/corpus/{corpus_id}/annotate", {"tags": ["x"]}),
        ("POST", f"/v2/api/corpus/{corpus_id}/refresh", None),
    ]


def test_another_organisation_gets_404_for_every_document_and_corpus(t, other, db):
    doc = _document(db, t.corpus, t.owner, "secret.txt", tags=["keep"])
    _save(db, DocumentFile(document_id=doc.id, data=b"secret"))
    for method, path, body in _every_request(t.corpus.id, doc.id):
        r = other.request(method, path, json=body)
        assert r.status_code == 404, (method, path, r.text)
        assert "secret" not in r.text
    assert_error(upload(other, t.corpus.id, "text", "intruder"), 404, "Corpus not found.")
    # Their own corpus cannot reach our document either.
    theirs = make_corpus(db, other)
    assert_error(
        other.request("DELETE", f"/v2/api/corpus/{theirs.id}/document", json={"document_ids": [doc.id]}), 404
    )
    data = other.post(
        f"/v2/api/corpus/{theirs.id}/document/duplicates", json={"names": ["secret.txt"]}
    ).json()["data"]
    assert data["names"][0]["duplicates"] == []
    stored = reload(db, Document, doc.id)
    assert (stored.name, stored.tags, stored.is_deleted, stored.status) == (
        "secret.txt",
        ["keep"],
        False,
        "completed",
    )
    assert reload(db, Corpus, t.corpus.id).tags == [] and count(db, Job) == 0 and count(db, Document) == 1


def test_readers_and_limited_keys_can_read_but_not_write(t, world, db):
    doc = _document(db, t.corpus, t.owner, "secret.txt")
    _save(db, DocumentFile(document_id=doc.id, data=b"secret"))
    reads = [(m, p, b) for m, p, b in _every_request(t.corpus.id, doc.id) if m == "GET"]
    writes = [(m, p, b) for m, p, b in _every_request(t.corpus.id, doc.id) if m != "GET"]
    read_only = world.key_for(t.owner, "read_only")
    documents_read = world.key_for(t.owner, "restricted", {"documents": "read"})
    for actor in (t.reader, read_only, documents_read):
        for method, path, _ in reads:
            assert actor.request(method, path).status_code == 200, (method, path)
    # The duplicates check is a read for the policy (the reader may run it) but a POST for API keys.
    assert (
        t.reader.post(f"/v2/api/corpus/{t.corpus.id}/document/duplicates", json={"names": ["x"]}).status_code
        == 200
    )
    for actor in (t.reader, read_only, documents_read):
        for method, path, body in writes:
            if actor is t.reader and path.endswith("/duplicates"):
                continue
            assert_error(actor.request(method, path, json=body), 403)
        assert_error(upload(actor, t.corpus.id, "text", "hello"), 403)
    corpora_only = world.key_for(t.owner, "restricted", {"corpora": "write"})
    for method, path, body in reads + writes:
        assert_error(corpora_only.request(method, path, json=body), 403)
    # A user the corpus is not shared with does not see it at all.
    outsider = world.user(t.org)
    for method, path, body in reads + writes:
        assert_error(outsider.request(method, path, json=body), 404)
    # A writer may upload unless the upload capability is refused.
    writer = world.user(t.org)
    _save(db, CorpusPermission(corpus_id=t.corpus.id, user_id=writer.id, permission="write", created_by="t"))
    _save(
        db,
        UserPermission(org_id=t.org.id, user_id=writer.id, permission="upload_documents", is_allowed=False),
    )
    assert_error(
        upload(writer, t.corpus.id, "text", "hello"), 403, "You do not have permission to upload documents."
    )
    succeeded(
        writer.put(f"/v2/api/document/{doc.id}/tags", json={"add": ["ok"]}),
        200,
        "Document tags updated successfully.",
    )
    stored = reload(db, Document, doc.id)
    assert (stored.name, stored.tags, stored.is_deleted) == ("secret.txt", ["ok"], False)
    assert count(db, Document) == 1 and count(db, Job) == 0
    fresh(db)
    assert db.scalar(select(func.count()).select_from(DocumentFile)) == 1
