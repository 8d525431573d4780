"""Helpers of the Contextual AI surface tests: a caller that authenticates as the SDK does
(``Authorization: Bearer <API key>``), ingestion through ``/v1`` with polling, and the
FastAPI-style error body."""

from __future__ import annotations

import json
import time
from typing import Any

from httpx import Response

from parley.surfaces.contextual import ids
from parley.surfaces.contextual.ids import Kind
from tests.conftest import TEST_DATA
from tests.support.world import Actor

DOCS = TEST_DATA / "docs"
FINAL = ("completed", "failed", "cancelled")
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
# Contextual's timestamps: ISO 8601, UTC, no zone.
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?$"

REFUND = (
    "Refund policy\n\nCustomers may return goods within thirty days of delivery for a full refund. "
    "Refunds are paid to the original card within five working days.\n"
)
LEAVE = (
    "Leave rules\n\nEmployees request vacation two weeks in advance through the HR portal. "
    "Unused vacation days expire at the end of March.\n"
)
SHIPPING = (
    "Shipping guide\n\nParcels leave the warehouse every weekday at noon. "
    "International parcels need a customs form signed by the sender.\n"
)


class Caller(Actor):
    """An API key used the way the contextual-client SDK uses it: as a bearer token only."""

    def __init__(self, actor: Actor) -> None:
        super().__init__(actor.client, actor.user, actor.secret, dict(actor.extra_headers))

    @property
    def actor(self) -> Actor:
        """The same key sent the Ejento way, for the Ejento endpoints."""
        return Actor(self.client, self.user, self.secret, self.extra_headers)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.secret}", **self.extra_headers}


def ok(r: Response, status: int = 200) -> Any:
    assert r.status_code == status, r.text
    return r.json()


def assert_detail(r: Response, status: int, contains: str | None = None) -> str:
    """An error in Contextual's (FastAPI's) format: ``{"detail": "<message>"}``."""
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"detail"} and isinstance(body["detail"], str) and body["detail"], body
    if contains is not None:
        assert contains in body["detail"], body
    return body["detail"]


def assert_invalid(r: Response, field: str) -> None:
    """FastAPI's 422: ``{"detail": [{"loc": [...], "msg": ..., "type": ...}]}``."""
    assert r.status_code == 422, r.text
    errors = r.json()["detail"]
    assert isinstance(errors, list) and errors and all({"loc", "msg", "type"} <= set(e) for e in errors)
    assert any(field in [str(part) for part in e["loc"]] for e in errors), errors


def create_datastore(caller: Caller, name: str = "Policies") -> str:
    return ok(caller.post("/v1/datastores", json={"name": name}))["id"]


def ingest(
    caller: Caller,
    datastore_id: str,
    name: str,
    data: bytes | str,
    mime: str = "text/markdown",
    metadata: dict | None = None,
    configuration: dict | None = None,
) -> Response:
    form = {}
    if metadata is not None:
        form["metadata"] = json.dumps(metadata)
    if configuration is not None:
        form["configuration"] = json.dumps(configuration)
    content = data.encode() if isinstance(data, str) else data
    return caller.post(
        f"/v1/datastores/{datastore_id}/documents", files={"file": (name, content, mime)}, data=form
    )


def wait(caller: Caller, datastore_id: str, document_id: str, timeout: float = 120.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        body = ok(caller.get(f"/v1/datastores/{datastore_id}/documents/{document_id}/metadata"))
        if body["status"] in FINAL:
            return body
        assert time.monotonic() < deadline, body
        time.sleep(0.1)


def add_document(
    caller: Caller, datastore_id: str, name: str, text: str, metadata: dict | None = None
) -> str:
    document_id = ok(ingest(caller, datastore_id, name, text, metadata=metadata))["id"]
    assert wait(caller, datastore_id, document_id)["status"] == "completed"
    return document_id


def row_id(kind: Kind, public_id: str) -> int:
    return ids.decode(kind, public_id)
