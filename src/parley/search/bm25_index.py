"""In-memory BM25 postings of one corpus, read from the FTS5 index (SQLite backend).

FTS5 scores every chunk holding any query word one row at a time: at 100k chunks an OR query
over a claim's words touches tens of thousands of rows and costs tens of milliseconds, which
is why ``fts5_matches`` prunes words to a postings budget. Held as arrays (CSR matrices of
terms × chunk slots), the same query is a sum of a few array slices: exact BM25 over every
posting in a few milliseconds, with no pruning.

The postings are read from FTS5's own index (an ``fts5vocab`` instance table), and query words
are stemmed by FTS5's tokenizer (``lexical.word_tokens``), so both sides use FTS5's tokens, and a
score equals FTS5's ``bm25(chunks_fts, 0.5, 1.0)``: same k1 and b, same column weights, same
idf formula. The collection statistics (chunk count, average length, document frequencies) are
those of the searched corpora rather than of the whole database, so another tenant's documents
never move a corpus's ranking.

Updates: chunks added to a corpus are tokenized by a temporary FTS5 table with the index's own
tokenizer (the same tokens FTS5 stores for them) and appended as a new segment; removed chunks
are masked out (``live``). The statistics are computed from the live chunks, and the saturated
term frequency is computed at query time from per-chunk norms, so an updated index scores
exactly like one built afresh. Segments are merged once there are a few of them, and masked
postings dropped when the snapshot is compacted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from parley.search.arrays import locate
from parley.search.lexical import CONTEXT_WEIGHT, FTS5_TOKENIZER, K1, B

# Instances (term, chunk, column) are read per term and processed this many at a time, which
# bounds the memory a build needs beyond the finished index.
_BATCH_INSTANCES = 250_000
_INSTANCES = text(
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_chunk_instances "
    "USING fts5vocab(main, chunks_fts, instance)"
)
# One row per term in the index's term order; each chunk id doubled, plus one for the text column
# (``_add_batch`` unpacks them). Read from the whole index, or from the new chunks' table.
_POSTINGS_OF = "SELECT term, group_concat(doc * 2 + (col = 'text'), ' ') FROM temp.{} GROUP BY term"
_POSTINGS = text(_POSTINGS_OF.format("parley_chunk_instances"))
_NEW_CHUNK_POSTINGS = text(_POSTINGS_OF.format("parley_new_chunk_instances"))
# New chunks are tokenized here: same columns and tokenizer as ``chunks_fts`` (per connection).
_NEW_CHUNK_TABLES = (
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_new_chunks "
    f"USING fts5(context, text, tokenize='{FTS5_TOKENIZER}')",
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_new_chunk_instances "
    "USING fts5vocab(temp, parley_new_chunks, instance)",
)
# Past this many segments, the appended ones are merged into one (the first, the largest, only
# when the appended postings reach a quarter of it).
MAX_SEGMENTS = 4


@dataclass(frozen=True)
class Postings:
    """One segment: terms × chunk slots. A slot's postings are all in one segment."""

    terms: dict[str, int]  # stem -> row, inserted in row order
    starts: np.ndarray  # int64, row r's postings are [starts[r], starts[r + 1])
    slots: np.ndarray  # int32, ascending within a row
    frequencies: np.ndarray  # float32, term frequency with the context column weighted

    @property
    def size(self) -> int:
        return int(self.slots.size)

    @property
    def nbytes(self) -> int:
        strings = sum(len(term) + 60 for term in self.terms)  # a str and its dict slot, roughly
        return self.starts.nbytes + self.slots.nbytes + self.frequencies.nbytes + strings

    def row(self, stem: str) -> tuple[np.ndarray, np.ndarray] | None:
        row = self.terms.get(stem)
        if row is None:
            return None
        lo, hi = self.starts[row], self.starts[row + 1]
        return self.slots[lo:hi], self.frequencies[lo:hi]


_EMPTY = Postings({}, np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, np.float32))


