"""The screen: pyte's Screen with damage, scroll regions, the alternate screen, modes, cursor
saving as xterm does it, and replies to queries.

What pyte 0.8.2 lacks and this adds: damage since the last look (the rows whose cells
changed, plus at most one pending upward scroll of a scroll region that a viewer can send as
CopyRect); replies to DSR/DA (ECMA-48 8.3.35, 8.3.24; xterm's ctlseqs), kept for the console;
the alternate screen (modes 47/1047/1049); DEC line drawing with ``ESC ( 0`` in UTF-8; SU/SD,
REP, CBT/CHT, SCOSC/SCORC, DECSTR, DECKPAM/DECKPNM; reverse video applied when rows are read;
one saved cursor, not a stack; positions clamped as in xterm. Erasing is `ErasingScreen`'s,
drawing text `textdraw`'s and drawing plain runs `plaindraw`'s.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_left, bisect_right
from collections import defaultdict
from typing import Any

from pyte import charsets, modes
from pyte.screens import Char, Savepoint, StaticDefaultDict

from vncterm.limits import DEFAULT_TERMINAL_LIMITS, TerminalLimits
from vncterm.terminal.cells import DEFAULT_CELL, Cells, cells_for, unpair
from vncterm.terminal.erase import ErasingScreen
from vncterm.terminal.escape import (
    ALTERNATE_SCREEN_1049,
    ALTERNATE_SCREEN_MODES,
    DECCKM,
    private_mode,
)
from vncterm.terminal.plaindraw import PlainRun
from vncterm.terminal.scrollback import Scrollback, compact
from vncterm.terminal.sgr import rendition
from vncterm.terminal.textdraw import draw_text, repeat_last

__all__ = ["ANSWERBACK_PRIMARY_DA", "ANSWERBACK_SECONDARY_DA", "ReferenceScreen", "Screen"]

#: Reply to primary DA (``CSI c``): a VT220 with ANSI colour.
ANSWERBACK_PRIMARY_DA = b"\x1b[?62;22c"

#: Reply to secondary DA (``CSI > c``): terminal type 1 (VT220), firmware 10, no ROM cartridge.
ANSWERBACK_SECONDARY_DA = b"\x1b[>1;10;0c"

DECCOLM = modes.DECCOLM
DECTCEM = modes.DECTCEM
DECSCNM = modes.DECSCNM
_IRM = modes.IRM
_LNM = modes.LNM
_DECAWM = modes.DECAWM
_LAT1_MAP = charsets.LAT1_MAP

#: C0/C1 controls that reach draw(): terminals ignore them, pyte would stop drawing the run.
_UNPRINTABLE = re.compile("[\x00-\x1f\x7f-\x9f]")
_PLAIN_TOKENS = re.compile(r"[\x20-\x7e]+|[\r\n\t\x08]")


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


class Screen(ErasingScreen):
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
        self.saved_1049: Savepoint | None = None
        self.last_char = " "
        # What the stream saw of the CSI being parsed: private marker, intermediates and which
        # parameter separators were colons (sub-parameters, ITU T.416 / xterm SGR 38:2::r:g:b).
        self.csi_marker = ""
        self.csi_intermediates = ""
        self.csi_separators = 0
        self.csi_colons: list[int] = []
        # The shared cells of the cursor's rendition, looked up again when it changes.
        self._cells_attrs: Char | None = None
        self._cells = cells_for(DEFAULT_CELL)
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
        return DEFAULT_CELL

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
        self.record_scroll(top, bottom, count)

    def record_scroll(self, top: int, bottom: int, count: int) -> None:
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
        """The scroll region's first and last rows."""
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

    # -- drawing ---------------------------------------------------------------------------

    @property
    def charset_map(self) -> str:
        """The character set in use (G1 after SO, else G0), a table for `str.translate`."""
        return self.g1_charset if self.charset else self.g0_charset

    def cursor_cells(self) -> Cells:
        """The shared cells of the cursor's rendition."""
        attrs = self.cursor.attrs
        if attrs is not self._cells_attrs:
            self._cells = cells_for(attrs)
            self._cells_attrs = attrs
        return self._cells

    def draw(self, data: str) -> None:
        if not data.isprintable():
            data = _UNPRINTABLE.sub("", data)
            if not data:
                return
        if data.isascii():
            self.draw_plain(data)
        else:
            draw_text(self, data)

    def draw_plain(self, text: str) -> None:
        """Printable ASCII, CR, LF, HT and BS: what pyte's parser would dispatch one by one
        (draw, carriage_return, linefeed, tab, backspace), done a run at a time.

        Cells come from the shared per-rendition cache and are stored a row slice at a time;
        text that fits on the cursor's row is stored here, anything longer is a `PlainRun`.
        Insert mode, a translating character set or a cursor below the scroll region take
        the exact one-by-one path.
        """
        cursor = self.cursor
        mode = self.mode
        region = self._region()
        if cursor.y > region[1] or _IRM in mode or self.charset_map is not _LAT1_MAP:
            self.draw_one_by_one(text)
            return
        cells = self.cursor_cells()
        x = cursor.x
        if text.isprintable() and x + len(text) <= self.columns:
            # Text that fits on the cursor's row (most runs between two escape sequences).
            y = cursor.y
            end = x + len(text)
            target = self.buffer[y]
            unpair(target, x)
            unpair(target, end)
            target.update(zip(range(x, end), map(cells.__getitem__, text), strict=True))
            cursor.x = end
            self.dirty.add(y)
            self.last_char = text[-1]
            return
        top = region[0]
        keep = top == 0 and self.scrollback is not None and self.main_buffer is None
        PlainRun(
            self, text, cells, region,
            autowrap=_DECAWM in mode,
            newline_mode=_LNM in mode,
            history=self.scrollback if keep else None,
        ).run()

    def draw_one_by_one(self, text: str) -> None:
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
                draw_text(self, token)


    def repeat_character(self, count: int | None = None, *_: Any, **__: Any) -> None:
        """REP (``CSI n b``); see `repeat_last`."""
        repeat_last(self, count or 1)

    # -- modes -----------------------------------------------------------------------------

    def _screen_modes(self, numbers: tuple[int, ...], *, on: bool) -> tuple[list[int], int | None]:
        """Of private modes ``numbers``: those pyte may handle, and the alternate screen mode
        asked for (handled by the caller); reverse video is switched here (DECSCNM: only the
        damage)."""
        alt = None
        kept = []
        for number in numbers:
            mode = private_mode(number)
            if mode in ALTERNATE_SCREEN_MODES:
                alt = mode
            elif mode == DECSCNM:
                if (mode in self.mode) != on:
                    if on:
                        self.mode.add(mode)
                    else:
                        self.mode.discard(mode)
                    self.dirty.update(range(self.lines))
            elif mode != DECCOLM:  # xterm ignores 80/132 columns unless allowed; so do we.
                kept.append(number)
        return kept, alt

    def set_mode(self, *modes_: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            kept, alt = self._screen_modes(modes_, on=True)
            if alt is not None:
                self._enter_alternate(alt)
            if kept:
                super().set_mode(*kept, private=True)
        else:
            super().set_mode(*modes_)

    def reset_mode(self, *modes_: int, **kwargs: Any) -> None:
        if kwargs.get("private"):
            kept, alt = self._screen_modes(modes_, on=False)
            if alt is not None:
                self._leave_alternate(alt)
            if kept:
                super().reset_mode(*kept, private=True)
        else:
            super().reset_mode(*modes_)

    def _new_buffer(self) -> defaultdict[int, StaticDefaultDict[int, Char]]:
        return defaultdict(lambda: StaticDefaultDict(self.default_char))

    def _enter_alternate(self, mode: int) -> None:
        # xterm saves the cursor for 1049 and restores it on reset whether or not the screen
        # actually switches (dialog sends a second reset when it exits).
        if mode == ALTERNATE_SCREEN_1049:
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
        if mode == ALTERNATE_SCREEN_1049:
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
                    unpair(line, columns)  # no half of a wide character left at the margin
                elif line.default is not DEFAULT_CELL:
                    # A row filled by its default (an erase in colour, DECALN) keeps it on
                    # the old columns only: the new ones are blank, as in xterm.
                    line.update({x: line.default for x in range(old_columns) if x not in line})
                    line.default = DEFAULT_CELL
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

    def select_graphic_rendition(self, *attrs: int, **kwargs: Any) -> None:
        """SGR (``CSI ... m``); see `vncterm.terminal.sgr`."""
        if kwargs.get("private") or self.csi_marker:
            return  # e.g. xterm's CSI > Ps m (modifyOtherKeys): not an SGR.
        if not attrs or attrs == (0,):
            self.cursor.attrs = self.default_char
            return
        self.cursor.attrs = rendition(self.cursor.attrs, attrs, self.csi_colons)

    # -- replies, bell ---------------------------------------------------------------------

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


class ReferenceScreen(Screen):
    """The screen without bulk drawing: every plain run drawn one control or text run at a
    time, as pyte's parser dispatches them (`Terminal(fast_paths=False)`)."""

    def draw_plain(self, text: str) -> None:
        self.draw_one_by_one(text)
