"""Contextual AI datastores: create, list (cursor pagination), metadata, update, delete, reset."""

from __future__ import annotations

import re

from sqlalchemy.orm import Session

from parley.corpora.models import Corpus, Document
from parley.surfaces.contextual.ids import Kind
from tests.support.world import World
from tests.surfaces.contextual.conftest import Tenant
from tests.surfaces.contextual.helpers import (
    REFUND,
    TIMESTAMP,
    UUID,
    Caller,
    add_document,
    assert_detail,
    assert_invalid,
    create_datastore,
    ok,
    row_id,
)
from tests.surfaces.ejento.factories import count, make_corpus, reload

CONFIGURATION = {
    "chunking": {
        "chunking_mode": "hierarchy_depth",
        "max_chunk_length_tokens": 768,
        "min_chunk_length_tokens": 384,
    },
    "parsing": {"enable_split_tables": True, "figure_caption_mode": "ignore"},
}


def test_datastore_lifecycle(acme: Tenant, db: Session):
    created = ok(acme.owner.post("/v1/datastores", json={"name": "Policies", "configuration": CONFIGURATION}))
    assert set(created) == {"id"} and re.match(UUID, created["id"])
    datastore_id = created["id"]
    corpus = reload(db, Corpus, row_id(Kind.DATASTORE, datastore_id))
    assert corpus.name == "Policies" and corpus.owner_id == acme.owner.id and corpus.corpus_type == "document"
    assert corpus.settings["configuration"] == CONFIGURATION

    listed = ok(acme.owner.get("/v1/datastores"))
    assert listed["total_count"] == 1 and "next_cursor" not in listed
    (item,) = listed["datastores"]
    assert set(item) == {"id", "name", "created_at", "datastore_type", "configuration"}
    assert (
        item["id"] == datastore_id and item["name"] == "Policies" and item["datastore_type"] == "UNSTRUCTURED"
    )
    assert re.match(TIMESTAMP, item["created_at"]) and item["configuration"] == CONFIGURATION

    metadata = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))
    assert set(metadata) == {
        "name",
        "created_at",
        "agent_ids",
        "datastore_type",
        "configuration",
        "datastore_usages",
    }
    assert (
        metadata["name"] == "Policies"
        and metadata["agent_ids"] == []
        and metadata["created_at"] == item["created_at"]
    )
    assert metadata["datastore_usages"] == {"size_gb": 0.0} and metadata["datastore_type"] == "UNSTRUCTURED"

    # Omitted fields keep their value.
    assert ok(acme.owner.put(f"/v1/datastores/{datastore_id}", json={"name": "Handbook"})) == {
        "id": datastore_id
    }
    metadata = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))
    assert metadata["name"] == "Handbook" and metadata["configuration"] == CONFIGURATION
    changed = {"html_config": {"max_chunk_length_tokens": 512}}
    ok(acme.owner.put(f"/v1/datastores/{datastore_id}", json={"configuration": changed}))
    assert ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))["configuration"] == changed

    add_document(acme.owner, datastore_id, "refund.md", REFUND)
    size = ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))["datastore_usages"]["size_gb"]
    assert size == len(REFUND.encode()) / 1e9

    # Reset removes the documents and keeps the datastore.
    assert ok(acme.owner.put(f"/v1/datastores/{datastore_id}/reset")) == {}
    assert count(db, Document, Document.corpus_id == corpus.id, Document.is_deleted.is_(False)) == 0
    assert ok(acme.owner.get(f"/v1/datastores/{datastore_id}/documents"))["documents"] == []

    assert ok(acme.owner.delete(f"/v1/datastores/{datastore_id}")) == {}
    assert reload(db, Corpus, corpus.id).is_deleted is True
    assert_detail(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"), 404, "Datastore not found")
    assert ok(acme.owner.get("/v1/datastores")) == {"datastores": [], "total_count": 0}


def test_cursor_pagination_walks_every_datastore_once(acme: Tenant):
    made = [create_datastore(acme.owner, f"Store {n}") for n in range(5)]
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = ok(acme.owner.get("/v1/datastores", params=params))
        assert page["total_count"] == 5 and len(page["datastores"]) <= 2
        seen += [d["id"] for d in page["datastores"]]
        pages += 1
        cursor = page.get("next_cursor")
        if not cursor:
            break
    assert pages == 3 and seen == list(reversed(made))  # newest first, none twice
    assert_detail(acme.owner.get("/v1/datastores", params={"cursor": "not-a-cursor"}), 400, "cursor")
    assert_invalid(acme.owner.get("/v1/datastores", params={"limit": 0}), "limit")


def test_corpora_made_elsewhere_are_datastores_too(acme: Tenant, db: Session):
    corpus = make_corpus(db, acme.owner.actor, name="From Ejento")
    (item,) = ok(acme.owner.get("/v1/datastores"))["datastores"]
    assert row_id(Kind.DATASTORE, item["id"]) == corpus.id and item["name"] == "From Ejento"


def test_bad_input_is_refused_and_nothing_is_written(acme: Tenant, db: Session):
    before = count(db, Corpus)
    assert_invalid(acme.owner.post("/v1/datastores", json={}), "name")
    assert_invalid(acme.owner.post("/v1/datastores", json={"name": "x" * 201}), "name")
    bad_mode = {"name": "A", "configuration": {"chunking": {"chunking_mode": "sentences"}}}
    assert_invalid(acme.owner.post("/v1/datastores", json=bad_mode), "chunking_mode")
    datastore_id = create_datastore(acme.owner, "Policies")
    # A taken name is a permanent conflict: 400, never 409 (which the SDK would retry).
    assert_detail(acme.owner.post("/v1/datastores", json={"name": "policies"}), 400, "already exists")
    other_id = create_datastore(acme.owner, "Other")
    assert_detail(acme.owner.put(f"/v1/datastores/{other_id}", json={"name": "Policies"}), 400)
    assert_invalid(acme.owner.put(f"/v1/datastores/{datastore_id}", json={"name": None}), "name")
    assert count(db, Corpus) == before + 2
    assert reload(db, Corpus, row_id(Kind.DATASTORE, other_id)).name == "Other"


def test_deleting_a_datastore_an_agent_uses_is_400(acme: Tenant, db: Session):
    datastore_id = create_datastore(acme.owner)
    agent_id = ok(acme.owner.post("/v1/agents", json={"name": "Helpdesk", "datastore_ids": [datastore_id]}))[
        "id"
    ]
    assert ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))["agent_ids"] == [agent_id]
    listed = ok(acme.owner.get("/v1/datastores", params={"agent_id": agent_id}))
    assert [d["id"] for d in listed["datastores"]] == [datastore_id]
    assert_detail(acme.owner.delete(f"/v1/datastores/{datastore_id}"), 400, "used by 1 agent")
    assert reload(db, Corpus, row_id(Kind.DATASTORE, datastore_id)).is_deleted is False
    # Deleting the agent keeps the datastore, which can then be deleted.
    assert ok(acme.owner.delete(f"/v1/agents/{agent_id}")) == {}
    assert ok(acme.owner.get(f"/v1/datastores/{datastore_id}/metadata"))["agent_ids"] == []
    assert ok(acme.owner.delete(f"/v1/datastores/{datastore_id}")) == {}


