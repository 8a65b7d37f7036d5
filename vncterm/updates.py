"""Per-viewer update state: what changed since this viewer's last update, and what to send next.

Damage is kept as a bounded mask of text cells, so a stalled viewer costs a fixed amount of
memory however much the console changes; a pending scroll is kept as one CopyRect (RFC 6143
7.7.2) as long as later scrolls move the same region.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from vncterm.rfb.constants import Encoding
from vncterm.rfb.encoders import EncoderState, choose_encoding, encode_rectangles
from vncterm.rfb.encoders.copyrect import copy_rect
from vncterm.rfb.messages import Rectangle
from vncterm.rfb.pixelformat import PixelFormat

Pixels = npt.NDArray[np.uint8]


@dataclass(frozen=True, slots=True)
class CellScroll:
    """Rows [top, bottom) moved up by `count` rows; the bottom `count` rows were exposed. A
    negative `count` moves them down (a view scrolled towards history): the top rows exposed."""

    top: int
    bottom: int
    count: int


@dataclass(frozen=True, slots=True)
class CellRect:
    """A rectangle of text cells: columns [x, x + width), rows [y, y + height)."""

    x: int
    y: int
    width: int
    height: int


class ViewerUpdates:
    """Damage, pending scroll and the outstanding FramebufferUpdateRequest of one viewer."""

    def __init__(self, columns: int, rows: int, cell_width: int, cell_height: int) -> None:
        self.cell_width = cell_width
        self.cell_height = cell_height
        self._damage = np.ones((rows, columns), dtype=bool)
        self._scroll: CellScroll | None = None
        self._requested: CellRect | None = None
        self._forced = False
        self.encodings: tuple[int, ...] = ()
        self._encoding = Encoding.RAW
        # ZRLE's and Tight's zlib streams live as long as the connection.
        self._encoders = EncoderState()
        self._copy_rect = False

    @property
    def columns(self) -> int:
        return int(self._damage.shape[1])

    @property
    def rows(self) -> int:
        return int(self._damage.shape[0])

    def set_encodings(self, encodings: Sequence[int]) -> None:
        """Remember the viewer's SetEncodings, in its order of preference."""
        self.encodings = tuple(encodings)
        self._encoding = choose_encoding(self.encodings)
        self._encoders.set_encodings(self.encodings)
        self._copy_rect = Encoding.COPY_RECT in self.encodings
        if not self._copy_rect:
            self._drop_scroll()

    def resize(self, columns: int, rows: int) -> None:
        """The framebuffer changed size: everything is new, and an outstanding request covers
        the new screen (the viewer asked before it knew the size)."""
        self._damage = np.ones((rows, columns), dtype=bool)
        self._scroll = None
        if self._requested is not None:
            self._requested = CellRect(0, 0, columns, rows)

    # -- damage in ---------------------------------------------------------------------------

    def damage_cells(self, rect: CellRect) -> None:
        """Cells in `rect` changed since the viewer last saw them."""
        self._damage[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = True

    def damage_all(self) -> None:
        self._damage[:, :] = True
        self._scroll = None

    def scroll(self, scroll: CellScroll) -> None:
        """The region scrolled: move pending damage with the content and expose the rows that
        came in (at the bottom, or at the top for a move down)."""
        top, bottom, count = scroll.top, scroll.bottom, scroll.count
        if count == 0 or bottom - top <= 0:
            return
        if abs(count) >= bottom - top:
            self._damage[top:bottom, :] = True
            return
        damage = self._damage
        if count > 0:
            damage[top : bottom - count, :] = damage[top + count : bottom, :]
            damage[bottom - count : bottom, :] = True
        else:
            down = -count
            damage[top + down : bottom, :] = damage[top : bottom - down, :].copy()
            damage[top : top + down, :] = True
        pending = self._scroll
        if not self._copy_rect:
            self._damage[top:bottom, :] = True
            return
        if pending is None:
            self._scroll = scroll
        elif (pending.top, pending.bottom) == (top, bottom) and (
            abs(pending.count + count) < bottom - top
        ):
            # Two moves of one region are one move (rows that left it on the way are damaged).
            total = pending.count + count
            self._scroll = CellScroll(top, bottom, total) if total else None
        else:
            # Two different moves cannot be sent as one CopyRect: redraw both regions instead.
            self._drop_scroll()
            self._damage[top:bottom, :] = True

    def _drop_scroll(self) -> None:
        if self._scroll is not None:
            self._damage[self._scroll.top : self._scroll.bottom, :] = True
            self._scroll = None

    # -- requests ----------------------------------------------------------------------------

    def request(self, incremental: bool, x: int, y: int, width: int, height: int) -> None:
        """A FramebufferUpdateRequest arrived (pixel coordinates, clipped to the screen)."""
        cw, ch = self.cell_width, self.cell_height
        x0 = max(0, min(self.columns, x // cw))
        y0 = max(0, min(self.rows, y // ch))
        x1 = max(x0, min(self.columns, -(-(x + width) // cw)))
        y1 = max(y0, min(self.rows, -(-(y + height) // ch)))
        area = CellRect(x0, y0, x1 - x0, y1 - y0)
        if not incremental:
            self.damage_cells(area)
            self._forced = True
        self._requested = area if self._requested is None else _union(self._requested, area)

    def force(self) -> None:
        """Answer the outstanding request now even with no damage (it carries a notice)."""
        if self._requested is not None:
            self._forced = True

    @property
    def has_request(self) -> bool:
        return self._requested is not None

    def has_pending(self) -> bool:
        """Whether an update is due now: a request is outstanding and something is to be sent."""
        if self._requested is None:
            return False
        if self._forced or self._scroll is not None:
            return True
        area = self._requested
        return bool(self._damage[area.y : area.y + area.height, area.x : area.x + area.width].any())

    def take_update(
        self,
        pixels: Pixels | Callable[[CellRect], Pixels],
        pixel_format: PixelFormat,
        encode: Callable[[Pixels, PixelFormat], bytes] | None = None,
        stop: Callable[[], bool] | None = None,
    ) -> list[Rectangle] | None:
        """The rectangles answering the outstanding request, or None when nothing is due yet.

        `pixels` is the framebuffer the viewer is shown, or a function drawing the cells of a
        rectangle when asked (a view with no framebuffer of its own: only what is sent is
        drawn).

        With ``stop`` (a time slice's "is it over?"), large rectangles are encoded in bands
        and ``stop`` is asked after each: once it says True the update ends there and the
        damage not sent waits for the viewer's next request (a screen costly to encode goes
        out in several updates instead of holding the process up)."""
        if not self.has_pending():
            return None
        assert self._requested is not None
        area = self._requested
        self._requested = None
        self._forced = False
        encoder = encode or self._encoders.encoder(self._encoding)
        rects: list[Rectangle] = []
        cw, ch = self.cell_width, self.cell_height
        if self._scroll is not None:
            s = self._scroll
            self._scroll = None
            # Moved up: rows top+count.. go to top; moved down: rows top.. go to top+|count|.
            to_y, from_y = (s.top, s.top + s.count) if s.count > 0 else (s.top - s.count, s.top)
            rects.append(
                Rectangle(
                    0,
                    to_y * ch,
                    self.columns * cw,
                    (s.bottom - s.top - abs(s.count)) * ch,
                    Encoding.COPY_RECT,
                    copy_rect(0, from_y * ch),
                )
            )
        window = self._damage[area.y : area.y + area.height, area.x : area.x + area.width]
        cells = damage_rectangles(window)
        if self._encoding in _COMPRESSING:
            cells = merge_for_compression(cells)
        bands = cells if stop is None else [band for cell in cells for band in _bands(cell)]
        for index, band in enumerate(bands):
            px = (band.x + area.x) * cw
            py = (band.y + area.y) * ch
            w, h = band.width * cw, band.height * ch
            if callable(pixels):
                region = pixels(CellRect(band.x + area.x, band.y + area.y, band.width,
                                         band.height))
            else:
                region = pixels[py : py + h, px : px + w]
            rects += encode_rectangles(self._encoding, encoder, px, py, region, pixel_format)
            if stop is not None and index + 1 < len(bands) and stop():
                for done in bands[: index + 1]:
                    window[done.y : done.y + done.height, done.x : done.x + done.width] = False
                return rects
        window[:, :] = False
        return rects


#: Encodings whose cost is mostly per rectangle: unchanged cells sent along compress to
#: almost nothing, while each rectangle costs a pass of numpy set-up (a ragged full screen is
#: a rectangle per line).
_COMPRESSING = frozenset({Encoding.ZRLE, Encoding.TIGHT})


#: Fewest rectangles worth merging: a few small ones (a line, a cursor) are cheaper apart.
_MERGE_FROM = 4


def merge_for_compression(rects: list[CellRect]) -> list[CellRect]:
    """Join rectangles (top to bottom) into their bounding box while it is at most twice the
    cells they cover, when there are enough of them for the per-rectangle cost to matter."""
    if len(rects) < _MERGE_FROM:
        return rects
    merged: list[CellRect] = []
    covered = 0
    for rect in rects:
        area = rect.width * rect.height
        if merged:
            union = _union(merged[-1], rect)
            if union.width * union.height <= 2 * (covered + area):
                merged[-1] = union
                covered += area
                continue
        merged.append(rect)
        covered = area
    return merged


#: Most cells encoded between two questions to a ``stop`` (about 5 ms of Tight or ZRLE on
#: cells of every colour, far less on text).
_BAND_CELLS = 1024
#: Rectangles up to this many cells are not cut (a whole 80x24 screen is one rectangle).
_UNCUT_CELLS = 2048


def _bands(rect: CellRect) -> list[CellRect]:
    """``rect`` as bands of whole rows, each of at most `_BAND_CELLS` cells (or one row)."""
    rows = max(1, _BAND_CELLS // max(rect.width, 1))
    if rect.height <= rows or rect.width * rect.height <= _UNCUT_CELLS:
        return [rect]
    return [CellRect(rect.x, y, rect.width, min(rows, rect.y + rect.height - y))
            for y in range(rect.y, rect.y + rect.height, rows)]


def _union(a: CellRect, b: CellRect) -> CellRect:
    x0, y0 = min(a.x, b.x), min(a.y, b.y)
    x1 = max(a.x + a.width, b.x + b.width)
    y1 = max(a.y + a.height, b.y + b.height)
    return CellRect(x0, y0, x1 - x0, y1 - y0)


def damage_rectangles(mask: npt.NDArray[np.bool_]) -> list[CellRect]:
    """Cover the true cells of `mask` with few rectangles: one column span per row, rows with the
    same span merged."""
    rects: list[CellRect] = []
    rows = np.flatnonzero(mask.any(axis=1))
    run: tuple[int, int, int, int] | None = None  # first row, last row, x0, x1
    for r in rows.tolist():
        cols = np.flatnonzero(mask[r])
        x0, x1 = int(cols[0]), int(cols[-1]) + 1
        if run is not None and run[1] == r - 1 and run[2] == x0 and run[3] == x1:
            run = (run[0], r, x0, x1)
            continue
        if run is not None:
            rects.append(CellRect(run[2], run[0], run[3] - run[2], run[1] - run[0] + 1))
        run = (r, r, x0, x1)
    if run is not None:
        rects.append(CellRect(run[2], run[0], run[3] - run[2], run[1] - run[0] + 1))
    return rects
