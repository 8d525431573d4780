"""Queue local files or texts for ingestion, as a given user, into a corpus found or created by name."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from parley.accounts.models import User
from parley.corpora.documents import Upload, file_mime_type, store_document
from parley.corpora.models import Corpus


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
        upload = Upload(
            content_type=item.content_type,
            name=item.name,
            source=item.name,
            mime_type=file_mime_type(item.name, None) if item.content_type == "file" else "text/plain",
            data=item.data,
            upload_from="cli",
            tags=[],
            metadata=item.metadata or {},
        )
        document, _ = store_document(session, corpus, owner.id, owner.email, upload)
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
