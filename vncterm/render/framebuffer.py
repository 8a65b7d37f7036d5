"""The framebuffer: a terminal's screen drawn as RGB pixels, redrawn only where it changed.

`Renderer.render()` consumes the terminal's `Damage`: it moves the scrolled pixel rows (the
viewer will do the same with CopyRect), redraws only cells that differ from what it drew
before, overlays the cursor, and returns the `RenderDamage` in pixels. Cells are
``CELL_WIDTH`` x ``CELL_HEIGHT`` pixels; glyphs are GNU Unifont (`vncterm.render.font`).
"""

from __future__ import annotations

import io
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from vncterm.render import palette
from vncterm.render.font import CELL_HEIGHT, CELL_WIDTH, text_glyph
from vncterm.terminal import Char, Damage

__all__ = [
    "CELL_HEIGHT",
    "CELL_WIDTH",
    "MAX_CACHED_TILES",
    "RenderDamage",
    "Renderer",
    "glyph_tile",
    "snapshot_png",
]

#: Most glyph tiles kept ready (about 1.5 MiB of narrow tiles).
MAX_CACHED_TILES = 4096

Pixels = npt.NDArray[np.uint8]
Rect = tuple[int, int, int, int]

#: What a row too short is padded with.
_BLANK = Char(" ")
#: Marks a remembered cell as unknown so that it is drawn again.
_UNKNOWN = Char("\x00unknown")
#: The same for a cell that was drawn as the stub of a wide character (which `_draw_row` must
#: know: the cell before it was drawn two cells wide).
_UNKNOWN_STUB = Char("", "\x00unknown")


def _forget(row: list[Char], x: int) -> None:
    row[x] = _UNKNOWN_STUB if row[x].data == "" else _UNKNOWN


@dataclass(frozen=True, slots=True)
class RenderDamage:
    """What `Renderer.render()` changed in `Renderer.pixels`, in pixels.

    Apply ``scroll`` first: rows ``top + dy .. bottom - 1`` move up to ``top .. bottom - dy - 1``
    over the full width (CopyRect). Then every ``(x, y, w, h)`` in ``rects`` is new content.
    """

    #: ``(top, bottom, dy)``: ``top`` inclusive, ``bottom`` exclusive, content moved up ``dy``.
    scroll: tuple[int, int, int] | None = None
    rects: list[Rect] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.scroll is not None or bool(self.rects)


class _TileCache:
    """Ready RGB tiles keyed by (cell, width), least recently used dropped first."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.tiles: OrderedDict[tuple[Char, int], Pixels] = OrderedDict()

    def get(self, cell: Char, width: int) -> Pixels:
        key = (cell, width)
        tiles = self.tiles
        tile = tiles.get(key)
        if tile is not None:
            tiles.move_to_end(key)
            return tile
        tile = _make_tile(cell, width)
        tiles[key] = tile
        if len(tiles) > self.limit:
            tiles.popitem(last=False)
        return tile


def _make_tile(cell: Char, width: int) -> Pixels:
    foreground, background = palette.resolve_pair(
        cell.fg, cell.bg, bold=cell.bold, reverse=cell.reverse
    )
    ink = text_glyph(cell.data, width) if cell.data.strip() else None
    tile = np.empty((CELL_HEIGHT, width, 3), dtype=np.uint8)
    tile[:] = background
    if ink is not None:
        tile[ink] = foreground
    if cell.underscore:
        tile[CELL_HEIGHT - 1, :] = foreground
    if cell.strikethrough:
        tile[CELL_HEIGHT // 2, :] = foreground
    tile.flags.writeable = False
    return tile


_shared_tiles = _TileCache(MAX_CACHED_TILES)


def glyph_tile(cell: Char, width: int) -> Pixels:
    """`cell` drawn `width` pixels wide (read-only), from the tile cache every renderer shares."""
    return _shared_tiles.get(cell, width)


class ScreenSource(Protocol):
    """What the renderer draws: a `Terminal`, or a viewer's own view of one (`ViewerView`)."""

    @property
    def cols(self) -> int: ...

    @property
    def rows(self) -> int: ...

    @property
    def cursor(self) -> tuple[int, int]: ...

    @property
    def cursor_visible(self) -> bool: ...

    def row(self, y: int) -> list[Char]: ...

    def take_damage(self) -> Damage: ...


