"""Read the text on a vncterm screen image back, cell by cell, by glyph shape.

Each 8x16 cell is split into background (its most common colour) and foreground; the
foreground mask must equal a printable ASCII glyph of the font exactly (or its inverse, for the
cursor cell). Unknown shapes read as '?'.
"""

from __future__ import annotations

from functools import cache

import numpy as np
from PIL import Image

from vncterm.render.font import glyph

CELL_WIDTH, CELL_HEIGHT = 8, 16


@cache
def _shapes() -> dict[bytes, str]:
    shapes: dict[bytes, str] = {}
    for code in range(0x21, 0x7F):
        mask = np.asarray(glyph(code), dtype=bool)[:, :CELL_WIDTH]
        shapes.setdefault(np.packbits(mask).tobytes(), chr(code))
    return shapes


def _cell_char(cell: np.ndarray) -> str:
    flat = cell.reshape(-1, 3)
    colours, counts = np.unique(flat, axis=0, return_counts=True)
    if len(colours) == 1:
        return " "
    background = colours[np.argmax(counts)]
    mask = np.any(cell != background, axis=-1)
    shapes = _shapes()
    for candidate in (mask, ~mask):
        found = shapes.get(np.packbits(candidate).tobytes())
        if found is not None:
            return found
        # An underline or the underline cursor adds the bottom row: try without it.
        trimmed = candidate.copy()
        trimmed[-1, :] = False
        found = shapes.get(np.packbits(trimmed).tobytes())
        if found is not None:
            return found
    return "?"


def screen_text(image: Image.Image) -> str:
    """All rows of the screen as text lines, trailing spaces removed."""
    pixels = np.asarray(image.convert("RGB"))
    rows = pixels.shape[0] // CELL_HEIGHT
    columns = pixels.shape[1] // CELL_WIDTH
    lines = []
    for r in range(rows):
        band = pixels[r * CELL_HEIGHT : (r + 1) * CELL_HEIGHT]
        chars = [
            _cell_char(band[:, c * CELL_WIDTH : (c + 1) * CELL_WIDTH]) for c in range(columns)
        ]
        lines.append("".join(chars).rstrip())
    return "\n".join(lines)
