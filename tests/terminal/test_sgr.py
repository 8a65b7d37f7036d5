"""SGR tables: pyte's codes as pyte reads them, xterm's extras, and a memo that changes nothing."""

from __future__ import annotations

import pyte
from hypothesis import given, settings
from hypothesis import strategies as st
from pyte import graphics

from vncterm.terminal.cells import DEFAULT_CELL
from vncterm.terminal.sgr import rendition

#: Every code in pyte's tables, but 105 (pyte's BG_AIXTERM misspells its colour name).
PYTE_CODES = sorted(
    {0, *graphics.TEXT, *graphics.FG_ANSI, *graphics.BG_ANSI, *graphics.FG_AIXTERM,
     *graphics.BG_AIXTERM} - {105}
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PYTE_CODES), min_size=1, max_size=8))
def test_codes_in_pyte_tables_give_what_pyte_gives(codes: list[int]) -> None:
    """For any list of codes from pyte's tables, the rendition is what pyte's own SGR makes."""
    screen = pyte.Screen(4, 1)
    screen.select_graphic_rendition(*codes)
    assert rendition(DEFAULT_CELL, tuple(codes)) == screen.cursor.attrs._replace(data=" ")


def test_bright_magenta_background_is_named_like_the_foreground() -> None:
    """SGR 105 is "brightmagenta", as 95 is (pyte's table says "bfightmagenta")."""
    assert rendition(DEFAULT_CELL, (105,)).bg == "brightmagenta"
    assert rendition(DEFAULT_CELL, (95,)).fg == "brightmagenta"


def test_xterm_extras() -> None:
    """6 blinks as 5 does, 21 underlines, 58 takes its colour without drawing it, and
    unknown codes change nothing."""
    assert rendition(DEFAULT_CELL, (6,)).blink
    assert rendition(DEFAULT_CELL, (21,)).underscore
    assert rendition(DEFAULT_CELL, (58, 5, 1, 31)) == DEFAULT_CELL._replace(fg="red")
    assert rendition(DEFAULT_CELL, (58, 2, 1, 2, 3, 1)) == DEFAULT_CELL._replace(bold=True)
    assert rendition(DEFAULT_CELL, (2, 8, 26, 50, 999)) == DEFAULT_CELL


def test_reset_inside_a_list_clears_what_came_before() -> None:
    """A 0 among other codes resets everything set before it, not what follows."""
    red_bold = rendition(DEFAULT_CELL, (1, 31))
    assert rendition(red_bold, (4, 0, 44)) == DEFAULT_CELL._replace(bg="blue")


def test_colon_sub_parameters() -> None:
    """38:5:n, 38:2:r:g:b and 38:2:space:r:g:b are the semicolon forms; 4:3 underlines; a
    lone 38:x takes nothing after it."""
    assert rendition(DEFAULT_CELL, (38, 5, 4), colons=(0, 1)).fg == "blue"
    assert rendition(DEFAULT_CELL, (38, 2, 1, 2, 3), colons=(0, 1, 2, 3)).fg == "010203"
    assert rendition(DEFAULT_CELL, (48, 2, 0, 1, 2, 3), colons=(0, 1, 2, 3, 4)).bg == "010203"
    assert rendition(DEFAULT_CELL, (4, 3), colons=(0,)).underscore
    assert rendition(DEFAULT_CELL, (38, 5, 31), colons=(0,)) == DEFAULT_CELL._replace(fg="red")


def test_a_remembered_result_is_the_same_object() -> None:
    """The same codes on the same rendition give the very same cell (shared cell caches)."""
    assert rendition(DEFAULT_CELL, (1, 33)) is rendition(DEFAULT_CELL, (1, 33))
