"""Mouse reporting to console applications (xterm ctlseqs, "Mouse Tracking"): RFB pointer
events become the bytes an application that enabled modes 1000/1002/1003 expects, in the
classic `ESC [ M b x y` form or the SGR form (mode 1006) `ESC [ < b ; x ; y M|m`.

Pure: the caller says which modes are on and gives button masks and cells.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Tracking modes, from least to most reported.
X10, NORMAL, BUTTON_EVENT, ANY_EVENT = 9, 1000, 1002, 1003

#: RFB button mask bits (RFC 6143 7.5.5) and the xterm button numbers they report as.
_BUTTONS = ((1, 0), (2, 1), (4, 2))
_WHEEL = ((8, 64), (16, 65))

#: Modifier bits xterm adds to the button number.
SHIFT, META, CONTROL = 4, 8, 16
#: Added to the button number for motion reports.
MOTION = 32
#: The classic encoding cannot say a column or row past this (one byte, offset 32).
_CLASSIC_LIMIT = 223


@dataclass(frozen=True, slots=True)
class MouseModes:
    """What the application asked for: a tracking mode (0 for none) and SGR encoding."""

    tracking: int = 0
    sgr: bool = False


class MouseReporter:
    """Turns one viewer's pointer events into reports, remembering buttons and cell."""

    def __init__(self) -> None:
        self._mask = 0
        self._cell = (-1, -1)

    def report(
        self, modes: MouseModes, mask: int, column: int, row: int, modifiers: int = 0
    ) -> bytes:
        """The bytes for one PointerEvent at a cell (0-based), or b"" when nothing is due."""
        previous, self._mask = self._mask, mask
        moved = (column, row) != self._cell
        self._cell = (column, row)
        if not modes.tracking:
            return b""
        out = bytearray()
        for bit, number in _WHEEL:
            if mask & bit and not previous & bit and modes.tracking != X10:
                out += _encode(modes, number | modifiers, column, row, press=True)
        for bit, number in _BUTTONS:
            if mask & bit and not previous & bit:
                extra = 0 if modes.tracking == X10 else modifiers
                out += _encode(modes, number | extra, column, row, press=True)
            elif previous & bit and not mask & bit and modes.tracking != X10:
                # The classic encoding cannot say which button went up: 3 means "released".
                released = number if modes.sgr else 3
                out += _encode(modes, released | modifiers, column, row, press=False)
        if moved and not out and modes.tracking in (BUTTON_EVENT, ANY_EVENT):
            held = next((number for bit, number in _BUTTONS if mask & bit), None)
            if held is not None:
                out += _encode(modes, held | MOTION | modifiers, column, row, press=True)
            elif modes.tracking == ANY_EVENT:
                out += _encode(modes, 3 | MOTION | modifiers, column, row, press=True)
        return bytes(out)


def _encode(modes: MouseModes, button: int, column: int, row: int, *, press: bool) -> bytes:
    if modes.sgr:
        return b"\x1b[<%d;%d;%d%c" % (button, column + 1, row + 1, ord("M" if press else "m"))
    column = min(column, _CLASSIC_LIMIT - 1)
    row = min(row, _CLASSIC_LIMIT - 1)
    return b"\x1b[M" + bytes((32 + button, 33 + column, 33 + row))
