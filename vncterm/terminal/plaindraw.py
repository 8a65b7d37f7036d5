"""Drawing a run of plain ASCII (printable, CR, LF, HT, BS) at once: what pyte's parser would
dispatch one by one (draw, carriage_return, linefeed, tab, backspace), a row slice at a time.

While the scroll region scrolls, its rows are taken out of the screen once (`ScrollWindow`)
and move by an index instead of once per line; a line drawn on a fresh bottom row is kept as
its text until it has to be a row, and runs of such lines scroll through in bulk, so lines
that scroll off straight after being drawn reach the scrollback without ever being pyte rows.
`tests/terminal/test_fast_paths.py` holds all of this to the one-by-one path.
"""

from __future__ import annotations

import re
from itertools import islice
from typing import Protocol, TypeAlias

from pyte.screens import Char, Cursor, StaticDefaultDict

from vncterm.terminal.cells import DEFAULT_CELL, Cells, unpair
from vncterm.terminal.scrollback import (
    EMPTY_LINE,
    PackedLine,
    Scrollback,
    compact,
    compact_text,
)

__all__ = ["PlainRun", "PlainScreen"]

#: A region row while a run scrolls it: blank (None), a pyte row, or text drawn from column 0
#: on a blank row in one rendition (made into a pyte row only if it stays on the screen).
_Row: TypeAlias = StaticDefaultDict[int, Char] | tuple[str, Cells] | None

#: Fewest whole lines in a row worth scrolling through in bulk.
_BULK_LINES = 4

_TAB_OR_BACKSPACE = re.compile(r"([\t\x08])")


class PlainScreen(Protocol):
    """What drawing a run needs of the screen (`vncterm.terminal.screen.Screen`)."""

    last_char: str

    @property
    def cursor(self) -> Cursor: ...

    @property
    def buffer(self) -> dict[int, StaticDefaultDict[int, Char]]: ...

    @property
    def dirty(self) -> set[int]: ...

    @property
    def columns(self) -> int: ...

    @property
    def tabstops(self) -> set[int]: ...

    def tab(self) -> None: ...

    def backspace(self) -> None: ...

    def record_scroll(self, top: int, bottom: int, count: int) -> None: ...


class ScrollWindow:
    """The scroll region's rows while a run scrolls it, out of the screen's buffer: the top
    row at index ``scrolled``, the cursor's (the bottom one) last. A line feed blanks the top
    row and appends a blank one; the rows go back to the buffer once, at the end."""

    __slots__ = ("columns", "height", "history", "rows", "scrolled")

    def __init__(
        self,
        buffer: dict[int, StaticDefaultDict[int, Char]],
        top: int,
        bottom: int,
        history: Scrollback | None,
        columns: int,
    ) -> None:
        self.rows: list[_Row] = [buffer.pop(y, None) for y in range(top, bottom + 1)]
        self.height = bottom - top + 1
        self.scrolled = 0
        #: Where rows leaving the top go (None: nowhere).
        self.history = history
        self.columns = columns

    def bottom_row(self) -> StaticDefaultDict[int, Char]:
        """The cursor's row, as a pyte row from now on."""
        rows = self.rows
        line = rows[-1]
        if line is None:
            line = rows[-1] = StaticDefaultDict(DEFAULT_CELL)
        elif type(line) is tuple:
            line = rows[-1] = _expand(line)
        return line  # type: ignore[return-value]

    def show_text(self, text: str, cells: Cells) -> None:
        """``text`` on the (blank) bottom row from column 0, kept as text for now."""
        self.rows[-1] = (text, cells)

    def feed_line(self) -> None:
        """One line feed on the bottom row: the top row leaves, a blank one comes in."""
        rows = self.rows
        leaving = rows[self.scrolled]
        rows[self.scrolled] = None
        self.scrolled += 1
        rows.append(None)
        if self.history is not None:
            self.history.append(_compact_row(leaving, self.columns))

    def bulk(self, shown: list[str], cells: Cells) -> None:
        """Each of ``shown`` drawn on a fresh bottom row, a line feed after each: the rows
        above the bottom one, then the new lines, then a fresh bottom row, of which the last
        ``height`` stay and the rest leave at the top. Rows are made only for the lines that
        stay."""
        rows = self.rows
        scrolled = self.scrolled
        height = self.height
        count = len(shown)
        above = rows[scrolled:-1]
        gone = max(0, count - height + 1)
        new: list[_Row] = [(text, cells) if text else None for text in shown[gone:]]
        if count < height - 1:
            new = above[count:] + new
        new.append(None)
        history = self.history
        if history is not None:
            columns = self.columns
            # Lines drawn here all have one rendition: compact each distinct text once.
            leaving = shown[:gone]
            attributes = cells.attrs[1:]
            compacted = {text: compact_text(text, attributes, columns) for text in set(leaving)}
            history.extend([_compact_row(row, columns) for row in above[:count]])
            history.extend(list(map(compacted.__getitem__, leaving)))
        rows[scrolled:] = [None] * count
        rows += new
        self.scrolled = scrolled + count

    def restore(self, buffer: dict[int, StaticDefaultDict[int, Char]], top: int) -> int:
        """Put the region's rows back into ``buffer``; the number of rows scrolled."""
        rows, scrolled = self.rows, self.scrolled
        for offset in range(self.height):
            line = rows[scrolled + offset]
            if line is not None:
                if type(line) is tuple:
                    line = _expand(line)
                buffer[top + offset] = line  # type: ignore[assignment]
        return scrolled


