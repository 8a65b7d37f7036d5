"""Hostile console output: the bounded forms of REP, DECALN, erases, reverse video, tabs and
saved cursors; cursor positioning clamped as in xterm; wide characters overwritten by halves.

Each test pins the behaviour that keeps the work for an input bounded by its size plus the
cells it touches (the costs themselves are the fuzz harness's and the bench's business).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vncterm.limits import TerminalLimits
from vncterm.render.framebuffer import Renderer
from vncterm.terminal import Char, Terminal
from vncterm.terminal.hostile import WORST, fill, full_screen


def fed(data: bytes, cols: int = 10, rows: int = 4) -> Terminal:
    terminal = Terminal(cols, rows)
    terminal.feed(data)
    return terminal


def texts(terminal: Terminal) -> list[str]:
    return [line.rstrip() for line in terminal.text()]


def data(terminal: Terminal, y: int) -> list[str]:
    return [cell.data for cell in terminal.row(y)]


# -- REP ------------------------------------------------------------------------------------


def test_rep_after_a_combining_mark_repeats_nothing() -> None:
    """REP after a mark (width 0) draws nothing, as in xterm, instead of piling marks up."""
    terminal = fed("e\u0301\x1b[10000b".encode())
    assert data(terminal, 0)[:2] == ["\u00e9", " "]
    assert terminal.cursor == (1, 0)


def test_rep_stops_at_the_end_of_the_line() -> None:
    """A REP count past the line draws to the margin only (as VTE): nothing wraps or scrolls."""
    terminal = fed(b"ab\x1b[65535b")
    assert texts(terminal) == ["abbbbbbbbb", "", "", ""]
    assert list(terminal.scrollback) == []


def test_rep_at_the_margin_starts_the_next_line() -> None:
    """With a wrap pending, REP fills the next line (autowrap) or the last column (without)."""
    assert texts(fed(b"x" * 10 + b"\x1b[99b"))[:2] == ["x" * 10, "x" * 10]
    assert texts(fed(b"\x1b[?7l" + b"x" * 9 + b"y\x1b[99b"))[:2] == ["x" * 9 + "y", ""]


def test_rep_of_a_wide_character_fills_whole_pairs() -> None:
    """A wide character repeated fills the rest of the line with whole character-stub pairs."""
    terminal = fed("a\u4e00\x1b[99b".encode(), cols=6)
    assert data(terminal, 0) == ["a", "\u4e00", "", "\u4e00", "", " "]
    assert terminal.cursor == (5, 0)


def test_rep_in_insert_mode_equals_typing_the_characters() -> None:
    """REP in insert mode shifts the line as typing the characters one by one does."""
    repeated = fed(b"abcdef\x1b[4h\x1b[1;2HX\x1b[2b")
    typed = fed(b"abcdef\x1b[4h\x1b[1;2HXXX")
    assert repeated.lines == typed.lines
    assert repeated.cursor == typed.cursor


# -- marks, parameters ----------------------------------------------------------------------


def test_marks_on_one_cell_are_capped() -> None:
    """Combining marks past the per-cell cap are dropped; the text after them is still drawn."""
    terminal = Terminal(10, 2, limits=TerminalLimits(max_marks_per_cell=3))
    terminal.feed(("e" + "\u0301" * 50 + "z").encode())
    assert data(terminal, 0)[:2] == ["\u00e9\u0301\u0301\u0301", "z"]


def test_parameters_past_the_cap_are_ignored() -> None:
    """A sequence's parameters past the cap do not count (a colour given 40th is not taken)."""
    terminal = fed(b"\x1b[" + b"1;" * 40 + b"31mx")
    cell = terminal.row(0)[0]
    assert cell.bold and cell.fg == "default"
    assert fed(b"\x1b[1;31mx").row(0)[0].fg == "red"


def test_long_numbers_are_9999() -> None:
    """A parameter of thousands of digits counts as 9999, as a short large one does."""
    terminal = fed(b"\x1b[" + b"7" * 4000 + b"C|")
    assert terminal.cursor == (9, 0)
    assert texts(terminal)[0] == " " * 9 + "|"


@pytest.mark.parametrize("end", [b"\x1b[H", b"\x18", b"\x1a", b"\x1b\\", "\x9c".encode()])
def test_a_control_string_ends_at_any_escape_sequence(end: bytes) -> None:
    """A DCS (or SOS, PM, APC) left open ends at ST, CAN, SUB or any other escape sequence,
    which is then obeyed: a stray one does not swallow the rest of the console's output."""
    for opener in (b"\x1bP", b"\x1bX", b"\x1b^", b"\x1b_"):
        terminal = fed(b"\x1b[2;1H" + opener + b"q" * 5000 + end + b"shown")
        shown = texts(terminal)
        assert "shown" in shown[0] + shown[1], (opener, end)
        assert "q" not in "".join(shown)


