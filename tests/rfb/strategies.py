"""Hypothesis strategies for pixel formats and RGB images."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from vncterm.rfb.pixelformat import PixelFormat


@st.composite
def true_colour_formats(draw: st.DrawFn) -> PixelFormat:
    """Any valid true-colour format: channel widths, order, gaps and byte order vary."""
    bpp = draw(st.sampled_from([8, 16, 32]))
    widths = [draw(st.integers(1, min(10, bpp - 2))) for _ in range(3)]
    while sum(widths) > bpp:
        widths[widths.index(max(widths))] -= 1
    order = draw(st.permutations([0, 1, 2]))
    free = bpp - sum(widths)
    shifts = [0, 0, 0]
    position = 0
    for channel in order:
        gap = draw(st.integers(0, free))
        free -= gap
        position += gap
        shifts[channel] = position
        position += widths[channel]
    maxima = [(1 << w) - 1 for w in widths]
    return PixelFormat(
        bpp,
        draw(st.integers(1, bpp)),
        draw(st.booleans()),
        True,
        maxima[0],
        maxima[1],
        maxima[2],
        shifts[0],
        shifts[1],
        shifts[2],
    )


@st.composite
def colour_map_formats(draw: st.DrawFn) -> PixelFormat:
    """An 8-bit colour-map format; its maxima and shifts are meaningless and vary."""
    byte = st.integers(0, 255)
    return PixelFormat(
        8,
        draw(st.integers(1, 8)),
        draw(st.booleans()),
        False,
        draw(byte),
        draw(byte),
        draw(byte),
        draw(byte),
        draw(byte),
        draw(byte),
    )


pixel_formats = st.one_of(true_colour_formats(), colour_map_formats())


@st.composite
def images(draw: st.DrawFn, max_side: int = 8) -> np.ndarray:
    """A small RGB uint8[h, w, 3] image, sometimes from a tiny palette (so runs occur)."""
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    if draw(st.booleans()):
        return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
    palette = rng.integers(0, 256, (draw(st.integers(1, 4)), 3), dtype=np.uint8)
    return palette[rng.integers(0, len(palette), (height, width))]
