"""The distinct colours of a region and each pixel's index among them (ZRLE's and Tight's
palettes), against numpy's own unique."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from vncterm.rfb.encoders._palette import distinct_values, palette_indices


@st.composite
def regions(draw: st.DrawFn) -> np.ndarray:
    """Pixel values with 1 to 40 colours, one of them usually the background of most pixels."""
    colours = draw(st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=40, unique=True))
    shape = draw(hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=24))
    picks = draw(hnp.arrays(np.intp, shape, elements=st.integers(0, len(colours) - 1)))
    if draw(st.booleans()):
        picks[draw(hnp.arrays(np.bool_, shape))] = 0  # mostly background
    return np.array(colours, dtype=np.uint32)[picks]


@settings(max_examples=300)
@given(regions())
def test_distinct_values_are_numpys_unique(values: np.ndarray) -> None:
    palette = distinct_values(values)
    assert palette.dtype == values.dtype
    assert palette.tolist() == np.unique(values).tolist()
    assert np.array_equal(palette[palette_indices(palette, values)], values)


def test_empty_region_has_no_colours() -> None:
    assert distinct_values(np.zeros((0, 4), dtype=np.uint16)).size == 0