# -- DECALN, erases in colour ------------------------------------------------------------------


def test_decaln_fills_with_es_resets_margins_and_homes() -> None:
    """DECALN: every cell an E in the default rendition, no scroll region, cursor home."""
    terminal = fed(b"\x1b[31mab\x1b[2;3r\x1b[3;5H\x1b#8")
    assert texts(terminal) == ["E" * 10] * 4
    assert terminal.row(3)[9] == Char("E")
    assert terminal.cursor == (0, 0)
    terminal.feed(b"\x1b[4;1H\n\n")  # no region: the whole screen scrolls
    assert [line.rstrip() for line in terminal.scrollback_text()] == ["E" * 10] * 2


def test_characters_inserted_and_deleted_in_a_filled_row() -> None:
    """ICH and DCH on a DECALN row: blanks come in where the characters went, the Es move."""
    terminal = fed(b"\x1b#8\x1b[1;3H\x1b[2@\x1b[2;3H\x1b[3P")
    assert texts(terminal)[:2] == ["EE  EEEEEE", "EEEEEEE"]


def test_erase_in_colour_paints_every_cell() -> None:
    """ED 2 and EL in a background colour leave every cell that colour; scrolled off, the
    line keeps it; a resize wider adds default blanks, not coloured ones."""
    terminal = fed(b"\x1b[44m\x1b[2J\x1b[m\x1b[1;3Hx\x1b[2;5H\x1b[42m\x1b[1K")
    assert {cell.bg for cell in terminal.row(3)} == {"blue"}
    assert terminal.row(0)[2] == Char("x")
    assert [cell.bg for cell in terminal.row(1)] == ["green"] * 5 + ["blue"] * 5
    terminal.feed(b"\x1b[m\x1b[4;1H\n")
    kept = terminal.scrollback.line(1).cells(10)
    assert [cell.bg for cell in kept] == ["blue"] * 2 + ["default"] + ["blue"] * 7
    terminal.resize(12, 4)
    assert [cell.bg for cell in terminal.row(2)[9:]] == ["blue", "default", "default"]


# -- reverse video ------------------------------------------------------------------------------


def test_reverse_video_keeps_each_cells_own_attributes() -> None:
    """Reverse video (DECSCNM) shows every cell flipped while on and changes no cell: a cell
    drawn reversed is reversed again once it is off (pyte's toggle lost that)."""
    terminal = fed(b"\x1b[7mA\x1b[mB\x1b[?5h")
    assert [cell.reverse for cell in terminal.row(0)[:3]] == [False, True, True]
    terminal.feed(b"C\x1b[?5l")
    assert [cell.reverse for cell in terminal.row(0)[:4]] == [True, False, False, False]


def test_reverse_video_switch_damages_every_row_once() -> None:
    """Switching reverse video damages every row (they all look different) and nothing more."""
    terminal = fed(b"text")
    terminal.take_damage()
    terminal.feed(b"\x1b[?5h\x1b[?5h")
    assert terminal.take_damage().rows == frozenset(range(4))
    terminal.feed(b"\x1b[?5h")
    assert terminal.take_damage().rows == frozenset()


# -- tabs, saved cursor ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "column"),
    [(b"\x1b[9999I", 79), (b"\x1b[2I", 16), (b"\x1b[40G\x1b[9999Z", 0), (b"\x1b[21G\x1b[Z", 16),
     (b"\x1b[21G\x1b[2Z", 8), (b"\x1b[17G\x1b[Z", 8), (b"\x1b[3g\t", 79), (b"\x1b[5G\x1bH\r\t", 4)],
)
def test_tab_counts_land_where_that_many_tabs_would(sequence: bytes, column: int) -> None:
    """CHT and CBT with any count land on the stop that many single tabs would reach."""
    assert fed(sequence, cols=80).cursor == (column, 0)


def test_one_saved_cursor_restored_as_often_as_asked() -> None:
    """DECSC keeps one saved cursor, not a stack; DECRC restores it every time."""
    terminal = fed(b"\x1b[2;3H\x1b7" * 1000 + b"\x1b[4;4H\x1b8")
    assert len(terminal._screen.savepoints) == 1
    assert terminal.cursor == (2, 1)
    terminal.feed(b"\x1b[4;4H\x1b8")
    assert terminal.cursor == (2, 1)


