"""Queue local files or texts for ingestion, as a given user, into a corpus found or created by name."""

from __future__ import annotations

import mimetypes
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.accounts.models import User
from parley.corpora.hashing import content_hash
from parley.corpora.models import Corpus, Document, DocumentFile
from parley.ingest.pipeline import queue_document


@dataclass(frozen=True)
class LocalItem:
    name: str
    data: bytes
    content_type: str = "file"  # file | text
    metadata: dict | None = None


def corpus_by_name(session: Session, owner: User, name: str) -> Corpus:
    corpus = session.scalars(
        select(Corpus).where(
            Corpus.org_id == owner.org_id,
            Corpus.owner_id == owner.id,
            func.lower(Corpus.name) == name.lower(),
            Corpus.is_deleted.is_(False),
        )
    ).first()
    if corpus is None:
        corpus = Corpus(org_id=owner.org_id, owner_id=owner.id, name=name, created_by=owner.email)
        session.add(corpus)
        session.flush()
    return corpus


def queue_items(session: Session, owner: User, corpus: Corpus, items: Iterable[LocalItem]) -> list[int]:
    ids = []
    for item in items:
        mime = mimetypes.guess_type(item.name)[0] or "" if item.content_type == "file" else "text/plain"
        document = Document(
            org_id=owner.org_id,
            corpus_id=corpus.id,
            user_id=owner.id,
            name=item.name,
            content_type=item.content_type,
            source=item.name,
            upload_from="cli",
            mime_type=mime,
            size_bytes=len(item.data),
            content_hash=content_hash(item.data),
            doc_metadata=item.metadata or {},
            created_by=owner.email,
        )
        session.add(document)
        session.flush()
        session.add(DocumentFile(document_id=document.id, data=item.data))
        queue_document(session, document)
        ids.append(document.id)
    return ids


def files_under(paths: Iterable[Path]) -> list[Path]:
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.rglob("*") if p.is_file() and not p.name.startswith(".")))
        elif path.is_file():
            found.append(path)
    return found
