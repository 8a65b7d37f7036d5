"""Scrollback: lines leaving the top of the main screen are kept compactly and exactly."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from vncterm.terminal import Terminal
from vncterm.terminal.scrollback import CompactLine, Scrollback, compact


def test_scrolled_lines_are_kept_in_order() -> None:
    """Lines scrolled off the top are in the scrollback, oldest first, with the screen after."""
    terminal = Terminal(20, 5)
    terminal.feed(b"".join(b"line %d\r\n" % i for i in range(12)))
    assert terminal.scrollback_text() == [f"line {i}" for i in range(8)]
    assert terminal.text()[0].rstrip() == "line 8"


def test_capacity_drops_oldest() -> None:
    """Past its capacity the scrollback forgets the oldest lines."""
    terminal = Terminal(20, 3, scrollback_lines=4)
    terminal.feed(b"".join(b"%d\r\n" % i for i in range(20)))
    assert terminal.scrollback_text() == ["14", "15", "16", "17"]
    assert terminal.scrollback.total == 18


def test_alternate_screen_does_not_fill_scrollback() -> None:
    """Full-screen programs on the alternate screen leave the scrollback alone."""
    terminal = Terminal(20, 3)
    terminal.feed(b"\x1b[?1049h" + b"x\r\n" * 10 + b"\x1b[?1049l")
    assert terminal.scrollback_text() == []


def test_scroll_region_below_top_is_not_saved() -> None:
    """Scrolling a region that does not start at the top row (a status line app) saves nothing."""
    terminal = Terminal(20, 6)
    terminal.feed(b"\x1b[3;6r\x1b[6;1H" + b"x\r\n" * 10)
    assert terminal.scrollback_text() == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 11), st.sampled_from("ab\u00e9"), st.booleans()),
                max_size=12))
def test_compact_round_trips_cells(drawn: list[tuple[int, str, bool]]) -> None:
    """A packed line unpacks to exactly the cells that were on screen."""
    from pyte.screens import Char, StaticDefaultDict

    line: StaticDefaultDict[int, Char] = StaticDefaultDict(Char(" "))
    for x, ch, bold in drawn:
        line[x] = Char(ch, fg="red" if bold else "default", bold=bold)
    expected = [line[x] for x in range(12)]
    assert CompactLine(*compact(line, 12)).cells(12) == expected


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from("ab \u00e9"), st.sampled_from(["default", "red"]),
                          st.booleans(), st.booleans()), min_size=1, max_size=12))
def test_compact_round_trips_cells_drawn_from_column_0(
    drawn: list[tuple[str, str, bool, bool]],
) -> None:
    """A line drawn from column 0 without gaps (the usual case, packed by a faster path)
    unpacks to exactly its cells, whichever attributes change where."""
    from pyte.screens import Char, StaticDefaultDict

    line: StaticDefaultDict[int, Char] = StaticDefaultDict(Char(" "))
    for x, (ch, fg, bold, reverse) in enumerate(drawn):
        line[x] = Char(ch, fg=fg, bold=bold, reverse=reverse)
    expected = [line[x] for x in range(12)]
    assert CompactLine(*compact(line, 12)).cells(12) == expected


def test_screen_and_scrollback_from_real_output() -> None:
    """Coloured, wide and combining text survives the trip through the scrollback."""
    terminal = Terminal(10, 2)
    terminal.feed("\x1b[31mred\x1b[0m \u4e00e\u0301\r\n".encode())
    row = terminal.row(0)
    terminal.feed(b"\r\n\r\n")
    assert terminal.scrollback.line(2).cells(10) == row


def test_zero_capacity_keeps_nothing() -> None:
    """A scrollback of capacity 0 is off."""
    scrollback = Scrollback(0)
    terminal = Terminal(10, 2, scrollback_lines=0)
    terminal.feed(b"a\r\nb\r\nc\r\n")
    assert len(scrollback) == 0 and len(terminal.scrollback) == 0


def test_rows_cut_by_a_smaller_screen_go_to_the_scrollback() -> None:
    """Shrinking the screen keeps the cursor row; rows pushed off the top are kept whole."""
    terminal = Terminal(40, 6)
    terminal.feed(b"\r\n".join(b"line %d is rather long" % i for i in range(6)))
    terminal.resize(20, 3)
    assert terminal.scrollback_text() == [f"line {i} is rather long" for i in range(3)]
    assert terminal.text()[2].rstrip() == "line 5 is rather lon"
    assert terminal.cursor[1] == 2
