"""Drawing text a character at a time, as xterm places it: wide characters and their stubs,
combining marks and other zero-width characters, wrapping, insert mode, and REP.

pyte's `Screen.draw` does the same steps; this keeps its order with shared cells and local
names, keeps the text after a zero-width character (pyte stops drawing the run there), caps
the marks piled on one cell, and never leaves half of a wide character behind.
"""

from __future__ import annotations

import unicodedata
from itertools import repeat
from typing import Protocol

from pyte import modes
from pyte.screens import Char, Cursor, StaticDefaultDict, wcwidth

from vncterm.limits import TerminalLimits
from vncterm.terminal.cells import Cells, unpair

__all__ = ["TextScreen", "draw_text", "repeat_last"]

_IRM = modes.IRM
_DECAWM = modes.DECAWM


class TextScreen(Protocol):
    """What drawing text needs of the screen (`vncterm.terminal.screen.Screen`)."""

    last_char: str

    @property
    def cursor(self) -> Cursor: ...

    @property
    def buffer(self) -> dict[int, StaticDefaultDict[int, Char]]: ...

    @property
    def dirty(self) -> set[int]: ...

    @property
    def mode(self) -> set[int]: ...

    @property
    def columns(self) -> int: ...

    @property
    def limits(self) -> TerminalLimits: ...

    @property
    def charset_map(self) -> str: ...

    def cursor_cells(self) -> Cells: ...

    def carriage_return(self) -> None: ...

    def linefeed(self) -> None: ...

    def insert_characters(self, count: int | None = None) -> None: ...


def draw_text(screen: TextScreen, data: str) -> None:
    """Printable text at the cursor, one character at a time."""
    mode = screen.mode
    if len(data) > 1 and _IRM in mode:
        _insert_text(screen, data)
        return
    cursor = screen.cursor
    screen.last_char = data[-1]
    text = data.translate(screen.charset_map)
    cells = screen.cursor_cells()
    columns = screen.columns
    autowrap = _DECAWM in mode
    insert = _IRM in mode
    buffer = screen.buffer
    dirty = screen.dirty
    # A cell's text is its character plus at most this many zero-width ones: a pile-up
    # of marks on one cell would make every further mark (and its glyph) cost more.
    longest = screen.limits.max_marks_per_cell + 1
    for char in text:
        width = wcwidth(char)
        if width > 0:
            if cursor.x + width > columns:
                # At the margin, or a wide character in the last column: it goes on the
                # next line (xterm), or without autowrap into the last cells.
                if autowrap and (cursor.x == columns or width <= columns):
                    dirty.add(cursor.y)
                    screen.carriage_return()
                    screen.linefeed()
                else:
                    cursor.x = max(0, columns - width)
            if insert:
                screen.insert_characters(width)
        line = buffer[cursor.y]
        x = cursor.x
        if width == 1:
            unpair(line, x)
            unpair(line, x + 1)
            line[x] = cells[char]
        elif width == 2:
            # A two-cell character has a stub slot after it.
            unpair(line, x)
            unpair(line, x + 2)
            line[x] = cells[char]
            if x + 1 < columns:
                line[x + 1] = cells[""]
        elif width == 0:
            # A combining mark, or a zero-width joiner, variation selector or space: kept
            # with the character before it (on this row or the previous one), so the text
            # after it is not lost (pyte stops drawing the run there).
            if x:
                # After a two-cell character the cell before is its stub: join the base.
                at = x - 2 if x >= 2 and line[x - 1].data == "" else x - 1
                last = line[at]
                if len(last.data) < longest:
                    line[at] = last._replace(
                        data=unicodedata.normalize("NFC", last.data + char))
            elif cursor.y:
                above = buffer[cursor.y - 1]
                last = above[columns - 1]
                if len(last.data) < longest:
                    above[columns - 1] = last._replace(
                        data=unicodedata.normalize("NFC", last.data + char)
                    )
                    dirty.add(cursor.y - 1)
        else:
            continue  # Not printable (wcwidth -1): skipped, the rest is still drawn.
        if width > 0:
            cursor.x = min(x + width, columns)
    dirty.add(cursor.y)


def _insert_text(screen: TextScreen, data: str) -> None:
    """Text in insert mode: each piece that fits on the cursor's line makes room once (an
    ICH of its width) and is then drawn over it, the same cells as one ICH per character
    (which cost a line's work per character)."""
    mode = screen.mode
    columns = screen.columns
    translated = data.translate(screen.charset_map)
    start, length = 0, len(data)
    while start < length:
        lead = start
        while lead < length and wcwidth(translated[lead]) <= 0:
            lead += 1
        if lead > start:
            # Marks first: they join the cell before the cursor before room is made.
            mode.discard(_IRM)
            try:
                draw_text(screen, data[start:lead])
            finally:
                mode.add(_IRM)
            start = lead
            continue
        x = screen.cursor.x
        if x + wcwidth(translated[start]) > columns:
            # Wrapping first (or moving back, without autowrap): one character, as ever.
            draw_text(screen, data[start])
            start += 1
            continue
        room, used, end = columns - x, 0, start
        while end < length:
            width = max(wcwidth(translated[end]), 0)
            if used + width > room:
                break
            used += width
            end += 1
        if used:
            screen.insert_characters(used)
        mode.discard(_IRM)
        try:
            draw_text(screen, data[start:end])
        finally:
            mode.add(_IRM)
        start = end


def repeat_last(screen: TextScreen, count: int) -> None:
    """REP: the last graphic character drawn again ``count`` times, at most as many times as
    fit on the rest of the line (as VTE does: more would only scroll copies of one line away,
    at a cost no longer bounded by the input). As in xterm, nothing after a character of no
    width (a combining mark)."""
    char = screen.last_char
    width = wcwidth(char)
    if width <= 0:
        return
    cursor = screen.cursor
    columns = screen.columns
    if cursor.x + width > columns:
        # At the margin: as `draw_text` would, to the next line (or, without autowrap, the
        # last cells).
        if _DECAWM in screen.mode and width <= columns:
            screen.dirty.add(cursor.y)
            screen.carriage_return()
            screen.linefeed()
        else:
            cursor.x = max(0, columns - width)
    x = cursor.x
    count = min(count, (columns - x) // width)
    if count < 1:
        draw_text(screen, char)  # a wide character on a one-column screen
        return
    # The same cells as drawing the characters one by one, written at once.
    end = x + count * width
    if _IRM in screen.mode:
        screen.insert_characters(end - x)
    cells = screen.cursor_cells()
    cell = cells[char.translate(screen.charset_map)]
    line = screen.buffer[cursor.y]
    unpair(line, x)
    unpair(line, end)
    if width == 1:
        line.update(zip(range(x, end), repeat(cell)))
    else:
        line.update(zip(range(x, end, 2), repeat(cell)))
        line.update(zip(range(x + 1, end, 2), repeat(cells[""])))
    cursor.x = end
    screen.dirty.add(cursor.y)
