"""Finding a region's distinct pixel values and each pixel's index among them (ZRLE, Tight).

Sorting the values once is much cheaper than ``np.unique(..., return_inverse=True)``, and
terminal regions rarely hold more than a handful of colours, for which comparisons beat a
binary search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

PixelValues = NDArray[np.unsignedinteger[Any]]

#: Up to this many colours, indexes come from one comparison per colour.
_COMPARE_LIMIT = 8


def distinct_values(values: PixelValues) -> PixelValues:
    """Return the distinct values of ``values`` (any shape), sorted ascending."""
    ordered = np.sort(values, axis=None)
    if ordered.size == 0:
        return ordered
    keep = np.empty(ordered.size, dtype=bool)
    keep[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=keep[1:])
    return ordered[keep]


def palette_indices(palette: PixelValues, values: PixelValues) -> NDArray[np.intp]:
    """Return the index in the sorted ``palette`` of each of ``values`` (all must be in it)."""
    if len(palette) > _COMPARE_LIMIT:
        return np.searchsorted(palette, values)
    indices = np.zeros(values.shape, dtype=np.intp)
    for index, colour in enumerate(palette.tolist()[1:], start=1):
        indices[values == colour] = index
    return indices
