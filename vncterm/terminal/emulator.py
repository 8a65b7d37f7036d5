"""The terminal model: pyte wrapped so that any bytes are safe, with damage, scroll and replies.

`Terminal` feeds console output (UTF-8 bytes) through a `Stream` (pyte's ByteStream with fast
paths, `vncterm.terminal.stream`) into a `Screen` (pyte's Screen with damage, replies and the
xterm behaviour TERM=xterm-256color promises, `vncterm.terminal.screen`); `feed()` never
raises: a sequence whose handler (or the parser itself) fails is dropped and parsing resumes
at the next byte.

Cells are pyte `Char` values: ``Char(data, fg, bg, bold, italics, underscore, strikethrough,
reverse, blink)``. ``data`` is one character (possibly followed by combining marks), ``""`` for
the right half of a wide character. ``fg``/``bg`` are ``"default"``, one of the 16 names
(``"red"``, ``"brightred"``, ... as in `pyte.graphics`) or six lowercase hex digits. Cells are
immutable and shared: equal cells are usually the same object, on every screen
(`vncterm.terminal.cells`).
"""

from __future__ import annotations

from collections.abc import Callable

from pyte.modes import DECSCNM, DECTCEM
from pyte.screens import Char

from vncterm.limits import DEFAULT_TERMINAL_LIMITS, TerminalLimits
from vncterm.terminal.cells import reversed_cell
from vncterm.terminal.damage import Damage
from vncterm.terminal.escape import BRACKETED_PASTE, DECCKM, MOUSE_SGR, MOUSE_TRACKING
from vncterm.terminal.screen import ReferenceScreen, Screen
from vncterm.terminal.scrollback import DEFAULT_SCROLLBACK_LINES, Scrollback
from vncterm.terminal.stream import ReferenceStream, Stream

__all__ = ["TERM_NAME", "Terminal"]

#: The TERM value to give programs run on this terminal: the emulator implements the subset of
#: xterm that the xterm-256color terminfo entry uses (colours, bce, alternate screen, REP, ...).
TERM_NAME = "xterm-256color"


class Terminal:
    """A screen of ``cols`` x ``rows`` cells fed with console output (UTF-8 bytes).

    With ``fast_paths=False`` every character goes through pyte's parser and plain text is
    drawn one run at a time: the reference configuration the fast paths are tested against
    (the same screens, several times slower)."""

    def __init__(
        self,
        cols: int = 80,
        rows: int = 24,
        *,
        scrollback_lines: int = DEFAULT_SCROLLBACK_LINES,
        limits: TerminalLimits = DEFAULT_TERMINAL_LIMITS,
        fast_paths: bool = True,
    ) -> None:
        if cols < 1 or rows < 1:
            raise ValueError(f"terminal size must be positive, not {cols}x{rows}")
        if fast_paths:
            self._screen = Screen(cols, rows, limits)
            self._stream = Stream(self._screen)
        else:
            self._screen = ReferenceScreen(cols, rows, limits)
            self._stream = ReferenceStream(self._screen)
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
        return BRACKETED_PASTE in self._screen.mode

    @property
    def mouse_modes(self) -> tuple[int, bool]:
        """Mouse tracking the application enabled: (9, 1000, 1002, 1003 or 0; SGR mode 1006)."""
        mode = self._screen.mode
        tracking = next((number for number, member in MOUSE_TRACKING if member in mode), 0)
        return tracking, MOUSE_SGR in mode

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
            cells = list(map(reversed_cell, cells))
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
