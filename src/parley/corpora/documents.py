"""Documents of a corpus: upload, list, edit, tags, delete, duplicate checks, reindexing and
indexing progress.

A document is reached through its corpus: it is visible when its corpus is (``corpus_visible``)
and changed only by those who may edit the corpus (``corpus_editable``); another
organisation's document or corpus answers 404. Every write that changes what search returns
(deleting documents, editing metadata or tags) changes the chunks in the same transaction, so
searches see the new state as soon as the request commits.
"""

from __future__ import annotations

import mimetypes
import unicodedata
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import PurePosixPath

from sqlalchemy import ColumnElement, Select, and_, cast, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from parley.access.capabilities import require_capability
from parley.access.policy import (
    corpus_editable,
    corpus_visible,
    load_all_visible,
    load_allowed,
    load_visible,
    require,
)
from parley.access.principal import Principal
from parley.accounts import users
from parley.corpora.hashing import content_hash
from parley.corpora.models import Chunk, Corpus, Document, DocumentFile
from parley.db.rows import apply_changes, soft_delete
from parley.errors import InvalidInputError, NotFoundError, PermissionDeniedError
from parley.ingest.pipeline import bump_index_version, chunk_metadata, queue_document
from parley.jobs import service as jobs
from parley.jobs.models import Job

MAX_TAGS = 50
# Declared types that say nothing about the content; the file name is a better guide.
_GENERIC_MIME_TYPES = {"", "application/octet-stream", "binary/octet-stream"}


def safe_filename(filename: str | None) -> str:
    """An uploaded file's own name, without directories or control characters."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C").strip()
    if name in (".", ".."):  # a directory reference ("a/.." ends in one), not a file's name
        name = ""
    return name[-255:] or "document"


@dataclass(frozen=True)
class Upload:
    """A document as received: ``data`` is None for a web link (the pipeline fetches it)."""

    content_type: str  # file | text | weblink
    name: str
    source: str
    mime_type: str
    data: bytes | None
    upload_from: str
    tags: list[str]
    metadata: dict


def file_mime_type(filename: str, declared: str | None) -> str:
    declared = (declared or "").split(";")[0].strip().lower()
    if declared not in _GENERIC_MIME_TYPES:
        return declared
    return mimetypes.guess_type(filename)[0] or "application/octet-stream"


def clean_tags(tags: Sequence[str]) -> list[str]:
    """Tags in their first order, repeats dropped, at most MAX_TAGS."""
    unique = list(dict.fromkeys(tags))
    if len(unique) > MAX_TAGS:
        raise InvalidInputError(f"A document can have at most {MAX_TAGS} tags.")
    return unique


# -- access -------------------------------------------------------------------------------------


def _live_in(corpora: ColumnElement[bool], principal: Principal) -> ColumnElement[bool]:
    return and_(
        Document.org_id == principal.org_id,
        Document.is_deleted.is_(False),
        Document.corpus_id.in_(select(Corpus.id).where(corpora)),
    )


def document_visible(principal: Principal) -> ColumnElement[bool]:
    return _live_in(corpus_visible(principal), principal)


def document_editable(principal: Principal) -> ColumnElement[bool]:
    return _live_in(corpus_editable(principal), principal)


def get_document(session: Session, principal: Principal, document_id: int) -> Document:
    return load_visible(session, Document, document_id, document_visible(principal), "Document")


def _editable_document(session: Session, principal: Principal, document_id: int) -> Document:
    visible, editable = document_visible(principal), document_editable(principal)
    return load_allowed(session, Document, document_id, visible, editable, "Document", "change this document")


def _visible_corpus(session: Session, principal: Principal, corpus_id: int) -> Corpus:
    return load_visible(session, Corpus, corpus_id, corpus_visible(principal), "Corpus")


def _editable_corpus(session: Session, principal: Principal, corpus_id: int, action: str) -> Corpus:
    corpus = _visible_corpus(session, principal, corpus_id)
    require(session, Corpus, corpus, corpus_editable(principal), action)
    return corpus


# -- upload -------------------------------------------------------------------------------------


def _uploader_id(session: Session, principal: Principal, user_id: int | None) -> int:
    """Documents are uploaded as the caller; an admin may upload on behalf of a user of the
    organisation."""
    if user_id is None or user_id == principal.user_id:
        return principal.user_id
    if not principal.is_admin:
        raise PermissionDeniedError("You can only upload documents as yourself.")
    return users.get_user(session, principal, user_id).id


def create_document(
    session: Session, principal: Principal, corpus_id: int, upload: Upload, user_id: int | None = None
) -> tuple[Document, Job]:
    """Check the caller may add to the corpus, then store and queue the document."""
    corpus = _editable_corpus(session, principal, corpus_id, "add documents to this corpus")
    require_capability(session, principal, "upload_documents")
    return store_document(session, corpus, _uploader_id(session, principal, user_id), principal.email, upload)


def store_document(
    session: Session, corpus: Corpus, user_id: int, created_by: str, upload: Upload
) -> tuple[Document, Job]:
    """Store the document and its bytes and queue its ingestion, all in the caller's transaction."""
    data = upload.data or b""
    document = Document(
        org_id=corpus.org_id,
        corpus_id=corpus.id,
        user_id=user_id,
        name=upload.name,
        content_type=upload.content_type,
        source=upload.source,
        upload_from=upload.upload_from,
        mime_type=upload.mime_type,
        size_bytes=len(data),
        # A web link's content is unknown until fetched, so it has no hash to compare.
        content_hash=content_hash(data) if upload.data is not None else "",
        tags=clean_tags(upload.tags),
        doc_metadata=upload.metadata,
        created_by=created_by,
    )
    session.add(document)
    session.flush()
    if upload.data is not None:
        session.add(DocumentFile(document_id=document.id, data=upload.data))
    job = queue_document(session, document)
    return document, job


