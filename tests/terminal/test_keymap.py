"""Keyboard: X11 keysyms and modifiers become the bytes xterm would send."""

from __future__ import annotations

import pytest

from vncterm.terminal.keymap import Keyboard, Keysym


def press(keysym: int, *modifiers: int, **modes: bool) -> bytes:
    keyboard = Keyboard()
    for modifier in modifiers:
        keyboard.key_event(True, modifier)
    return keyboard.key_event(True, keysym, **modes)


def test_printable_latin1() -> None:
    """Latin-1 keysyms are sent as UTF-8 characters."""
    assert press(ord("a")) == b"a"
    assert press(ord("Z"), Keysym.Shift_L) == b"Z"
    assert press(0xE9) == "é".encode()


def test_unicode_keysym() -> None:
    """0x01000000 + code point is that character in UTF-8."""
    assert press(0x01000000 + 0x20AC) == "€".encode()
    assert press(0x01000000 + 0x1F600) == "\U0001f600".encode()
    assert press(Keysym.EuroSign) == "€".encode()


def test_unknown_keysym_sends_nothing() -> None:
    """Keysyms without a meaning here (e.g. Caps_Lock, surrogates) send nothing."""
    assert press(0xFFE5) == b""
    assert press(0x0100D800) == b""


def test_keys_act_only_on_press() -> None:
    """Releasing a key sends nothing."""
    assert Keyboard().key_event(False, ord("a")) == b""


@pytest.mark.parametrize(
    ("keysym", "expected"),
    [
        (Keysym.Return, b"\r"),
        (Keysym.BackSpace, b"\x7f"),
        (Keysym.Tab, b"\t"),
        (Keysym.Escape, b"\x1b"),
        (Keysym.ISO_Left_Tab, b"\x1b[Z"),
    ],
)
def test_editing_keys(keysym: int, expected: bytes) -> None:
    """Return, BackSpace, Tab, Escape and ISO_Left_Tab send their control codes."""
    assert press(keysym) == expected


def test_shift_tab_is_back_tab() -> None:
    """Shift+Tab sends CSI Z."""
    assert press(Keysym.Tab, Keysym.Shift_R) == b"\x1b[Z"


@pytest.mark.parametrize(
    ("keysym", "final"),
    [(Keysym.Up, b"A"), (Keysym.Down, b"B"), (Keysym.Right, b"C"), (Keysym.Left, b"D")],
)
def test_arrows_normal_and_application(keysym: int, final: bytes) -> None:
    """Arrows send CSI x normally and SS3 x in application cursor mode."""
    assert press(keysym) == b"\x1b[" + final
    assert press(keysym, application_cursor=True) == b"\x1bO" + final


def test_modified_arrows() -> None:
    """Modifiers on arrows are encoded as CSI 1 ; m x (Shift 2, Alt 3, Ctrl 5, Ctrl+Shift 6)."""
    assert press(Keysym.Up, Keysym.Control_L) == b"\x1b[1;5A"
    assert press(Keysym.Left, Keysym.Shift_L) == b"\x1b[1;2D"
    assert press(Keysym.Right, Keysym.Alt_L) == b"\x1b[1;3C"
    assert press(Keysym.Down, Keysym.Control_R, Keysym.Shift_L) == b"\x1b[1;6B"
    assert press(Keysym.Up, Keysym.Control_L, application_cursor=True) == b"\x1b[1;5A"


def test_home_end() -> None:
    """Home and End send CSI H / CSI F, SS3 H / SS3 F in application mode."""
    assert press(Keysym.Home) == b"\x1b[H"
    assert press(Keysym.End) == b"\x1b[F"
    assert press(Keysym.Home, application_cursor=True) == b"\x1bOH"
    assert press(Keysym.End, Keysym.Control_L) == b"\x1b[1;5F"


@pytest.mark.parametrize(
    ("keysym", "expected"),
    [
        (Keysym.Insert, b"\x1b[2~"),
        (Keysym.Delete, b"\x1b[3~"),
        (Keysym.Page_Up, b"\x1b[5~"),
        (Keysym.Page_Down, b"\x1b[6~"),
    ],
)
def test_tilde_keys(keysym: int, expected: bytes) -> None:
    """Insert, Delete, Page Up and Page Down send CSI n ~."""
    assert press(keysym) == expected


def test_modified_tilde_key() -> None:
    """Modifiers on CSI n ~ keys are CSI n ; m ~."""
    assert press(Keysym.Delete, Keysym.Control_L) == b"\x1b[3;5~"
    assert press(Keysym.Page_Up, Keysym.Shift_L) == b"\x1b[5;2~"


def test_function_keys() -> None:
    """F1-F4 send SS3 P-S, F5-F12 send CSI 15~ .. CSI 24~."""
    expected = [
        b"\x1bOP", b"\x1bOQ", b"\x1bOR", b"\x1bOS", b"\x1b[15~", b"\x1b[17~",
        b"\x1b[18~", b"\x1b[19~", b"\x1b[20~", b"\x1b[21~", b"\x1b[23~", b"\x1b[24~",
    ]
    assert [press(Keysym.F1 + index) for index in range(12)] == expected


