"""The keyboard: RFB KeyEvents (X11 keysyms, RFC 6143 7.5.4) -> bytes for the console.

Bytes are what xterm sends (xterm ctlseqs, "PC-Style Function Keys"), matching
`vncterm.terminal.TERM_NAME`. `Keyboard` keeps which modifiers are held; keys act
only when pressed. Modifiers on cursor, editing and function keys are encoded xterm-style
(``ESC [ 1 ; 5 A`` is Ctrl+Up: 1 + Shift 1 + Alt 2 + Ctrl 4). Alt and Meta prefix other keys
with ESC. AltGr (ISO_Level3_Shift) is not Alt: the viewer already sends the resulting keysym.
Some viewers send AltGr as Control+Alt; with both held, a printable key other than a letter
is sent as it is.
"""

from __future__ import annotations

import unicodedata
from enum import IntEnum

__all__ = ["Keyboard", "Keysym"]


class Keysym(IntEnum):
    """X11 keysyms (X11/keysymdef.h) the keyboard gives a meaning to."""

    BackSpace = 0xFF08
    Tab = 0xFF09
    Linefeed = 0xFF0A
    Return = 0xFF0D
    Escape = 0xFF1B
    Pause = 0xFF13
    Break = 0xFF6B
    Delete = 0xFFFF
    Home = 0xFF50
    Left = 0xFF51
    Up = 0xFF52
    Right = 0xFF53
    Down = 0xFF54
    Page_Up = 0xFF55
    Page_Down = 0xFF56
    End = 0xFF57
    Begin = 0xFF58
    Insert = 0xFF63
    KP_Space = 0xFF80
    KP_Tab = 0xFF89
    KP_Enter = 0xFF8D
    KP_F1 = 0xFF91
    KP_F2 = 0xFF92
    KP_F3 = 0xFF93
    KP_F4 = 0xFF94
    KP_Home = 0xFF95
    KP_Left = 0xFF96
    KP_Up = 0xFF97
    KP_Right = 0xFF98
    KP_Down = 0xFF99
    KP_Page_Up = 0xFF9A
    KP_Page_Down = 0xFF9B
    KP_End = 0xFF9C
    KP_Begin = 0xFF9D
    KP_Insert = 0xFF9E
    KP_Delete = 0xFF9F
    KP_Multiply = 0xFFAA
    KP_Add = 0xFFAB
    KP_Separator = 0xFFAC
    KP_Subtract = 0xFFAD
    KP_Decimal = 0xFFAE
    KP_Divide = 0xFFAF
    KP_0 = 0xFFB0
    KP_9 = 0xFFB9
    KP_Equal = 0xFFBD
    F1 = 0xFFBE
    F12 = 0xFFC9
    Shift_L = 0xFFE1
    Shift_R = 0xFFE2
    Control_L = 0xFFE3
    Control_R = 0xFFE4
    Meta_L = 0xFFE7
    Meta_R = 0xFFE8
    Alt_L = 0xFFE9
    Alt_R = 0xFFEA
    ISO_Level3_Shift = 0xFE03
    ISO_Left_Tab = 0xFE20
    EuroSign = 0x20AC


_SHIFT: frozenset[int] = frozenset({Keysym.Shift_L, Keysym.Shift_R})
_CONTROL: frozenset[int] = frozenset({Keysym.Control_L, Keysym.Control_R})
_ALT: frozenset[int] = frozenset({Keysym.Alt_L, Keysym.Alt_R, Keysym.Meta_L, Keysym.Meta_R})
_MODIFIERS = _SHIFT | _CONTROL | _ALT

#: Keysyms whose sequence is ``CSI final`` / ``SS3 final`` (cursor keys, Home, End, Begin).
_CURSOR_FINALS: dict[int, str] = {
    Keysym.Up: "A",
    Keysym.Down: "B",
    Keysym.Right: "C",
    Keysym.Left: "D",
    Keysym.Home: "H",
    Keysym.End: "F",
    Keysym.Begin: "E",
    Keysym.KP_Up: "A",
    Keysym.KP_Down: "B",
    Keysym.KP_Right: "C",
    Keysym.KP_Left: "D",
    Keysym.KP_Home: "H",
    Keysym.KP_End: "F",
    Keysym.KP_Begin: "E",
}

#: Keysyms whose sequence is ``CSI number ~``.
_TILDE_NUMBERS: dict[int, int] = {
    Keysym.Insert: 2,
    Keysym.Delete: 3,
    Keysym.Page_Up: 5,
    Keysym.Page_Down: 6,
    Keysym.KP_Insert: 2,
    Keysym.KP_Delete: 3,
    Keysym.KP_Page_Up: 5,
    Keysym.KP_Page_Down: 6,
    **{Keysym.F1 + 4 + index: number for index, number in enumerate(
        (15, 17, 18, 19, 20, 21, 23, 24)
    )},
}

