"""Select graphic rendition (SGR, ``CSI ... m``; ECMA-48 8.3.117, xterm's ctlseqs): codes to
cell attributes, from pyte's tables (`pyte.graphics`) plus xterm's extras.

The extras: 6 (rapid blink) blinks, 21 underlines (ECMA-48's doubly underlined), 38/48 take
256 colours (``5;n``) and true colour (``2;r;g;b``), 58 (underline colour, not drawn) is
consumed with its colour, and ``:`` sub-parameters (ITU T.416: ``38:2::r:g:b``, ``4:3``) are
understood. Results are memoised: programs repeat the same few renditions, and equal results
are then the same object, which keeps the screen's per-rendition cell lookup cached.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyte import graphics
from pyte.screens import Char

from vncterm.terminal.cells import DEFAULT_CELL, BoundedCache

__all__ = ["rendition"]

#: Most SGR results remembered, by (rendition before, codes).
MAX_SGR_RESULTS = 4096

#: SGR code -> (cell field, value) for every code that sets one field.
_SETTINGS: dict[int, tuple[str, Any]] = {
    **{code: (name[1:], name[0] == "+") for code, name in graphics.TEXT.items()},
    6: ("blink", True),
    21: ("underscore", True),
    **{code: ("fg", name) for code, name in graphics.FG_ANSI.items()},
    **{code: ("bg", name) for code, name in graphics.BG_ANSI.items()},
    **{code: ("fg", name) for code, name in graphics.FG_AIXTERM.items()},
    # pyte's BG_AIXTERM misspells 105 ("bfightmagenta"): the bright backgrounds are named as
    # the bright foregrounds are.
    **{code + 10: ("bg", name) for code, name in graphics.FG_AIXTERM.items()},
}

#: SGR 0: every attribute back to the default rendition's.
_RESET = {field: value for field, value in DEFAULT_CELL._asdict().items() if field != "data"}

#: Codes followed by a colour (``5;n`` or ``2;r;g;b``) -> the field it sets (None: read and
#: dropped).
_EXTENDED: dict[int, str | None] = {
    graphics.FG_256: "fg",
    graphics.BG_256: "bg",
    58: None,
}

#: The names of colours 0-15 of the 256 (the 16 of `pyte.graphics`, not its hex values).
_NAMED_COLOURS = (
    *(graphics.FG_ANSI[code] for code in range(30, 38)),
    *(graphics.FG_AIXTERM[code] for code in range(90, 98)),
)

_results: BoundedCache[tuple[Char, tuple[int, ...]], Char] = BoundedCache(MAX_SGR_RESULTS)


def rendition(current: Char, codes: tuple[int, ...], colons: Sequence[int] = ()) -> Char:
    """The rendition after SGR ``codes`` on ``current``.

    ``colons`` holds the index of each separator that was a colon, not a semicolon (the
    parameter after it is a sub-parameter of the one before)."""
    if colons:
        return _apply(current, _flatten(codes, colons))
    key = (current, codes)
    result = _results.get(key)
    if result is None:
        result = _results.remember(key, _apply(current, codes))
    return result


def _apply(current: Char, codes: Sequence[int]) -> Char:
    replace: dict[str, Any] = {}
    pending = list(codes)
    pending.reverse()
    while pending:
        code = pending.pop()
        setting = _SETTINGS.get(code)
        if setting is not None:
            replace[setting[0]] = setting[1]
        elif code == 0:
            replace.update(_RESET)
        elif code in _EXTENDED:
            colour = _extended_colour(pending)
            field = _EXTENDED[code]
            if colour is not None and field is not None:
                replace[field] = colour
    return current._replace(**replace)


def _flatten(codes: tuple[int, ...], colons: Sequence[int]) -> list[int]:
    """Sub-parameters as the semicolon forms: ``38:5:n`` -> ``38;5;n``, ``38:2:r:g:b`` and
    ``38:2:colourspace:r:g:b`` -> ``38;2;r;g;b``; ``4:3`` (curly underline) and the like
    count as their main code."""
    after_colon = set(colons)
    groups: list[list[int]] = []
    for index, value in enumerate(codes):
        if index and (index - 1) in after_colon:
            groups[-1].append(value)
        else:
            groups.append([value])
    flat: list[int] = []
    for group in groups:
        if len(group) > 1 and group[0] in _EXTENDED:
            if group[1] == 2 and len(group) >= 6:
                group = [group[0], 2, *group[-3:]]
            flat.extend(group if len(group) > 2 else [group[0], 0])
        else:
            flat.append(group[0])
    return flat


def _extended_colour(pending: list[int]) -> str | None:
    """Consume ``5;n`` or ``2;r;g;b`` from the (reversed) codes left."""
    if not pending:
        return None
    kind = pending.pop()
    if kind == 5:
        if not pending:
            return None
        index = pending.pop()
        if index < 16:
            return _NAMED_COLOURS[index]
        if index < 256:
            return graphics.FG_BG_256[index]
        return None
    if kind == 2:
        if len(pending) < 3:
            pending.clear()
            return None
        red, green, blue = pending.pop(), pending.pop(), pending.pop()
        return f"{_byte(red):02x}{_byte(green):02x}{_byte(blue):02x}"
    return None


def _byte(value: int) -> int:
    return 255 if value > 255 else value
