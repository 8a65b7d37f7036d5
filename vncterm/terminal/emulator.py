"""The terminal model: pyte wrapped so that any bytes are safe, with damage, scroll and replies.

`Terminal` feeds console output (UTF-8 bytes) through a pyte `ByteStream` into a `Screen`
subclass that adds what a VNC console needs and pyte 0.8.2 lacks:

* `feed()` never raises: a sequence whose handler (or the parser itself) fails is dropped and
  parsing resumes at the next byte;
* damage since the last `take_damage()`: the rows whose cells changed, plus at most one pending
  upward scroll of a scroll region that a viewer can send as CopyRect;
* replies to DSR/DA queries (ECMA-48 8.3.35, 8.3.24; xterm ctlseqs) collected for the console;
* xterm behaviour that TERM=xterm-256color promises: back-colour erase, the alternate screen
  (modes 47/1047/1049), DEC line drawing with ``ESC ( 0`` in UTF-8, SU/SD, REP, CBT/CHT,
  SCOSC/SCORC, DECSTR, DECKPAM/DECKPNM, DCS/APC/PM/SOS strings swallowed, ``:`` SGR sub-parameters.

Cells are pyte `Char` values: ``Char(data, fg, bg, bold, italics, underscore, strikethrough,
reverse, blink)``. ``data`` is one character (possibly followed by combining marks), ``""`` for
the right half of a wide character. ``fg``/``bg`` are ``"default"``, one of the 16 names
(``"red"``, ``"brightred"``, ... as in `pyte.graphics`) or six lowercase hex digits. Cells are
immutable and shared: equal cells are usually the same object, on every screen.

pyte parses one character at a time through a generator and draws one cell at a time; console
output is mostly plain ASCII lines and simple CSIs, so `_Stream.feed_text` hands runs of text
and line controls to `_Screen.draw_plain` whole and dispatches complete simple CSIs itself.
Everything else still takes pyte's path, and the fast paths are tested against it
(tests/terminal/test_fast_paths.py): same cells, cursor, scrollback, replies and damage.
"""

from __future__ import annotations

import codecs
import copy
import re
import unicodedata
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from itertools import islice, repeat
from typing import Any, TypeAlias

import pyte
from pyte import charsets, graphics, modes
from pyte.screens import Char, Savepoint, StaticDefaultDict, wcwidth

from vncterm.limits import DEFAULT_TERMINAL_LIMITS, TerminalLimits
from vncterm.terminal.scrollback import (
    BLANK,
    DEFAULT_SCROLLBACK_LINES,
    EMPTY_LINE,
    PackedLine,
    Scrollback,
    compact,
    compact_text,
)

__all__ = [
    "ANSWERBACK_PRIMARY_DA",
    "ANSWERBACK_SECONDARY_DA",
    "MAX_PENDING_REPLY_BYTES",
    "TERM_NAME",
    "Char",
    "Damage",
    "Terminal",
]

#: The TERM value to give programs run on this terminal: the emulator implements the subset of
#: xterm that the xterm-256color terminfo entry uses (colours, bce, alternate screen, REP, ...).
TERM_NAME = "xterm-256color"

#: Reply to primary DA (``CSI c``): a VT220 with ANSI colour.
ANSWERBACK_PRIMARY_DA = b"\x1b[?62;22c"

#: Reply to secondary DA (``CSI > c``): terminal type 1 (VT220), firmware 10, no ROM cartridge.
ANSWERBACK_SECONDARY_DA = b"\x1b[>1;10;0c"

#: Most reply bytes kept for the console when nobody takes them (the default of
#: `TerminalLimits.max_pending_reply_bytes`).
MAX_PENDING_REPLY_BYTES = DEFAULT_TERMINAL_LIMITS.max_pending_reply_bytes

#: pyte's private mode numbers are shifted left by 5.
_PRIVATE = 5
DECCKM = 1 << _PRIVATE
DECCOLM = modes.DECCOLM
DECTCEM = modes.DECTCEM
DECSCNM = modes.DECSCNM
_ALT_SCREEN_47 = 47 << _PRIVATE
_ALT_SCREEN_1047 = 1047 << _PRIVATE
_ALT_SCREEN_1049 = 1049 << _PRIVATE
_ALT_SCREEN_MODES = frozenset({_ALT_SCREEN_47, _ALT_SCREEN_1047, _ALT_SCREEN_1049})

_ESC = "\x1b"
_CSI_C1 = "\x9b"
_OSC_C1 = "\x9d"

#: Longest OSC string kept (the default of `TerminalLimits.max_osc_length`).
MAX_OSC_LENGTH = DEFAULT_TERMINAL_LIMITS.max_osc_length
#: C0/C1 controls that reach draw(): terminals ignore them, pyte would stop drawing the run.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")
#: Intermediate bytes (ECMA-48 5.4) pyte's parser would take for final bytes.
_INTERMEDIATES = frozenset(" !\"#%&'()*+,-./")
#: Characters after ESC that open a control string we do not interpret (DCS, SOS, PM, APC).
_STRING_OPENERS = frozenset("PX^_")
#: Characters _send_to_parser looks at before the parser; anything else goes straight through.
_WATCHED = frozenset(
    {_ESC, _CSI_C1, _OSC_C1, "[", "]", ";", ":", "<", "=", ">", "?", "\\"}
    | _STRING_OPENERS
    | _INTERMEDIATES
)

_BASE_COLOURS = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")

_IRM = modes.IRM
_LNM = modes.LNM
_DECAWM = modes.DECAWM
_LAT1_MAP = charsets.LAT1_MAP