# -- cursor positioning ------------------------------------------------------------------------


def test_origin_mode_then_a_huge_row_stays_on_the_screen() -> None:
    """The issue's 13 bytes: origin mode without a region, then VPA 99999999, put the cursor
    on the last row, and the screen still renders."""
    terminal = Terminal(80, 24)
    terminal.feed(b"\x1b[?6h\x1b[99999999d")
    assert terminal.cursor == (0, 23)
    Renderer(terminal).render()


def test_origin_mode_positions_are_clamped_to_the_region() -> None:
    """In origin mode CUP and VPA count from the top margin and stop at the bottom one."""
    terminal = fed(b"\x1b[2;3r\x1b[?6h\x1b[99;99H", rows=6)
    assert terminal.cursor == (9, 2)
    terminal.feed(b"\x1b[1d")
    assert terminal.cursor == (9, 1)
    terminal.feed(b"\x1b[6n")
    assert terminal.take_replies() == b"\x1b[1;10R"


def test_cursor_up_and_down_outside_the_region_keep_to_the_screen() -> None:
    """CUU above the region and CUD below it stop at the screen's edge, not at a margin."""
    terminal = fed(b"\x1b[3;4r\x1b[2;1H\x1b[A", rows=6)
    assert terminal.cursor == (0, 0)
    terminal.feed(b"\x1b[5;1H\x1b[9B")
    assert terminal.cursor == (0, 5)
    terminal.feed(b"\x1b[3;1H\x1b[9B")
    assert terminal.cursor == (0, 3)


def test_restore_outside_origin_mode_is_not_pulled_into_the_region() -> None:
    """A cursor saved on row 1 comes back to row 1 though a region was set since."""
    terminal = fed(b"\x1b[1;5H\x1b7\x1b[3;4r\x1b8", rows=6)
    assert terminal.cursor == (4, 0)


# -- wide characters overwritten by halves ------------------------------------------------------


def test_overwriting_the_right_half_blanks_the_left() -> None:
    """A character written on a wide character's right half leaves a blank in its left."""
    terminal = fed("\u4e00\x1b[1;2Hx".encode())
    assert data(terminal, 0)[:3] == [" ", "x", " "]


def test_overwriting_the_left_half_blanks_the_right() -> None:
    """A character written on a wide character's left half leaves a blank in its right."""
    terminal = fed("\u4e00\u4e8c\x1b[1;1Hx\x1b[1;4H\u4e09".encode())
    assert data(terminal, 0)[:6] == ["x", " ", " ", "\u4e09", "", " "]


def test_erasing_or_shifting_half_a_wide_character_blanks_it_whole() -> None:
    """ECH, EL, ICH and DCH that cut a wide character leave no half of it."""
    wide = "\u4e00\u4e8c\u4e09".encode()
    assert data(fed(wide + b"\x1b[1;2H\x1b[X"), 0)[:4] == [" ", " ", "\u4e8c", ""]
    assert data(fed(wide + b"\x1b[1;4H\x1b[K"), 0)[:3] == ["\u4e00", "", " "]
    assert data(fed(wide + b"\x1b[1;2H\x1b[@"), 0)[:5] == [" ", " ", " ", "\u4e8c", ""]
    assert data(fed(wide + b"\x1b[1;2H\x1b[P"), 0)[:4] == [" ", "\u4e8c", "", "\u4e09"]
    assert data(fed(wide + b"\x1b[1;1H\x1b[9@", cols=6), 0) == [" "] * 6


def test_wide_character_in_the_last_column_goes_to_the_next_line() -> None:
    """A wide character that does not fit wraps whole (autowrap) or moves left (without)."""
    terminal = fed(b"x" * 9 + "\u4e00".encode())
    assert data(terminal, 0)[9] == " " and data(terminal, 1)[:2] == ["\u4e00", ""]
    terminal = fed(b"\x1b[?7l" + b"x" * 9 + "\u4e00".encode())
    assert data(terminal, 0)[7:] == ["x", "\u4e00", ""]


