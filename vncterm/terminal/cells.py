"""Cells shared per rendition, and the bounded caches behind them (one helper for all).

Cells are pyte `Char` values and immutable, so one `Char` per (character, rendition) is
shared by every cell, row and screen that shows it: drawing is a dictionary lookup and an idle
screen holds no cells of its own. The caches are process-wide (shared by every `Terminal`) and
bounded: one that fills up starts again, empty, and the values already handed out live on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from pyte.screens import Char, StaticDefaultDict

from vncterm.terminal.scrollback import BLANK

__all__ = [
    "ALIGNMENT_CELL",
    "DEFAULT_CELL",
    "MAX_RENDITIONS",
    "BoundedCache",
    "Cells",
    "blank_for",
    "cells_for",
    "reversed_cell",
    "unpair",
]

#: Most renditions (cursor attributes) whose shared cells are kept at once.
MAX_RENDITIONS = 1024
#: Most characters whose cell is kept per rendition.
MAX_CELLS_PER_RENDITION = 1024

#: The default blank: the very object the scrollback compares with (an identity test there).
DEFAULT_CELL = BLANK

#: DECALN's cell.
ALIGNMENT_CELL = Char("E", "default", "default", reverse=False)

_Key = TypeVar("_Key")
_Value = TypeVar("_Value")


class BoundedCache(dict[_Key, _Value]):
    """A dict of at most ``limit`` entries that starts again, empty, when it is full.

    With ``make``, a missing key's value is made, remembered and returned (reads then cost
    one dictionary lookup, in C); without it a missing key raises `KeyError` as in a dict.
    """

    __slots__ = ("limit", "make")

    def __init__(self, limit: int, make: Callable[[_Key], _Value] | None = None) -> None:
        super().__init__()
        self.limit = limit
        self.make = make

    def __missing__(self, key: _Key) -> _Value:
        if self.make is None:
            raise KeyError(key)
        return self.remember(key, self.make(key))

    def remember(self, key: _Key, value: _Value) -> _Value:
        """Keep ``value`` for ``key`` (emptying the cache first if it is full); return it."""
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        return value


class Cells(BoundedCache[str, Char]):
    """The shared cells of one rendition (a cursor's attributes), by character."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Char) -> None:
        super().__init__(MAX_CELLS_PER_RENDITION)
        self.attrs = attrs

    def __missing__(self, data: str) -> Char:
        return self.remember(data, self.attrs._replace(data=data))


#: The shared cells of each rendition.
_renditions: BoundedCache[Char, Cells] = BoundedCache(MAX_RENDITIONS, Cells)
#: Cells as reverse video (DECSCNM) shows them: ``reverse`` flipped.
_reversed: BoundedCache[Char, Char] = BoundedCache(
    MAX_RENDITIONS * 4, lambda cell: cell._replace(reverse=not cell.reverse)
)

#: Blanks in each pair of colours (fg, bg).
_blanks: BoundedCache[tuple[str, str], Char] = BoundedCache(
    MAX_RENDITIONS,
    lambda colours: DEFAULT_CELL if colours == ("default", "default")
    else Char(" ", *colours, reverse=False),
)

#: The shared cells of a rendition: ``cells_for(attrs)[character]`` is the cell.
cells_for = _renditions.__getitem__
#: ``cell`` as reverse video shows it.
reversed_cell = _reversed.__getitem__


def blank_for(attrs: Char) -> Char:
    """A blank in the colours of ``attrs`` (what xterm's back-colour erase leaves), no other
    attribute: `DEFAULT_CELL` itself in the default colours."""
    return _blanks[attrs.fg, attrs.bg]


def unpair(line: StaticDefaultDict[int, Char], edge: int) -> None:
    """Cells ``edge - 1`` and ``edge`` are about to be separated (one of them overwritten,
    erased or moved): if they are the two halves of a wide character, both become blanks in
    its rendition, as in xterm, so no half is left that the renderer would draw."""
    stub = line.get(edge)
    if stub is not None and stub.data == "":
        line[edge] = stub._replace(data=" ")
        left = line.get(edge - 1)
        if left is not None and left.data:
            line[edge - 1] = left._replace(data=" ")
