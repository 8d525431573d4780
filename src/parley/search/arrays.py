"""Array helpers shared by the in-memory search structures."""

from __future__ import annotations

import numpy as np


def locate(sorted_values: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Where each of ``values`` is in ``sorted_values`` (ascending), and whether it is there at
    all: (positions, present). The position of a value that is not there means nothing."""
    if not sorted_values.size:
        return np.zeros(values.size, np.int64), np.zeros(values.size, bool)
    positions = np.searchsorted(sorted_values, values).clip(max=sorted_values.size - 1)
    return positions, sorted_values[positions] == values
