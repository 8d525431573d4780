"""The documents a metadata filter admits, remembered per corpus index version (SQLite).

Evaluating a filter is a JSON pass over every document row of the corpora (~3.5 ms for 2,000
documents); agents tend to send the same filter again and again. The result depends only on
the corpora's documents, and every write that changes which documents a filter admits (chunks
written, documents deleted, metadata or tags edited) bumps the corpus's ``index_version`` in
the same transaction, so a result keyed by the versions the search's own transaction reads is
exact: a change makes a new key and the old entry ages out. Corpus ids are never shared
between organisations, so neither are the entries.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable

import numpy as np

# Entries of ~8 bytes per admitted document: 64 filters over 10k documents take ~5 MB.
MAX_ENTRIES = 64

FilterKey = tuple[Hashable, ...]


def filter_key(
    versions: list[tuple[int, int]], source: str, condition: str, params: dict[str, object]
) -> FilterKey:
    """(corpus, version) pairs plus the compiled SQL and its bound values; the value's type is
    part of the key (``1`` and ``True`` hash alike)."""
    bound = tuple(sorted((name, type(value).__name__, value) for name, value in params.items()))
    return (tuple(versions), source, condition, bound)


class AdmittedDocuments:
    """A small thread-safe LRU of filter results (document id arrays, made read-only)."""

    def __init__(self, max_entries: int = MAX_ENTRIES) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._entries: OrderedDict[FilterKey, np.ndarray] = OrderedDict()

    def get(self, key: FilterKey, compute: Callable[[], np.ndarray]) -> np.ndarray:
        with self._lock:
            found = self._entries.get(key)
            if found is not None:
                self._entries.move_to_end(key)
                return found
        # Computed outside the lock: two searches missing together both read, which is harmless.
        found = compute()
        found.flags.writeable = False
        with self._lock:
            self._entries[key] = found
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
        return found

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
