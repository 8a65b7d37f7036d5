"""Erasing and editing in place as xterm does (back-colour erase, "bce"): EL, ED, ECH, ICH,
DCH and DECALN, each at the cost of a row's stored cells, not of its width.

A blank is the cursor's background colour and nothing else (`blank_for`); a row erased whole
in a colour, or filled by DECALN, is a row whose *default* cell is that blank or the E, so
erasing or filling a screenful costs a row's work per row at any width. A wide character cut
by an edit is blanked whole (`unpair`).
"""

from __future__ import annotations

from typing import Any

import pyte
from pyte.screens import Char, StaticDefaultDict

from vncterm.terminal.cells import ALIGNMENT_CELL, DEFAULT_CELL, blank_for, unpair

__all__ = ["ErasingScreen"]


class ErasingScreen(pyte.Screen):
    """pyte's Screen with xterm's erasing and editing in place (see the module docstring)."""

    def _blank(self) -> Char:
        return blank_for(self.cursor.attrs)

    def _blank_line(self, y: int) -> None:
        """Row ``y`` all blanks in the background colour: a row whose every cell is its
        default, so erasing a row costs the same at any width."""
        blank = self._blank()
        if blank is DEFAULT_CELL:
            self.buffer.pop(y, None)
            return
        line = self.buffer.get(y)
        if line is None:
            self.buffer[y] = StaticDefaultDict(blank)
        else:
            # Emptied in place (rows are never shared): cheaper than a new one.
            line.clear()
            line.default = blank

    def _erase_span(self, line: StaticDefaultDict[int, Char], start: int, end: int) -> None:
        """Cells ``start..end-1`` of ``line`` become blanks (a wide character cut by either
        end is blanked whole)."""
        if start >= end:
            return
        unpair(line, start)
        unpair(line, end)
        blank = self._blank()
        if blank is line.default:
            # The row shows its default where nothing is stored: forget what is stored there.
            if len(line) > end - start:
                for x in range(start, end):
                    line.pop(x, None)
            else:
                for x in [x for x in line if start <= x < end]:
                    del line[x]
        else:
            line.update(dict.fromkeys(range(start, end), blank))

    def erase_in_line(self, how: int = 0, *_: Any, **__: Any) -> None:
        x, y = self.cursor.x, self.cursor.y
        self.dirty.add(y)
        if how == 2 or (how == 0 and x == 0):
            self._blank_line(y)
        elif how == 0:
            self._erase_span(self.buffer[y], x, self.columns)
        elif how == 1:
            self._erase_span(self.buffer[y], 0, min(x, self.columns - 1) + 1)

    def erase_in_display(self, how: int = 0, *_: Any, **__: Any) -> None:
        y = self.cursor.y
        if how == 0:
            rows = range(y + 1, self.lines)
        elif how == 1:
            rows = range(y)
        elif how == 2:
            rows = range(self.lines)
        else:
            return  # 3 erases the scrollback (xterm); we keep none.
        self.dirty.update(rows)
        blank = self._blank()
        if how == 2 and blank is DEFAULT_CELL:
            self.buffer.clear()
            return
        for row in rows:
            self._blank_line(row)
        if how != 2:
            self.erase_in_line(how)

    def erase_characters(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """ECH (``CSI n X``)."""
        x, y = self.cursor.x, self.cursor.y
        self.dirty.add(y)
        self._erase_span(self.buffer[y], x, min(x + (count or 1), self.columns))

    def insert_characters(self, count: int | None = None) -> None:
        """ICH (``CSI n @``): the cells from the cursor on move right ``n`` (those pushed past
        the margin are lost) and blanks fill the gap; one pass over the row's stored cells."""
        x, y = self.cursor.x, self.cursor.y
        columns = self.columns
        if x >= columns:
            return
        self.dirty.add(y)
        count = min(count or 1, columns - x)
        line = self.buffer[y]
        unpair(line, x)
        unpair(line, columns - count)
        moved = [(at + count, cell) for at, cell in line.items() if x <= at < columns - count]
        for at in [at for at in line if at >= x]:
            del line[at]
        line.update(moved)
        self._fill_blank(line, x, x + count)

    def delete_characters(self, count: int | None = None) -> None:
        """DCH (``CSI n P``): the cells right of the deleted ones move left ``n``; blanks come
        in at the margin."""
        x, y = self.cursor.x, self.cursor.y
        columns = self.columns
        if x >= columns:
            return
        self.dirty.add(y)
        count = min(count or 1, columns - x)
        line = self.buffer[y]
        unpair(line, x)
        unpair(line, x + count)
        moved = [(at - count, cell) for at, cell in line.items() if at >= x + count]
        for at in [at for at in line if at >= x]:
            del line[at]
        line.update(moved)
        self._fill_blank(line, columns - count, columns)

    def _fill_blank(self, line: StaticDefaultDict[int, Char], start: int, end: int) -> None:
        """Blanks in the background colour on cells ``start..end-1``, where nothing is stored."""
        blank = self._blank()
        if blank is not line.default:
            line.update(dict.fromkeys(range(start, end), blank))

    def alignment_display(self) -> None:
        """DECALN (``ESC # 8``): every cell an E in the default rendition, the margins reset
        and the cursor home (VT510). Each row is a fresh row whose default cell is the E, so
        the screenful costs a row's work, and a row that is already that costs nothing."""
        filled = ALIGNMENT_CELL
        buffer = self.buffer
        for y in range(self.lines):
            line = buffer.get(y)
            if line is None or line or line.default is not filled:
                buffer[y] = StaticDefaultDict(filled)
        self.dirty.update(range(self.lines))
        self.margins = None
        self.cursor.x = self.cursor.y = 0
