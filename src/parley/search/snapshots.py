"""One corpus's searchable chunks as arrays (SQLite backend), kept up to date change by change.

A snapshot (``CorpusChunks``) describes a corpus at one ``index_version``: a slot per chunk
(its id and document id), the vectors of each embedding size and the BM25 postings
(``bm25_index``) over those slots. When the version moves, the next search derives the new
snapshot from the old one instead of reading the whole corpus again (2–3 s at 100k chunks on
an idle machine, and the postings built again on the next lexical search):

* what changed is found per document: each live document's ``indexed_on`` (set whenever its
  chunks are written, in the same transaction as the version bump) is compared with the one
  the snapshot was built from, a ~1 ms read of the corpus's document rows; a chunk count
  checks the result, and a change to the corpus's settings (vectors withheld after an
  embedder change) or a mismatch falls back to a full load;
* the chunks of removed or rewritten documents are masked out (``live``); the chunks of new
  or rewritten documents are read by document and appended as new slots: their vectors after
  the cached rows, their postings tokenized by FTS5's own tokenizer as a new segment;
* once a quarter of the slots are masked, the arrays are compacted in memory (by
  ``VectorCache``, off the search's path).

Snapshots are never changed once published (lazily loaded parts aside), so searches holding
an older one keep reading it while an update lands: appended vectors are written after the
rows any existing snapshot sees, and compaction copies into new arrays. The arrays of an
updated snapshot hold what a fresh load would, in another slot order, so searches return the
same chunks in the same order with the same BM25 scores (a cosine may differ in its last
float32 bit when a filtered product multiplies other runs of rows; ties are broken by id).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.orm import Session

from parley.corpora.models import Chunk, Corpus, Document
from parley.search.arrays import locate
from parley.search.bm25_index import LexicalIndex, new_chunk_postings

_LOAD_BATCH = 4096
# Document ids per query when reading the chunks of changed documents.
_DOCUMENTS_PER_QUERY = 500
# Compact once this share of the slots is masked.
COMPACT_DEAD_SHARE = 0.25


@dataclass(frozen=True)
class VectorRows:
    """The vectors of one size: row i holds slot ``positions[i]``. The buffers have room to
    grow: rows appended for a newer snapshot go after ``count``, which older snapshots never
    read past."""

    positions_buffer: np.ndarray  # int64
    matrix_buffer: np.ndarray  # float32
    count: int

    @classmethod
    def allocate(cls, rows: int, dim: int) -> VectorRows:
        """Empty rows with room for ``rows`` and an eighth more: appends copy nothing until that
        is used up."""
        capacity = rows + max(rows // 8, 64)
        return cls(np.empty(capacity, np.int64), np.empty((capacity, dim), np.float32), 0)

    @property
    def positions(self) -> np.ndarray:
        return self.positions_buffer[: self.count]

    @property
    def matrix(self) -> np.ndarray:
        return self.matrix_buffer[: self.count]

    def appended(self, positions: np.ndarray, matrix: np.ndarray) -> VectorRows:
        needed = self.count + positions.size
        positions_buffer, matrix_buffer = self.positions_buffer, self.matrix_buffer
        if needed > positions_buffer.size:
            grown = VectorRows.allocate(needed, self.matrix_buffer.shape[1])
            positions_buffer, matrix_buffer = grown.positions_buffer, grown.matrix_buffer
            positions_buffer[: self.count] = self.positions
            matrix_buffer[: self.count] = self.matrix
        positions_buffer[self.count : needed] = positions
        matrix_buffer[self.count : needed] = matrix
        return VectorRows(positions_buffer, matrix_buffer, needed)

    def kept(self, keep: np.ndarray, renumber: np.ndarray) -> VectorRows:
        """The rows ``keep`` admits, their slots renumbered, copied once into new buffers."""
        count = int(np.count_nonzero(keep))
        out = VectorRows.allocate(count, self.matrix_buffer.shape[1])
        np.compress(keep, self.positions, out=out.positions_buffer[:count])
        out.positions_buffer[:count] = renumber[out.positions_buffer[:count]]
        np.compress(keep, self.matrix, axis=0, out=out.matrix_buffer[:count])
        return VectorRows(out.positions_buffer, out.matrix_buffer, count)


@dataclass
class CorpusChunks:
    """One corpus's chunks for one ``index_version``: one slot per chunk, ``live`` masking the
    slots whose chunks were removed since the arrays were loaded."""

    corpus_id: int
    version: int
    ids: np.ndarray  # int64 chunk id per slot
    document_ids: np.ndarray  # int64, aligned with ids
    live: np.ndarray | None  # bool per slot; None when every slot is live
    # Live document id -> its ``indexed_on`` as stored, and the corpus's settings as stored:
    # what the next update compares with.
    fingerprints: dict[int, object]
    settings: object
    # embedding size -> its rows; filled on first use of a size
    vectors: dict[int, VectorRows] = field(default_factory=dict)
    # BM25 postings, built on first lexical search; None after that when the database is too
    # large to hold them (``VectorCache.memory_index_max_chunks``)
    lexical: LexicalIndex | None = None
    lexical_checked: bool = False
    documents: np.ndarray = field(init=False)  # the distinct document ids, sorted
    chunk_documents: np.ndarray = field(init=False)  # each slot's position in ``documents``

    def __post_init__(self) -> None:
        self.documents, self.chunk_documents = np.unique(self.document_ids, return_inverse=True)

    @property
    def live_count(self) -> int:
        return int(self.ids.size if self.live is None else np.count_nonzero(self.live))

    def allowed(self, document_ids: np.ndarray | None) -> np.ndarray | None:
        """A mask of the live slots whose document is in ``document_ids`` (None: any document);
        None when that is every slot."""
        if document_ids is None:
            return self.live
        admitted = np.zeros(self.documents.size, dtype=bool)
        found, present = locate(self.documents, document_ids)
        admitted[found[present]] = True
        mask = admitted[self.chunk_documents]
        return mask if self.live is None else mask & self.live

    def id_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The live chunk ids, sorted, and their slots (ids may repeat among removed slots:
        SQLite reuses the ids of deleted rows)."""
        slots = np.arange(self.ids.size) if self.live is None else np.flatnonzero(self.live)
        order = np.argsort(self.ids[slots], kind="stable")
        return self.ids[slots][order], slots[order]