#: F1-F4 (and the keypad's PF1-PF4) are ``SS3 P`` .. ``SS3 S``.
_PF_FINALS: dict[int, str] = {
    Keysym.F1: "P",
    Keysym.F1 + 1: "Q",
    Keysym.F1 + 2: "R",
    Keysym.F1 + 3: "S",
    Keysym.KP_F1: "P",
    Keysym.KP_F2: "Q",
    Keysym.KP_F3: "R",
    Keysym.KP_F4: "S",
}

#: Keypad keys: (text in numeric mode, final of ``SS3 x`` in application mode).
_KEYPAD: dict[int, tuple[str, str]] = {
    **{Keysym.KP_0 + digit: (str(digit), chr(ord("p") + digit)) for digit in range(10)},
    Keysym.KP_Enter: ("\r", "M"),
    Keysym.KP_Multiply: ("*", "j"),
    Keysym.KP_Add: ("+", "k"),
    Keysym.KP_Separator: (",", "l"),
    Keysym.KP_Subtract: ("-", "m"),
    Keysym.KP_Decimal: (".", "n"),
    Keysym.KP_Divide: ("/", "o"),
    Keysym.KP_Equal: ("=", "X"),
    Keysym.KP_Space: (" ", " "),
    Keysym.KP_Tab: ("\t", "I"),
}

#: Control + these characters give C0 codes beyond Ctrl+letter (as xterm does).
_CONTROL_CHARACTERS = {
    "@": "\x00",
    " ": "\x00",
    "2": "\x00",
    "[": "\x1b",
    "3": "\x1b",
    "\\": "\x1c",
    "4": "\x1c",
    "]": "\x1d",
    "5": "\x1d",
    "^": "\x1e",
    "6": "\x1e",
    "~": "\x1e",
    "_": "\x1f",
    "-": "\x1f",
    "/": "\x1f",
    "7": "\x1f",
    "?": "\x7f",
    "8": "\x7f",
}


#: X11 dead keys (keysymdef.h 0xFE50...) and the combining mark each puts on the next letter.
DEAD_KEYS: dict[int, str] = {
    0xFE50: "\u0300",  # dead_grave
    0xFE51: "\u0301",  # dead_acute
    0xFE52: "\u0302",  # dead_circumflex
    0xFE53: "\u0303",  # dead_tilde
    0xFE54: "\u0304",  # dead_macron
    0xFE55: "\u0306",  # dead_breve
    0xFE56: "\u0307",  # dead_abovedot
    0xFE57: "\u0308",  # dead_diaeresis
    0xFE58: "\u030a",  # dead_abovering
    0xFE59: "\u030b",  # dead_doubleacute
    0xFE5A: "\u030c",  # dead_caron
    0xFE5B: "\u0327",  # dead_cedilla
    0xFE5C: "\u0328",  # dead_ogonek
}

#: The spacing form of each mark, typed when a dead key is followed by space or itself.
_SPACING = {"\u0300": "`", "\u0301": "\u00b4", "\u0302": "^", "\u0303": "~", "\u0304": "\u00af",
            "\u0306": "\u02d8", "\u0307": "\u02d9", "\u0308": "\u00a8", "\u030a": "\u02da",
            "\u030b": "\u02dd", "\u030c": "\u02c7", "\u0327": "\u00b8", "\u0328": "\u02db"}

#: Multi_key (Compose): the first character of a sequence names a mark, as in X11's
#: Compose tables (Compose ' e gives e with acute, Compose " u gives u with diaeresis).
_COMPOSE_MARKS = {"'": "\u0301", "`": "\u0300", "^": "\u0302", "~": "\u0303", '"': "\u0308",
                  ",": "\u0327", "o": "\u030a", "-": "\u0304", "<": "\u030c"}
#: Compose pairs that are not a letter plus a mark.
_COMPOSE_PAIRS = {"ss": "\u00df", "ae": "\u00e6", "AE": "\u00c6", "oe": "\u0153",
                  "OE": "\u0152", "o/": "\u00f8", "O/": "\u00d8", "=e": "\u20ac",
                  "e=": "\u20ac", "L-": "\u00a3", "Y=": "\u00a5", "c/": "\u00a2",
                  "!!": "\u00a1", "??": "\u00bf", "<<": "\u00ab", ">>": "\u00bb",
                  "oc": "\u00a9", "or": "\u00ae", "+-": "\u00b1", "12": "\u00bd",
                  "14": "\u00bc", "34": "\u00be", "^2": "\u00b2", "^3": "\u00b3",
                  "so": "\u00a7", "PP": "\u00b6", "mu": "\u00b5", "xx": "\u00d7",
                  ":-": "\u00f7"}

#: X11 Multi_key: starts a Compose sequence.
MULTI_KEY = 0xFF20


def compose(first: str, second: str) -> str | None:
    """The character a Compose sequence of two characters gives, or None."""
    pair = _COMPOSE_PAIRS.get(first + second)
    if pair is not None:
        return pair
    for mark_key, letter in ((first, second), (second, first)):
        mark = _COMPOSE_MARKS.get(mark_key)
        if mark is not None and letter.isalpha():
            combined = unicodedata.normalize("NFC", letter + mark)
            if len(combined) == 1:
                return combined
    return None


