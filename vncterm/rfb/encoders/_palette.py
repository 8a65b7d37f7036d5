"""Finding a region's distinct pixel values and each pixel's index among them (ZRLE, Tight).

Terminal regions rarely hold more than a handful of colours, mostly background: peeling off
one colour at a time beats sorting every pixel, sorting beats ``np.unique(...,
return_inverse=True)`` when there are many, and for a few colours comparisons beat a binary
search.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

PixelValues = NDArray[np.unsignedinteger[Any]]

#: Up to this many colours, indexes come from one comparison per colour.
_COMPARE_LIMIT = 8


#: Colours taken out one at a time before sorting what is left.
_PEEL_LIMIT = 4


def distinct_values(values: PixelValues) -> PixelValues:
    """Return the distinct values of ``values`` (any shape), sorted ascending."""
    # Text is mostly background: taking out one colour at a time leaves little to look at
    # after the first, and two or three passes beat a sort of every pixel.
    rest = values.ravel()
    found: list[Any] = []
    while rest.size and len(found) < _PEEL_LIMIT:
        colour = rest[0]
        found.append(colour)
        rest = rest[rest != colour]
    peeled = np.array(found, dtype=values.dtype)
    if not rest.size:
        return np.sort(peeled)
    return _sorted_distinct(np.concatenate((peeled, rest)))


def _sorted_distinct(values: PixelValues) -> PixelValues:
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
