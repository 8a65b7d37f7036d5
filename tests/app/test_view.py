"""A viewer's own window onto the scrollback and its selection."""

from __future__ import annotations

from vncterm.terminal.emulator import Terminal
from vncterm.view import Position, ViewerView


def _terminal(lines: int) -> Terminal:
    terminal = Terminal(20, 4)
    terminal.feed(b"\r\n".join(b"line %d" % i for i in range(lines)))
    return terminal


def _shown(view: ViewerView) -> list[str]:
    return ["".join(c.data for c in view.row(y)).rstrip() for y in range(view.rows)]


def test_scrolling_back_shows_history_then_returns_live() -> None:
    """Scrolling up shows older lines; scrolling down past the bottom is live again."""
    view = ViewerView(_terminal(10))
    assert _shown(view) == ["line 6", "line 7", "line 8", "line 9"]
    assert view.scroll(3)
    assert _shown(view) == ["line 3", "line 4", "line 5", "line 6"]
    assert view.private
    assert not view.scroll(100) or view.offset == 6
    assert _shown(view)[0] == "line 0"
    view.scroll(-100)
    assert not view.private and view.offset == 0


def test_view_keeps_its_place_while_output_arrives() -> None:
    """New output does not move a viewer that is reading history."""
    terminal = _terminal(10)
    view = ViewerView(terminal)
    view.scroll(5)
    before = _shown(view)
    terminal.feed(b"\r\nmore 1\r\nmore 2")
    assert _shown(view) == before


def test_selection_text_spans_lines_and_history() -> None:
    """Selected text comes out line by line, trailing blanks dropped, history included."""
    view = ViewerView(_terminal(10))
    view.scroll(2)
    view.select(view.position(2, 0), view.position(3, 1))
    assert view.selected_text() == "ne 4\nline"
    cells = view.row(0)
    assert cells[2].reverse and not cells[1].reverse


def test_double_click_selects_a_word_and_triple_a_line() -> None:
    """Word selection stops at blanks; line selection takes the whole row."""
    terminal = Terminal(30, 3)
    terminal.feed(b"ls /usr/lib-x86 now")
    view = ViewerView(terminal)
    view.select_word(view.position(6, 0))
    assert view.selected_text() == "/usr/lib-x86"
    view.select_line(view.position(0, 0))
    assert view.selected_text() == "ls /usr/lib-x86 now"


def test_lines_no_longer_kept_read_blank() -> None:
    """A selection reaching into lines the scrollback dropped reads them as blank."""
    terminal = Terminal(10, 2, scrollback_lines=2)
    terminal.feed(b"\r\n".join(b"%d" % i for i in range(10)))
    view = ViewerView(terminal)
    assert view.line_cells(0)[0].data == " "
    assert view.position(0, 0) == Position(terminal.scrollback.total, 0)