#: A run `_Screen.draw_plain` takes in one call: printable ASCII, CR, LF, HT and BS (bounded,
#: so that one huge feed does not become millions of line strings at once; a feed's text is a
#: chunk of at most a few KiB anyway, so one step of `_Stream.feed_text` stays within a few
#: milliseconds even where the run is drawn a character at a time).
_PLAIN_RUN = re.compile(r"[\x20-\x7e\r\n\t\x08]{1,8192}")
_PLAIN_TOKENS = re.compile(r"[\x20-\x7e]+|[\r\n\t\x08]")
_TAB_OR_BACKSPACE = re.compile(r"([\t\x08])")
#: A complete CSI of digits and semicolons (after an optional ``?``) with a letter as final
#: byte: dispatched by `_Stream` itself instead of one character at a time through pyte's parser.
_SIMPLE_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@A-Za-z`])")
#: Steps of `_Stream.feed_text` (a run of text, a sequence, a character of one) between two
#: questions to its ``stop``: each step's work is bounded, so this bounds the overrun.
_STOP_EVERY = 16
#: Most characters of non-ASCII text drawn in one step (one at a time, about a microsecond
#: each).
_TEXT_STEP = 256

# Cells are immutable, so one Char per (character, rendition) is shared by every cell, row and
# screen that shows it: drawing is a dictionary lookup and an idle screen holds no cells of its
# own. The caches are bounded; when one fills up it starts again (the Chars in use live on).
_MAX_RENDITIONS = 1024
_MAX_CELLS_PER_RENDITION = 1024
_MAX_SGR_RESULTS = 4096
_MAX_CSI_PARAMETERS = 4096

#: The default blank: the very object the scrollback compares with (an identity test there).
_DEFAULT_CELL = BLANK


def _renumber(
    buffer: dict[int, StaticDefaultDict[int, Char]], top: int, bottom: int, shift: int
) -> None:
    """Move the rows of region ``top..bottom`` by ``shift`` (up when negative); rows moved out
    of the region are dropped, the rows left empty become blank. One pass over the rows
    stored, in C (a scroll costs that for every line that scrolls it)."""
    moved = [
        (y + shift if top <= y <= bottom else y, line)
        for y, line in buffer.items()
        if not top <= y <= bottom or top <= y + shift <= bottom
    ]
    buffer.clear()
    buffer.update(moved)


#: DECALN's cell.
_ALIGNMENT_CELL = Char("E", "default", "default", reverse=False)


def _unpair(line: StaticDefaultDict[int, Char], edge: int) -> None:
    """Cells ``edge - 1`` and ``edge`` are about to be separated (one of them overwritten,
    erased or moved): if they are the two halves of a wide character, both become blanks in
    its rendition, as in xterm, so no half is left that the renderer would draw."""
    stub = line.get(edge)
    if stub is not None and stub.data == "":
        line[edge] = stub._replace(data=" ")
        left = line.get(edge - 1)
        if left is not None and left.data:
            line[edge - 1] = left._replace(data=" ")


class _Reversed(dict[Char, Char]):
    """Cells as reverse video (DECSCNM) shows them: reverse flipped, by cell (bounded)."""

    def __missing__(self, cell: Char) -> Char:
        flipped = cell._replace(reverse=not cell.reverse)
        if len(self) >= _MAX_RENDITIONS * 4:
            self.clear()
        self[cell] = flipped
        return flipped


_reversed = _Reversed()


class _Cells(dict[str, Char]):
    """The shared cells of one rendition (a cursor's attributes), by character."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, data: str) -> Char:
        cell = self.attrs._replace(data=data)
        if len(self) < _MAX_CELLS_PER_RENDITION:
            self[data] = cell
        return cell


_renditions: dict[Char, _Cells] = {}
_sgr_results: dict[tuple[Char, tuple[int, ...]], Char] = {}
_blanks: dict[tuple[str, str], Char] = {}
_csi_parameters: dict[str, tuple[int, ...]] = {}


def _cells_for(attrs: Char) -> _Cells:
    cells = _renditions.get(attrs)
    if cells is None:
        if len(_renditions) >= _MAX_RENDITIONS:
            _renditions.clear()
        cells = _renditions[attrs] = _Cells(attrs)
    return cells


#: Longest parameter string whose parse is kept for reuse (programs repeat short ones).
_MAX_CACHED_PARAMETERS_LENGTH = 64


def _parameter(value: str) -> int:
    if len(value) < 5:
        return int(value or 0)
    # Past four digits every value is 9999: no int() of a long digit string (quadratic).
    value = value.lstrip("0")
    return 9999 if len(value) > 4 else int(value or 0)


def _parse_parameters(parameters: str, limit: int) -> tuple[int, ...]:
    """What pyte's parser makes of a CSI's digits and semicolons (``""`` is one 0), each
    at most 9999; parameters past the first ``limit`` are ignored (as in xterm)."""
    values = _csi_parameters.get(parameters)
    if values is None:
        values = tuple(map(_parameter, parameters.split(";", limit)[:limit]))
        if len(parameters) <= _MAX_CACHED_PARAMETERS_LENGTH and len(values) < limit:
            # Only whole parses are kept, so another terminal's limit is still honoured.
            if len(_csi_parameters) >= _MAX_CSI_PARAMETERS:
                _csi_parameters.clear()
            _csi_parameters[parameters] = values
        return values
    return values[:limit] if len(values) > limit else values


#: A region row while `_Screen.draw_plain` scrolls: blank (None), a pyte line, or text drawn
#: from column 0 on a blank row with one rendition (made into a pyte line only if it stays).
_Row: TypeAlias = StaticDefaultDict[int, Char] | tuple[str, _Cells] | None


#: Fewest whole lines in a row worth scrolling through in bulk (see `_Screen.draw_plain`).
_BULK_LINES = 4


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


def _expand(row: tuple[str, _Cells], default: Char) -> StaticDefaultDict[int, Char]:
    text, cells = row
    line: StaticDefaultDict[int, Char] = StaticDefaultDict(default)
    line.update(zip(range(len(text)), map(cells.__getitem__, text), strict=True))
    return line


def _compact_row(row: _Row, columns: int) -> PackedLine:
    if row is None:
        return EMPTY_LINE
    if type(row) is tuple:
        text, cells = row
        return compact_text(text, cells.attrs[1:], columns)
    return compact(row, columns)  # type: ignore[arg-type]


def _clamp_byte(value: int) -> int:
    return 255 if value > 255 else value


@dataclass(frozen=True, slots=True)
class Damage:
    """What changed on the screen since the previous `Terminal.take_damage()`.

    Apply it to the previous image in order: first move rows ``top + count .. bottom`` of the
    scroll region up to ``top .. bottom - count`` (if ``scroll`` is set), then redraw every row
    in ``rows`` from the current screen. Rows not in ``rows`` are then exactly right.
    """

    rows: frozenset[int]
    #: ``(top, bottom, count)``: region rows ``top..bottom`` (inclusive) scrolled up ``count``.
    scroll: tuple[int, int, int] | None = None


class _Screen(pyte.Screen):
    """pyte's Screen with damage tracking, replies and the xterm features pyte lacks."""

    def __init__(
        self, columns: int, lines: int, limits: TerminalLimits = DEFAULT_TERMINAL_LIMITS
    ) -> None:
        self.limits = limits
        self.replies = bytearray()
        self.bells = 0
        self.application_keypad = False
        self.pending_scroll: tuple[int, int, int] | None = None
        self.main_buffer: dict[int, StaticDefaultDict[int, Char]] | None = None
        self.scrollback: Scrollback | None = None
        #: The cursor saved by the last ``CSI ? 1049 h`` (xterm keeps one, not a stack).
        self.saved_1049: Any = None
        self.last_char = " "
        # What _Stream saw of the CSI being parsed: private marker, intermediates and which
        # parameter separators were colons (sub-parameters, ITU T.416 / xterm SGR 38:2::r:g:b).
        self.csi_marker = ""
        self.csi_intermediates = ""
        self.csi_separators = 0
        self.csi_colons: list[int] = []
        # The shared cells of the cursor's rendition, looked up again when it changes.
        self._cells_attrs: Char | None = None
        self._cells = _cells_for(_DEFAULT_CELL)
        # The tab stops in order, made again when they change (see `tabstops`).
        self._tabstops: set[int] = set()
        self._stops_sorted: list[int] | None = None
        super().__init__(columns, lines)

    @property
    def default_char(self) -> Char:
        """A blank in the default rendition (shared, unlike pyte's fresh one per call).

        Reverse video (DECSCNM) is not in the cells: as in xterm it is a property of the
        whole screen, applied when rows are read (`Terminal.row`), so switching it costs a
        row's damage, not a rewrite of every cell."""
        return _DEFAULT_CELL

    # -- tab stops -------------------------------------------------------------------------

    @property
    def tabstops(self) -> set[int]:
        return self._tabstops

    @tabstops.setter
    def tabstops(self, stops: set[int]) -> None:
        self._tabstops = stops
        self._stops_sorted = None

    def _sorted_stops(self) -> list[int]:
        stops = self._stops_sorted
        if stops is None:
            stops = self._stops_sorted = sorted(self._tabstops)
        return stops

    def tab(self) -> None:
        """HT: to the next tab stop, or the last column (a binary search, not pyte's sort)."""
        stops = self._sorted_stops()
        index = bisect_right(stops, self.cursor.x)
        last = self.columns - 1
        self.cursor.x = min(stops[index], last) if index < len(stops) else last

    def set_tab_stop(self) -> None:
        """HTS (``ESC H``)."""
        if self.cursor.x < self.columns:
            self._tabstops.add(self.cursor.x)
            self._stops_sorted = None

    def clear_tab_stop(self, how: int = 0, *_: Any, **__: Any) -> None:
        """TBC (``CSI g``, ``CSI 3 g``)."""
        if how == 0:
            self._tabstops.discard(self.cursor.x)
        elif how == 3:
            self._tabstops.clear()
        self._stops_sorted = None

    # -- damage ---------------------------------------------------------------------------

    def _scroll_up(self, top: int, bottom: int, count: int) -> None:
        """Move region rows up by ``count`` (new blank rows at the bottom) and record damage."""
        count = min(count, bottom - top + 1)
        buffer = self.buffer
        scrollback = self.scrollback
        if top == 0 and scrollback is not None and self.main_buffer is None:
            # Lines leaving the top of the main screen go to the scrollback, as in xterm.
            columns = self.columns
            for y in range(count):
                scrollback.append(compact(buffer.get(y), columns))
        _renumber(buffer, top, bottom, -count)
        self._scrolled(top, bottom, count)

    def _scrolled(self, top: int, bottom: int, count: int) -> None:
        """Record the damage of region rows ``top..bottom`` moving up ``count`` rows.

        ``count`` scrolls of one row give the same `Damage` as one scroll of ``count``.
        """
        count = min(count, bottom - top + 1)
        dirty = self.dirty
        if len(dirty) >= self.lines and self.pending_scroll is None:
            return  # Everything is redrawn anyway; a scroll would only add work.
        pending = self.pending_scroll
        total = count
        if pending is not None:
            if pending[0] == top and pending[1] == bottom:
                total += pending[2]
            else:
                # Only one scroll can be pending: the older one's region is redrawn instead.
                dirty.update(range(pending[0], pending[1] + 1))
        if total > bottom - top:
            dirty.update(range(top, bottom + 1))
            self.pending_scroll = None
            return
        moved = {
            y - count if top <= y <= bottom else y
            for y in dirty
            if not top <= y < top + count
        }
        moved.update(range(bottom - count + 1, bottom + 1))
        dirty.clear()
        dirty.update(moved)
        self.pending_scroll = (top, bottom, total)

    def _scroll_down(self, top: int, bottom: int, count: int) -> None:
        """Move region rows down by ``count`` (new blank rows at the top); region is damaged."""
        _renumber(self.buffer, top, bottom, min(count, bottom - top + 1))
        self.dirty.update(range(top, bottom + 1))

    def _region(self) -> tuple[int, int]:
        margins = self.margins
        if margins is None:
            return 0, self.lines - 1
        return margins.top, margins.bottom

    def index(self) -> None:
        top, bottom = self._region()
        y = self.cursor.y
        if y == bottom:
            self._scroll_up(top, bottom, 1)
        elif y > bottom:
            # Below the scroll region the cursor moves down to the last line, not into it.
            self.cursor.y = min(y + 1, self.lines - 1)
        else:
            self.cursor.y = y + 1

    def reverse_index(self) -> None:
        top, bottom = self._region()
        y = self.cursor.y
        if y == top:
            self._scroll_down(top, bottom, 1)
        elif y > 0:
            self.cursor.y = y - 1

    def scroll_up(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """SU (``CSI n S``)."""
        top, bottom = self._region()
        self._scroll_up(top, bottom, count or 1)

    def scroll_down(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """SD (``CSI n T``)."""
        top, bottom = self._region()
        self._scroll_down(top, bottom, count or 1)

    def delete_lines(self, count: int | None = None) -> None:
        top, bottom = self._region()
        y = self.cursor.y
        if top <= y <= bottom:
            self._scroll_up(y, bottom, count or 1)
            self.cursor.x = 0

    def insert_lines(self, count: int | None = None) -> None:
        top, bottom = self._region()
        y = self.cursor.y
        if top <= y <= bottom:
            self._scroll_down(y, bottom, count or 1)
            self.cursor.x = 0

    def draw(self, data: str) -> None:
        if not data.isprintable():
            data = _UNPRINTABLE.sub("", data)
            if not data:
                return
        if data.isascii():
            self.draw_plain(data)
        else:
            self._draw_text(data)

    def _draw_text(self, data: str) -> None:
        """pyte's `Screen.draw` of printable text, one character at a time (the same steps,
        with shared cells and local names)."""
        if len(data) > 1 and _IRM in self.mode:
            self._insert_text(data)
            return
        cursor = self.cursor
        self.last_char = data[-1]
        text = data.translate(self.g1_charset if self.charset else self.g0_charset)
        attrs = cursor.attrs
        if attrs is not self._cells_attrs:
            self._cells = _cells_for(attrs)
            self._cells_attrs = attrs
        cells = self._cells
        columns = self.columns
        mode = self.mode
        autowrap = _DECAWM in mode
        insert = _IRM in mode
        buffer = self.buffer
        dirty = self.dirty
        # A cell's text is its character plus at most this many zero-width ones: a pile-up
        # of marks on one cell would make every further mark (and its glyph) cost more.
        longest = self.limits.max_marks_per_cell + 1
        for char in text:
            width = wcwidth(char)
            if width > 0:
                if cursor.x + width > columns:
                    # At the margin, or a wide character in the last column: it goes on the
                    # next line (xterm), or without autowrap into the last cells.
                    if autowrap and (cursor.x == columns or width <= columns):
                        dirty.add(cursor.y)
                        self.carriage_return()
                        self.linefeed()
                    else:
                        cursor.x = max(0, columns - width)
                if insert:
                    self.insert_characters(width)
            line = buffer[cursor.y]
            x = cursor.x
            if width == 1:
                _unpair(line, x)
                _unpair(line, x + 1)
                line[x] = cells[char]
            elif width == 2:
                # A two-cell character has a stub slot after it.
                _unpair(line, x)
                _unpair(line, x + 2)
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

    def _insert_text(self, data: str) -> None:
        """Text in insert mode: each piece that fits on the cursor's line makes room once (an
        ICH of its width) and is then drawn over it, the same cells as one ICH per character
        (which cost a line's work per character)."""
        mode = self.mode
        columns = self.columns
        translated = data.translate(self.g1_charset if self.charset else self.g0_charset)
        start, length = 0, len(data)
        while start < length:
            lead = start
            while lead < length and wcwidth(translated[lead]) <= 0:
                lead += 1
            if lead > start:
                # Marks first: they join the cell before the cursor before room is made.
                mode.discard(_IRM)
                try:
                    self._draw_text(data[start:lead])
                finally:
                    mode.add(_IRM)
                start = lead
                continue
            x = self.cursor.x
            if x + wcwidth(translated[start]) > columns:
                # Wrapping first (or moving back, without autowrap): one character, as ever.
                self._draw_text(data[start])
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
                self.insert_characters(used)
            mode.discard(_IRM)
            try:
                self._draw_text(data[start:end])
            finally:
                mode.add(_IRM)
            start = end

    def draw_plain(self, text: str) -> None:
        """Printable ASCII, CR, LF, HT and BS: what pyte's parser would dispatch one by one
        (draw, carriage_return, linefeed, tab, backspace), done a run at a time.

        Cells come from the shared per-rendition cache and are stored a row slice at a time;
        while the region scrolls, its rows move once per call instead of once per line, and
        lines scrolled off straight after being drawn reach the scrollback without ever being
        pyte rows. Insert mode, a translating character set or a cursor below the scroll
        region take the exact one-by-one path.
        """
        cursor = self.cursor
        mode = self.mode
        top, bottom = self._region()
        y = cursor.y
        if (
            y > bottom
            or _IRM in mode
            or (self.g1_charset if self.charset else self.g0_charset) is not _LAT1_MAP
        ):
            self._plain_slow(text)
            return
        attrs = cursor.attrs
        if attrs is not self._cells_attrs:
            self._cells = _cells_for(attrs)
            self._cells_attrs = attrs
        cells = self._cells
        cell = cells.__getitem__
        columns = self.columns
        x = cursor.x
        if text.isprintable() and x + len(text) <= columns:
            # Text that fits on the cursor's row (most runs between two escape sequences).
            end = x + len(text)
            target = self.buffer[y]
            _unpair(target, x)
            _unpair(target, end)
            target.update(zip(range(x, end), map(cell, text), strict=True))
            cursor.x = end
            self.dirty.add(y)
            self.last_char = text[-1]
            return
        autowrap = _DECAWM in mode
        newline_mode = _LNM in mode
        buffer = self.buffer
        dirty = self.dirty
        default = self.default_char
        scrollback = self.scrollback
        keep = top == 0 and scrollback is not None and self.main_buffer is None
        last = ""
        # Once the region scrolls: its rows, the top one at index ``scrolled``. The cursor
        # then stays on the bottom row (window[-1]), which every line feed replaces.
        window: list[_Row] | None = None
        scrolled = 0

        def row() -> StaticDefaultDict[int, Char]:
            if window is None:
                return buffer[y]
            line = window[-1]
            if line is None:
                line = window[-1] = StaticDefaultDict(default)
            elif type(line) is tuple:
                line = window[-1] = _expand(line, default)
            return line  # type: ignore[return-value]

        def line_feed() -> None:
            nonlocal y, x, window, scrolled
            if y != bottom:
                y += 1
            else:
                if window is None:
                    window = [buffer.pop(row_y, None) for row_y in range(top, bottom + 1)]
                leaving = window[scrolled]
                window[scrolled] = None
                scrolled += 1
                window.append(None)
                if keep:
                    scrollback.append(_compact_row(leaving, columns))  # type: ignore[union-attr]
            if newline_mode:
                x = 0

        def put(data: str) -> None:
            nonlocal x
            while True:
                room = columns - x
                count = len(data)
                line = row()
                if line:
                    # Halves of wide characters the text lands next to become blanks.
                    if count <= room:
                        _unpair(line, x)
                        _unpair(line, x + count)
                    else:
                        _unpair(line, x if autowrap else min(x, columns - 1))
                if count <= room:
                    if count == 1:
                        line[x] = cell(data)
                    else:
                        line.update(zip(range(x, x + count), map(cell, data), strict=True))
                    x += count
                    break
                if not autowrap:
                    # Every character past the margin lands on the last column.
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
                if window is None:
                    dirty.add(y)
                x = 0
                line_feed()
            if window is None:
                dirty.add(y)

        crlf_bodies: list[str] | None = None  # the text split at CR LF, once needed
        odd = "\t" in text or "\b" in text
        # Tabs in a line drawn on a fresh row can become spaces: a tab leaves blank cells
        # behind, and so do spaces when the rendition is the default one. Only with the
        # default tab stops, and never with backspaces around.
        last_stop = 0
        if odd and "\b" not in text and cell(" ") == default:
            stops = self.tabstops
            if stops and stops == set(range(8, columns, 8)):
                last_stop = max(stops)
        # Whether lines on fresh rows may be taken as text (in bulk, or one at a time).
        as_text = not odd or last_stop > 0

        def on_fresh_row(body: str) -> str | None:
            """How ``body`` (a line without its CR LF) shows on a fresh bottom row, or None
            when it cannot be kept as text there (a CR inside, a tab past the last stop, or
            wider than the screen)."""
            if "\r" in body:
                return None
            line = _expand_tabs(body, last_stop) if odd else body
            return line if line is not None and len(line) <= columns else None

        def whole_lines(start: int) -> int:
            """Lines drawn whole on fresh bottom rows from piece ``start`` on, each ending
            with CR LF (or just LF when empty): they can be scrolled through in bulk."""
            nonlocal window, scrolled, last
            assert window is not None
            bodies = shown = None
            if crlf_only:
                # Every line ends with one CR LF: the bodies are the text split at CR LF.
                nonlocal crlf_bodies
                if crlf_bodies is None:
                    crlf_bodies = text.split("\r\n")
                bodies = shown = crlf_bodies[start:final]
                if odd:
                    expanded = [_expand_tabs(body, last_stop) for body in bodies]
                    shown = None if None in expanded else expanded  # type: ignore[assignment]
                if shown is None or max(map(len, shown), default=0) > columns:
                    bodies = shown = None
            if bodies is None or shown is None:
                bodies, shown = [], []
                for piece in islice(pieces, start, final):
                    if piece:
                        if piece[-1] != "\r":
                            break
                        body = piece.rstrip("\r")
                        line = on_fresh_row(body)
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
            # Each line lands on the bottom row and a line feed follows: the region's rows
            # above the bottom one, then the new lines, then a fresh bottom row, of which the
            # last `height` stay and the first `count` leave at the top. Rows are made only
            # for the lines that stay.
            height = bottom - top + 1
            above = window[scrolled:-1]
            staying = shown[max(0, count - height + 1) :]
            rows: list[_Row] = [(body, cells) if body else None for body in staying]
            if count < height - 1:
                rows = above[count:] + rows
            rows.append(None)
            if keep:
                # Lines drawn here all have one rendition: compact each distinct text once.
                leaving_above = [_compact_row(row, columns) for row in above[:count]]
                leaving = shown[: max(0, count - height + 1)]
                attributes = cells.attrs[1:]
                compacted = {text: compact_text(text, attributes, columns)
                             for text in set(leaving)}
                scrollback.extend(leaving_above)  # type: ignore[union-attr]
                scrollback.extend(list(map(compacted.__getitem__, leaving)))  # type: ignore[union-attr]
            window[scrolled:] = [None] * count
            window += rows
            scrolled += count
            for body in reversed(bodies):
                drawn = _drawn_last(body)
                if drawn:
                    last = drawn
                    break
            return count

        crlf = text.count("\r\n")
        crlf_only = text.count("\n") == crlf == text.count("\r")
        pieces = text.split("\n")
        final = len(pieces) - 1
        number = -1
        try:
            while number < final:
                number += 1
                piece = pieces[number]
                if window is not None and number and x == 0 and as_text and number < final:
                    bulk = whole_lines(number)
                    if bulk:
                        number += bulk - 1  # the next piece is the first after the run
                        continue
                if piece:
                    if window is not None and number and x == 0 and as_text:
                        # A line on the fresh bottom row: keep it as text for now.
                        body = piece.rstrip("\r")
                        as_shown = on_fresh_row(body)
                        if as_shown is not None:
                            if as_shown:
                                window[-1] = (as_shown, cells)
                                last = _drawn_last(body) or last
                            x = 0 if len(body) < len(piece) else len(as_shown)
                            if number < final:
                                line_feed()
                            continue
                    for index, segment in enumerate(piece.split("\r")):
                        if index:
                            x = 0
                        if not segment:
                            continue
                        if not odd:
                            put(segment)
                            last = segment[-1]
                            continue
                        for token in _TAB_OR_BACKSPACE.split(segment):
                            if token == "\t" or token == "\b":
                                cursor.x = x
                                if token == "\t":
                                    self.tab()
                                else:
                                    self.backspace()
                                x = cursor.x
                            elif token:
                                put(token)
                                last = token[-1]
                if number < final:
                    line_feed()
        finally:
            cursor.x = x
            cursor.y = y
            if last:
                self.last_char = last
            if window is not None:
                for offset in range(bottom - top + 1):
                    line = window[scrolled + offset]
                    if line is not None:
                        if type(line) is tuple:
                            line = _expand(line, default)
                        buffer[top + offset] = line  # type: ignore[assignment]
                self._scrolled(top, bottom, scrolled)

    def _plain_slow(self, text: str) -> None:
        """`draw_plain` one control or text run at a time, exactly as the parser would."""
        for token in _PLAIN_TOKENS.findall(text):
            if token == "\r":
                self.carriage_return()
            elif token == "\n":
                self.linefeed()
            elif token == "\t":
                self.tab()
            elif token == "\b":
                self.backspace()
            else:
                self._draw_text(token)

    def repeat_character(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """REP (``CSI n b``): draw the last graphic character again ``n`` times, at most as
        many times as fit on the rest of the line (as VTE does: more would only scroll copies
        of one line away, at a cost no longer bounded by the input). As in xterm, nothing
        after a character of no width (a combining mark)."""
        char = self.last_char
        width = wcwidth(char)
        if width <= 0:
            return
        cursor = self.cursor
        columns = self.columns
        if cursor.x + width > columns:
            # At the margin: as `draw` would, to the next line (or, without autowrap, the
            # last cells).
            if _DECAWM in self.mode and width <= columns:
                self.dirty.add(cursor.y)
                self.carriage_return()
                self.linefeed()
            else:
                cursor.x = max(0, columns - width)
        x = cursor.x
        count = min(count or 1, (columns - x) // width)
        if count < 1:
            self._draw_text(char)  # a wide character on a one-column screen
            return
        # The same cells as drawing the characters one by one, written at once.
        end = x + count * width
        if _IRM in self.mode:
            self.insert_characters(end - x)
        attrs = cursor.attrs
        if attrs is not self._cells_attrs:
            self._cells = _cells_for(attrs)
            self._cells_attrs = attrs
        cells = self._cells
        cell = cells[char.translate(self.g1_charset if self.charset else self.g0_charset)]
        line = self.buffer[cursor.y]
        _unpair(line, x)
        _unpair(line, end)
        if width == 1:
            line.update(zip(range(x, end), repeat(cell)))
        else:
            line.update(zip(range(x, end, 2), repeat(cell)))
            line.update(zip(range(x + 1, end, 2), repeat(cells[""])))
        cursor.x = end
        self.dirty.add(cursor.y)

    # -- erasing with the background colour (xterm "bce") ----------------------------------

    def _blank(self) -> Char:
        attrs = self.cursor.attrs
        key = (attrs.fg, attrs.bg)
        blank = _blanks.get(key)
        if blank is None:
            if len(_blanks) >= _MAX_RENDITIONS:
                _blanks.clear()
            blank = _blanks[key] = (
                _DEFAULT_CELL if key == ("default", "default")
                else Char(" ", attrs.fg, attrs.bg, reverse=False)
            )
        return blank

    def _blank_line(self, y: int) -> None:
        """Row ``y`` all blanks in the background colour: a row whose every cell is its
        default, so erasing a row costs the same at any width."""
        blank = self._blank()
        if blank is _DEFAULT_CELL:
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
        _unpair(line, start)
        _unpair(line, end)
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
        if how == 2 and blank is _DEFAULT_CELL:
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
        _unpair(line, x)
        _unpair(line, columns - count)
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
        _unpair(line, x)
        _unpair(line, x + count)
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
        filled = _ALIGNMENT_CELL
        buffer = self.buffer
        for y in range(self.lines):
            line = buffer.get(y)
            if line is None or line or line.default is not filled:
                buffer[y] = StaticDefaultDict(filled)
        self.dirty.update(range(self.lines))
        self.margins = None
        self.cursor.x = self.cursor.y = 0

    # -- modes -----------------------------------------------------------------------------

    def _screen_modes(self, shifted: list[int], *, on: bool) -> tuple[list[int], int | None]:
        """The private modes pyte may handle; the alternate screen mode asked for (handled
        by the caller), and reverse video switched here (DECSCNM: only the damage)."""
        alt = None
        kept = []
        for mode in shifted:
            if mode in _ALT_SCREEN_MODES:
                alt = mode
            elif mode == DECSCNM:
                if (mode in self.mode) != on:
                    if on:
                        self.mode.add(mode)
                    else:
                        self.mode.discard(mode)
                    self.dirty.update(range(self.lines))
            elif mode != DECCOLM:  # xterm ignores 80/132 columns unless allowed; so do we.
                kept.append(mode)
        return kept, alt

    def set_mode(self, *modes_: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            kept, alt = self._screen_modes([mode << _PRIVATE for mode in modes_], on=True)
            if alt is not None:
                self._enter_alternate(alt)
            if kept:
                super().set_mode(*(mode >> _PRIVATE for mode in kept), private=True)
        else:
            super().set_mode(*modes_)

    def reset_mode(self, *modes_: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            kept, alt = self._screen_modes([mode << _PRIVATE for mode in modes_], on=False)
            if alt is not None:
                self._leave_alternate(alt)
            if kept:
                super().reset_mode(*(mode >> _PRIVATE for mode in kept), private=True)
        else:
            super().reset_mode(*modes_)

    def _new_buffer(self) -> defaultdict[int, StaticDefaultDict[int, Char]]:
        return defaultdict(lambda: StaticDefaultDict(self.default_char))

    def _enter_alternate(self, mode: int) -> None:
        # xterm saves the cursor for 1049 and restores it on reset whether or not the screen
        # actually switches (dialog sends a second reset when it exits).
        if mode == _ALT_SCREEN_1049:
            # One slot, not pyte's stack: every 1049 reset restores the same saved cursor.
            self.saved_1049 = self._savepoint()
        if self.main_buffer is not None:
            return
        self.main_buffer = self.buffer
        self.buffer = self._new_buffer()
        self.dirty.update(range(self.lines))

    def _leave_alternate(self, mode: int) -> None:
        if self.main_buffer is not None:
            self.buffer = self.main_buffer
            self.main_buffer = None
            self.dirty.update(range(self.lines))
        if mode == _ALT_SCREEN_1049:
            self._restore(self.saved_1049)

    def reset(self) -> None:
        self.main_buffer = None
        self.application_keypad = False
        self.pending_scroll = None
        self.saved_1049 = None
        super().reset()
        self.g1_charset = charsets.LAT1_MAP  # xterm's G1 starts as ASCII, not line drawing.

    def soft_reset(self, *_: Any, **__: Any) -> None:
        """DECSTR (``CSI ! p``): modes, margins and rendition back to defaults; text stays."""
        if "!" not in self.csi_intermediates:
            return
        self.margins = None
        self.mode.difference_update({modes.IRM, modes.DECOM, DECCKM})
        self.mode.update({modes.DECAWM, DECTCEM})
        self.application_keypad = False
        self.cursor.attrs = self.default_char
        self.charset = 0
        self.g0_charset = self.g1_charset = charsets.LAT1_MAP
        self.savepoints.clear()

    def set_application_keypad(self) -> None:
        """DECKPAM (``ESC =``)."""
        self.application_keypad = True

    def reset_application_keypad(self) -> None:
        """DECKPNM (``ESC >``)."""
        self.application_keypad = False

    def resize(self, lines: int | None = None, columns: int | None = None) -> None:
        old_columns = self.columns
        lines = lines or self.lines
        if lines < self.lines:
            # Drop rows from the top only as far as needed to keep the cursor's row (pyte
            # always drops them from the top), the rest from the bottom.
            drop = max(0, self.cursor.y - (lines - 1))
            if drop and self.scrollback is not None and self.main_buffer is None:
                # Rows pushed off the top by a smaller screen are kept, whole, in the history.
                for y in range(drop):
                    self.scrollback.append(compact(self.buffer.get(y), old_columns))
            kept = self._new_buffer()
            kept.update(
                (y - drop, line) for y, line in self.buffer.items() if drop <= y < lines + drop
            )
            self.buffer = kept
            self.cursor.y -= drop
            self.lines = lines
            self.margins = None
        if columns is not None and columns != old_columns:
            buffers = [self.buffer] if self.main_buffer is None else [self.buffer,
                                                                        self.main_buffer]
            for line in (line for buffer in buffers for line in buffer.values()):
                if columns < old_columns:
                    _unpair(line, columns)  # no half of a wide character left at the margin
                elif line.default is not _DEFAULT_CELL:
                    # A row filled by its default (an erase in colour, DECALN) keeps it on
                    # the old columns only: the new ones are blank, as in xterm.
                    line.update({x: line.default for x in range(old_columns) if x not in line})
                    line.default = _DEFAULT_CELL
        super().resize(lines, columns)
        stops = self.tabstops
        if self.columns > old_columns:
            stops.update(range(old_columns - old_columns % 8 + 8, self.columns, 8))
        self.tabstops = {stop for stop in stops if stop < self.columns}
        self.cursor.x = min(self.cursor.x, self.columns - 1)
        self.cursor.y = min(self.cursor.y, self.lines - 1)
        self.pending_scroll = None
        self.dirty.clear()
        self.dirty.update(range(self.lines))

    # -- cursor saving and positioning, clamped as in xterm ---------------------------------

    def _savepoint(self) -> Savepoint:
        return Savepoint(copy.copy(self.cursor), self.g0_charset, self.g1_charset,
                         self.charset, modes.DECOM in self.mode, _DECAWM in self.mode)

    def save_cursor(self) -> None:
        """DECSC (``ESC 7``): one saved cursor, as in xterm (pyte's stack grew with every
        save that no restore took)."""
        self.savepoints[:] = [self._savepoint()]

    def restore_cursor(self) -> None:
        """DECRC (``ESC 8``): back to the saved cursor, which stays saved (xterm); with none
        saved, home with origin mode off."""
        self._restore(self.savepoints[-1] if self.savepoints else None)

    def _restore(self, saved: Savepoint | None) -> None:
        if saved is None:
            self.mode.discard(modes.DECOM)
            self.cursor_position()
            return
        self.g0_charset, self.g1_charset = saved.g0_charset, saved.g1_charset
        self.charset = saved.charset
        for mode, on in ((modes.DECOM, saved.origin), (_DECAWM, saved.wrap)):
            if on:
                self.mode.add(mode)
            else:
                self.mode.discard(mode)
        # A copy: the saved slot must not move with the live cursor.
        self.cursor = copy.copy(saved.cursor)
        self.cursor.x = min(max(0, self.cursor.x), self.columns - 1)
        top, bottom = self._origin_bounds()
        self.cursor.y = min(max(top, self.cursor.y), bottom)

    def _origin_bounds(self) -> tuple[int, int]:
        """The rows the cursor may be put on: the scroll region in origin mode, else all."""
        if modes.DECOM in self.mode:
            return self._region()
        return 0, self.lines - 1

    def cursor_position(self, line: int | None = None, column: int | None = None) -> None:
        """CUP/HVP (``CSI l;c H``): in origin mode relative to the region and kept inside it
        (pyte ignored a position outside it instead)."""
        top, bottom = self._origin_bounds()
        self.cursor.y = min(max(top, top + (line or 1) - 1), bottom)
        self.cursor.x = min(max(0, (column or 1) - 1), self.columns - 1)

    def cursor_to_line(self, line: int | None = None, *_: Any, **__: Any) -> None:
        """VPA (``CSI n d``): as CUP, for the row alone (pyte left the cursor below the screen
        in origin mode without a region)."""
        top, bottom = self._origin_bounds()
        self.cursor.y = min(max(top, top + (line or 1) - 1), bottom)

    def cursor_up(self, count: int | None = None) -> None:
        """CUU (``CSI n A``): stops at the top margin if it starts inside the region, else at
        the first row (pyte moved a cursor above the region into it)."""
        top = self._region()[0]
        y = self.cursor.y
        self.cursor.y = max(y - (count or 1), top if y >= top else 0)

    def cursor_down(self, count: int | None = None) -> None:
        """CUD (``CSI n B``): stops at the bottom margin if it starts inside the region, else
        at the last row."""
        bottom = self._region()[1]
        y = self.cursor.y
        self.cursor.y = min(y + (count or 1), bottom if y <= bottom else self.lines - 1)

    def save_cursor_position(self, *_: Any, **__: Any) -> None:
        """SCOSC (``CSI s``)."""
        if not self.csi_marker:
            self.save_cursor()

    def restore_cursor_position(self, *_: Any, **__: Any) -> None:
        """SCORC (``CSI u``)."""
        if not self.csi_marker:
            self.restore_cursor()

    def tab_forward(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """CHT (``CSI n I``): ``n`` tabs, found at once whatever ``n``."""
        stops = self._sorted_stops()
        index = bisect_right(stops, self.cursor.x) + (count or 1) - 1
        last = self.columns - 1
        self.cursor.x = min(stops[index], last) if index < len(stops) else last

    def tab_backward(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """CBT (``CSI n Z``): back ``n`` tab stops, or to column 0."""
        stops = self._sorted_stops()
        index = bisect_left(stops, min(self.cursor.x, self.columns - 1)) - (count or 1)
        self.cursor.x = stops[index] if index >= 0 else 0

    # -- rendition -------------------------------------------------------------------------

    def _colour_groups(self, attrs: tuple[int, ...]) -> list[list[int]]:
        colons = set(self.csi_colons)
        groups: list[list[int]] = []
        for index, value in enumerate(attrs):
            if index and (index - 1) in colons:
                groups[-1].append(value)
            else:
                groups.append([value])
        return groups

    def select_graphic_rendition(self, *attrs: int, **kwargs: Any) -> None:
        if kwargs.get("private") or self.csi_marker:
            return  # e.g. xterm's CSI > Ps m (modifyOtherKeys): not an SGR.
        if not attrs or attrs == (0,):
            self.cursor.attrs = self.default_char
            return
        if self.csi_colons:
            self.cursor.attrs = self._rendition(attrs)
            return
        # Programs repeat the same few renditions: remember each result (which also makes
        # equal renditions the same object, so the screen's cell lookup stays cached).
        key = (self.cursor.attrs, attrs)
        result = _sgr_results.get(key)
        if result is None:
            result = self._rendition(attrs)
            if len(_sgr_results) >= _MAX_SGR_RESULTS:
                _sgr_results.clear()
            _sgr_results[key] = result
        self.cursor.attrs = result

    def _rendition(self, attrs: tuple[int, ...]) -> Char:
        """The cursor's attributes after SGR ``attrs``."""
        replace: dict[str, Any] = {}
        if self.csi_colons:
            groups = self._colour_groups(attrs)
            flat: list[int] = []
            for group in groups:
                if len(group) > 1 and group[0] in (38, 48, 58):
                    # Sub-parameters: 38:5:n, 38:2:r:g:b or 38:2:colourspace:r:g:b.
                    if group[1] == 2 and len(group) >= 6:
                        group = [group[0], 2, *group[-3:]]
                    flat.extend(group if len(group) > 2 else [group[0], 0])
                else:
                    flat.append(group[0])  # 4:3 (curly underline) etc. count as the main code
            attrs = tuple(flat)
        default = self.default_char
        pending = list(attrs)
        pending.reverse()
        while pending:
            attr = pending.pop()
            if attr == 0:
                replace.update(default._asdict())
                del replace["data"]
            elif attr == 1:
                replace["bold"] = True
            elif attr == 3:
                replace["italics"] = True
            elif attr == 4 or attr == 21:
                replace["underscore"] = True
            elif attr == 5 or attr == 6:
                replace["blink"] = True
            elif attr == 7:
                replace["reverse"] = True
            elif attr == 9:
                replace["strikethrough"] = True
            elif attr == 22:
                replace["bold"] = False
            elif attr == 23:
                replace["italics"] = False
            elif attr == 24:
                replace["underscore"] = False
            elif attr == 25:
                replace["blink"] = False
            elif attr == 27:
                replace["reverse"] = False
            elif attr == 29:
                replace["strikethrough"] = False
            elif 30 <= attr <= 37:
                replace["fg"] = _BASE_COLOURS[attr - 30]
            elif attr == 39:
                replace["fg"] = "default"
            elif 40 <= attr <= 47:
                replace["bg"] = _BASE_COLOURS[attr - 40]
            elif attr == 49:
                replace["bg"] = "default"
            elif 90 <= attr <= 97:
                replace["fg"] = "bright" + _BASE_COLOURS[attr - 90]
            elif 100 <= attr <= 107:
                replace["bg"] = "bright" + _BASE_COLOURS[attr - 100]
            elif attr in (38, 48, 58):
                colour = self._extended_colour(pending)
                if colour is not None and attr != 58:  # 58: underline colour, not drawn.
                    replace["fg" if attr == 38 else "bg"] = colour
        return self.cursor.attrs._replace(**replace)

    @staticmethod
    def _extended_colour(pending: list[int]) -> str | None:
        """Consume ``5;n`` or ``2;r;g;b`` from the (reversed) parameter list."""
        if not pending:
            return None
        kind = pending.pop()
        if kind == 5:
            if not pending:
                return None
            index = pending.pop()
            if index < 8:
                return _BASE_COLOURS[index]
            if index < 16:
                return "bright" + _BASE_COLOURS[index - 8]
            if index < 256:
                return graphics.FG_BG_256[index]
            return None
        if kind == 2:
            if len(pending) < 3:
                pending.clear()
                return None
            red, green, blue = pending.pop(), pending.pop(), pending.pop()
            return f"{_clamp_byte(red):02x}{_clamp_byte(green):02x}{_clamp_byte(blue):02x}"
        return None

    # -- replies, bell, title --------------------------------------------------------------

    def write_process_input(self, data: str) -> None:
        self.replies += data.encode("utf-8")
        excess = len(self.replies) - self.limits.max_pending_reply_bytes
        if excess > 0:
            del self.replies[:excess]

    def report_device_attributes(self, mode: int = 0, *_: Any, **kwargs: Any) -> None:
        if mode != 0 or kwargs.get("private"):
            return
        marker = self.csi_marker
        if marker == ">":
            self.write_process_input(ANSWERBACK_SECONDARY_DA.decode("ascii"))
        elif marker == "":
            self.write_process_input(ANSWERBACK_PRIMARY_DA.decode("ascii"))

    def report_device_status(self, mode: int = 0, *_: Any, **kwargs: Any) -> None:
        private = bool(kwargs.get("private"))
        if self.csi_marker not in ("", "?"):
            return
        if mode == 5 and not private:
            self.write_process_input("\x1b[0n")
        elif mode == 6:
            x = min(self.cursor.x, self.columns - 1) + 1
            y = self.cursor.y + 1
            if modes.DECOM in self.mode and self.margins is not None:
                y -= self.margins.top
            self.write_process_input(f"\x1b[{'?' if private else ''}{y};{x}R")

    def bell(self, *_: Any) -> None:
        self.bells += 1

    def debug(self, *_: Any, **__: Any) -> None:
        """Unrecognised sequences are ignored."""


class _Stream(pyte.ByteStream):
    """pyte's ByteStream that never raises and tells the screen what pyte's parser drops.

    pyte's ``use_utf8`` is kept False so that the parser honours G0/G1 designation and
    SI/SO (xterm does in UTF-8 too); decoding uses our own ``decode_utf8`` flag instead.
    """

    escape = {**pyte.Stream.escape, "=": "set_application_keypad", ">": "reset_application_keypad"}
    csi = {
        **pyte.Stream.csi,
        "S": "scroll_up",
        "T": "scroll_down",
        "`": "cursor_to_column",
        "b": "repeat_character",
        "p": "soft_reset",
        "s": "save_cursor_position",
        "u": "restore_cursor_position",
        "I": "tab_forward",
        "Z": "tab_backward",
    }

    def __init__(self, screen: _Screen) -> None:
        self.screen = screen
        self.limits = screen.limits
        self.decode_utf8 = True
        self._after_escape = False
        self._in_csi = False
        self._in_string = False
        #: Text decoded but not yet taken: a feed stopped before its end (see `feed_text`).
        self.held = ""
        #: The OSC string being read (None when not in one); see `_osc_char`.
        self._osc: list[str] | None = None
        self._osc_escape = False
        super().__init__(screen)
        self.use_utf8 = False
        self.utf8_decoder = codecs.getincrementaldecoder("utf-8")("replace")

    #: CSI final byte -> the `_Screen` function it calls (filled in below the class).
    csi_functions: dict[str, Callable[..., None]] = {}

    def feed(  # type: ignore[override]
        self, data: bytes, stop: Callable[[], bool] | None = None
    ) -> None:
        text = self.utf8_decoder.decode(data) if self.decode_utf8 else data.decode("latin-1")
        if self.held:
            text = self.held + text
            self.held = ""
        if text:
            self.feed_text(text, stop)

    def feed_text(self, data: str, stop: Callable[[], bool] | None = None) -> None:
        """pyte's `Stream.feed` with fast paths; the parser still sees every other character.

        In the ground state (pyte's "taking plain text"), runs of printable ASCII with
        CR/LF/HT/BS go to the screen in one call, and complete CSIs made of digits and
        semicolons are dispatched here: both exactly as the parser would, character by
        character, but without a generator step per character.

        ``stop`` is asked every `_STOP_EVERY` steps; once it says True, the text not yet
        taken is kept in ``held`` for the next feed.
        """
        screen = self.screen
        send = self._send_to_parser
        draw = screen.draw
        draw_plain = screen.draw_plain
        match_plain = _PLAIN_RUN.match
        match_text = self._text_pattern.match
        match_csi = _SIMPLE_CSI.match
        functions = self.csi_functions
        debug = _Screen.debug
        most = self.limits.max_csi_parameters
        taking = self._taking_plain_text
        offset = 0
        length = len(data)
        steps = 0
        while offset < length:
            if stop is not None:
                steps += 1
                if steps == _STOP_EVERY:
                    steps = 0
                    if stop():
                        self.held = data[offset:]
                        break
            if not taking:
                taking = send(data[offset])
                offset += 1
                continue
            if data[offset] == _ESC:
                match = match_csi(data, offset)
                if match is None:
                    taking = send(_ESC)
                    offset += 1
                    continue
                offset = match.end()
                marker, parameters, final = match.groups()
                # What _watched and the parser would have recorded on the way.
                self._after_escape = False
                self._in_csi = True
                screen.csi_marker = marker
                screen.csi_intermediates = ""
                screen.csi_separators = parameters.count(";")
                if screen.csi_colons:
                    screen.csi_colons = []
                function = functions.get(final, debug)
                try:
                    if marker:
                        function(screen, *_parse_parameters(parameters, most), private=True)
                    else:
                        function(screen, *_parse_parameters(parameters, most))
                except Exception:
                    # As in _send_to_parser: drop the sequence, carry on.
                    self._initialize_parser()
                    self._in_csi = False
                continue
            match = match_plain(data, offset)
            if match is not None:
                end = match.end()
                draw_plain(data[offset:end])
                offset = end
                continue
            match = match_text(data, offset)
            if match is not None:
                # A step's work stays small (see _STOP_EVERY), however long the text.
                end = min(match.end(), offset + _TEXT_STEP)
                draw(data[offset:end])
                offset = end
                continue
            taking = send(data[offset])
            offset += 1
        self._taking_plain_text = taking

    def select_other_charset(self, code: str) -> None:
        if code == "@":
            self.decode_utf8 = False
            self.utf8_decoder.reset()
        elif code in ("G", "8"):
            self.decode_utf8 = True

    def _send_to_parser(self, char: str) -> bool | None:
        if self._osc is not None:
            return self._osc_char(char)
        if self._in_string:
            return self._string_char(char)
        if char in _WATCHED:
            if self._watched(char):
                return None  # consumed here, invisible to pyte's parser
            if self._in_csi and char == ":":
                char = ";"
        try:
            return self._parser.send(char)  # type: ignore[union-attr]
        except Exception:
            # A handler or the parser failed (e.g. int() of a non-ASCII digit): drop the
            # sequence and carry on with the next character.
            self._initialize_parser()
            self._in_csi = False
            return True

    def _watched(self, char: str) -> bool:
        """Track the sequence being parsed; True when ``char`` must not reach pyte's parser."""
        screen = self.screen
        if char == _ESC:
            self._after_escape = True
            self._in_csi = False
            return False
        if char == _CSI_C1:
            self._after_escape = False
            self._start_csi()
            return False
        if char == _OSC_C1:
            self._after_escape = False
            self._in_csi = False
            self._start_osc()
            return True
        if self._after_escape:
            self._after_escape = False
            if char == "[":
                self._start_csi()
            elif char == "]":
                self._start_osc()
                return True
            elif char in _STRING_OPENERS:
                self._in_string = True
                self._initialize_parser()
                return True
            return False
        if not self._in_csi:
            return False
        if char == ";" or char == ":":
            if char == ":":
                screen.csi_colons.append(screen.csi_separators)
            screen.csi_separators += 1
            return False
        if char in "<=>":
            screen.csi_marker = char
            return True
        if char == "?":
            screen.csi_marker = "?"
            return False
        if char in _INTERMEDIATES:
            screen.csi_intermediates += char
            return True
        return False

    def _start_csi(self) -> None:
        self._in_csi = True
        screen = self.screen
        screen.csi_marker = ""
        screen.csi_intermediates = ""
        screen.csi_separators = 0
        if screen.csi_colons:
            screen.csi_colons = []

    def _start_osc(self) -> None:
        # OSC is read here rather than by pyte, whose parser takes the first character after
        # ``ESC ]`` as the command even when it is the terminator, and then swallows all
        # output up to some later terminator.
        self._initialize_parser()
        self._osc = []
        self._osc_escape = False

    def _osc_char(self, char: str) -> bool | None:
        """Inside OSC: collect up to BEL or ST; CAN/SUB abandon it, another ESC starts over."""
        osc = self._osc
        assert osc is not None
        if self._osc_escape:
            self._osc_escape = False
            if char == "\\":
                return self._end_osc(osc)
            # An escape sequence instead of ST: the OSC is abandoned (as in xterm) and the
            # new sequence is parsed.
            self._osc = None
            self._send_to_parser(_ESC)
            return self._send_to_parser(char)
        if char in "\x07\x9c":
            return self._end_osc(osc)
        if char == _ESC:
            self._osc_escape = True
            return None
        if char in "\x18\x1a":
            self._osc = None
            return True
        if len(osc) < self.limits.max_osc_length:
            osc.append(char)
        return None

    def _end_osc(self, osc: list[str]) -> bool:
        self._osc = None
        command, _, value = "".join(osc).partition(";")
        if command in ("0", "2"):
            self.screen.set_title(value)
        if command in ("0", "1"):
            self.screen.set_icon_name(value)
        return True

    def _string_char(self, char: str) -> bool | None:
        """Inside DCS/SOS/PM/APC: swallow everything up to ST (``ESC \\``). CAN and SUB
        abandon the string, and so does an escape sequence other than ST, which is then
        parsed (the VT500 parser, xterm and VTE: a stray DCS must not swallow the rest of the
        console's output)."""
        if self._after_escape:
            self._after_escape = False
            self._in_string = False
            if char == "\\":
                return True
            self._send_to_parser(_ESC)
            return self._send_to_parser(char)
        if char == _ESC:
            self._after_escape = True
        elif char in "\x18\x1a\x9c":
            self._in_string = False
            return True
        return None