class Renderer:
    """Draws a screen source into ``pixels``, a ``uint8[rows * 16, cols * 8, 3]`` RGB array."""

    def __init__(self, terminal: ScreenSource, *, cursor_style: str = "block") -> None:
        if cursor_style not in ("block", "underline"):
            raise ValueError(f"unknown cursor style {cursor_style!r}")
        self.terminal = terminal
        self.cursor_style = cursor_style
        self._tiles = _shared_tiles
        self._allocate()

    def _allocate(self) -> None:
        cols, rows = self.terminal.cols, self.terminal.rows
        self.cols, self.rows = cols, rows
        self.pixels: Pixels = np.zeros((rows * CELL_HEIGHT, cols * CELL_WIDTH, 3), np.uint8)
        self.pixels[:] = palette.DEFAULT_BG
        self._drawn: list[list[Char]] = [[_UNKNOWN] * cols for _ in range(rows)]
        self._cursor_drawn: tuple[int, int] | None = None
        self._everything = True
        # Rows a stopped render left to draw (their pixels may be behind the screen).
        self._pending: set[int] = set()

    @property
    def pending(self) -> bool:
        """Whether a stopped `render` left rows to draw (the next render draws them first)."""
        return bool(self._pending)

    @property
    def width(self) -> int:
        return self.cols * CELL_WIDTH

    @property
    def height(self) -> int:
        return self.rows * CELL_HEIGHT

    def resize(self) -> None:
        """Recreate the pixels at the terminal's current size; the next render draws it all."""
        self._allocate()

    def invalidate(self) -> None:
        """Forget what was drawn so that the next `render()` redraws every cell."""
        self._drawn = [[_UNKNOWN] * self.cols for _ in range(self.rows)]
        self._everything = True

    def render(self, stop: Callable[[], bool] | None = None) -> RenderDamage:
        """Bring ``pixels`` up to date with the terminal; returns what changed.

        With ``stop`` (a time slice's "is it over?"), asked after each row: once it says
        True the rows not drawn yet are kept (`pending`) and drawn by the next render, so a
        screen that is costly to draw (500x200 cells of colours) is drawn over several slices.

        Never fails on what the source says: rows, a scroll or a cursor off the screen, and
        rows of the wrong length, are taken for what they can be (the screen is still drawn
        as the source's rows have it)."""
        terminal = self.terminal
        damage = terminal.take_damage()
        if (terminal.cols, terminal.rows) != (self.cols, self.rows):
            self._allocate()
        rows = self.rows
        if self._everything:
            self._everything = False
            damage_rows: set[int] = set(range(rows))
            scroll = None
        else:
            damage_rows = {y for y in damage.rows if 0 <= y < rows}
            scroll = damage.scroll
        pixel_scroll = None
        if scroll is not None:
            top, bottom, count = scroll
            if 0 <= top < bottom < rows and 0 < count <= bottom - top:
                pixel_scroll, stale_rows = self._scroll(top, bottom, count)
                damage_rows.update(stale_rows)
            else:
                # Not a scroll the pixels can follow: redraw what it would have moved.
                damage_rows.update(range(max(0, top), min(rows, bottom + 1)))

        damage_rows |= self._pending
        self._pending = set()

        cursor_drawn = self._cursor_drawn
        cursor = terminal.cursor if terminal.cursor_visible else None
        if cursor is not None and not (0 <= cursor[0] < self.cols and 0 <= cursor[1] < rows):
            cursor = None
        # The rows the cursor leaves and enters are drawn first, so that what is known of
        # the cursor's pixels stays true however early the render stops.
        first: list[int] = []
        if cursor_drawn is not None and cursor_drawn != cursor:
            x, y = cursor_drawn
            _forget(self._drawn[y], x)
            first.append(y)
        if cursor is not None and cursor[1] not in first:
            first.append(cursor[1])
        damage_rows.difference_update(first)
        order = first + sorted(damage_rows)

        rects: list[Rect] = []
        for index, y in enumerate(order):
            span = self._draw_row(y, cursor[0] if cursor is not None and cursor[1] == y else None)
            if span is not None:
                x0, x1 = span
                width = (x1 - x0) * CELL_WIDTH
                rects.append((x0 * CELL_WIDTH, y * CELL_HEIGHT, width, CELL_HEIGHT))
            # At least one row past the cursor's: every render makes progress.
            if stop is not None and index >= len(first) and stop():
                self._pending = set(order[index + 1 :])
                break
        self._cursor_drawn = cursor
        rects.sort(key=lambda rect: rect[1])
        return RenderDamage(pixel_scroll, _merge_rows(rects))

    def _scroll(
        self, top: int, bottom: int, count: int
    ) -> tuple[tuple[int, int, int], list[int]]:
        start, end, dy = top * CELL_HEIGHT, (bottom + 1) * CELL_HEIGHT, count * CELL_HEIGHT
        self.pixels[start : end - dy] = self.pixels[start + dy : end]
        drawn = self._drawn
        # The copy leaves the last ``count`` rows of the region as they were (for the viewer
        # too), so what is known about them stays true.
        tail = [list(row) for row in drawn[bottom + 1 - count : bottom + 1]]
        drawn[top : bottom + 1 - count] = drawn[top + count : bottom + 1]
        drawn[bottom + 1 - count : bottom + 1] = tail
        # Rows left to draw move with their pixels; those scrolled out of the region are gone.
        self._pending = {
            y - count if top <= y <= bottom else y
            for y in self._pending
            if not top <= y < top + count
        }
        stale_rows = []
        if self._cursor_drawn is not None:
            x, y = self._cursor_drawn
            if top <= y <= bottom:
                # The cursor's pixels moved with the rows: that cell is stale where it landed.
                if y - count >= top:
                    stale_rows.append(y - count)
                    _forget(drawn[y - count], x)
                if y > bottom - count:
                    stale_rows.append(y)
                    _forget(drawn[y], x)
                self._cursor_drawn = None
        return (start, end, dy), stale_rows

    def _cursor_cell(self, cell: Char) -> Char:
        if self.cursor_style == "block":
            return cell._replace(reverse=not cell.reverse)
        return cell._replace(underscore=True)

    def _draw_row(self, y: int, cursor_x: int | None) -> tuple[int, int] | None:
        """Draw the changed cells of row ``y``; returns the changed column span [x0, x1)."""
        cells = self.terminal.row(y)
        cols = self.cols
        if len(cells) != cols:
            cells = [*cells[:cols], *[_BLANK] * (cols - len(cells))]
        if cursor_x is not None:
            cells[cursor_x] = self._cursor_cell(cells[cursor_x])
        drawn = self._drawn[y]
        changed = [x for x in range(cols) if cells[x] != drawn[x]]
        if not changed:
            return None
        x0, x1 = changed[0], changed[-1] + 1
        # A wide character covers its own cell and the stub after it: redraw them together
        # (and a stub left behind when the wide character was overwritten, which still shows
        # the right half of the old glyph).
        if x0 > 0 and (
            (cells[x0].data == "" and cells[x0 - 1].data != "")
            or (drawn[x0].data == "" and drawn[x0 - 1].data != "")
        ):
            # Also when x0 was the stub of a character drawn two cells wide at x0 - 1.
            x0 -= 1
        if x1 < cols and cells[x1].data == "":
            # Even an unchanged stub after the span: its pixels may be the right half of the
            # old glyph of a wide character that stood at x1 - 1 (now a stub itself).
            x1 += 1
        tiles = self._tiles
        row_tiles = []
        x = x0
        while x < x1:
            cell = cells[x]
            if x + 1 < cols and cells[x + 1].data == "" and cell.data != "":
                row_tiles.append(tiles.get(cell, 2 * CELL_WIDTH))
                drawn[x] = cell
                drawn[x + 1] = cells[x + 1]
                x += 2
            else:
                row_tiles.append(tiles.get(cell, CELL_WIDTH))
                drawn[x] = cell
                x += 1
        top = y * CELL_HEIGHT
        strip = row_tiles[0] if len(row_tiles) == 1 else np.concatenate(row_tiles, axis=1)
        self.pixels[top : top + CELL_HEIGHT, x0 * CELL_WIDTH : x * CELL_WIDTH] = strip
        return x0, x


def _merge_rows(rects: list[Rect]) -> list[Rect]:
    """Join vertically adjacent rectangles with the same horizontal span."""
    merged: list[Rect] = []
    for rect in rects:
        if merged:
            x, y, w, h = merged[-1]
            if x == rect[0] and w == rect[2] and y + h == rect[1]:
                merged[-1] = (x, y, w, h + rect[3])
                continue
        merged.append(rect)
    return merged


def snapshot_png(renderer: Renderer) -> bytes:
    """The renderer's current pixels as a PNG image."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(renderer.pixels, "RGB").save(buffer, format="PNG")
    return buffer.getvalue()
