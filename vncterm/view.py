"""What one viewer sees when it is not simply the live screen: its own scroll position in the
scrollback and its own selection.

Each viewer has its own `ViewerView`, so one viewer reading history or selecting text never
moves or marks another viewer's screen. Rows are addressed by absolute line number: line
`scrollback.total` is the top row of the live screen, smaller numbers are history; so a view
keeps its place while new output scrolls more lines into the history.

Changing a selection costs the rows on screen whose highlighting changed
(`selection_changes`), never the selection's length: a selection may span the whole history.
"""

from __future__ import annotations

from dataclasses import dataclass

from vncterm.terminal import Char, Damage, Terminal

#: Lines one wheel notch scrolls.
WHEEL_LINES = 3

#: Characters that belong to a word for double-click selection (besides letters and digits).
WORD_CHARACTERS = frozenset("-_./~:@%+#=?&")


@dataclass(frozen=True, slots=True, order=True)
class Position:
    """A cell: absolute line number and column."""

    line: int
    column: int


@dataclass(frozen=True, slots=True)
class Selection:
    """Cells from `anchor` to `head` inclusive, in reading order (stream selection)."""

    anchor: Position
    head: Position

    @property
    def start(self) -> Position:
        return min(self.anchor, self.head)

    @property
    def end(self) -> Position:
        return max(self.anchor, self.head)

    def contains(self, line: int, column: int) -> bool:
        return self.start <= Position(line, column) <= self.end

    def columns_on(self, line: int, cols: int) -> tuple[int, int] | None:
        """The first and last selected columns of `line`, or None when none is selected."""
        start, end = self.start, self.end
        if line < start.line or line > end.line:
            return None
        first = start.column if line == start.line else 0
        last = end.column if line == end.line else cols - 1
        return first, last


