"""Ejento V2 endpoints: the Document group (get, edit, tags, polling, refresh, content) and the
document endpoints of the Corpus group (upload, list, delete, duplicates, annotate, refresh).

Only the upload path is documented by Ejento (legacy) with its V2 response shape; the other
paths follow its pattern (docs/api/ejento-documents.md). Every endpoint here, the corpus ones
included, is in the API key category ``documents``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, Literal
from urllib.parse import quote, urlsplit

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from pydantic import AfterValidator, BaseModel, Field, StringConstraints, TypeAdapter, ValidationError
from starlette.datastructures import UploadFile as ReceivedFile

from parley.corpora import documents
from parley.corpora import service as corpora
from parley.corpora.hashing import content_hash
from parley.corpora.models import DOCUMENT_STATUSES, Document
from parley.errors import InvalidInputError
from parley.http import json_body
from parley.http.deps import CurrentPrincipal, SessionDep, api_category
from parley.jobs.models import Job
from parley.surfaces.ejento.envelope import PageDep, created, iso, ok, paginate
from parley.surfaces.ejento.params import (
    MAX_IDS,
    NO_NUL,
    BodyId,
    IdList,
    IdsQuery,
    PathId,
    SearchQuery,
    id_list,
)
from parley.surfaces.ejento.serializers import corpus

# Uploads arrive as Starlette's UploadFile (FastAPI's is a subclass, used for the schema), so
# isinstance checks use ReceivedFile.
router = APIRouter(tags=["Ejento: Document"], dependencies=[api_category("documents")])

ContentType = Literal["file", "text", "weblink"]
DocumentStatus = Literal[DOCUMENT_STATUSES]  # type: ignore[valid-type]
DocumentName = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500, pattern=NO_NUL)
]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100, pattern=NO_NUL)]
Tags = Annotated[list[Tag], Field(max_length=documents.MAX_TAGS)]
Sha256 = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, pattern=r"^[0-9a-fA-F]{64}$")]
TEXT_NAME_LENGTH = 80
MAX_URL_LENGTH = 2000
MAX_METADATA_DEPTH = 32


def _storable_metadata(value: dict[str, Any]) -> dict[str, Any]:
    # Chunks carry the tags under this key (filters read them there), so metadata may not.
    if "tags" in value:
        raise ValueError("metadata cannot use the key 'tags'; tags are set separately")
    # Walked without recursion: deep nesting is refused, not a crash. PostgreSQL refuses NUL
    # characters in JSON text, so they are refused on every backend alike.
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if depth > MAX_METADATA_DEPTH:
            raise ValueError(f"metadata may nest at most {MAX_METADATA_DEPTH} levels")
        if isinstance(item, str) and "\x00" in item:
            raise ValueError("metadata must not contain NUL characters")
        if isinstance(item, dict):
            pending.extend((part, depth + 1) for pair in item.items() for part in pair)
        elif isinstance(item, list):
            pending.extend((part, depth + 1) for part in item)
    return value


Metadata = Annotated[dict[str, Any], AfterValidator(_storable_metadata)]


def _base_url(request: Request) -> str:
    return str(request.base_url).rstrip("/")


BaseUrl = Annotated[str, Depends(_base_url)]


# -- views --------------------------------------------------------------------------------------


def _step(document: Document) -> str:
    # Ejento's V2 indexing service calls a queued document "pending".
    return "pending" if document.status == "queued" else document.status


def _polling_url(base: str, document: Document) -> str:
    return f"{base}/v2/api/document/{document.id}/polling"


def _access_url(base: str, document: Document) -> str:
    if document.content_type == "weblink":
        return document.source
    return f"{base}/v2/api/document/{document.id}/content"


def document_view(base: str, d: Document) -> dict:
    return {
        "id": d.id,
        "corpus": d.corpus_id,
        "user": d.user_id,
        "name": d.name,
        "content_type": d.content_type,
        "source": d.source,
        "upload_from": d.upload_from,
        "mime_type": d.mime_type,
        "size_bytes": d.size_bytes,
        "content_hash": d.content_hash,
        "status": d.status,
        "step": _step(d),
        "status_reason": d.status_reason,
        "page_count": d.page_count,
        "chunk_count": d.chunk_count,
        "token_count": d.token_count,
        "tags": list(d.tags or []),
        "metadata": dict(d.doc_metadata or {}),
        "is_deleted": d.is_deleted,
        "created_by": d.created_by,
        "created_on": iso(d.created_on),
        "modified_by": d.modified_by,
        "modified_on": iso(d.modified_on),
        "indexed_on": iso(d.indexed_on),
        "access_url": _access_url(base, d),
    }


def _queued_view(base: str, document: Document, job: Job) -> dict:
    return {
        **document_view(base, document),
        "statusQueryGetUri": _polling_url(base, document),
        "job_id": job.id,
    }


# Where each stage starts in the overall progress, and its share of it; embedding dominates.
_STAGE_SPANS = {
    "queued": (0.0, 0.0),
    "parsing": (0.0, 0.2),
    "chunking": (0.2, 0.1),
    "embedding": (0.3, 0.6),
    "indexing": (0.9, 0.1),
}


def _progress(document: Document, job: Job | None) -> float:
    """0..1 over the whole pipeline; a finished document (completed, failed, cancelled) is 1."""
    if document.status not in _STAGE_SPANS:
        return 1.0
    start, span = _STAGE_SPANS[document.status]
    within = job.progress if job is not None and job.stage == document.status else 0.0
    return round(start + span * within, 3)


def polling_view(document: Document, job: Job | None) -> dict:
    return {
        "id": document.id,
        "status": document.status,
        "step": _step(document),
        "progress": _progress(document, job),
        "attempts": job.attempts if job else 0,
        "status_reason": document.status_reason,
        "stage_timings": dict(job.stage_timings or {}) if job else {},
        "chunk_count": document.chunk_count,
        "page_count": document.page_count,
        "token_count": document.token_count,
        "created_on": iso(document.created_on),
        "indexed_on": iso(document.indexed_on),
        "job_id": job.id if job else None,
    }


# -- Create Document In Corpus: the multipart form ------------------------------------------------

_tags_adapter = TypeAdapter(Tags)
_metadata_adapter = TypeAdapter(Metadata)


def _invalid(name: str, exc: ValidationError) -> InvalidInputError:
    return InvalidInputError(f"Invalid {name}: {exc.errors()[0]['msg']}.")


def parse_tags(raw: str | None) -> list[str]:
    """A JSON list of strings, or comma-separated tags; blank entries are ignored."""
    if raw is None or not raw.strip():
        return []
    text = raw.strip()
    try:
        values = json_body.loads(text) if text.startswith("[") else [t for t in text.split(",") if t.strip()]
    except (ValueError, RecursionError):
        raise InvalidInputError("tags must be comma-separated or a JSON list of strings.") from None
    try:
        return _tags_adapter.validate_python(values)
    except ValidationError as exc:
        raise _invalid("tags", exc) from None


def parse_metadata(raw: str | None) -> dict:
    if raw is None or not raw.strip():
        return {}
    try:
        value = json_body.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidInputError("metadata must be a JSON object.") from None
    if not isinstance(value, dict):
        raise InvalidInputError("metadata must be a JSON object.")
    try:
        return _metadata_adapter.validate_python(value)
    except ValidationError as exc:
        raise _invalid("metadata", exc) from None


def _text_name(text: str) -> str:
    first = next(line.strip() for line in text.splitlines() if line.strip())
    return first[:TEXT_NAME_LENGTH].strip()


def _upload(content_type: str, source: UploadFile | str | None, common: dict) -> documents.Upload:
    if source is None or (isinstance(source, str) and not source.strip()):
        raise InvalidInputError("source is required.")
    if content_type == "file":
        if not isinstance(source, ReceivedFile):
            raise InvalidInputError("source must be a file when content_type is file.")
        name = documents.safe_filename(source.filename)
        mime = documents.file_mime_type(name, source.content_type)
        return documents.Upload("file", name, name, mime, source.file.read(), **common)
    if not isinstance(source, str):
        raise InvalidInputError(f"source must be a string when content_type is {content_type}.")
    if "\x00" in source:
        raise InvalidInputError("source must not contain NUL characters.")
    if content_type == "text":
        return documents.Upload("text", _text_name(source), "text", "text/plain", source.encode(), **common)
    url = source.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or len(url) > MAX_URL_LENGTH:
        raise InvalidInputError("source must be an http or https URL when content_type is weblink.")
    return documents.Upload("weblink", url[:500], url, "", None, **common)


# -- Check Duplicate Documents: JSON or multipart -------------------------------------------------


class DuplicatesBody(BaseModel):
    names: list[DocumentName] = Field(default_factory=list, max_length=MAX_IDS)
    hashes: list[Sha256] = Field(default_factory=list, max_length=MAX_IDS)


@dataclass(frozen=True)
class DuplicatesQuery:
    body: DuplicatesBody
    files: list[tuple[str, str]]  # (file name, content hash)


async def duplicates_query(request: Request) -> DuplicatesQuery:
    """``{names, hashes}`` as JSON, or a multipart form with repeated ``names`` / ``hashes``
    fields and ``files`` to hash."""
    files: list[tuple[str, str]] = []
    try:
        if request.headers.get("content-type", "").startswith("application/json"):
            body = DuplicatesBody.model_validate_json(await request.body() or b"{}")
        else:
            async with request.form() as form:  # closes the uploaded temporary files
                uploads = form.getlist("files")
                if any(not isinstance(u, ReceivedFile) for u in uploads):
                    raise InvalidInputError("files must be uploaded files.")
                for upload in uploads:
                    files.append(
                        (documents.safe_filename(upload.filename), content_hash(await upload.read()))
                    )  # type: ignore[union-attr]
                body = DuplicatesBody.model_validate(
                    {"names": form.getlist("names"), "hashes": form.getlist("hashes")}
                )
    except ValidationError as exc:
        raise RequestValidationError(exc.errors(include_url=False, include_context=False)) from exc
    if not (body.names or body.hashes or files):
        raise InvalidInputError("Provide names, hashes or files to check.")
    return DuplicatesQuery(body, files)


# -- other bodies ---------------------------------------------------------------------------------


class DocumentIdsBody(BaseModel):
    document_ids: IdList


class EditDocumentBody(BaseModel):
    # Explicit nulls are rejected (400); omitted fields are left unchanged.
    name: DocumentName = Field(default=None)
    metadata: Metadata = Field(default=None)


class TagsBody(BaseModel):
    add: Tags = Field(default_factory=list)
    remove: Tags = Field(default_factory=list)


class AnnotateBody(BaseModel):
    tags: Tags
    description: Annotated[str, Field(max_length=10_000, pattern=NO_NUL)] = Field(default=None)


# -- Corpus group: documents of a corpus -----------------------------------------------------------


@router.post("/v2/api/corpus/{corpus_id}/document")
def create_document_in_corpus(
    corpus_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    base: BaseUrl,
    content_type: Annotated[ContentType, Form()],
    source: Annotated[UploadFile | str | None, Form()] = None,
    upload_from: Annotated[str, Form(min_length=1, max_length=50, pattern=NO_NUL)] = "web",
    user_id: Annotated[BodyId | None, Form()] = None,
    tags: Annotated[str | None, Form(max_length=20_000)] = None,
    metadata: Annotated[str | None, Form(max_length=100_000)] = None,
):
    common = {"upload_from": upload_from, "tags": parse_tags(tags), "metadata": parse_metadata(metadata)}
    document, job = documents.create_document(
        session, principal, corpus_id, _upload(content_type, source, common), user_id
    )
    duplicate_of = documents.duplicates_of(session, [document])[document.id]
    data = {**_queued_view(base, document, job), "duplicate_of": duplicate_of}
    return created(data, "Document has been queued for indexing")


@router.get("/v2/api/corpus/{corpus_id}/document")
def get_all_documents_from_corpus(
    corpus_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    page: PageDep,
    base: BaseUrl,
    status: DocumentStatus | None = None,
    tag: Annotated[str | None, Query(max_length=100, pattern=NO_NUL)] = None,
    query: SearchQuery = None,
):
    stmt = documents.documents_query(session, principal, corpus_id, status=status, tag=tag, query=query)
    data = paginate(session, stmt, page, "documents", lambda rows: [document_view(base, d) for d in rows])
    return ok(data, "Documents fetched successfully.")


@router.delete("/v2/api/corpus/{corpus_id}/document")
def delete_documents_from_corpus(
    corpus_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    base: BaseUrl,
    body: DocumentIdsBody | None = None,
    document_ids: IdsQuery = None,
):
    # Some clients drop DELETE bodies, so the ids may also come in the query string.
    ids = body.document_ids if body is not None else id_list(document_ids, "document_ids")
    if not ids:
        raise InvalidInputError("document_ids is required.")
    deleted = documents.delete_documents(session, principal, corpus_id, ids)
    return ok([document_view(base, d) for d in deleted], "Documents deleted successfully.")


@router.post("/v2/api/corpus/{corpus_id}/document/duplicates")
def check_duplicate_documents(
    corpus_id: PathId,
    session: SessionDep,
    principal: CurrentPrincipal,
    base: BaseUrl,
    query: Annotated[DuplicatesQuery, Depends(duplicates_query)],
):
    hashes = list(dict.fromkeys([*query.body.hashes, *(digest for _, digest in query.files)]))
    found = documents.find_duplicates(session, principal, corpus_id, query.body.names, hashes)

    def views(rows: list[Document]) -> list[dict]:
        return [document_view(base, d) for d in rows]

    data = {
        "names": [{"name": n, "duplicates": views(found.names[n])} for n in query.body.names],
        "hashes": [{"hash": h, "duplicates": views(found.hashes[h])} for h in query.body.hashes],
        "files": [
            {"filename": name, "content_hash": digest, "duplicates": views(found.hashes[digest])}
            for name, digest in query.files
        ],
    }
    data["has_duplicates"] = any(item["duplicates"] for group in data.values() for item in group)
    return ok(data, "Duplicate check completed successfully.")


@router.put("/v2/api/corpus/{corpus_id}/annotate")
def annotate_corpus(corpus_id: PathId, body: AnnotateBody, session: SessionDep, principal: CurrentPrincipal):
    row = corpora.edit_corpus(session, principal, corpus_id, body.model_dump(exclude_unset=True))
    return ok(corpus(row), "Corpus annotated successfully.")


@router.post("/v2/api/corpus/{corpus_id}/refresh")
def refresh_corpus(corpus_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    queued = documents.reindex_corpus(session, principal, corpus_id)
    data = {
        "corpus": corpus_id,
        "count": len(queued),
        "document_ids": [d.id for d, _ in queued],
        "job_ids": [job.id for _, job in queued],
    }
    return ok(data, "Corpus documents have been queued for reindexing")


# -- Document group --------------------------------------------------------------------------------


@router.get("/v2/api/document/{document_id}")
def get_document(document_id: PathId, session: SessionDep, principal: CurrentPrincipal, base: BaseUrl):
    document = documents.get_document(session, principal, document_id)
    return ok(document_view(base, document), "Document fetched successfully.")


@router.put("/v2/api/document/{document_id}")
def edit_document(
    document_id: PathId,
    body: EditDocumentBody,
    session: SessionDep,
    principal: CurrentPrincipal,
    base: BaseUrl,
):
    document = documents.edit_document(session, principal, document_id, body.model_dump(exclude_unset=True))
    return ok(document_view(base, document), "Document updated successfully.")


@router.put("/v2/api/document/{document_id}/tags")
def add_or_remove_tags_on_document(
    document_id: PathId, body: TagsBody, session: SessionDep, principal: CurrentPrincipal, base: BaseUrl
):
    if not (body.add or body.remove):
        raise InvalidInputError("Provide tags to add or remove.")
    document = documents.change_tags(session, principal, document_id, body.add, body.remove)
    return ok(document_view(base, document), "Document tags updated successfully.")


@router.get("/v2/api/document/{document_id}/polling")
def document_polling(document_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    document, job = documents.document_progress(session, principal, document_id)
    return ok(polling_view(document, job), "Document status fetched successfully.")


@router.post("/v2/api/document/{document_id}/refresh")
def refresh_document(document_id: PathId, session: SessionDep, principal: CurrentPrincipal, base: BaseUrl):
    document, job = documents.reindex_document(session, principal, document_id)
    return ok(_queued_view(base, document, job), "Document has been queued for reindexing")


def _content_disposition(document: Document) -> str:
    name = document.name
    if document.content_type == "text" and not name.lower().endswith(".txt"):
        name = f"{name}.txt"
    fallback = re.sub(r"[^A-Za-z0-9._ -]", "_", name) or "document"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/v2/api/document/{document_id}/content")
def get_document_content(document_id: PathId, session: SessionDep, principal: CurrentPrincipal):
    document, data = documents.document_content(session, principal, document_id)
    # An attachment that is never sniffed: uploaded HTML must not run on the API's origin.
    headers = {"Content-Disposition": _content_disposition(document), "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=document.mime_type or "application/octet-stream", headers=headers)