_FINGERPRINTS = text("SELECT id, indexed_on FROM documents WHERE corpus_id = :corpus_id AND NOT is_deleted")
_SETTINGS = text("SELECT settings FROM corpora WHERE id = :corpus_id")
# What a fresh load would hold: chunks of the corpus's live documents.
_LIVE_COUNT = text(
    "SELECT count(*) FROM chunks WHERE document_id IN "
    "(SELECT id FROM documents WHERE corpus_id = :corpus_id AND NOT is_deleted)"
)
# By document only (the documents are the corpus's): with the corpus in the condition too, SQLite
# scanned every chunk of the corpus through its index (~0.6 s at 100k).
_CHANGED_CHUNKS = (
    select(Chunk.id, Chunk.document_id, Chunk.embedding_dim, Chunk.embedding, Chunk.context, Chunk.text)
    .where(Chunk.document_id.in_(bindparam("documents", expanding=True)))
    .order_by(Chunk.id)
)


def load(session: Session, corpus_id: int, version: int) -> CorpusChunks:
    """The corpus's chunk ids, read whole (vectors and postings load on first use)."""
    fingerprints = dict(session.execute(_FINGERPRINTS, {"corpus_id": corpus_id}).all())
    settings = session.scalar(_SETTINGS, {"corpus_id": corpus_id})
    rows = session.execute(
        select(Chunk.id, Chunk.document_id)
        .join(Document, Document.id == Chunk.document_id)
        .where(Chunk.corpus_id == corpus_id, Document.is_deleted.is_(False))
        .order_by(Chunk.id)
    ).all()
    ids = np.fromiter((row[0] for row in rows), dtype=np.int64, count=len(rows))
    document_ids = np.fromiter((row[1] for row in rows), dtype=np.int64, count=len(rows))
    return CorpusChunks(corpus_id, version, ids, document_ids, None, fingerprints, settings)