@dataclass(frozen=True)
class LexicalIndex:
    """A corpus's postings over the slots of its ``CorpusChunks``; ``live`` masks removed slots."""

    segments: tuple[Postings, ...]
    lengths: np.ndarray  # int64 tokens per slot (FTS5's row size, every column); 0 when removed
    live: np.ndarray | None  # None: every slot is live
    chunk_count: int  # live slots
    norms: np.ndarray  # float32 per slot, k1·(1 - b + b·length/average length)

    @classmethod
    def create(
        cls, segments: tuple[Postings, ...], lengths: np.ndarray, live: np.ndarray | None
    ) -> LexicalIndex:
        count = int(lengths.size if live is None else np.count_nonzero(live))
        total = int(lengths.sum())
        average = total / count if total else 1.0
        norms = (K1 * (1 - B + B * lengths / average)).astype(np.float32)
        return cls(segments, lengths, live, count, norms)

    @property
    def nbytes(self) -> int:
        return sum(segment.nbytes for segment in self.segments) + self.lengths.nbytes + self.norms.nbytes

    def postings(self, stem: str) -> tuple[np.ndarray, np.ndarray]:
        """The stem's live postings: (slots, frequencies)."""
        rows = [found for segment in self.segments if (found := segment.row(stem)) is not None]
        if not rows:
            return _EMPTY.slots, _EMPTY.frequencies
        if len(rows) == 1:
            slots, frequencies = rows[0]
        else:
            slots, frequencies = (np.concatenate(column) for column in zip(*rows, strict=True))
        if self.live is not None:
            keep = self.live[slots]
            slots, frequencies = slots[keep], frequencies[keep]
        return slots, frequencies

    def document_frequency(self, stem: str) -> int:
        return int(self.postings(stem)[0].size)

    def scores(self, stems: Sequence[str], idf: dict[str, float]) -> np.ndarray:
        """BM25 of every slot (0 where no stem occurs, and for removed slots); a stem listed
        twice counts twice, as two phrases of one FTS5 query do."""
        total = np.zeros(self.lengths.size, dtype=np.float64)
        for stem in stems:
            slots, frequencies = self.postings(stem)
            if not slots.size:
                continue
            weights = frequencies * np.float32(K1 + 1)
            weights /= frequencies + self.norms[slots]
            # Slots are distinct within a stem's postings, so a fancy-indexed add is exact.
            total[slots] += idf[stem] * weights
        return total

    def updated(self, live: np.ndarray | None, added: Postings, added_lengths: np.ndarray) -> LexicalIndex:
        """This index with ``added_lengths.size`` new slots (their postings ``added``) after the
        existing ones, and the slots ``live`` leaves out removed."""
        lengths = np.concatenate((self.lengths, added_lengths))
        if live is not None:
            lengths[~live] = 0
        segments = (*self.segments, added) if added.size else self.segments
        if len(segments) > MAX_SEGMENTS:
            first, rest = segments[0], segments[1:]
            if sum(segment.size for segment in rest) * 4 >= first.size:
                segments = (merge_segments(segments),)
            else:
                segments = (first, merge_segments(rest))
        return LexicalIndex.create(segments, lengths, live)

    def compacted(self, live: np.ndarray) -> LexicalIndex:
        """The index over the live slots only, renumbered in order (as ``CorpusChunks.compacted``)."""
        renumber = np.cumsum(live, dtype=np.int64) - 1
        merged = merge_segments(self.segments, live, renumber)
        return LexicalIndex.create((merged,), self.lengths[live], None)


def merge_segments(
    segments: Sequence[Postings], live: np.ndarray | None = None, renumber: np.ndarray | None = None
) -> Postings:
    """One segment holding the postings of ``segments`` (of the ``live`` slots, renumbered)."""
    vocabulary: dict[str, int] = {}
    rows, slots, frequencies = [], [], []
    for segment in segments:
        mapped = np.fromiter(
            (vocabulary.setdefault(term, len(vocabulary)) for term in segment.terms),
            dtype=np.int32,
            count=len(segment.terms),
        )
        rows.append(np.repeat(mapped, np.diff(segment.starts)))
        slots.append(segment.slots)
        frequencies.append(segment.frequencies)
    all_rows, all_slots, all_frequencies = (np.concatenate(x) for x in (rows, slots, frequencies))
    if live is not None:
        keep = live[all_slots]
        all_rows, all_slots, all_frequencies = all_rows[keep], all_slots[keep], all_frequencies[keep]
    if renumber is not None:
        all_slots = renumber[all_slots].astype(np.int32)
    if all_rows.size and np.any(all_rows[1:] < all_rows[:-1]):
        # Stable: segments are in slot order, so each term's slots stay ascending.
        order = np.argsort(all_rows, kind="stable")
        all_rows, all_slots, all_frequencies = all_rows[order], all_slots[order], all_frequencies[order]
    counts = np.bincount(all_rows, minlength=len(vocabulary))
    kept = counts > 0  # terms whose every posting was removed are dropped
    names = np.array(list(vocabulary), dtype=object)[kept]
    starts = np.concatenate(([0], np.cumsum(counts[kept]))).astype(np.int64)
    return Postings({str(name): row for row, name in enumerate(names)}, starts, all_slots, all_frequencies)


def inverse_document_frequencies(indexes: Sequence[LexicalIndex], stems: Iterable[str]) -> dict[str, float]:
    """FTS5's idf, log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, over the searched corpora."""
    total = sum(index.chunk_count for index in indexes)
    idf = {}
    for stem in set(stems):
        frequency = sum(index.document_frequency(stem) for index in indexes)
        value = math.log((total - frequency + 0.5) / (frequency + 0.5)) if total else 0.0
        idf[stem] = value if value > 0 else 1e-6
    return idf


