"""The bitmap font: GNU Unifont 15 (8x16 and 16x16 glyphs) loaded once per process.

``fonts/unifont.hex.gz`` has lines ``XXXX:bitmap`` where the bitmap is 32 hex digits (8 pixels
wide, one byte per row) or 64 (16 pixels wide, two bytes per row). The file is read and indexed
on first use (about 0.1 s); glyphs are decoded on demand and kept. Characters Unifont lacks get
its U+FFFD glyph; several code points (a base and combining marks) are overlaid.
"""

from __future__ import annotations

import gzip
import threading
import unicodedata
from functools import lru_cache
from importlib import resources

import numpy as np
import numpy.typing as npt

__all__ = ["CELL_HEIGHT", "CELL_WIDTH", "REPLACEMENT", "glyph", "has_glyph", "text_glyph"]

#: Pixel width of a narrow glyph; a wide one is twice as wide.
CELL_WIDTH = 8
#: Pixel height of every glyph.
CELL_HEIGHT = 16
#: Shown for code points without a glyph.
REPLACEMENT = 0xFFFD

Bitmap = npt.NDArray[np.bool_]

_index: dict[int, bytes] | None = None
_lock = threading.Lock()


def _load() -> dict[int, bytes]:
    global _index
    with _lock:
        if _index is None:
            source = resources.files("vncterm.render").joinpath("fonts/unifont.hex.gz")
            text = gzip.decompress(source.read_bytes())
            index: dict[int, bytes] = {}
            for line in text.split(b"\n"):
                code, sep, bitmap = line.partition(b":")
                if sep and len(bitmap) in (32, 64):
                    index[int(code, 16)] = bitmap
            _index = index
        return _index


def has_glyph(codepoint: int) -> bool:
    """Whether Unifont has a glyph for ``codepoint``."""
    return codepoint in _load()


def _box() -> Bitmap:
    bitmap = np.zeros((CELL_HEIGHT, CELL_WIDTH), dtype=np.bool_)
    bitmap[2:14, 1] = bitmap[2:14, 6] = True
    bitmap[2, 1:7] = bitmap[13, 1:7] = True
    return bitmap


@lru_cache(maxsize=8192)
def glyph(codepoint: int) -> Bitmap:
    """The glyph of ``codepoint``: bool ``(16, 8)`` or ``(16, 16)``, read-only, True = ink."""
    bitmap = _load().get(codepoint)
    if bitmap is None:
        bitmap = _load().get(REPLACEMENT)
        if bitmap is None:  # pragma: no cover - the shipped font has U+FFFD
            result = _box()
            result.flags.writeable = False
            return result
    width = len(bitmap) // 4  # 32 hex digits -> 8 pixels, 64 -> 16
    rows = np.frombuffer(bytes.fromhex(bitmap.decode("ascii")), dtype=np.uint8)
    result = np.unpackbits(rows).reshape(CELL_HEIGHT, width).astype(np.bool_)
    result.flags.writeable = False
    return result


def _fit(bitmap: Bitmap, width: int, *, east_asian_wide: bool = False) -> Bitmap:
    if bitmap.shape[1] == width:
        return bitmap
    if width > bitmap.shape[1]:  # a narrow glyph in a wide cell: centre it
        wide = np.zeros((CELL_HEIGHT, width), dtype=np.bool_)
        offset = (width - bitmap.shape[1]) // 2
        wide[:, offset : offset + bitmap.shape[1]] = bitmap
        return wide
    if east_asian_wide:
        # A double-width character left in one cell (its right half was overwritten, or it
        # sits in the last column): show its left half, as xterm does.
        return bitmap[:, :width]
    # A character the terminal counts as narrow but Unifont draws wide: squeeze it.
    squeezed: Bitmap = bitmap[:, 0::2] | bitmap[:, 1::2]
    return squeezed


@lru_cache(maxsize=4096)
def text_glyph(text: str, width: int = CELL_WIDTH) -> Bitmap:
    """The bitmap for a cell's text (a character plus combining marks) ``width`` pixels wide."""
    if not text:
        return np.zeros((CELL_HEIGHT, width), dtype=np.bool_)
    if len(text) > 1:
        text = unicodedata.normalize("NFC", text)
    base = text[0]
    wide = unicodedata.east_asian_width(base) in ("W", "F")
    result = _fit(glyph(ord(base)), width, east_asian_wide=wide)
    if len(text) > 1:
        result = result.copy()
        for mark in text[1:]:
            # Only marks are drawn over the base: joiners, variation selectors and other
            # format characters are invisible (Unifont draws them as labelled boxes).
            if unicodedata.category(mark).startswith("M") and _load().get(ord(mark)) is not None:
                result |= _fit(glyph(ord(mark)), width)
    result.flags.writeable = False
    return result
