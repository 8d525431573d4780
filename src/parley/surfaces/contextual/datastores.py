"""Contextual AI datastores (Parley corpora) and their documents.

Paths and choices: docs/api/contextual.md.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal, TypeVar

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, ValidationError

from parley.corpora.documents import safe_filename
from parley.errors import InvalidInputError
from parley.http import json_body
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.surfaces.contextual import ids, service, views
from parley.surfaces.contextual.ids import Kind
from parley.surfaces.contextual.schemas import (
    DatastoreBody,
    DatastoreConfiguration,
    DatastoreUpdateBody,
    DocumentMetadataBody,
)

# Ejento's upload path already cleans file names; one cleaning rule for every surface.

datastores_router = APIRouter(tags=["Contextual AI: Datastores"], dependencies=[api_category("corpora")])
documents_router = APIRouter(tags=["Contextual AI: Documents"], dependencies=[api_category("documents")])

Limit = Annotated[int, Query(ge=1, le=1000)]
Cursor = Annotated[str | None, Query(max_length=200)]
DEFAULT_LIMIT = 100
MAX_FORM_JSON = 100_000
Status = Literal["pending", "processing", "retrying", "completed", "failed", "cancelled"]
ModelT = TypeVar("ModelT", bound=BaseModel)


def _configuration(value: DatastoreConfiguration | None) -> dict | None:
    return value.model_dump(exclude_none=True) if value is not None else None


def _form_json(raw: str | None, model: type[ModelT], field: str) -> ModelT | None:
    """A form field holding JSON (the SDK sends ``metadata`` and ``configuration`` so)."""
    if raw is None or not raw.strip():
        return None
    try:
        return model.model_validate(json_body.loads(raw))
    except (ValueError, RecursionError) as exc:
        if isinstance(exc, json_body.StrictJsonError):
            raise InvalidInputError(f"Invalid {field}: {exc.message}") from None
        if isinstance(exc, ValidationError):
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "top level"
            raise InvalidInputError(f"Invalid {field}: {where}: {first['msg']}.") from None
        raise InvalidInputError(f"{field} must be a JSON object.") from None


# -- datastores -------------------------------------------------------------------------------------


@datastores_router.post("/v1/datastores")
def create_datastore(body: DatastoreBody, session: SessionDep, principal: CurrentPrincipal) -> dict:
    corpus = service.create_datastore(session, principal, body.name, _configuration(body.configuration))
    return {"id": ids.encode(Kind.DATASTORE, corpus.id)}


@datastores_router.get("/v1/datastores")
def list_datastores(
    session: SessionDep,
    principal: CurrentPrincipal,
    agent_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> dict:
    page = service.datastores_page(session, principal, agent_id, cursor, limit)
    return views.page_of(page, "datastores", [views.datastore(corpus) for corpus in page.rows])


@datastores_router.get("/v1/datastores/{datastore_id}/metadata")
def datastore_metadata(datastore_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    corpus = service.get_datastore(session, principal, datastore_id)
    return views.datastore_metadata(
        corpus,
        service.datastore_agent_ids(session, principal, corpus),
        service.datastore_size_bytes(session, corpus),
    )


@datastores_router.put("/v1/datastores/{datastore_id}")
def update_datastore(
    datastore_id: str, body: DatastoreUpdateBody, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    corpus = service.update_datastore(
        session, principal, datastore_id, body.name, _configuration(body.configuration)
    )
    return {"id": ids.encode(Kind.DATASTORE, corpus.id)}


@datastores_router.delete("/v1/datastores/{datastore_id}")
def delete_datastore(datastore_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    service.delete_datastore(session, principal, datastore_id)
    return {}


@documents_router.put("/v1/datastores/{datastore_id}/reset")
def reset_datastore(datastore_id: str, session: SessionDep, principal: CurrentPrincipal) -> dict:
    service.reset_datastore(session, principal, datastore_id)
    return {}


# -- documents --------------------------------------------------------------------------------------


@documents_router.post("/v1/datastores/{datastore_id}/documents")
def ingest_document(
    datastore_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    file: Annotated[UploadFile, File()],
    metadata: Annotated[str | None, Form(max_length=MAX_FORM_JSON)] = None,
    configuration: Annotated[str | None, Form(max_length=MAX_FORM_JSON)] = None,
) -> dict:
    details = _form_json(metadata, DocumentMetadataBody, "metadata") or DocumentMetadataBody()
    override = _form_json(configuration, DatastoreConfiguration, "configuration")
    upload = service.FileUpload(safe_filename(file.filename), file.content_type, file.file.read())
    document = service.ingest_document(
        session, principal, datastore_id, upload, details, _configuration(override)
    )
    return {"id": ids.encode(Kind.DOCUMENT, document.id)}


@documents_router.get("/v1/datastores/{datastore_id}/documents")
def list_documents(
    datastore_id: str,
    session: SessionDep,
    principal: CurrentPrincipal,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
    document_name_prefix: Annotated[str | None, Query(max_length=500)] = None,
    ingestion_job_status: Annotated[list[Status] | None, Query()] = None,
    uploaded_after: datetime | None = None,
    uploaded_before: datetime | None = None,
) -> dict:
    filters = service.DocumentFilter(
        document_name_prefix, ingestion_job_status or (), uploaded_after, uploaded_before
    )
    page = service.documents_page(session, principal, datastore_id, filters, cursor, limit)
    retrying = service.retrying_ids(session, [d.id for d in page.rows])
    return views.page_of(page, "documents", [views.document(d, d.id in retrying) for d in page.rows])


@documents_router.get("/v1/datastores/{datastore_id}/documents/{document_id}/metadata")
def document_metadata(
    datastore_id: str, document_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    document = service.get_document(session, principal, datastore_id, document_id)
    return views.document(document, document.id in service.retrying_ids(session, [document.id]))


@documents_router.put("/v1/datastores/{datastore_id}/documents/{document_id}/metadata")
def set_document_metadata(
    datastore_id: str,
    document_id: str,
    body: DocumentMetadataBody,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> dict:
    document = service.set_document_metadata(session, principal, datastore_id, document_id, body)
    return views.document(document, document.id in service.retrying_ids(session, [document.id]))


@documents_router.delete("/v1/datastores/{datastore_id}/documents/{document_id}")
def delete_document(
    datastore_id: str, document_id: str, session: SessionDep, principal: CurrentPrincipal
) -> dict:
    service.delete_document(session, principal, datastore_id, document_id)
    return {}