def build_index(session: Session, sorted_ids: np.ndarray, slots: np.ndarray, slot_count: int) -> LexicalIndex:
    """The postings of the live chunks ``sorted_ids`` (at ``slots`` of ``slot_count``), read
    from FTS5 in the caller's transaction.

    Reads the whole FTS5 index (every corpus's chunks) and keeps this corpus's postings: about
    30 µs per indexed chunk on the 2-core machine."""
    live = None
    if sorted_ids.size < slot_count:
        live = np.zeros(slot_count, dtype=bool)
        live[slots] = True
    lengths = np.zeros(slot_count, dtype=np.int64)
    if not sorted_ids.size:
        return LexicalIndex.create((_EMPTY,), lengths, live)
    session.execute(_INSTANCES)
    vocabulary: list[str] = []
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    batch: list[np.ndarray] = []
    batch_terms: list[int] = []
    pending = 0
    for term, packed in session.execute(_POSTINGS):
        instances = np.fromstring(packed, dtype=np.int64, sep=" ")
        batch.append(instances)
        batch_terms.append(len(vocabulary))
        vocabulary.append(term)
        pending += instances.size
        if pending >= _BATCH_INSTANCES:
            _add_batch(parts, sorted_ids, slots, batch, batch_terms, lengths)
            batch, batch_terms, pending = [], [], 0
    _add_batch(parts, sorted_ids, slots, batch, batch_terms, lengths)
    return LexicalIndex.create((_segment(vocabulary, parts),), lengths, live)


def new_chunk_postings(
    session: Session, contexts: Sequence[str], texts: Sequence[str], first_slot: int
) -> tuple[Postings, np.ndarray]:
    """The postings and lengths of new chunks taking the slots from ``first_slot`` on, as FTS5
    indexes them (its tokenizer, in a temporary table of this connection)."""
    lengths = np.zeros(len(texts), dtype=np.int64)
    if not texts:
        return _EMPTY, lengths
    for statement in _NEW_CHUNK_TABLES:
        session.execute(text(statement))
    session.execute(text("DELETE FROM temp.parley_new_chunks"))
    session.execute(
        text("INSERT INTO temp.parley_new_chunks(rowid, context, text) VALUES (:row, :context, :text)"),
        [
            {"row": row, "context": context, "text": body}
            for row, (context, body) in enumerate(zip(contexts, texts, strict=True))
        ],
    )
    rows = session.execute(_NEW_CHUNK_POSTINGS).all()
    session.execute(text("DELETE FROM temp.parley_new_chunks"))
    if not rows:  # chunks without a single token
        return _EMPTY, lengths
    vocabulary = [row[0] for row in rows]
    batch = [np.fromstring(row[1], dtype=np.int64, sep=" ") for row in rows]
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    rows_here = np.arange(len(texts), dtype=np.int64)
    _add_batch(parts, rows_here, rows_here, batch, list(range(len(vocabulary))), lengths)
    segment = _segment(vocabulary, parts)
    shifted = (segment.slots + first_slot).astype(np.int32)
    return Postings(segment.terms, segment.starts, shifted, segment.frequencies), lengths


def _segment(
    vocabulary: list[str], parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]
) -> Postings:
    rows, slots, frequencies = (_concatenate(pieces) for pieces in parts)
    # Rows arrive in term order, so each term's postings are one run.
    firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else np.empty(0, np.int64)
    starts = np.append(firsts, rows.size).astype(np.int64)
    terms = {vocabulary[int(rows[first])]: row for row, first in enumerate(firsts)}
    return Postings(terms, starts, slots, frequencies)


def _concatenate(pieces: list[np.ndarray]) -> np.ndarray:
    """One array from the pieces, emptying the list as it goes (halves a build's peak memory)."""
    whole = np.concatenate(pieces)
    pieces.clear()
    return whole


def _add_batch(
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]],
    sorted_ids: np.ndarray,
    slots: np.ndarray,
    batch: list[np.ndarray],
    batch_terms: list[int],
    lengths: np.ndarray,
) -> None:
    """Appends (term, slot, weighted term frequency) per posting of the chunks ``sorted_ids``
    (not empty), sorted by term then slot, to ``parts``; adds each chunk's tokens to
    ``lengths`` (FTS5's row size: every column)."""
    if not batch:
        batch = [np.empty(0, np.int64)]
    packed = np.concatenate(batch)
    terms = np.repeat(np.asarray(batch_terms, dtype=np.int64), [a.size for a in batch])
    chunk_ids = packed >> 1
    found, keep = locate(sorted_ids, chunk_ids)
    terms, positions = terms[keep], slots[found[keep]]
    column_weight = np.where(packed[keep] & 1, 1.0, CONTEXT_WEIGHT)
    lengths += np.bincount(positions, minlength=lengths.size)
    key = terms * lengths.size + positions
    if key.size and np.any(key[1:] < key[:-1]):  # FTS5 lists a term's chunks in id order
        order = np.argsort(key, kind="stable")
        key, terms, positions = key[order], terms[order], positions[order]
        column_weight = column_weight[order]
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.empty(0, np.int64)
    frequencies = np.add.reduceat(column_weight, firsts) if key.size else np.empty(0)
    parts[0].append(terms[firsts].astype(np.int32))
    parts[1].append(positions[firsts].astype(np.int32))
    parts[2].append(frequencies.astype(np.float32))
