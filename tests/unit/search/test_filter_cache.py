"""The LRU of filter results: computed once per key, least recently used evicted first."""

from __future__ import annotations

import numpy as np

from parley.search.filter_cache import AdmittedDocuments, entry_bytes, filter_key


def test_a_result_is_computed_once_per_key_and_the_oldest_is_evicted():
    cache = AdmittedDocuments(max_entries=2)
    computed: list[int] = []

    def compute(value: int):  # type: ignore[no-untyped-def]
        def run() -> np.ndarray:
            computed.append(value)
            return np.array([value], dtype=np.int64)

        return run

    a, b, c = (filter_key([(1, version)], "documents", "x = :flt_0", {"flt_0": 1}) for version in (1, 2, 3))
    assert cache.get(a, compute(1)).tolist() == [1]
    assert cache.get(a, compute(99)).tolist() == [1]  # remembered
    cache.get(b, compute(2))
    cache.get(a, compute(99))  # a is now the most recently used
    cache.get(c, compute(3))  # evicts b
    assert cache.get(a, compute(99)).tolist() == [1]
    assert cache.get(b, compute(2)).tolist() == [2]
    assert computed == [1, 2, 3, 2] and len(cache) == 2
    assert not cache.get(a, compute(1)).flags.writeable


def test_bound_values_of_another_type_make_another_key():
    assert filter_key([(1, 1)], "d", "c", {"flt_0": 1}) != filter_key([(1, 1)], "d", "c", {"flt_0": True})
    assert filter_key([(1, 1)], "d", "c", {"flt_0": 1}) != filter_key([(2, 1)], "d", "c", {"flt_0": 1})


def test_the_cache_is_bounded_in_bytes_and_skips_a_filter_too_large_for_its_share():
    values = {f"flt_{n}": "v" * 1000 for n in range(100)}  # ~115 KB of SQL and bound values
    key = filter_key([(1, 1)], "documents", "x IN (...)", values)
    size = entry_bytes(key, np.array([1], dtype=np.int64))
    assert 100_000 < size < 200_000
    cache = AdmittedDocuments(max_entries=100, max_bytes=size * 8)
    keys = [filter_key([(1, version)], "documents", "x IN (...)", values) for version in range(10)]
    for key in keys:
        cache.get(key, lambda: np.array([1], dtype=np.int64))
    assert len(cache) == 8 and cache.bytes == 8 * size  # the two oldest went for the bytes
    calls: list[int] = []
    huge = filter_key([(1, 1)], "documents", "x IN (...)", {**values, "flt_big": "v" * size})
    for _ in range(2):
        cache.get(huge, lambda: calls.append(1) or np.array([1], dtype=np.int64))
    assert calls == [1, 1] and len(cache) == 8  # evaluated each time, never stored
    cache.clear()
    assert cache.bytes == 0
