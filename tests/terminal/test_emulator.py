"""Terminal: feeding never raises, replies, modes, colours, damage and the boot golden."""

from __future__ import annotations

import random
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vncterm.terminal import TERM_NAME, Char, Damage, Terminal
from vncterm.terminal.screen import ANSWERBACK_PRIMARY_DA, ANSWERBACK_SECONDARY_DA

DATA = Path(__file__).parent.parent / "data"
BOOT = (DATA / "linux-boot-busybox-serial.raw").read_bytes()
BOOT_SCREEN = (DATA / "linux-boot-busybox-serial.screen.txt").read_text(encoding="utf-8")


def fed(data: bytes, cols: int = 20, rows: int = 5) -> Terminal:
    terminal = Terminal(cols, rows)
    terminal.feed(data)
    return terminal


def stripped(terminal: Terminal) -> list[str]:
    return [line.rstrip() for line in terminal.text()]


# -- robustness -----------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.binary(max_size=64), max_size=8))
def test_feed_never_raises(chunks: list[bytes]) -> None:
    """No byte sequence makes feed() raise, and the terminal still draws text afterwards."""
    terminal = Terminal(12, 4)
    for chunk in chunks:
        terminal.feed(chunk)
    terminal.feed(b"\x1b\\\x18\x1bc\x1b%Gok")
    assert "ok" in "".join(terminal.text())