def test_renderer_draws_a_wide_character_where_the_model_has_it() -> None:
    """After either half of a wide character is overwritten, the pixels equal a fresh render
    of the same screen (no half glyph left behind)."""
    for tail in (b"\x1b[1;2Hx", b"\x1b[1;1Hx", b"\x1b[1;2H\x1b[X"):
        terminal = Terminal(6, 2)
        renderer = Renderer(terminal)
        terminal.feed("\u4e00\u4e8c".encode())
        renderer.render()
        terminal.feed(tail)
        renderer.render()
        fresh = Renderer(terminal)
        fresh.render()
        assert (renderer.pixels == fresh.pixels).all(), tail


# -- the worst inputs known ----------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(WORST))
def test_worst_inputs_leave_a_sane_screen(name: str) -> None:
    """Each worst input, 4 KiB of it on a full screen, leaves the cursor on the screen, every
    row whole, no cell with more than the cap of marks, and a screen that renders."""
    terminal = Terminal(40, 12)
    terminal.feed(full_screen(40, 12))
    terminal.feed(fill(WORST[name]))
    x, y = terminal.cursor
    assert 0 <= x < 40 and 0 <= y < 12
    most = terminal._screen.limits.max_marks_per_cell + 1
    for row in range(12):
        cells = terminal.row(row)
        assert len(cells) == 40
        assert all(len(cell.data) <= most for cell in cells)
    assert len(terminal._screen.savepoints) <= 1
    Renderer(terminal).render()


# -- stopping a feed inside a chunk -----------------------------------------------------------

PIECES = [*WORST.values(), b"hello\r\n", "\u4e00e\u0301".encode(), b"\x1b[31m", b"\x1b[",
          b"\x1b]0;ti", b"tle\x07", b"\xe4\xb8", b"\x80", b"\x1b[2;3r", b"\x1b[?1049h"]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(st.sampled_from(PIECES), min_size=1, max_size=12),
       answers=st.lists(st.booleans(), min_size=1, max_size=50))
def test_a_stopped_feed_goes_on_where_it_stopped(pieces: list[bytes],
                                                  answers: list[bool]) -> None:
    """Stopping feeds anywhere (as a time slice does) and resuming later gives exactly the
    screen, scrollback and replies of feeding everything at once."""
    whole, sliced = Terminal(12, 5), Terminal(12, 5)
    whole.feed(b"".join(pieces))
    asked = iter(answers * 1000)
    for piece in pieces:
        sliced.feed(piece, stop=lambda: next(asked, False))
    for _ in range(10_000):
        if not sliced.backlog:
            break
        sliced.resume(stop=lambda: next(asked, False))
    assert not sliced.backlog
    assert sliced.lines == whole.lines
    assert sliced.cursor == whole.cursor
    assert list(sliced.scrollback) == list(whole.scrollback)
    assert sliced.take_replies() == whole.take_replies()
    assert sliced.title == whole.title


def test_a_stop_is_asked_within_a_chunk() -> None:
    """A 4 KiB chunk of costly sequences stops on the first "yes", long before its end."""
    terminal = Terminal(80, 24)
    terminal.feed(fill(WORST["char-decaln"]), stop=lambda: True)
    assert terminal.backlog
    assert len(terminal._stream.held) > 4000


@settings(max_examples=150, deadline=None)
@given(text=st.text(st.sampled_from("ab \u4e00\u0301\u200bq\tz"), min_size=1, max_size=60),
       setup=st.sampled_from([b"", b"\x1b[?7l", b"\x1b(0", b"\x1b[1;7H", b"\x1b[3;9H"]))
def test_insert_mode_text_equals_one_character_at_a_time(text: str, setup: bytes) -> None:
    """Text drawn in insert mode a piece at a time (one ICH per piece that fits on the line)
    gives the cells of inserting each character on its own."""
    whole, single = Terminal(10, 4), Terminal(10, 4)
    for terminal in (whole, single):
        terminal.feed(b"0123456789\r\nabcdefghij\r\n" + setup + b"\x1b[4h")
    data = text.encode()
    whole.feed(data)
    for index in range(len(data)):
        single.feed(data[index : index + 1])
    assert whole.lines == single.lines
    assert whole.cursor == single.cursor


def test_insert_mode_costs_a_line_per_piece_not_per_character() -> None:
    """A long run of text in insert mode makes room about once per line it fills, not once
    per character."""
    terminal = Terminal(80, 4)
    calls: list[int | None] = []
    insert = terminal._screen.insert_characters

    def counting(count: int | None = None) -> None:
        calls.append(count)
        insert(count)

    terminal._screen.insert_characters = counting  # type: ignore[method-assign]
    terminal.feed(b"\x1b[4h" + "\u00e9".encode() * 200)
    assert len(calls) <= 6  # a piece per line, and one character wrapping each line
