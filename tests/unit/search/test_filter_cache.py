"""The LRU of filter results: computed once per key, least recently used evicted first."""

from __future__ import annotations

import numpy as np

from parley.search.filter_cache import AdmittedDocuments, filter_key


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
