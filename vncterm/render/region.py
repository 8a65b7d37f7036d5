"""Drawing a rectangle of cells straight into new pixels, for a view that keeps no framebuffer.

A viewer reading history or holding a selection sees something other than the shared
framebuffer. Keeping a framebuffer of its own per viewer cost 38 MiB at 500x200 cells; instead,
the cells an update must carry are drawn when it is encoded, from the same glyph tiles, exactly
as `Renderer` would have drawn them (cursor as a reversed block, wide characters over two
cells), so what a viewer keeps between updates is its damage mask and nothing else.
"""

from __future__ import annotations

import numpy as np

from vncterm.render.framebuffer import CELL_HEIGHT, CELL_WIDTH, Pixels, ScreenSource, glyph_tile

__all__ = ["draw_region"]


def draw_region(source: ScreenSource, x: int, y: int, width: int, height: int) -> Pixels:
    """Columns [x, x + width) of rows [y, y + height) of `source`, as ``uint8[h * 16, w * 8, 3]``
    RGB pixels (the rectangle must lie within the screen)."""
    cols = source.cols
    cursor = source.cursor if source.cursor_visible else None
    out = np.empty((height * CELL_HEIGHT, width * CELL_WIDTH, 3), np.uint8)
    end = x + width
    for index, row in enumerate(range(y, y + height)):
        cells = source.row(row)
        if cursor is not None and cursor[1] == row and 0 <= cursor[0] < cols:
            cells = list(cells)
            cell = cells[cursor[0]]
            cells[cursor[0]] = cell._replace(reverse=not cell.reverse)
        # A wide character is one tile over its cell and the stub after it: start at the
        # character when the rectangle starts on its stub, and cut the tile to the rectangle.
        start = x - 1 if x > 0 and cells[x].data == "" and cells[x - 1].data != "" else x
        tiles = []
        column = start
        while column < end:
            cell = cells[column]
            if column + 1 < cols and cell.data != "" and cells[column + 1].data == "":
                tiles.append(glyph_tile(cell, 2 * CELL_WIDTH))
                column += 2
            else:
                tiles.append(glyph_tile(cell, CELL_WIDTH))
                column += 1
        strip = tiles[0] if len(tiles) == 1 else np.concatenate(tiles, axis=1)
        left = (x - start) * CELL_WIDTH
        top = index * CELL_HEIGHT
        out[top : top + CELL_HEIGHT] = strip[:, left : left + width * CELL_WIDTH]
    return out