def test_modified_function_keys() -> None:
    """Modifiers on F1-F4 use CSI 1 ; m P, on F5+ CSI n ; m ~."""
    assert press(Keysym.F1, Keysym.Shift_L) == b"\x1b[1;2P"
    assert press(Keysym.F1 + 4, Keysym.Control_L) == b"\x1b[15;5~"


def test_keypad_numeric_mode() -> None:
    """Keypad keys type digits and operators in numeric keypad mode."""
    keys = [Keysym.KP_0 + 7, Keysym.KP_Add, Keysym.KP_Multiply, Keysym.KP_Decimal]
    assert b"".join(press(key) for key in keys) == b"7+*."
    assert press(Keysym.KP_Enter) == b"\r"


def test_keypad_application_mode() -> None:
    """Keypad keys send SS3 x in application keypad mode."""
    assert press(Keysym.KP_0, application_keypad=True) == b"\x1bOp"
    assert press(Keysym.KP_9, application_keypad=True) == b"\x1bOy"
    assert press(Keysym.KP_Enter, application_keypad=True) == b"\x1bOM"
    assert press(Keysym.KP_Subtract, application_keypad=True) == b"\x1bOm"


def test_keypad_cursor_keys_follow_cursor_mode() -> None:
    """KP_Up and friends (NumLock off) behave like the cursor keys."""
    assert press(Keysym.KP_Up) == b"\x1b[A"
    assert press(Keysym.KP_Up, application_cursor=True) == b"\x1bOA"
    assert press(Keysym.KP_Delete) == b"\x1b[3~"


def test_control_letters() -> None:
    """Ctrl+letter sends the C0 code, whatever the case."""
    assert press(ord("c"), Keysym.Control_L) == b"\x03"
    assert press(ord("A"), Keysym.Control_R, Keysym.Shift_L) == b"\x01"


@pytest.mark.parametrize(
    ("character", "expected"),
    [("@", b"\x00"), (" ", b"\x00"), ("[", b"\x1b"), ("\\", b"\x1c"), ("]", b"\x1d"),
     ("^", b"\x1e"), ("_", b"\x1f"), ("?", b"\x7f")],
)
def test_control_punctuation(character: str, expected: bytes) -> None:
    """Ctrl+@ [ \\ ] ^ _ ? and Ctrl+Space send their control codes."""
    assert press(ord(character), Keysym.Control_L) == expected


@pytest.mark.parametrize("alt", [Keysym.Alt_L, Keysym.Alt_R, Keysym.Meta_L, Keysym.Meta_R])
def test_alt_and_meta_prefix_escape(alt: int) -> None:
    """Alt and Meta send ESC before the key."""
    assert press(ord("x"), alt) == b"\x1bx"


def test_alt_with_control_and_backspace() -> None:
    """Alt combines with Ctrl and with editing keys."""
    assert press(ord("c"), Keysym.Alt_L, Keysym.Control_L) == b"\x1b\x03"
    assert press(Keysym.BackSpace, Keysym.Alt_L) == b"\x1b\x7f"


def test_altgr_is_not_alt() -> None:
    """ISO_Level3_Shift does not add ESC: the viewer already sent the resulting keysym."""
    assert press(ord("@"), Keysym.ISO_Level3_Shift) == b"@"


def test_altgr_as_control_alt() -> None:
    """Control+Alt with a non-letter printable key is treated as AltGr from the viewer."""
    assert press(ord("{"), Keysym.Control_L, Keysym.Alt_R) == b"{"


def test_modifier_release_is_tracked() -> None:
    """After Ctrl is released letters are plain again."""
    keyboard = Keyboard()
    keyboard.key_event(True, Keysym.Control_L)
    assert keyboard.key_event(True, ord("a")) == b"\x01"
    keyboard.key_event(False, Keysym.Control_L)
    assert keyboard.key_event(True, ord("a")) == b"a"


def test_reset_forgets_modifiers() -> None:
    """reset() releases every held modifier."""
    keyboard = Keyboard()
    keyboard.key_event(True, Keysym.Shift_L)
    keyboard.reset()
    assert not keyboard.shift
    assert keyboard.key_event(True, Keysym.Tab) == b"\t"


def test_dead_key_composes_with_next_letter() -> None:
    """A dead acute followed by e types é; followed by space, the accent itself."""
    keyboard = Keyboard()
    assert keyboard.key_event(True, 0xFE51) == b""
    assert keyboard.key_event(True, ord("e")) == "é".encode()
    keyboard.key_event(True, 0xFE52)
    assert keyboard.key_event(True, ord(" ")) == b"^"
    keyboard.key_event(True, 0xFE57)
    assert keyboard.key_event(True, ord("q")) == "\u00a8q".encode()


def test_compose_sequences() -> None:
    """Multi_key then two characters gives the composed character."""
    keyboard = Keyboard()
    for keys, expected in ((("'", "e"), "é"), (('"', "u"), "ü"), (("s", "s"), "ß"),
                           (("=", "e"), "€"), (("o", "a"), "å")):
        assert keyboard.key_event(True, 0xFF20) == b""
        assert keyboard.key_event(True, ord(keys[0])) == b""
        assert keyboard.key_event(True, ord(keys[1])) == expected.encode()