ESCAPE_HEAVY = st.lists(
    st.sampled_from(
        [b"\x1b", b"[", b"]", b"?", b">", b"=", b":", b";", b"0", b"1", b"9", b"\xc2\xb2",
         b"6", b"n", b"c", b"m", b"h", b"l", b"P", b"\\", b"\x07", b"\x9b", b"\x9d", b"!",
         b"p", b"$", b" ", b"q", b"(", b"0", b"\r\n", b"x", b"\xe4\xb8\x80", b"\xcc\x81"]
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(ESCAPE_HEAVY, st.randoms(use_true_random=False))
def test_escape_soup_never_raises_and_splitting_changes_nothing(
    pieces: list[bytes], rnd: random.Random
) -> None:
    """Fragments of escape sequences never raise, and where the input is split never matters."""
    data = b"".join(pieces)
    whole = fed(data, 12, 4)
    split = Terminal(12, 4)
    offset = 0
    while offset < len(data):
        step = rnd.randint(1, 7)
        split.feed(data[offset : offset + step])
        offset += step
    assert split.lines == whole.lines
    assert split.cursor == whole.cursor
    assert split.take_replies() == whole.take_replies()


def test_private_dsr_does_not_lose_following_bytes() -> None:
    """ESC[?6n (which raises in stock pyte) is answered and the text after it is kept."""
    terminal = fed(b"ab\x1b[?6ncd")
    assert stripped(terminal)[0] == "abcd"
    assert terminal.take_replies() == b"\x1b[?1;3R"


def test_non_ascii_digit_in_csi_is_dropped_and_parsing_resumes() -> None:
    """A superscript digit inside CSI (int() fails on it in pyte) drops only that sequence."""
    terminal = fed("\x1b[\u00b2mafter".encode())
    assert stripped(terminal)[0] == "after"


def test_c0_controls_inside_text_do_not_drop_the_rest() -> None:
    """Stray C0 controls are ignored instead of cutting off the rest of the text run."""
    assert stripped(fed(b"ab\x01\x02cd\x1fe"))[0] == "abcde"


def test_dcs_string_is_swallowed() -> None:
    """A DCS string (e.g. XTGETTCAP) is not drawn as text."""
    assert stripped(fed(b"a\x1bP+q544e\x1b\\b"))[0] == "ab"


def test_decstr_soft_reset_draws_nothing() -> None:
    """CSI ! p resets modes without drawing its final byte."""
    terminal = fed(b"\x1b[?1h\x1b[?25la\x1b[!pb")
    assert stripped(terminal)[0] == "ab"
    assert terminal.cursor_visible
    assert not terminal.application_cursor_keys


def test_deccolm_is_ignored() -> None:
    """CSI ? 3 h does not resize the screen to 132 columns."""
    terminal = fed(b"\x1b[?3h")
    assert terminal.cols == 20


# -- replies --------------------------------------------------------------------------------


def test_term_name_is_xterm_256color() -> None:
    """The emulator advertises the xterm-256color terminfo entry."""
    assert TERM_NAME == "xterm-256color"


def test_cursor_position_report() -> None:
    """ESC[6n is answered with the 1-based row and column of the cursor."""
    terminal = fed(b"\r\n\r\nabc\x1b[6n")
    assert terminal.take_replies() == b"\x1b[3;4R"
    assert terminal.take_replies() == b""


def test_cursor_position_report_in_origin_mode() -> None:
    """With DECOM set the reported row is relative to the top margin."""
    terminal = fed(b"\x1b[2;4r\x1b[?6h\x1b[2;1H\x1b[6n")
    assert terminal.take_replies() == b"\x1b[2;1R"


def test_status_report() -> None:
    """ESC[5n is answered with ESC[0n (terminal OK)."""
    assert fed(b"\x1b[5n").take_replies() == b"\x1b[0n"


def test_primary_device_attributes() -> None:
    """ESC[c and ESC[0c are answered as a VT220 with colour."""
    assert fed(b"\x1b[c\x1b[0c").take_replies() == ANSWERBACK_PRIMARY_DA * 2
    assert ANSWERBACK_PRIMARY_DA == b"\x1b[?62;22c"


def test_secondary_device_attributes() -> None:
    """ESC[>c is answered with the secondary DA, not the primary one."""
    assert fed(b"\x1b[>c\x1b[>0c").take_replies() == ANSWERBACK_SECONDARY_DA * 2


def test_tertiary_device_attributes_are_ignored() -> None:
    """ESC[=c gets no reply and draws nothing."""
    terminal = fed(b"\x1b[=c")
    assert terminal.take_replies() == b""
    assert stripped(terminal)[0] == ""


# -- state ----------------------------------------------------------------------------------


def test_title_from_osc_0_and_2() -> None:
    """OSC 0 and OSC 2 set the title, with BEL or ST as terminator."""
    assert fed(b"\x1b]0;first\x07").title == "first"
    assert fed(b"\x1b]2;a: [b]\x1b\\").title == "a: [b]"


def test_bells_outside_osc_are_counted() -> None:
    """BEL rings, but a BEL that ends an OSC string does not."""
    terminal = fed(b"\x07\x1b]2;t\x07x\x07")
    assert terminal.take_bells() == 2
    assert terminal.take_bells() == 0


def test_cursor_visibility() -> None:
    """DECTCEM hides and shows the cursor."""
    assert not fed(b"\x1b[?25l").cursor_visible
    assert fed(b"\x1b[?25l\x1b[?25h").cursor_visible


def test_application_cursor_keys_mode() -> None:
    """DECCKM (CSI ? 1 h/l) switches application cursor keys."""
    assert fed(b"\x1b[?1h").application_cursor_keys
    assert not fed(b"\x1b[?1h\x1b[?1l").application_cursor_keys


def test_application_keypad_mode() -> None:
    """ESC = and ESC > switch the application keypad on and off."""
    assert fed(b"\x1b=").application_keypad
    assert not fed(b"\x1b=\x1b>").application_keypad


def test_cursor_is_clamped_after_last_column() -> None:
    """After filling a row the cursor reports the last column, not one past it."""
    assert fed(b"x" * 20).cursor == (19, 0)


def test_rows_are_char_cells() -> None:
    """row() gives exactly cols Char cells with text and attributes."""
    row = fed(b"\x1b[1;4;7mA").row(0)
    assert len(row) == 20
    assert row[0] == Char("A", bold=True, underscore=True, reverse=True)
    assert row[1].data == " "


def test_resize_keeps_text_and_damages_everything() -> None:
    """resize() changes the size, keeps what fits and damages every row."""
    terminal = fed(b"hello")
    terminal.take_damage()
    terminal.resize(10, 3)
    assert (terminal.cols, terminal.rows) == (10, 3)
    assert stripped(terminal)[0] == "hello"
    assert terminal.take_damage() == Damage(frozenset(range(3)), None)
    terminal.feed(b"\t\tx")
    assert terminal.cursor == (9, 0)


def test_resize_rejects_empty_sizes() -> None:
    """A zero-sized terminal is a programming error."""
    with pytest.raises(ValueError):
        Terminal(0, 24)


# -- drawing features -----------------------------------------------------------------------


def test_sixteen_colours() -> None:
    """SGR 31/42/91/103 select base and bright colours by name."""
    row = fed(b"\x1b[31;42mA\x1b[91;103mB\x1b[39;49mC").row(0)
    assert (row[0].fg, row[0].bg) == ("red", "green")
    assert (row[1].fg, row[1].bg) == ("brightred", "brightbrown")
    assert (row[2].fg, row[2].bg) == ("default", "default")


def test_256_colours() -> None:
    """38;5;n gives names for 0-15 and hex for the cube and greys."""
    row = fed(b"\x1b[38;5;1mA\x1b[38;5;9mB\x1b[38;5;208;48;5;232mC").row(0)
    assert row[0].fg == "red"
    assert row[1].fg == "brightred"
    assert (row[2].fg, row[2].bg) == ("ff8700", "080808")


def test_true_colour_with_semicolons_and_colons() -> None:
    """38;2;r;g;b and the ITU 38:2::r:g:b / 38:2:r:g:b forms give hex colours."""
    row = fed(b"\x1b[38;2;1;2;3mA\x1b[38:2::255:128:0mB\x1b[48:2:9:8:7mC\x1b[1;38:5:4mD").row(0)
    assert row[0].fg == "010203"
    assert row[1].fg == "ff8000"
    assert row[2].bg == "090807"
    assert (row[3].fg, row[3].bold) == ("blue", True)


def test_out_of_range_true_colour_is_clamped() -> None:
    """Components above 255 are clamped so the colour stays six hex digits."""
    assert fed(b"\x1b[38;2;999;0;0mA").row(0)[0].fg == "ff0000"


def test_bold_keeps_the_base_colour_name() -> None:
    """Bold is an attribute; brightening is left to the palette."""
    cell = fed(b"\x1b[1;32mA").row(0)[0]
    assert (cell.fg, cell.bold) == ("green", True)


def test_erase_uses_background_colour() -> None:
    """ED and EL fill erased cells with the current background (xterm bce)."""
    terminal = fed(b"\x1b[44m\x1b[2J\x1b[41m\x1b[3;1H\x1b[K")
    assert {cell.bg for cell in terminal.row(0)} == {"blue"}
    assert {cell.bg for cell in terminal.row(2)} == {"red"}


def test_alternate_screen_restores_main_screen() -> None:
    """CSI ? 1049 h/l switch to a blank alternate screen and back, restoring the cursor."""
    terminal = fed(b"main\x1b[?1049h")
    assert terminal.alternate_screen
    assert stripped(terminal)[0] == ""
    terminal.feed(b"alt\x1b[?1049l")
    assert not terminal.alternate_screen
    assert stripped(terminal)[0] == "main"
    assert terminal.cursor == (4, 0)


def test_dec_line_drawing_in_utf8() -> None:
    """ESC ( 0 selects DEC line drawing even though the stream is UTF-8."""
    assert stripped(fed(b"\x1b(0lqk\x1b(Bq"))[0] == "\u250c\u2500\u2510q"


def test_wide_and_combining_characters() -> None:
    """A wide character fills two cells (the second empty) and marks combine with the base."""
    row = fed("\u4e00e\u0301".encode()).row(0)
    assert [cell.data for cell in row[:3]] == ["\u4e00", "", "\u00e9"]


def test_repeat_scroll_and_tabs() -> None:
    """REP, SU and CBT (used by the xterm terminfo entry) work."""
    assert stripped(fed(b"a\x1b[3b"))[0] == "aaaa"
    assert stripped(fed(b"1\r\n2\r\n3\x1b[2S"))[0] == "3"
    assert fed(b"\t\t\x1b[Z").cursor == (8, 0)


# -- damage ---------------------------------------------------------------------------------


def test_new_terminal_is_all_damaged() -> None:
    """The first take_damage() covers every row."""
    assert Terminal(10, 3).take_damage() == Damage(frozenset({0, 1, 2}), None)


def test_linefeed_at_bottom_is_a_scroll() -> None:
    """A newline on the last row is reported as a one-line scroll plus the new bottom row."""
    terminal = fed(b"\x1b[5;1Hlast")
    terminal.take_damage()
    terminal.feed(b"\r\nnew")
    assert terminal.take_damage() == Damage(frozenset({4}), (0, 4, 1))


def test_consecutive_scrolls_are_counted() -> None:
    """Several newlines at the bottom add up to one scroll of that many lines."""
    terminal = fed(b"\x1b[5;1H")
    terminal.take_damage()
    terminal.feed(b"a\r\nb\r\nc")
    assert terminal.take_damage() == Damage(frozenset({2, 3, 4}), (0, 4, 2))


def test_scroll_region_scroll() -> None:
    """Scrolling inside DECSTBM margins reports that region only."""
    terminal = fed(b"\x1b[2;4r\x1b[4;1H")
    terminal.take_damage()
    terminal.feed(b"\n")
    assert terminal.take_damage() == Damage(frozenset({3}), (1, 3, 1))


def test_scroll_in_another_region_falls_back_to_rows() -> None:
    """A scroll in a second region turns the first one into damaged rows."""
    terminal = fed(b"\x1b[1;2r\x1b[2;1H")
    terminal.take_damage()
    terminal.feed(b"\n\x1b[4;5r\x1b[5;1H\n")
    assert terminal.take_damage() == Damage(frozenset({0, 1, 4}), (3, 4, 1))


def test_clear_drops_the_scroll() -> None:
    """A scroll followed by a full clear is just every row."""
    terminal = fed(b"\x1b[5;1H")
    terminal.take_damage()
    terminal.feed(b"\n\x1b[2J")
    assert terminal.take_damage() == Damage(frozenset(range(5)), None)


def test_cursor_motion_alone_is_no_damage() -> None:
    """Moving the cursor changes no cells (the renderer tracks the cursor itself)."""
    terminal = fed(b"abc")
    terminal.take_damage()
    terminal.feed(b"\x1b[3;3H")
    assert terminal.take_damage() == Damage(frozenset(), None)


def test_a_zero_width_character_joined_to_the_row_above_damages_it() -> None:
    """A zero-width character at the start of a row joins the last cell of the row above,
    and that row is damaged, whatever the character (a mark, a joiner, a selector)."""
    for joined in ("\u0301", "\u200d", "\u200b\u0301", "\ufe0f"):
        terminal = fed(b"abcd\r\n", cols=4, rows=3)
        terminal.take_damage()
        terminal.feed(joined.encode())
        assert terminal.row(0)[3].data == unicodedata.normalize("NFC", "d" + joined)
        assert terminal.take_damage() == Damage(frozenset({0, 1}), None)


DAMAGE_PIECES = [
    b"x", b"hello world", b"\r\n", b"\n", b"\r", b"\t", b"\x08", b"\x1b[2J", b"\x1b[J",
    b"\x1b[1J", b"\x1b[K", b"\x1b[1K", b"\x1b[2K", b"\x1b[31m", b"\x1b[0m", b"\x1b[44m",
    b"\x1b[7m", b"\x1b[H", b"\x1b[3;4H", b"\x1b[6;1H", b"\x1bM", b"\x1bD", b"\x1bE",
    b"\x1b[2;5r", b"\x1b[3;4r", b"\x1b[r", b"\x1b[2S", b"\x1b[T", b"\x1b[2L", b"\x1b[M",
    b"\x1b[2P", b"\x1b[3@", b"\x1b[4X", b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b[?47h",
    "\u4e00\u4e8c".encode(), "e\u0301".encode(), b"\xcc\x81", "\u200d".encode(),
    b"\x1b[?5h", b"\x1b[?5l",
    b"\x1b[3b", b"\x1bc", b"\x1b#8", b"\x1b[?7l", b"\x1b[?7h", b"\x1b[4h", b"\x1b[4l",
    b"\x1b[?6h", b"\x1b[?6l", b"\x1b7", b"\x1b8", b"\x1b[10C", b"\x1b[5A",
]
TAKE = b""


def apply_damage(previous: list[list[Char]], damage: Damage, current: list[list[Char]]) -> None:
    """Apply damage the way a viewer does: copy the scrolled rows, then redraw rows."""
    if damage.scroll is not None:
        top, bottom, count = damage.scroll
        assert 0 <= top < bottom < len(previous) and 0 < count <= bottom - top
        previous[top : bottom + 1 - count] = previous[top + count : bottom + 1]
    for y in damage.rows:
        previous[y] = current[y]


@settings(max_examples=250, deadline=None)
@given(st.lists(st.sampled_from([*DAMAGE_PIECES, TAKE, TAKE]), min_size=20, max_size=120))
def test_damage_reproduces_the_screen(pieces: list[bytes]) -> None:
    """Applying (scroll, then rows) to the previous image always yields the new image."""
    terminal = Terminal(10, 6)
    image = terminal.lines
    apply_damage(image, terminal.take_damage(), terminal.lines)
    for piece in [*pieces, TAKE]:
        if piece:
            terminal.feed(piece)
            continue
        current = terminal.lines
        apply_damage(image, terminal.take_damage(), current)
        assert image == current


# -- the boot capture golden ----------------------------------------------------------------


def boot_terminal(chunks: list[bytes]) -> Terminal:
    terminal = Terminal(80, 24)
    for chunk in chunks:
        terminal.feed(chunk)
    return terminal


def screen_text(terminal: Terminal) -> str:
    return "\n".join(stripped(terminal)) + "\n"


def test_boot_capture_golden_screen() -> None:
    """The BusyBox boot capture ends on the golden screen with the prompt and command output."""
    terminal = boot_terminal([BOOT])
    text = screen_text(terminal)
    assert text == BOOT_SCREEN
    assert "hello from busybox" in text
    assert stripped(terminal)[-1] == "(initramfs)"
    assert terminal.cursor == (12, 23)


def test_boot_capture_answers_cursor_position_queries() -> None:
    """Each ESC[6n after a BusyBox prompt gets a cursor position report for the console."""
    terminal = boot_terminal([BOOT])
    assert terminal.take_replies() == b"\x1b[24;13R\x1b[24;13R"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_boot_capture_in_random_chunks(seed: int) -> None:
    """Feeding the capture in random chunks gives the same screen and replies."""
    rnd = random.Random(seed)
    chunks = []
    offset = 0
    while offset < len(BOOT):
        size = rnd.choice([1, 2, 3, 7, 64, 1000])
        chunks.append(BOOT[offset : offset + size])
        offset += size
    terminal = boot_terminal(chunks)
    assert screen_text(terminal) == BOOT_SCREEN
    assert terminal.take_replies() == b"\x1b[24;13R\x1b[24;13R"


@pytest.mark.parametrize("seed", range(20))
def test_damage_reproduces_the_screen_long_streams(seed: int) -> None:
    """Long random streams (many scrolls between takes) keep damage exact."""
    rnd = random.Random(seed)
    test_damage_reproduces_the_screen.hypothesis.inner_test(  # type: ignore[attr-defined]
        [rnd.choice([*DAMAGE_PIECES, TAKE]) for _ in range(600)]
    )


def test_zero_width_characters_keep_the_text_after_them() -> None:
    """Zero-width spaces, joiners and variation selectors join the cell before; nothing is lost."""
    terminal = Terminal(20, 2)
    terminal.feed("a\u200bbc x\u2764\ufe0fy \U0001f468\u200d\U0001f469z".encode())
    cells = [cell.data for cell in terminal.row(0)]
    assert cells[:4] == ["a\u200b", "b", "c", " "]
    assert cells[4:8] == ["x", "\u2764\ufe0f", "y", " "]
    # The joiner stays with the first two-cell emoji, not in its stub.
    assert cells[8:13] == ["\U0001f468\u200d", "", "\U0001f469", "", "z"]


def test_osc_strings_end_where_they_should() -> None:
    """An empty OSC, BEL or ST ends it; CAN or a new escape sequence abandons it; text after
    it is drawn (pyte swallowed everything after an empty OSC)."""
    for data, title in (
        (b"\x1b]\x1b\\ok", ""),
        (b"\x1b]\x07ok", ""),
        (b"\x1b]0;my title\x1b\\ok", "my title"),
        (b"\x1b]2;abc\x1b[31mok", ""),
        (b"\x1b]2;abc\x18ok", ""),
    ):
        terminal = Terminal(20, 2)
        terminal.feed(data)
        assert terminal.text()[0].rstrip() == "ok", data
        assert terminal.title == title
    terminal = Terminal(20, 2)
    terminal.feed(b"\x1b]2;ring\x07")
    assert terminal.take_bells() == 0
