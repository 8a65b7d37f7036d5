"""A viewer's own window onto the scrollback and its selection."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vncterm.terminal import Terminal
from vncterm.view import Position, Selection, ViewerView


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


_positions = st.builds(Position, st.integers(0, 30), st.integers(0, 11))
_selections = st.none() | st.builds(Selection, _positions, _positions)


@settings(max_examples=200, deadline=None)
@given(_selections, _selections, st.integers(0, 20))
def test_selection_changes_are_the_rows_whose_highlight_differs(
    before: Selection | None, after: Selection | None, back: int
) -> None:
    """The rows a selection change reports are exactly those drawn differently, and each
    span covers every cell that changed."""
    view = ViewerView(_terminal(30))
    view.scroll(back)
    view.selection = before
    old = [view.row(y) for y in range(view.rows)]
    view.selection = after
    new = [view.row(y) for y in range(view.rows)]
    changes = {y: (x0, x1) for y, x0, x1 in view.selection_changes(before, after)}
    for y in range(view.rows):
        differ = [x for x in range(view.cols) if old[y][x] != new[y][x]]
        if not differ:
            assert y not in changes
        else:
            x0, x1 = changes[y]
            assert x0 <= differ[0] and differ[-1] < x1


_line_text = st.lists(st.sampled_from(["a", "b", " ", "\u65e5", "e\u0301", "\x1b[7mr\x1b[0m"]),
                      max_size=14)


@settings(max_examples=200, deadline=None)
@given(st.lists(_line_text, min_size=1, max_size=8), st.integers(0, 11), st.integers(0, 11))
def test_history_text_is_the_text_of_its_cells(lines: list[list[str]], a: int, b: int) -> None:
    """Text copied from history (sliced as stored) equals the text of the same cells, wide
    characters once and combining marks kept."""
    terminal = Terminal(12, 2)
    terminal.feed("\r\n".join("".join(parts) for parts in lines).encode() + b"\r\n\r\n")
    view = ViewerView(terminal)
    first, last = min(a, b), max(a, b)
    for line in range(view.first_line, view.live_top + view.rows):
        cells = view.line_cells(line)[first : last + 1]
        assert view.line_text(line, first, last) == "".join(cell.data for cell in cells)