def refresh(session: Session, old: CorpusChunks, version: int) -> CorpusChunks:
    """The corpus at ``version`` (as the caller's transaction sees it), derived from ``old``:
    the chunks of changed documents replaced; a full load when that cannot be trusted."""
    corpus_id = old.corpus_id
    fingerprints = dict(session.execute(_FINGERPRINTS, {"corpus_id": corpus_id}).all())
    settings = session.scalar(_SETTINGS, {"corpus_id": corpus_id})
    if settings != old.settings:
        return load(session, corpus_id, version)
    missing = object()
    removed = [d for d, mark in old.fingerprints.items() if fingerprints.get(d, missing) != mark]
    changed = [d for d, mark in fingerprints.items() if old.fingerprints.get(d, missing) != mark]
    rows = []
    for start in range(0, len(changed), _DOCUMENTS_PER_QUERY):
        batch = changed[start : start + _DOCUMENTS_PER_QUERY]
        rows += session.execute(_CHANGED_CHUNKS, {"documents": batch}).all()
    live = np.ones(old.ids.size, dtype=bool) if old.live is None else old.live.copy()
    if removed:
        live &= ~np.isin(old.document_ids, np.asarray(removed, dtype=np.int64))
    kept = int(np.count_nonzero(live))
    expected = session.scalar(_LIVE_COUNT, {"corpus_id": corpus_id})
    # Chunks written without touching their document (or half the corpus new): load it whole.
    if kept + len(rows) != expected or len(rows) > kept:
        return load(session, corpus_id, version)

    first = old.ids.size
    added = np.arange(first, first + len(rows), dtype=np.int64)
    live = np.concatenate((live, np.ones(len(rows), dtype=bool)))
    snapshot = CorpusChunks(
        corpus_id,
        version,
        np.concatenate((old.ids, np.fromiter((r.id for r in rows), np.int64, len(rows)))),
        np.concatenate((old.document_ids, np.fromiter((r.document_id for r in rows), np.int64, len(rows)))),
        None if live.all() else live,
        fingerprints,
        settings,
    )
    dims = np.fromiter((r.embedding_dim for r in rows), np.int64, len(rows))
    for dim, vectors in old.vectors.items():
        of_dim = np.flatnonzero(dims == dim)
        blobs = b"".join(rows[i].embedding for i in of_dim)
        matrix = np.frombuffer(blobs, dtype="<f4").reshape(of_dim.size, dim)
        snapshot.vectors[dim] = vectors.appended(added[of_dim], matrix)
    if old.lexical is not None:
        contexts, texts = [r.context for r in rows], [r.text for r in rows]
        postings, lengths = new_chunk_postings(session, contexts, texts, first)
        snapshot.lexical = old.lexical.updated(snapshot.live, postings, lengths)
        snapshot.lexical_checked = True
    # (An index not built, or too large to build, is left for the next lexical search.)
    return snapshot


def needs_compaction(snapshot: CorpusChunks) -> bool:
    live = snapshot.live
    return live is not None and live.size - np.count_nonzero(live) > COMPACT_DEAD_SHARE * live.size


def compacted(snapshot: CorpusChunks) -> CorpusChunks:
    """The same chunks with the masked slots dropped and the others renumbered in order."""
    live = snapshot.live
    if live is None:
        return snapshot
    renumber = np.cumsum(live, dtype=np.int64) - 1
    out = CorpusChunks(
        snapshot.corpus_id,
        snapshot.version,
        snapshot.ids[live],
        snapshot.document_ids[live],
        None,
        snapshot.fingerprints,
        snapshot.settings,
    )
    for dim, vectors in snapshot.vectors.items():
        out.vectors[dim] = vectors.kept(live[vectors.positions], renumber)
    if snapshot.lexical is not None:
        out.lexical = snapshot.lexical.compacted(live)
    out.lexical_checked = snapshot.lexical_checked
    return out


def load_vectors(session: Session, part: CorpusChunks, dim: int) -> VectorRows:
    """The corpus's vectors of size ``dim``, read in batches: holding every row's blob at once
    doubled the memory a load needs, and the process kept that peak (measured at 100k × 384
    with the model loaded: 531 MB resident, now 426)."""
    result = session.execute(
        select(Chunk.id, Chunk.embedding)
        .where(Chunk.corpus_id == part.corpus_id, Chunk.embedding_dim == dim)
        .order_by(Chunk.id)
        .execution_options(yield_per=_LOAD_BATCH)
    )
    sorted_ids, slots = part.id_lookup()
    rows = VectorRows.allocate(sorted_ids.size, dim)
    positions, matrix = rows.positions_buffer, rows.matrix_buffer
    count = 0
    for batch in result.partitions():
        ids = np.fromiter((row[0] for row in batch), dtype=np.int64, count=len(batch))
        # Chunks written after the ids were read (a later index version) are left out.
        found, known = locate(sorted_ids, ids)
        blobs = [row[1] for row, keep in zip(batch, known, strict=True) if keep]
        kept = len(blobs)
        positions[count : count + kept] = slots[found[known]]
        matrix[count : count + kept] = np.frombuffer(b"".join(blobs), dtype="<f4").reshape(kept, dim)
        count += kept
    return VectorRows(positions, matrix, count)


def database_chunk_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(Chunk)) or 0


def current_version(session: Session, corpus_id: int) -> int | None:
    return session.scalar(select(Corpus.index_version).where(Corpus.id == corpus_id))