# -- reading ------------------------------------------------------------------------------------


def _has_tag(session: Session, tag: str) -> ColumnElement[bool]:
    if session.get_bind().dialect.name == "postgresql":
        return cast(Document.tags, JSONB).contains([tag])
    each = func.json_each(Document.tags).table_valued("value")
    return exists(select(1).select_from(each).where(each.c.value == tag))


def documents_query(
    session: Session,
    principal: Principal,
    corpus_id: int,
    *,
    status: str | None = None,
    tag: str | None = None,
    query: str | None = None,
) -> Select[tuple[Document]]:
    """Get All Documents From Corpus: the corpus's live documents, newest first."""
    corpus = _visible_corpus(session, principal, corpus_id)
    stmt = select(Document).where(Document.corpus_id == corpus.id, Document.is_deleted.is_(False))
    if status is not None:
        stmt = stmt.where(Document.status == status)
    if tag:
        stmt = stmt.where(_has_tag(session, tag))
    if query and query.strip():
        stmt = stmt.where(func.lower(Document.name).contains(query.strip().lower(), autoescape=True))
    return stmt.order_by(Document.id.desc())


def duplicates_of(session: Session, documents: Sequence[Document]) -> dict[int, list[int]]:
    """For each document, the other live documents of its corpus with the same content."""
    keys = {(d.corpus_id, d.content_hash) for d in documents if d.content_hash}
    found: dict[int, list[int]] = {d.id: [] for d in documents}
    if not keys:
        return found
    rows = session.execute(
        select(Document.id, Document.corpus_id, Document.content_hash)
        .where(
            Document.corpus_id.in_({corpus_id for corpus_id, _ in keys}),
            Document.content_hash.in_({h for _, h in keys}),
            Document.is_deleted.is_(False),
        )
        .order_by(Document.id)
    ).all()
    by_key: dict[tuple[int, str], list[int]] = defaultdict(list)
    for doc_id, corpus_id, digest in rows:
        by_key[(corpus_id, digest)].append(doc_id)
    for d in documents:
        found[d.id] = [i for i in by_key.get((d.corpus_id, d.content_hash), []) if i != d.id]
    return found


def document_progress(
    session: Session, principal: Principal, document_id: int
) -> tuple[Document, Job | None]:
    """Document Polling: the document and its latest ingestion job."""
    document = get_document(session, principal, document_id)
    return document, jobs.latest_for_document(session, document.id)


def document_content(session: Session, principal: Principal, document_id: int) -> tuple[Document, bytes]:
    document = get_document(session, principal, document_id)
    stored = session.get(DocumentFile, document.id)
    if stored is None:
        # Web links keep only their URL.
        raise NotFoundError("Document content", "This document has no stored content.")
    return document, stored.data


