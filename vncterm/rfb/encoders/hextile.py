"""Hextile encoding: 16x16 tiles, each solid, subrectangles or raw (RFC 6143 s7.7.4)."""

from __future__ import annotations

from enum import IntFlag

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.encoders._subrects import tiled_subrects
from vncterm.rfb.pixelformat import (
    PixelFormat,
    pack_pixel_value,
    pack_pixel_values,
    to_pixel_values,
)

#: Width and height of a full tile.
TILE_SIZE = 16
#: The tile's subencoding byte holds at most this many subrectangles.
MAX_SUBRECTS = 255


class Subencoding(IntFlag):
    """Bits of a tile's subencoding mask."""

    RAW = 1
    BACKGROUND_SPECIFIED = 2
    FOREGROUND_SPECIFIED = 4
    ANY_SUBRECTS = 8
    SUBRECTS_COLOURED = 16


def encode(pixels: NDArray[np.uint8], pf: PixelFormat) -> bytes:
    """Return the Hextile payload of an RGB ``uint8[h, w, 3]`` region.

    Tiles of one colour send only a background (or nothing if it is unchanged); others send
    subrectangles on the most frequent colour, or the raw pixels when those are shorter.
    Background and foreground are re-sent after a raw tile, and the foreground after a
    tile of coloured subrectangles, because decoders disagree about carrying them over.
    """
    values = to_pixel_values(pixels, pf)
    if values.size == 0:
        return b""
    bpp = pf.bytes_per_pixel
    tiles = tiled_subrects(values, TILE_SIZE)

    # Every subrectangle's bytes, built at once; a tile takes a contiguous slice.
    geometry = np.empty((len(tiles.x), 2), dtype=np.uint8)
    geometry[:, 0] = (tiles.x << 4) | tiles.y
    geometry[:, 1] = ((tiles.width - 1) << 4) | (tiles.height - 1)
    pixel_bytes = np.frombuffer(pack_pixel_values(tiles.colour, pf), dtype=np.uint8)
    plain = geometry.tobytes()
    coloured = np.hstack((pixel_bytes.reshape(-1, bpp), geometry)).tobytes()

    backgrounds = tiles.background.tolist()
    colour_counts = tiles.colour_count.tolist()
    firsts = tiles.first.tolist()
    rect_colours = tiles.colour.tolist()

    # Plain ints in the loop: IntFlag arithmetic costs a microsecond an operation.
    raw = int(Subencoding.RAW)
    background_specified = int(Subencoding.BACKGROUND_SPECIFIED)
    foreground_specified = int(Subencoding.FOREGROUND_SPECIFIED)
    any_subrects = int(Subencoding.ANY_SUBRECTS)
    subrects_coloured = int(Subencoding.SUBRECTS_COLOURED)
    out = bytearray()
    last_bg: int | None = None
    last_fg: int | None = None
    for index in range(tiles.rows * tiles.columns):
        bg = backgrounds[index]
        head = bytearray()
        mask = 0
        if bg != last_bg:
            mask |= background_specified
            head += pack_pixel_value(bg, pf)
        if colour_counts[index] == 1:
            out.append(mask)
            out += head
            last_bg = bg
            continue

        start, end = firsts[index], firsts[index + 1]
        count = end - start
        fg: int | None = None
        mask |= any_subrects
        if colour_counts[index] == 2:
            fg = rect_colours[start]
            if fg != last_fg:
                mask |= foreground_specified
                head += pack_pixel_value(fg, pf)
            body = plain[2 * start : 2 * end]
        else:
            mask |= subrects_coloured
            body = coloured[(bpp + 2) * start : (bpp + 2) * end]

        row, column = divmod(index, tiles.columns)
        tile = values[
            row * TILE_SIZE : (row + 1) * TILE_SIZE,
            column * TILE_SIZE : (column + 1) * TILE_SIZE,
        ]
        if count > MAX_SUBRECTS or len(head) + 1 + len(body) >= tile.size * bpp:
            out.append(raw)
            out += pack_pixel_values(tile, pf)
            last_bg = last_fg = None
        else:
            out.append(mask)
            out += head
            out.append(count)
            out += body
            last_bg, last_fg = bg, fg
    return bytes(out)
