"""Covering each tile's non-background pixels with solid rectangles (for RRE and Hextile).

All of a region's tiles are done at once with numpy, so the per-tile work left to Python is
a few slices. Each row of a tile is split into runs of one value; runs identical in position
and value on consecutive rows form one rectangle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Int64Array = NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class TiledSubrects:
    """Per tile (row-major): background, colour count and a slice of the subrectangles."""

    #: Tiles per row of tiles.
    columns: int
    #: Tiles per column of tiles.
    rows: int
    #: Most frequent pixel value of each tile.
    background: Int64Array
    #: Distinct pixel values in each tile.
    colour_count: Int64Array
    #: Subrectangles of tile i are ``first[i]:first[i + 1]`` of the arrays below.
    first: Int64Array
    #: Subrectangle geometry relative to its tile's top-left corner, and pixel value.
    x: Int64Array
    y: Int64Array
    width: Int64Array
    height: Int64Array
    colour: Int64Array


def tiled_subrects(values: NDArray[np.unsignedinteger[Any]], tile_size: int) -> TiledSubrects:
    """Split ``values`` (non-empty ``[h, w]``) into tiles and cover each tile's foreground."""
    height, width = values.shape
    columns = -(-width // tile_size)
    rows = -(-height // tile_size)
    tile_count = columns * rows

    starts = np.ones(values.shape, dtype=bool)
    starts[:, 1:] = values[:, 1:] != values[:, :-1]
    starts[:, ::tile_size] = True
    flat = np.flatnonzero(starts)
    # Every row begins a run, so a run ends where the next one starts.
    lengths = np.diff(flat, append=values.size)
    ys, xs = np.divmod(flat, width)
    colours = values.ravel()[flat].astype(np.int64)
    tiles = (ys // tile_size) * columns + xs // tile_size

    # The background of a tile is its value covering most pixels.
    keys, key_index = np.unique((tiles << 32) | colours, return_inverse=True)
    pixel_counts = np.bincount(key_index, weights=lengths)
    key_tiles = keys >> 32
    colour_count = np.bincount(key_tiles, minlength=tile_count)
    by_tile_then_count = np.lexsort((-pixel_counts, key_tiles))
    group_starts = np.concatenate(([0], np.cumsum(colour_count)[:-1]))
    background = (keys & 0xFFFFFFFF)[by_tile_then_count[group_starts]]

    keep = colours != background[tiles]
    tiles, colours, lengths = tiles[keep], colours[keep], lengths[keep]
    local_x, local_y = xs[keep] % tile_size, ys[keep] % tile_size
    order = np.lexsort((local_y, colours, lengths, local_x, tiles))
    tiles, colours, lengths = tiles[order], colours[order], lengths[order]
    local_x, local_y = local_x[order], local_y[order]
    # A run starts a new rectangle unless the same run sits directly above it.
    new = np.ones(len(tiles), dtype=bool)
    new[1:] = (
        (tiles[1:] != tiles[:-1])
        | (local_x[1:] != local_x[:-1])
        | (lengths[1:] != lengths[:-1])
        | (colours[1:] != colours[:-1])
        | (local_y[1:] != local_y[:-1] + 1)
    )
    heads = np.flatnonzero(new)
    rect_heights = np.diff(heads, append=len(tiles))
    rect_tiles = tiles[heads]
    first = np.concatenate(([0], np.cumsum(np.bincount(rect_tiles, minlength=tile_count))))
    return TiledSubrects(
        columns=columns,
        rows=rows,
        background=background,
        colour_count=colour_count,
        first=first,
        x=local_x[heads],
        y=local_y[heads],
        width=lengths[heads],
        height=rect_heights,
        colour=colours[heads],
    )
