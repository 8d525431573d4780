"""Vector scores of the chunks a filter admits, computed over runs of consecutive rows."""

from __future__ import annotations

import numpy as np
import pytest

from parley.search.vector import _kept_scores

RNG = np.random.default_rng(3)
MATRIX = RNG.standard_normal((6000, 32)).astype(np.float32)
QUERY = RNG.standard_normal(32).astype(np.float32)


@pytest.mark.parametrize("chunks_per_document", [1, 3, 60, 1000])
@pytest.mark.parametrize("admitted", [0.0, 0.05, 0.3, 0.9, 1.0])
def test_kept_scores_equal_the_full_product_restricted(chunks_per_document, admitted):
    documents = -(-MATRIX.shape[0] // chunks_per_document)
    keep = np.repeat(RNG.random(documents) < admitted, chunks_per_document)[: MATRIX.shape[0]]
    got = _kept_scores(MATRIX, QUERY, keep)
    assert got.shape == (int(keep.sum()),)
    np.testing.assert_allclose(got, (MATRIX @ QUERY)[keep], rtol=1e-5, atol=1e-5)


def test_runs_at_both_ends_and_single_rows():
    keep = np.zeros(MATRIX.shape[0], dtype=bool)
    keep[:10] = keep[-7:] = keep[500] = True
    expected = (MATRIX @ QUERY)[keep]
    np.testing.assert_allclose(_kept_scores(MATRIX, QUERY, keep), expected, rtol=1e-5, atol=1e-5)
