"""Contextual AI documents: multipart ingest (every format Parley parses offline) through the real
pipeline, statuses, listing with filters, metadata get/set (reaching the search filters), delete."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from parley.corpora.models import Chunk, Document, DocumentFile
from parley.jobs.models import Job
from parley.surfaces.contextual.ids import Kind
from tests.support.world import World
from tests.surfaces.contextual.conftest import Tenant
from tests.surfaces.contextual.helpers import (
    DOCS,
    LEAVE,
    REFUND,
    TIMESTAMP,
    UUID,
    Caller,
    add_document,
    assert_detail,
    assert_invalid,
    create_datastore,
    ingest,
    ok,
    row_id,
    wait,
)
from tests.surfaces.ejento.factories import _save, count, fresh, reload

METADATA = {
    "custom_metadata": {
        "topic": "refunds",
        "year": 2024,
        "score": 4.5,
        "public": True,
        "tags": ["policy", "money"],
    },
    "custom_metadata_config": {"topic": {"filterable": True, "returned_in_response": True}},
}
VIEW_KEYS = {
    "id",
    "name",
    "created_at",
    "updated_at",
    "status",
    "custom_metadata",
    "has_access",
    "ingestion_config",
}


def chunk_metadata(db: Session, document_id: int) -> list[dict]:
    fresh(db)
    return [c.chunk_metadata for c in db.scalars(select(Chunk).where(Chunk.document_id == document_id))]


def stored_document(db: Session, acme: Tenant, corpus_id: int, name: str, **fields: object) -> Document:
    """A document row arranged directly (no file, no job), for states the worker passes quickly."""
    return _save(
        db,
        Document(
            org_id=acme.org.id,
            corpus_id=corpus_id,
            user_id=acme.owner.id,
            name=name,
            content_type="file",
            tags=[],
            doc_metadata={},
            created_by="t",
            **fields,
        ),
    )


def test_every_offline_format_is_ingested(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    files = {
        "multi_page.pdf": ("application/pdf", (DOCS / "pdf" / "multi_page.pdf").read_bytes()),
        "example_03.html": ("text/html", (DOCS / "html" / "example_03.html").read_bytes()),
        "lorem_ipsum.docx": ("application/octet-stream", (DOCS / "docx" / "lorem_ipsum.docx").read_bytes()),
        "powerpoint_sample.pptx": ("", (DOCS / "pptx" / "powerpoint_sample.pptx").read_bytes()),
        "xlsx_01.xlsx": ("application/octet-stream", (DOCS / "xlsx" / "xlsx_01.xlsx").read_bytes()),
        "wiki.md": ("text/markdown", (DOCS / "md" / "wiki.md").read_bytes()),
        "notes.txt": ("text/plain", LEAVE.encode()),
    }
    ingested = {}
    for name, (mime, data) in files.items():
        created = ok(ingest(acme.owner, datastore_id, name, data, mime=mime))
        assert set(created) == {"id"} and re.match(UUID, created["id"])
        ingested[name] = created["id"]
    for name, document_id in ingested.items():
        done = wait(acme.owner, datastore_id, document_id)
        assert done["status"] == "completed", (name, done)
        assert done["name"] == name and done["id"] == document_id
        row = reload(db, Document, row_id(Kind.DOCUMENT, document_id))
        assert row.chunk_count > 0 and row.upload_from == "contextual" and row.name == name
        assert db.get(DocumentFile, row.id).data == files[name][1]
    assert reload(db, Document, row_id(Kind.DOCUMENT, ingested["multi_page.pdf"])).page_count == 5


def test_document_metadata_shape_and_custom_metadata(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    configuration = {"chunking": {"chunking_mode": "page_level"}}
    created = ok(
        ingest(acme.owner, datastore_id, "refund.md", REFUND, metadata=METADATA, configuration=configuration)
    )
    done = wait(acme.owner, datastore_id, created["id"])
    assert set(done) == VIEW_KEYS | {"custom_metadata_config"}
    assert done["id"] == created["id"] and done["name"] == "refund.md" and done["status"] == "completed"
    assert re.match(TIMESTAMP, done["created_at"]) and re.match(TIMESTAMP, done["updated_at"])
    assert done["custom_metadata"] == METADATA["custom_metadata"] and done["has_access"] is True
    assert done["custom_metadata_config"] == METADATA["custom_metadata_config"]
    assert done["ingestion_config"] == configuration
    # The custom metadata is the document's metadata (what filters read), "tags" its tags.
    row = reload(db, Document, row_id(Kind.DOCUMENT, created["id"]))
    assert row.tags == ["policy", "money"]
    assert {k: v for k, v in row.doc_metadata.items() if not k.startswith("__")} == {
        "topic": "refunds", "year": 2024, "score": 4.5, "public": True,
    }  # fmt: skip
    assert all(
        m["topic"] == "refunds" and m["tags"] == ["policy", "money"] for m in chunk_metadata(db, row.id)
    )

    listed = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/documents"))
    assert listed == {"documents": [done], "total_count": 1}


def test_set_metadata_replaces_it_and_reaches_the_filters(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    document_id = add_document(acme.owner, datastore_id, "refund.md", REFUND, METADATA)
    agent_id = ok(acme.owner.post("/v1/agents", json={"name": "Desk", "datastore_ids": [datastore_id]}))["id"]

    def found(value: str) -> list[str]:
        body = {
            "messages": [{"role": "user", "content": "refund card"}],
            "documents_filters": {"field": "topic", "operator": "equals", "value": value},
        }
        r = acme.owner.post(f"/v1/agents/{agent_id}/query", params={"retrievals_only": "true"}, json=body)
        return [c["doc_id"] for c in ok(r)["retrieval_contents"]]

    assert found("refunds") == [document_id] and found("returns") == []
    path = f"/v1/datastores/{datastore_id}/documents/{document_id}/metadata"
    updated = ok(acme.owner.put(path, json={"custom_metadata": {"topic": "returns", "region": "EU"}}))
    # Replaced as a whole (tags included); the config was not given, so it stays.
    assert updated["custom_metadata"] == {"topic": "returns", "region": "EU"}
    assert updated["custom_metadata_config"] == METADATA["custom_metadata_config"]
    assert ok(acme.owner.get(path)) == updated
    row = reload(db, Document, row_id(Kind.DOCUMENT, document_id))
    assert row.tags == [] and row.doc_metadata["topic"] == "returns"
    assert all(m["topic"] == "returns" and m["tags"] == [] for m in chunk_metadata(db, row.id))
    assert found("refunds") == [] and found("returns") == [document_id]

    config = {"region": {"returned_in_response": True, "filterable": False}}
    updated = ok(acme.owner.put(path, json={"custom_metadata_config": config}))
    assert updated["custom_metadata_config"] == config and updated["custom_metadata"]["region"] == "EU"


def test_statuses_follow_the_documents_and_their_jobs(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    corpus_id = row_id(Kind.DATASTORE, datastore_id)
    rows = {}
    # Arranged in the database: the worker finishes real uploads before a test could see them.
    for name, status, attempts in [
        ("queued.txt", "queued", 0),
        ("again.txt", "queued", 1),
        ("parsing.txt", "parsing", 1),
        ("embedding.txt", "embedding", 1),
        ("done.txt", "completed", 1),
        ("broken.txt", "failed", 3),
        ("stopped.txt", "cancelled", 0),
    ]:
        document = stored_document(db, acme, corpus_id, name, status=status)
        job_status = "queued" if status == "queued" else "completed"
        _save(
            db,
            Job(
                org_id=acme.org.id,
                kind="other",
                document_id=document.id,
                status=job_status,
                attempts=attempts,
            ),
        )
        rows[name] = document
    expected = {
        "queued.txt": "pending",
        "again.txt": "retrying",
        "parsing.txt": "processing",
        "embedding.txt": "processing",
        "done.txt": "completed",
        "broken.txt": "failed",
        "stopped.txt": "cancelled",
    }
    listed = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/documents"))["documents"]
    assert {d["name"]: d["status"] for d in listed} == expected
    for status in ("pending", "retrying", "processing", "completed", "failed", "cancelled"):
        page = ok(
            acme.owner.get(
                f"/v1/datastores/{datastore_id}/documents", params={"ingestion_job_status": status}
            )
        )
        assert sorted(d["name"] for d in page["documents"]) == sorted(
            n for n, s in expected.items() if s == status
        )
        assert page["total_count"] == len(page["documents"])
    both = ok(
        acme.owner.get(
            f"/v1/datastores/{datastore_id}/documents",
            params=[("ingestion_job_status", s) for s in ("failed", "pending")],
        )
    )
    assert sorted(d["name"] for d in both["documents"]) == ["broken.txt", "queued.txt"]
    assert_invalid(
        acme.owner.get(f"/v1/datastores/{datastore_id}/documents", params={"ingestion_job_status": "queued"}),
        "ingestion_job_status",
    )


def test_listing_filters_and_pages(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    corpus_id = row_id(Kind.DATASTORE, datastore_id)
    now = datetime.now(UTC)
    for n, name in enumerate(["report_a.pdf", "report_b.pdf", "memo_%.txt", "report_c.pdf"]):
        stored_document(db, acme, corpus_id, name, status="completed", created_on=now - timedelta(days=3 - n))
    path = f"/v1/datastores/{datastore_id}/documents"
    names = lambda params: [d["name"] for d in ok(acme.owner.get(path, params=params))["documents"]]  # noqa: E731
    assert names({"document_name_prefix": "report_"}) == ["report_c.pdf", "report_b.pdf", "report_a.pdf"]
    assert names({"document_name_prefix": "memo_%"}) == ["memo_%.txt"]
    assert names({"document_name_prefix": "memo_x"}) == []
    day = (now - timedelta(days=1, hours=12)).replace(tzinfo=None).isoformat()
    assert names({"uploaded_after": day}) == ["report_c.pdf", "memo_%.txt"]
    assert names({"uploaded_before": day}) == ["report_b.pdf", "report_a.pdf"]
    first = ok(acme.owner.get(path, params={"limit": 3}))
    assert first["total_count"] == 4 and len(first["documents"]) == 3 and first["next_cursor"]
    rest = ok(acme.owner.get(path, params={"limit": 3, "cursor": first["next_cursor"]}))
    assert [d["name"] for d in rest["documents"]] == ["report_a.pdf"] and "next_cursor" not in rest
    assert_invalid(acme.owner.get(path, params={"uploaded_after": "yesterday"}), "uploaded_after")


def test_unreadable_files_fail_and_unsupported_ones_are_refused(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    broken = ok(
        ingest(acme.owner, datastore_id, "broken.pdf", b"%PDF-1.7 not really a pdf", "application/pdf")
    )
    assert wait(acme.owner, datastore_id, broken["id"])["status"] == "failed"
    before = count(db, Document)
    png = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
    assert_detail(
        ingest(acme.owner, datastore_id, "scan.png", png, "image/png"), 400, "Unsupported file type"
    )
    assert_detail(ingest(acme.owner, datastore_id, "empty.txt", b"", "text/plain"), 400, "empty")
    assert count(db, Document) == before


def test_bad_form_fields_are_refused_and_nothing_is_written(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    before = count(db, Document)
    url = f"/v1/datastores/{datastore_id}/documents"
    assert_invalid(
        acme.owner.post(url, data={"metadata": "{}"}, files={"other": ("a.txt", b"x", "text/plain")}), "file"
    )
    for raw in [
        "{not json",
        "[1, 2]",
        '{"custom_metadata": {"a": {"nested": 1}}}',
        '{"custom_metadata": "x"}',
    ]:
        r = acme.owner.post(url, data={"metadata": raw}, files={"file": ("a.txt", b"hello", "text/plain")})
        assert_detail(r, 400, "metadata")
    for custom in [{"__contextual": "x"}, {"tags": [1, 2]}, {"a": "nul \x00"}, {"": "blank"}]:
        assert_detail(
            ingest(acme.owner, datastore_id, "a.txt", "hello", metadata={"custom_metadata": custom}), 400
        )
    bad_config = {"chunking": {"chunking_mode": "nope"}}
    assert_detail(
        ingest(acme.owner, datastore_id, "a.txt", "hello", configuration=bad_config), 400, "configuration"
    )
    assert count(db, Document) == before


def test_delete_document(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    document_id = add_document(acme.owner, datastore_id, "refund.md", REFUND)
    other_store = create_datastore(acme.owner, "Elsewhere")
    # A document is reached through its own datastore only.
    assert_detail(acme.owner.get(f"/v1/datastores/{other_store}/documents/{document_id}/metadata"), 404)
    assert_detail(acme.owner.delete(f"/v1/datastores/{other_store}/documents/{document_id}"), 404)
    assert ok(acme.owner.delete(f"/v1/datastores/{datastore_id}/documents/{document_id}")) == {}
    row = reload(db, Document, row_id(Kind.DOCUMENT, document_id))
    assert row.is_deleted is True and chunk_metadata(db, row.id) == []
    assert_detail(
        acme.owner.get(f"/v1/datastores/{datastore_id}/documents/{document_id}/metadata"), 404, "Document"
    )
    assert_detail(acme.owner.delete(f"/v1/datastores/{datastore_id}/documents/{document_id}"), 404)


def test_another_organisation_and_read_only_keys(acme: Tenant, other: Caller, world: World, db: Session):
    datastore_id = create_datastore(acme.owner)
    document_id = add_document(acme.owner, datastore_id, "refund.md", REFUND, METADATA)
    doc_path = f"/v1/datastores/{datastore_id}/documents/{document_id}"
    for r in [
        ingest(other, datastore_id, "mine.txt", "hello"),
        other.get(f"{doc_path}/metadata"),
        other.put(f"{doc_path}/metadata", json={"custom_metadata": {"topic": "x"}}),
        other.delete(doc_path),
        other.get(f"/v1/datastores/{datastore_id}/documents"),
    ]:
        assert_detail(r, 404)
        assert "refund" not in r.text
    reader = Caller(world.key_for(acme.owner.actor, "read_only"))
    assert ok(reader.get(f"{doc_path}/metadata"))["name"] == "refund.md"
    assert ok(reader.get(f"/v1/datastores/{datastore_id}/documents"))["total_count"] == 1
    assert_detail(ingest(reader, datastore_id, "more.txt", "hello"), 403)
    assert_detail(reader.put(f"{doc_path}/metadata", json={"custom_metadata": {}}), 403)
    assert_detail(reader.delete(doc_path), 403)
    row = reload(db, Document, row_id(Kind.DOCUMENT, document_id))
    assert row.is_deleted is False and row.doc_metadata["topic"] == "refunds"
    assert count(db, Document) == 1