class Terminal:
    """A screen of ``cols`` x ``rows`` cells fed with console output (UTF-8 bytes)."""

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        scrollback_lines: int = DEFAULT_SCROLLBACK_LINES,
        limits: TerminalLimits = DEFAULT_TERMINAL_LIMITS,
    ) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be positive, not {cols}x{rows}")
        self._screen = _Screen(cols, rows, limits)
        self._stream = _Stream(self._screen)
        #: Lines that scrolled off the top of the main screen, oldest first.
        self.scrollback = Scrollback(scrollback_lines)
        self._screen.scrollback = self.scrollback

    # -- input -----------------------------------------------------------------------------

    def feed(self, data: bytes, *, stop: Callable[[], bool] | None = None) -> None:
        """Process console output; never raises, whatever the bytes.

        With ``stop`` (a time slice's "is it over?"), asked every few sequences: once it says
        True, the rest of the output waits in the terminal (`backlog`) and is taken, in
        order, first thing on the next `feed` or `resume`."""
        try:
            self._stream.feed(data, stop)
        except Exception:
            # Only draw() runs outside the guarded parser; keep the terminal usable.
            self._stream._initialize_parser()

    def resume(self, *, stop: Callable[[], bool] | None = None) -> None:
        """Go on with output a stopped `feed` left waiting."""
        self.feed(b"", stop=stop)

    @property
    def backlog(self) -> bool:
        """Whether a stopped `feed` left output waiting."""
        return bool(self._stream.held)

    def resize(self, cols: int, rows: int) -> None:
        """Change the screen size; every row becomes damaged."""
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be positive, not {cols}x{rows}")
        self._screen.resize(lines=rows, columns=cols)

    # -- output to the console and viewers -------------------------------------------------

    def take_replies(self) -> bytes:
        """Bytes the emulator answered to queries (DSR, DA), to write to the console."""
        replies = bytes(self._screen.replies)
        self._screen.replies.clear()
        return replies

    def take_bells(self) -> int:
        """How many BEL characters (outside OSC strings) arrived since the previous call."""
        bells = self._screen.bells
        self._screen.bells = 0
        return bells

    def take_damage(self) -> Damage:
        """What changed since the previous call (see `Damage`); resets the record."""
        screen = self._screen
        dirty = screen.dirty
        scroll = screen.pending_scroll
        if scroll is not None and all(y in dirty for y in range(scroll[0], scroll[1] + 1)):
            scroll = None
        lines = screen.lines
        rows = frozenset(y for y in dirty if 0 <= y < lines)
        dirty.clear()
        screen.pending_scroll = None
        return Damage(rows, scroll)

    # -- state -----------------------------------------------------------------------------

    @property
    def cols(self) -> int:
        return int(self._screen.columns)

    @property
    def rows(self) -> int:
        return int(self._screen.lines)

    @property
    def cursor(self) -> tuple[int, int]:
        """``(x, y)`` of the cell the cursor is on (x is clamped to the last column)."""
        cursor = self._screen.cursor
        return min(cursor.x, self._screen.columns - 1), cursor.y

    @property
    def cursor_visible(self) -> bool:
        """DECTCEM (``CSI ? 25 h/l``)."""
        return DECTCEM in self._screen.mode

    @property
    def application_cursor_keys(self) -> bool:
        """DECCKM (``CSI ? 1 h/l``): cursor keys send ``ESC O x`` instead of ``ESC [ x``."""
        return DECCKM in self._screen.mode

    @property
    def application_keypad(self) -> bool:
        """DECKPAM/DECKPNM (``ESC =`` / ``ESC >``)."""
        return bool(self._screen.application_keypad)

    @property
    def bracketed_paste(self) -> bool:
        """Mode 2004 (``CSI ? 2004 h``): pastes are to be wrapped in ``ESC[200~``/``ESC[201~``."""
        return (2004 << _PRIVATE) in self._screen.mode

    @property
    def mouse_modes(self) -> tuple[int, bool]:
        """Mouse tracking the application enabled: (9, 1000, 1002, 1003 or 0; SGR mode 1006)."""
        mode = self._screen.mode
        tracking = next(
            (m for m in (1003, 1002, 1000, 9) if (m << _PRIVATE) in mode), 0
        )
        return tracking, (1006 << _PRIVATE) in mode

    @property
    def alternate_screen(self) -> bool:
        """Whether the alternate screen (``CSI ? 1049 h``) is shown."""
        return self._screen.main_buffer is not None

    @property
    def title(self) -> str:
        """The window title set with OSC 0 or OSC 2."""
        return str(self._screen.title)

    def row(self, y: int) -> list[Char]:
        """The ``cols`` cells of row ``y`` as shown (see the module docstring for `Char`;
        with reverse video on, every cell's ``reverse`` is flipped)."""
        screen = self._screen
        line = screen.buffer.get(y)
        columns = screen.columns
        if line is None:
            cells = [screen.default_char] * columns
        else:
            cells = [line.default] * columns
            if line:
                # From the cells stored (a line drawn by text holds only those), not one
                # lookup per column: most of a text screen's cells are blank.
                for x, cell in line.items():
                    if x < columns:
                        cells[x] = cell
        if DECSCNM in screen.mode:
            cells = list(map(_reversed.__getitem__, cells))
        return cells

    @property
    def lines(self) -> list[list[Char]]:
        """Every row's cells, top to bottom."""
        return [self.row(y) for y in range(self._screen.lines)]

    def scrollback_text(self) -> list[str]:
        """The scrollback as text lines, oldest first (the screen itself not included)."""
        return self.scrollback.text()

    def text(self) -> list[str]:
        """The screen as one string per row (wide characters once, no trailing-space trim)."""
        return ["".join(cell.data for cell in self.row(y)) for y in range(self._screen.lines)]


def _check_handlers() -> None:
    """Every name in the stream's tables must exist on the screen (pyte checks it too)."""
    for table in (_Stream.escape, _Stream.csi):
        for name in table.values():
            assert callable(getattr(_Screen, name)), name


_check_handlers()
_Stream.csi_functions = {final: getattr(_Screen, name) for final, name in _Stream.csi.items()}