class PlainRun:
    """One run drawn from the cursor on: `run()` draws it, moves the cursor and records the
    damage. The screen has checked that the exact one-by-one path is not needed (insert mode,
    a translating character set, a cursor below the region) and that the run is more than
    text fitting on the cursor's row."""

    __slots__ = (
        "as_text",
        "autowrap",
        "bottom",
        "buffer",
        "cell",
        "cells",
        "columns",
        "crlf_bodies",
        "crlf_only",
        "dirty",
        "final",
        "history",
        "last",
        "last_stop",
        "newline_mode",
        "odd",
        "pieces",
        "screen",
        "text",
        "top",
        "window",
        "x",
        "y",
    )

    def __init__(
        self,
        screen: PlainScreen,
        text: str,
        cells: Cells,
        region: tuple[int, int],
        *,
        autowrap: bool,
        newline_mode: bool,
        history: Scrollback | None,
    ) -> None:
        self.screen = screen
        self.text = text
        self.cells = cells
        self.cell = cells.__getitem__
        self.top, self.bottom = region
        self.autowrap = autowrap
        self.newline_mode = newline_mode
        #: Where rows scrolled off the top go (None: nowhere).
        self.history = history
        self.columns = columns = screen.columns
        self.buffer = screen.buffer
        self.dirty = screen.dirty
        cursor = screen.cursor
        self.x = cursor.x
        self.y = cursor.y
        #: The last character drawn ("": none yet).
        self.last = ""
        #: The region's rows once it scrolls (None until then).
        self.window: ScrollWindow | None = None
        self.odd = odd = "\t" in text or "\b" in text
        # Tabs in a line drawn on a fresh row can become spaces: a tab leaves blank cells
        # behind, and so do spaces when the rendition is the default one. Only with the
        # default tab stops, and never with backspaces around.
        self.last_stop = 0
        if odd and "\b" not in text and cells[" "] == DEFAULT_CELL:
            stops = screen.tabstops
            if stops and stops == set(range(8, columns, 8)):
                self.last_stop = max(stops)
        #: Whether lines on fresh rows may be kept as text (in bulk, or one at a time).
        self.as_text = not odd or self.last_stop > 0
        crlf = text.count("\r\n")
        #: Whether every line ends with one CR LF (then the text split at CR LF is the lines).
        self.crlf_only = text.count("\n") == crlf == text.count("\r")
        self.crlf_bodies: list[str] | None = None
        self.pieces = text.split("\n")
        self.final = len(self.pieces) - 1

    def run(self) -> None:
        """Draw the run: each piece between line feeds, a line feed after each but the last."""
        pieces = self.pieces
        final = self.final
        as_text = self.as_text
        odd = self.odd
        put = self.put
        line_feed = self.line_feed
        screen = self.screen
        cursor = screen.cursor
        number = -1
        try:
            while number < final:
                number += 1
                piece = pieces[number]
                window = self.window
                fresh = window is not None and number and self.x == 0 and as_text
                if fresh and number < final:
                    bulk = self.whole_lines(number)
                    if bulk:
                        number += bulk - 1  # the next piece is the first after the run
                        continue
                if piece:
                    if fresh:
                        # A line on the fresh bottom row: keep it as text for now.
                        body = piece.rstrip("\r")
                        shown = self.on_fresh_row(body)
                        if shown is not None:
                            if shown:
                                window.show_text(shown, self.cells)  # type: ignore[union-attr]
                                self.last = _drawn_last(body) or self.last
                            self.x = 0 if len(body) < len(piece) else len(shown)
                            if number < final:
                                line_feed()
                            continue
                    for index, segment in enumerate(piece.split("\r")):
                        if index:
                            self.x = 0
                        if not segment:
                            continue
                        if not odd:
                            put(segment)
                            self.last = segment[-1]
                            continue
                        for token in _TAB_OR_BACKSPACE.split(segment):
                            if token == "\t" or token == "\b":
                                cursor.x = self.x
                                if token == "\t":
                                    screen.tab()
                                else:
                                    screen.backspace()
                                self.x = cursor.x
                            elif token:
                                put(token)
                                self.last = token[-1]
                if number < final:
                    line_feed()
        finally:
            cursor.x = self.x
            cursor.y = self.y
            if self.last:
                screen.last_char = self.last
            if self.window is not None:
                scrolled = self.window.restore(self.buffer, self.top)
                screen.record_scroll(self.top, self.bottom, scrolled)

    def row(self) -> StaticDefaultDict[int, Char]:
        """The cursor's row."""
        window = self.window
        if window is None:
            return self.buffer[self.y]
        return window.bottom_row()

    def line_feed(self) -> None:
        """Down a row, or (on the region's bottom row) scroll the region up one."""
        if self.y != self.bottom:
            self.y += 1
        else:
            window = self.window
            if window is None:
                window = self.window = ScrollWindow(
                    self.buffer, self.top, self.bottom, self.history, self.columns
                )
            window.feed_line()
        if self.newline_mode:
            self.x = 0

    def put(self, data: str) -> None:
        """Printable ASCII from the cursor on, wrapping at the margin (or, without autowrap,
        every character past it landing on the last column)."""
        columns = self.columns
        cell = self.cell
        x = self.x
        while True:
            room = columns - x
            count = len(data)
            line = self.row()
            if line:
                # Halves of wide characters the text lands next to become blanks.
                if count <= room:
                    unpair(line, x)
                    unpair(line, x + count)
                else:
                    unpair(line, x if self.autowrap else min(x, columns - 1))
            if count <= room:
                if count == 1:
                    line[x] = cell(data)
                else:
                    line.update(zip(range(x, x + count), map(cell, data), strict=True))
                x += count
                break
            if not self.autowrap:
                if room > 1:
                    line.update(
                        zip(range(x, columns - 1), map(cell, data[: room - 1]), strict=True)
                    )
                line[columns - 1] = cell(data[-1])
                x = columns
                break
            if room:
                line.update(zip(range(x, columns), map(cell, data[:room]), strict=True))
                data = data[room:]
            if self.window is None:
                self.dirty.add(self.y)
            self.x = x = 0
            self.line_feed()
        self.x = x
        if self.window is None:
            self.dirty.add(self.y)

    def on_fresh_row(self, body: str) -> str | None:
        """How ``body`` (a line without its CR LF) shows on a fresh bottom row, or None when
        it cannot be kept as text there (a CR inside, a tab past the last stop, or wider than
        the screen)."""
        if "\r" in body:
            return None
        line = _expand_tabs(body, self.last_stop) if self.odd else body
        return line if line is not None and len(line) <= self.columns else None

    def whole_lines(self, start: int) -> int:
        """Lines drawn whole on fresh bottom rows from piece ``start`` on, each ending with
        CR LF (or just LF when empty), scrolled through in bulk; how many (0: too few)."""
        window = self.window
        assert window is not None
        final = self.final
        bodies = shown = None
        if self.crlf_only:
            if self.crlf_bodies is None:
                self.crlf_bodies = self.text.split("\r\n")
            bodies = shown = self.crlf_bodies[start:final]
            if self.odd:
                expanded = [_expand_tabs(body, self.last_stop) for body in bodies]
                shown = None if None in expanded else expanded  # type: ignore[assignment]
            if shown is None or max(map(len, shown), default=0) > self.columns:
                bodies = shown = None
        if bodies is None or shown is None:
            bodies, shown = [], []
            for piece in islice(self.pieces, start, final):
                if piece:
                    if piece[-1] != "\r":
                        break
                    body = piece.rstrip("\r")
                    line = self.on_fresh_row(body)
                    if line is None:
                        break
                    bodies.append(body)
                    shown.append(line)
                else:
                    bodies.append(piece)
                    shown.append(piece)
        count = len(bodies)
        if count < _BULK_LINES:
            return 0
        window.bulk(shown, self.cells)
        for body in reversed(bodies):
            drawn = _drawn_last(body)
            if drawn:
                self.last = drawn
                break
        return count


def _expand_tabs(line: str, last_stop: int) -> str | None:
    """``line`` drawn from column 0 of a blank row, with the default tab stops (every 8
    columns), as the spaces its tabs skip over: the same cells when a space in the cursor's
    rendition is a blank cell. None when a tab starts at or past the last stop (it stops at
    the last column, not at the next multiple of 8)."""
    if "\t" not in line:
        return line
    if len(line[: line.rindex("\t")].expandtabs(8)) >= last_stop:
        return None
    return line.expandtabs(8)


def _drawn_last(line: str) -> str:
    """The last character ``line`` draws (a tab moves the cursor and draws nothing)."""
    return line.rstrip("\t")[-1:]


def _expand(row: tuple[str, Cells]) -> StaticDefaultDict[int, Char]:
    text, cells = row
    line: StaticDefaultDict[int, Char] = StaticDefaultDict(DEFAULT_CELL)
    line.update(zip(range(len(text)), map(cells.__getitem__, text), strict=True))
    return line


def _compact_row(row: _Row, columns: int) -> PackedLine:
    if row is None:
        return EMPTY_LINE
    if type(row) is tuple:
        text, cells = row
        return compact_text(text, cells.attrs[1:], columns)
    return compact(row, columns)  # type: ignore[arg-type]
