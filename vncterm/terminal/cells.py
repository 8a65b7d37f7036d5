"""Cells shared per rendition, and the caches behind them.

Cells are pyte `Char` values and immutable, so one `Char` per (character, rendition) is
shared by every cell, row and screen that shows it: drawing is a dictionary lookup and an idle
screen holds no cells of its own. The caches are process-wide (shared by every `Terminal`) and
bounded; when one fills up it starts again (the Chars in use live on).
"""

from __future__ import annotations

from pyte.screens import Char, StaticDefaultDict

from vncterm.terminal.scrollback import BLANK

__all__ = [
    "ALIGNMENT_CELL",
    "DEFAULT_CELL",
    "MAX_RENDITIONS",
    "Cells",
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


class _Reversed(dict[Char, Char]):
    """Cells as reverse video (DECSCNM) shows them: reverse flipped, by cell (bounded)."""

    def __missing__(self, cell: Char) -> Char:
        flipped = cell._replace(reverse=not cell.reverse)
        if len(self) >= MAX_RENDITIONS * 4:
            self.clear()
        self[cell] = flipped
        return flipped


_reversed = _Reversed()


class Cells(dict[str, Char]):
    """The shared cells of one rendition (a cursor's attributes), by character."""

    __slots__ = ("attrs",)

    def __init__(self, attrs: Char) -> None:
        super().__init__()
        self.attrs = attrs

    def __missing__(self, data: str) -> Char:
        cell = self.attrs._replace(data=data)
        if len(self) < MAX_CELLS_PER_RENDITION:
            self[data] = cell
        return cell



_renditions: dict[Char, Cells] = {}


def cells_for(attrs: Char) -> Cells:
    """The shared cells of rendition ``attrs``."""
    cells = _renditions.get(attrs)
    if cells is None:
        if len(_renditions) >= MAX_RENDITIONS:
            _renditions.clear()
        cells = _renditions[attrs] = Cells(attrs)
    return cells


#: ``cell`` as reverse video shows it.
reversed_cell = _reversed.__getitem__
