"""The documents a metadata filter admits, remembered per corpus index version (SQLite).

Evaluating a filter is a JSON pass over every document row of the corpora (~3.5 ms for 2,000
documents); agents tend to send the same filter again and again. The result depends only on
the corpora's documents, and every write that changes which documents a filter admits (chunks
written, documents deleted, metadata or tags edited) bumps the corpus's ``index_version`` in
the same transaction, so a result keyed by the versions the search's own transaction reads is
exact: a change makes a new key and the old entry ages out. Corpus ids are never shared
between organisations, so neither are the entries.

A key holds the filter's SQL and every value it binds, which the request chooses (a
``containsany`` of hundreds of long strings is a valid filter): the cache is bounded in bytes as
well as in entries, and a filter too large for its share is evaluated without being remembered.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

# Entries of ~8 bytes per admitted document: 64 filters over 10k documents take ~5 MB.
MAX_ENTRIES = 64
MAX_BYTES = 16 * 1024 * 1024
# What a bound value costs beside its own text: the (name, type, value) tuple, the name, headers.
_BYTES_PER_VALUE = 150

# (corpus, version) pairs, the filter's row source, its SQL condition, its (name, type, value)s.
FilterKey = tuple[tuple[tuple[int, int], ...], str, str, tuple[tuple[str, str, object], ...]]


def filter_key(
    versions: list[tuple[int, int]], source: str, condition: str, params: dict[str, object]
) -> FilterKey:
    """(corpus, version) pairs plus the compiled SQL and its bound values; the value's type is
    part of the key (``1`` and ``True`` hash alike)."""
    bound = tuple(sorted((name, type(value).__name__, value) for name, value in params.items()))
    return (tuple(versions), source, condition, bound)


def entry_bytes(key: FilterKey, admitted: np.ndarray) -> int:
    """About what an entry keeps alive: its SQL text, its bound values and the id array."""
    _, source, condition, bound = key
    values = sum(len(value) if isinstance(value, str) else 8 for _, _, value in bound)
    return len(source) + len(condition) + values + _BYTES_PER_VALUE * len(bound) + admitted.nbytes


class AdmittedDocuments:
    """A small thread-safe LRU of filter results (document id arrays, made read-only), at most
    ``max_entries`` of them and about ``max_bytes`` in all; one entry may take an eighth."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_bytes: int = MAX_BYTES) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.bytes = 0
        self._lock = threading.Lock()
        self._entries: OrderedDict[FilterKey, tuple[np.ndarray, int]] = OrderedDict()

    def get(self, key: FilterKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                return entry[0]
        # Computed outside the lock: two searches missing together both read, which is harmless.
        found = compute()
        found.flags.writeable = False
        size = entry_bytes(key, found)
        if size > self.max_bytes // 8:
            return found
        with self._lock:
            previous = self._entries.pop(key, None)
            self.bytes += size - (previous[1] if previous else 0)
            self._entries[key] = (found, size)
            while len(self._entries) > self.max_entries or self.bytes > self.max_bytes:
                self.bytes -= self._entries.popitem(last=False)[1][1]
        return found

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self.bytes = 0