def test_another_organisations_datastore_is_not_found(acme: Tenant, other: Caller, db: Session):
    datastore_id = create_datastore(acme.owner, "Secret plans")
    for method, path, body in [
        ("GET", f"/v1/datastores/{datastore_id}/metadata", None),
        ("PUT", f"/v1/datastores/{datastore_id}", {"name": "Mine"}),
        ("DELETE", f"/v1/datastores/{datastore_id}", None),
        ("PUT", f"/v1/datastores/{datastore_id}/reset", None),
        ("GET", f"/v1/datastores/{datastore_id}/documents", None),
    ]:
        r = other.request(method, path, json=body)
        assert_detail(r, 404)
        assert "Secret" not in r.text
    assert ok(other.get("/v1/datastores"))["total_count"] == 0
    # A colleague does not see a private datastore either; an admin does.
    assert_detail(acme.colleague.get(f"/v1/datastores/{datastore_id}/metadata"), 404)
    assert ok(acme.admin.get(f"/v1/datastores/{datastore_id}/metadata"))["name"] == "Secret plans"
    # Ids of another kind, malformed ids and unknown ids are all "not found".
    for wrong in ["9a41e701-0000-4000-8000-000000000001", "nope", "9a41e702-0000-4000-8000-0000000fffff"]:
        assert_detail(acme.owner.get(f"/v1/datastores/{wrong}/metadata"), 404)
    assert reload(db, Corpus, row_id(Kind.DATASTORE, datastore_id)).name == "Secret plans"


def test_read_only_keys_read_but_cannot_write(acme: Tenant, world: World, db: Session):
    datastore_id = create_datastore(acme.owner)
    reader = Caller(world.key_for(acme.owner.actor, "read_only"))
    assert ok(reader.get("/v1/datastores"))["total_count"] == 1
    assert ok(reader.get(f"/v1/datastores/{datastore_id}/metadata"))["name"] == "Policies"
    assert_detail(reader.post("/v1/datastores", json={"name": "New"}), 403)
    assert_detail(reader.put(f"/v1/datastores/{datastore_id}", json={"name": "New"}), 403)
    assert_detail(reader.delete(f"/v1/datastores/{datastore_id}"), 403)
    assert count(db, Corpus, Corpus.is_deleted.is_(False)) == 1


def test_credentials_are_required(acme: Tenant):
    assert_detail(acme.owner.actor.client.get("/v1/datastores"), 401)
    assert_detail(
        acme.owner.actor.client.get("/v1/datastores", headers={"Authorization": "Bearer nope"}), 401
    )
