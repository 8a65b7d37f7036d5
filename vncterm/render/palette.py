"""Colours: the ANSI 16, the xterm 256-colour palette and true colour, as (r, g, b) bytes.

The 16 base colours are xterm's defaults (XTerm-col.ad), which are also entries 0-15 of the
256-colour palette, so ``SGR 31`` and ``SGR 38;5;1`` look the same as they do in xterm, matching
the TERM we advertise (`vncterm.terminal.emulator.TERM_NAME`). Default foreground is colour 7,
default background colour 0. Bold text has no bold face in Unifont; like xterm's ``boldColors``
(and the Linux console) bold turns the 8 base colours, and the default foreground, bright.

Colour values are those of `vncterm.terminal.emulator` cells (pyte's convention): ``"default"``,
a name from ``"black"`` to ``"white"`` (yellow is ``"brown"``) optionally prefixed ``"bright"``,
or six hex digits.
"""

from __future__ import annotations

from functools import lru_cache

__all__ = [
    "ANSI_16",
    "DEFAULT_BG",
    "DEFAULT_FG",
    "NAMES",
    "XTERM_256",
    "resolve",
    "resolve_pair",
]

RGB = tuple[int, int, int]

#: xterm's default 16 colours: black, red, green, yellow, blue, magenta, cyan, white, then the
#: bright variants in the same order.
ANSI_16: tuple[RGB, ...] = (
    (0x00, 0x00, 0x00),
    (0xCD, 0x00, 0x00),
    (0x00, 0xCD, 0x00),
    (0xCD, 0xCD, 0x00),
    (0x00, 0x00, 0xEE),
    (0xCD, 0x00, 0xCD),
    (0x00, 0xCD, 0xCD),
    (0xE5, 0xE5, 0xE5),
    (0x7F, 0x7F, 0x7F),
    (0xFF, 0x00, 0x00),
    (0x00, 0xFF, 0x00),
    (0xFF, 0xFF, 0x00),
    (0x5C, 0x5C, 0xFF),
    (0xFF, 0x00, 0xFF),
    (0x00, 0xFF, 0xFF),
    (0xFF, 0xFF, 0xFF),
)

_CUBE_LEVELS = (0x00, 0x5F, 0x87, 0xAF, 0xD7, 0xFF)


def _xterm_256() -> tuple[RGB, ...]:
    cube = [
        (_CUBE_LEVELS[red], _CUBE_LEVELS[green], _CUBE_LEVELS[blue])
        for red in range(6)
        for green in range(6)
        for blue in range(6)
    ]
    greys = [(8 + 10 * step,) * 3 for step in range(24)]
    return (*ANSI_16, *cube, *(tuple(grey) for grey in greys))  # type: ignore[arg-type]


#: The xterm 256-colour palette: ANSI 16, the 6x6x6 cube (16-231), 24 greys (232-255).
XTERM_256: tuple[RGB, ...] = _xterm_256()

_BASE_NAMES = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")

#: Colour names (pyte's) -> index into `ANSI_16`; "yellow" is accepted as well as "brown", and
#: pyte 0.8.2's misspelt "bfightmagenta" (SGR 105) too.
NAMES: dict[str, int] = {
    **{name: index for index, name in enumerate(_BASE_NAMES)},
    **{"bright" + name: index + 8 for index, name in enumerate(_BASE_NAMES)},
    "yellow": 3,
    "brightyellow": 11,
    "bfightmagenta": 13,
}

#: Colour of text with the default foreground.
DEFAULT_FG: RGB = ANSI_16[7]
#: Colour of the default background.
DEFAULT_BG: RGB = ANSI_16[0]
#: Bold text in the default foreground colour.
DEFAULT_FG_BOLD: RGB = ANSI_16[15]


@lru_cache(maxsize=1024)
def resolve(colour: str, *, foreground: bool = True, bold: bool = False) -> RGB:
    """The RGB of a cell colour; unknown values fall back to the default colour."""
    if colour == "default":
        if not foreground:
            return DEFAULT_BG
        return DEFAULT_FG_BOLD if bold else DEFAULT_FG
    index = NAMES.get(colour)
    if index is not None:
        if bold and foreground and index < 8:
            index += 8
        return ANSI_16[index]
    if len(colour) == 6:
        try:
            value = int(colour, 16)
        except ValueError:
            pass
        else:
            return (value >> 16) & 0xFF, (value >> 8) & 0xFF, value & 0xFF
    return resolve("default", foreground=foreground, bold=bold)


def resolve_pair(fg: str, bg: str, *, bold: bool = False, reverse: bool = False) -> tuple[RGB, RGB]:
    """The (foreground, background) RGB actually drawn for a cell's colours and attributes."""
    foreground = resolve(fg, foreground=True, bold=bold)
    background = resolve(bg, foreground=False)
    if reverse:
        return background, foreground
    return foreground, background