class Keyboard:
    """One viewer's keyboard: modifier state and the bytes each key press sends."""

    def __init__(self) -> None:
        self._held: set[int] = set()
        #: The mark of a dead key waiting for the next character.
        self._dead: str | None = None
        #: Characters of a Compose sequence so far (None when none is in progress).
        self._compose: list[str] | None = None

    @property
    def shift(self) -> bool:
        return not self._held.isdisjoint(_SHIFT)

    @property
    def control(self) -> bool:
        return not self._held.isdisjoint(_CONTROL)

    @property
    def alt(self) -> bool:
        return not self._held.isdisjoint(_ALT)

    def reset(self) -> None:
        """Forget held modifiers (e.g. when the viewer loses focus or disconnects)."""
        self._held.clear()

    def key_event(
        self,
        down: bool,
        keysym: int,
        *,
        application_cursor: bool = False,
        application_keypad: bool = False,
    ) -> bytes:
        """Record a KeyEvent; returns the bytes to write to the console (often none)."""
        if keysym in _MODIFIERS:
            if down:
                self._held.add(keysym)
            else:
                self._held.discard(keysym)
            return b""
        if not down:
            return b""
        mark = DEAD_KEYS.get(keysym)
        if mark is not None:
            if self._dead == mark:  # the dead key twice types the accent itself
                self._dead = None
                return _SPACING[mark].encode("utf-8")
            self._dead = mark
            return b""
        if keysym == MULTI_KEY:
            self._compose = []
            return b""
        text = self._translate(keysym, application_cursor, application_keypad)
        if self._compose is not None:
            if len(text) != 1 or not text.isprintable():
                self._compose = None  # a control or function key cancels the sequence
            else:
                self._compose.append(text)
                if len(self._compose) < 2:
                    return b""
                first, second = self._compose
                self._compose = None
                text = compose(first, second) or ""
        if self._dead is not None and text:
            mark, self._dead = self._dead, None
            if text == " ":
                text = _SPACING[mark]
            else:
                combined = unicodedata.normalize("NFC", text + mark)
                text = combined if len(combined) == 1 else _SPACING[mark] + text
        return text.encode("utf-8")

    def _modifier_parameter(self) -> int:
        return 1 + self.shift + 2 * self.alt + 4 * self.control

    def _translate(self, keysym: int, application_cursor: bool, application_keypad: bool) -> str:
        modifier = self._modifier_parameter()
        final = _CURSOR_FINALS.get(keysym)
        if final is not None:
            if modifier > 1:
                return f"\x1b[1;{modifier}{final}"
            return ("\x1bO" if application_cursor else "\x1b[") + final
        number = _TILDE_NUMBERS.get(keysym)
        if number is not None:
            if modifier > 1:
                return f"\x1b[{number};{modifier}~"
            return f"\x1b[{number}~"
        final = _PF_FINALS.get(keysym)
        if final is not None:
            if modifier > 1:
                return f"\x1b[1;{modifier}{final}"
            return "\x1bO" + final
        keypad = _KEYPAD.get(keysym)
        if keypad is not None:
            numeric, application = keypad
            if application_keypad:
                return "\x1bO" + application
            return self._with_alt(numeric)
        if keysym == Keysym.ISO_Left_Tab or (keysym == Keysym.Tab and self.shift):
            return "\x1b[Z"
        specials: dict[int, str] = {
            Keysym.BackSpace: "\x08" if self.control else "\x7f",
            Keysym.Tab: "\t",
            Keysym.Return: "\r",
            Keysym.Linefeed: "\n",
            Keysym.Escape: "\x1b",
        }
        special = specials.get(keysym)
        if special is not None:
            return self._with_alt(special)
        character = _character(keysym)
        if character is None:
            return ""
        if self.control:
            if self.alt and not character.isalpha() and character.isprintable():
                return character  # AltGr sent as Control+Alt by the viewer
            character = _control(character)
        return self._with_alt(character)

    def _with_alt(self, text: str) -> str:
        return "\x1b" + text if self.alt else text


def _character(keysym: int) -> str | None:
    """The character a keysym types: Latin-1 keysyms, Unicode keysyms, the euro sign."""
    if 0x20 <= keysym <= 0x7E or 0xA0 <= keysym <= 0xFF:
        return chr(keysym)
    if 0x01000000 <= keysym <= 0x0110FFFF:
        codepoint = keysym - 0x01000000
        if 0xD800 <= codepoint <= 0xDFFF:
            return None
        return chr(codepoint)
    if keysym == Keysym.EuroSign:
        return "\u20ac"
    return None


def _control(character: str) -> str:
    """The C0 code Control+character gives (the character itself when there is none)."""
    if "a" <= character.lower() <= "z" and len(character) == 1 and character.isascii():
        return chr(ord(character.lower()) - ord("a") + 1)
    return _CONTROL_CHARACTERS.get(character, character)
