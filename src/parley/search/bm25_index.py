"""In-memory BM25 postings of one corpus, read from the FTS5 index (SQLite backend).

FTS5 scores every chunk holding any query word one row at a time: at 100k chunks an OR query
over a claim's words touches tens of thousands of rows and costs tens of milliseconds, which
is why ``fts5_matches`` prunes words to a postings budget. Held as arrays (a CSR matrix of
terms × chunks with the saturated term frequency precomputed), the same query is a sum of a few
array slices: exact BM25 over every posting in a few milliseconds, with no pruning.

The postings are read from FTS5's own index (an ``fts5vocab`` instance table), and query words
are stemmed by FTS5's tokenizer (``lexical.word_tokens``), so both sides use FTS5's tokens, and a
score equals FTS5's ``bm25(chunks_fts, 0.5, 1.0)``: same k1 and b, same column weights, same
idf formula. The collection statistics (chunk count, average length, document frequencies) are
those of the searched corpora rather than of the whole database, so another tenant's documents
never move a corpus's ranking.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import text
from sqlalchemy.orm import Session

from parley.search.lexical import CONTEXT_WEIGHT, K1, B

# Instances (term, chunk, column) are read per term and processed this many at a time, which
# bounds the memory a build needs beyond the finished index.
_BATCH_INSTANCES = 250_000
_INSTANCES = text(
    "CREATE VIRTUAL TABLE IF NOT EXISTS temp.parley_chunk_instances "
    "USING fts5vocab(main, chunks_fts, instance)"
)
# One row per term in the index's term order; each chunk id doubled, plus one for the text column.
_POSTINGS = text(
    "SELECT term, group_concat(doc * 2 + (col = 'text'), ' ') FROM temp.parley_chunk_instances GROUP BY term"
)


@dataclass(frozen=True)
class LexicalIndex:
    """Terms × chunks of one corpus; chunk positions index that corpus's ``CorpusChunks.ids``."""

    terms: dict[str, int]  # stem -> row
    starts: np.ndarray  # int64, row r's postings are [starts[r], starts[r + 1])
    positions: np.ndarray  # int32, ascending within a row
    weights: np.ndarray  # float32, f·(k1+1) / (f + k1·(1 - b + b·length/average length))
    chunk_count: int

    @property
    def nbytes(self) -> int:
        strings = sum(len(term) + 60 for term in self.terms)  # a str and its dict slot, roughly
        return self.starts.nbytes + self.positions.nbytes + self.weights.nbytes + strings

    def document_frequency(self, stem: str) -> int:
        row = self.terms.get(stem)
        return 0 if row is None else int(self.starts[row + 1] - self.starts[row])

    def scores(self, stems: Sequence[str], idf: dict[str, float]) -> np.ndarray:
        """BM25 of every chunk (0 where no stem occurs); a stem listed twice counts twice, as
        two phrases of one FTS5 query do."""
        total = np.zeros(self.chunk_count, dtype=np.float64)
        for stem in stems:
            row = self.terms.get(stem)
            if row is None:
                continue
            lo, hi = self.starts[row], self.starts[row + 1]
            # Positions are distinct within a row, so a fancy-indexed add is exact.
            total[self.positions[lo:hi]] += idf[stem] * self.weights[lo:hi]
        return total


def inverse_document_frequencies(indexes: Sequence[LexicalIndex], stems: Iterable[str]) -> dict[str, float]:
    """FTS5's idf, log((N - n + 0.5) / (n + 0.5)) floored at 1e-6, over the searched corpora."""
    total = sum(index.chunk_count for index in indexes)
    idf = {}
    for stem in set(stems):
        frequency = sum(index.document_frequency(stem) for index in indexes)
        value = math.log((total - frequency + 0.5) / (frequency + 0.5)) if total else 0.0
        idf[stem] = value if value > 0 else 1e-6
    return idf


def build_index(session: Session, ids: np.ndarray) -> LexicalIndex:
    """The postings of the chunks ``ids`` (sorted), read from FTS5 in the caller's transaction.

    Reads the whole FTS5 index (every corpus's chunks) and keeps this corpus's postings: about
    30 µs per indexed chunk on the 2-core machine."""
    count = int(ids.size)
    if not count:
        return LexicalIndex({}, np.zeros(1, np.int64), np.empty(0, np.int32), np.empty(0, np.float32), 0)
    session.execute(_INSTANCES)
    vocabulary: list[str] = []
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]] = ([], [], [])
    lengths = np.zeros(count, dtype=np.int64)
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
            _add_batch(parts, ids, batch, batch_terms, lengths)
            batch, batch_terms, pending = [], [], 0
    _add_batch(parts, ids, batch, batch_terms, lengths)
    rows, positions, weights = (_concatenate(pieces) for pieces in parts)
    average = float(lengths.sum()) / count if lengths.any() else 1.0
    # In place and in float32: the postings arrays are the bulk of a build's memory.
    norm = (K1 * (1 - B + B * lengths / average)).astype(np.float32)[positions]
    norm += weights
    weights *= K1 + 1
    weights /= norm
    del norm

    # Rows arrive in term order, so each term's postings are one run.
    firsts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]]) if rows.size else np.empty(0, np.int64)
    starts = np.append(firsts, rows.size).astype(np.int64)
    terms = {vocabulary[int(rows[first])]: row for row, first in enumerate(firsts)}
    return LexicalIndex(terms, starts, positions, weights, count)


def _concatenate(pieces: list[np.ndarray]) -> np.ndarray:
    """One array from the pieces, emptying the list as it goes (halves a build's peak memory)."""
    whole = np.concatenate(pieces)
    pieces.clear()
    return whole


def _add_batch(
    parts: tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]],
    ids: np.ndarray,
    batch: list[np.ndarray],
    batch_terms: list[int],
    lengths: np.ndarray,
) -> None:
    """Appends (term, chunk position, weighted term frequency) per posting of this corpus,
    sorted by term then chunk, to ``parts``; adds each chunk's tokens to ``lengths`` (FTS5's
    row size: every column). ``ids`` is not empty."""
    if not batch:
        batch = [np.empty(0, np.int64)]
    packed = np.concatenate(batch)
    terms = np.repeat(np.asarray(batch_terms, dtype=np.int64), [a.size for a in batch])
    chunk_ids = packed >> 1
    positions = np.searchsorted(ids, chunk_ids).clip(max=ids.size - 1)
    keep = ids[positions] == chunk_ids
    terms, positions = terms[keep], positions[keep]
    column_weight = np.where(packed[keep] & 1, 1.0, CONTEXT_WEIGHT)
    lengths += np.bincount(positions, minlength=ids.size)
    key = terms * ids.size + positions
    if key.size and np.any(key[1:] < key[:-1]):  # FTS5 lists a term's chunks in id order
        order = np.argsort(key, kind="stable")
        key, terms, positions = key[order], terms[order], positions[order]
        column_weight = column_weight[order]
    firsts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size else np.empty(0, np.int64)
    frequencies = np.add.reduceat(column_weight, firsts) if key.size else np.empty(0)
    parts[0].append(terms[firsts].astype(np.int32))
    parts[1].append(positions[firsts].astype(np.int32))
    parts[2].append(frequencies.astype(np.float32))