class ViewerView:
    """A viewer's window onto scrollback + screen, and its selection.

    It quacks like `Terminal` for the renderer (`cols`, `rows`, `row`, `cursor`,
    `cursor_visible`, `take_damage`), so the viewer's private renderer draws it with the same
    glyph cache as the shared screen.
    """

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        #: Absolute line number shown on the top row while scrolled back; None means live.
        self.top: int | None = None
        self.selection: Selection | None = None

    # -- state -----------------------------------------------------------------------------

    @property
    def private(self) -> bool:
        """Whether this viewer needs its own rendering (scrolled back or selecting)."""
        return self.top is not None or self.selection is not None

    @property
    def live_top(self) -> int:
        return self.terminal.scrollback.total

    @property
    def first_line(self) -> int:
        """The oldest line still kept."""
        return self.terminal.scrollback.total - len(self.terminal.scrollback)

    @property
    def view_top(self) -> int:
        top = self.live_top if self.top is None else self.top
        return max(self.first_line, min(top, self.live_top))

    @property
    def offset(self) -> int:
        """How many lines above the live screen the view is (0 when live)."""
        return self.live_top - self.view_top

    def scroll(self, lines: int) -> bool:
        """Scroll the view up (positive) or down (negative); False when it did not move."""
        before = self.view_top
        target = max(self.first_line, min(self.live_top, before - lines))
        self.top = None if target >= self.live_top else target
        return self.view_top != before

    def to_live(self) -> bool:
        """Back to the live screen; False when it already was."""
        was = self.top is not None
        self.top = None
        return was

    # -- selection ---------------------------------------------------------------------------

    def position(self, column: int, row: int) -> Position:
        row = max(0, min(self.rows - 1, row))
        column = max(0, min(self.cols - 1, column))
        return Position(self.view_top + row, column)

    def select(self, anchor: Position, head: Position) -> None:
        self.selection = Selection(anchor, head)

    def select_word(self, at: Position) -> None:
        cells = self.line_cells(at.line)
        text = [cell.data or " " for cell in cells]

        def in_word(x: int) -> bool:
            ch = text[x]
            return ch.isalnum() or ch in WORD_CHARACTERS

        if not in_word(at.column):
            self.selection = Selection(at, at)
            return
        start = at.column
        while start > 0 and in_word(start - 1):
            start -= 1
        end = at.column
        while end + 1 < len(text) and in_word(end + 1):
            end += 1
        self.selection = Selection(Position(at.line, start), Position(at.line, end))

    def select_line(self, at: Position) -> None:
        self.selection = Selection(Position(at.line, 0), Position(at.line, self.cols - 1))

    def clear_selection(self) -> bool:
        had = self.selection is not None
        self.selection = None
        return had

    def selection_changes(
        self, before: Selection | None, after: Selection | None, top: int | None = None
    ) -> list[tuple[int, int, int]]:
        """Where the view's highlighting differs between two selections: ``(row, x0, x1)``
        for each row on screen, columns [x0, x1) to redraw (one more cell each side, for a
        wide character cut by the selection's edge). `top` is the line shown on the top row
        (default: where the view is now)."""
        if before == after:
            return []
        cols = self.cols
        if top is None:
            top = self.view_top
        changes = []
        for y in range(self.rows):
            old = before.columns_on(top + y, cols) if before is not None else None
            new = after.columns_on(top + y, cols) if after is not None else None
            if old == new:
                continue
            spans = [span for span in (old, new) if span is not None]
            x0 = min(span[0] for span in spans)
            x1 = max(span[1] for span in spans) + 1
            changes.append((y, max(0, x0 - 1), min(cols, x1 + 1)))
        return changes

    def selected_text(self, limit: int | None = None) -> str:
        """The selection as text: trailing blanks of each line dropped, lines joined by \\n;
        cut at `limit` characters."""
        selection = self.selection
        if selection is None:
            return ""
        start, end = selection.start, selection.end
        cols = self.cols
        lines = []
        size = 0
        for line in range(start.line, end.line + 1):
            first = start.column if line == start.line else 0
            last = end.column if line == end.line else cols - 1
            text = self.line_text(line, first, last).rstrip()
            lines.append(text)
            size += len(text) + 1
            if limit is not None and size > limit:
                break
        joined = "\n".join(lines)
        return joined if limit is None else joined[:limit]

    def line_text(self, line: int, first: int, last: int) -> str:
        """The text of columns first..last of absolute line `line` (a wide character once);
        history lines are sliced as stored, without making their cells."""
        live_top = self.live_top
        if line >= live_top:
            cells = self.terminal.row(line - live_top)
            return "".join(cell.data for cell in cells[first : last + 1])
        back = live_top - line
        scrollback = self.terminal.scrollback
        if back > len(scrollback):
            return ""
        stored = scrollback.line(back)
        if stored.clusters:
            cells = stored.cells(self.cols)
            return "".join(cell.data for cell in cells[first : last + 1])
        # One code point per column; "\0" stands for the right half of a wide character.
        return stored.text[first : last + 1].ljust(last + 1 - first).replace("\0", "")

    # -- content -----------------------------------------------------------------------------

    def line_cells(self, line: int) -> list[Char]:
        """The cells of absolute line `line` (blank when it is no longer kept)."""
        terminal = self.terminal
        cols = terminal.cols
        live_top = self.live_top
        if line >= live_top:
            return terminal.row(line - live_top)
        back = live_top - line
        if back > len(terminal.scrollback):
            return [Char(" ")] * cols
        return terminal.scrollback.line(back).cells(cols)

    # -- the Terminal interface the renderer uses -------------------------------------------

    @property
    def cols(self) -> int:
        return self.terminal.cols

    @property
    def rows(self) -> int:
        return self.terminal.rows

    def row(self, y: int) -> list[Char]:
        line = self.view_top + y
        cells = self.line_cells(line)
        selection = self.selection
        span = selection.columns_on(line, self.cols) if selection is not None else None
        if span is not None:
            first, last = span
            cells = [
                *cells[:first],
                *(cell._replace(reverse=not cell.reverse) for cell in cells[first : last + 1]),
                *cells[last + 1 :],
            ]
        return cells

    @property
    def cursor(self) -> tuple[int, int]:
        x, y = self.terminal.cursor
        return x, y + self.offset

    @property
    def cursor_visible(self) -> bool:
        return self.terminal.cursor_visible and self.cursor[1] < self.rows

    def take_damage(self) -> Damage:
        # The renderer compares every cell with what it drew, so "all rows" costs little.
        return Damage(frozenset(range(self.rows)), None)