# -- changes ------------------------------------------------------------------------------------


def _sync_chunk_metadata(session: Session, document: Document) -> None:
    """Filters read the chunk's copy of the metadata, so it changes with the document; the
    version bump tells search caches of filter results (search/filter_cache.py) to recompute."""
    session.execute(
        update(Chunk).where(Chunk.document_id == document.id).values(chunk_metadata=chunk_metadata(document))
    )
    bump_index_version(session, document.corpus_id)


def edit_document(session: Session, principal: Principal, document_id: int, changes: dict) -> Document:
    """``name`` and/or ``metadata`` (the metadata object is replaced as a whole)."""
    document = _editable_document(session, principal, document_id)
    fields = {"doc_metadata" if key == "metadata" else key: value for key, value in changes.items()}
    apply_changes(session, principal, document, fields)
    if "doc_metadata" in fields:
        _sync_chunk_metadata(session, document)
    return document


def change_tags(
    session: Session, principal: Principal, document_id: int, add: Sequence[str], remove: Sequence[str]
) -> Document:
    both = set(add) & set(remove)
    if both:
        raise InvalidInputError(f"A tag cannot be both added and removed: {sorted(both)[0]}.")
    document = _editable_document(session, principal, document_id)
    gone = set(remove)
    tags = clean_tags([t for t in document.tags or [] if t not in gone] + list(add))
    if tags != list(document.tags or []):
        apply_changes(session, principal, document, {"tags": tags})
        _sync_chunk_metadata(session, document)
    return document


def delete_documents(
    session: Session, principal: Principal, corpus_id: int, document_ids: Sequence[int]
) -> list[Document]:
    """All or nothing: soft-delete the documents, drop their chunks (search stops returning
    them when this commits) and cancel their unfinished jobs."""
    corpus = _editable_corpus(session, principal, corpus_id, "delete documents from this corpus")
    in_corpus = and_(Document.corpus_id == corpus.id, Document.is_deleted.is_(False))
    documents = load_all_visible(session, Document, document_ids, in_corpus, "Document")
    for document in documents:
        soft_delete(session, principal, document)
        jobs.cancel_for_document(session, document.id)
    session.execute(delete(Chunk).where(Chunk.document_id.in_([d.id for d in documents])))
    bump_index_version(session, corpus.id)
    return documents


def reindex_document(session: Session, principal: Principal, document_id: int) -> tuple[Document, Job]:
    """Queue the document again (an unfinished job is cancelled); its current chunks stay
    searchable until the new ones replace them."""
    document = _editable_document(session, principal, document_id)
    return document, queue_document(session, document)


def reindex_corpus(session: Session, principal: Principal, corpus_id: int) -> list[tuple[Document, Job]]:
    corpus = _editable_corpus(session, principal, corpus_id, "refresh this corpus")
    documents = session.scalars(
        select(Document)
        .where(Document.corpus_id == corpus.id, Document.is_deleted.is_(False))
        .order_by(Document.id)
    ).all()
    return [(document, queue_document(session, document)) for document in documents]


# -- duplicates ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class DuplicateMatches:
    names: dict[str, list[Document]]
    hashes: dict[str, list[Document]]


def find_duplicates(
    session: Session, principal: Principal, corpus_id: int, names: Sequence[str], hashes: Sequence[str]
) -> DuplicateMatches:
    """The corpus's live documents named like each name (ignoring case) or holding content
    with each hash."""
    corpus = _visible_corpus(session, principal, corpus_id)
    live = and_(Document.corpus_id == corpus.id, Document.is_deleted.is_(False))
    lowered = {n.lower() for n in names}
    by_name: dict[str, list[Document]] = defaultdict(list)
    if lowered:
        for d in session.scalars(
            select(Document).where(live, func.lower(Document.name).in_(lowered)).order_by(Document.id)
        ):
            by_name[d.name.lower()].append(d)
    by_hash: dict[str, list[Document]] = defaultdict(list)
    if hashes:
        for d in session.scalars(
            select(Document).where(live, Document.content_hash.in_(set(hashes))).order_by(Document.id)
        ):
            by_hash[d.content_hash].append(d)
    return DuplicateMatches(
        names={n: by_name.get(n.lower(), []) for n in names},
        hashes={h: by_hash.get(h, []) for h in hashes},
    )
