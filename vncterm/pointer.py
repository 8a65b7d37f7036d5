"""RFB PointerEvents (RFC 6143 7.5.5) turned into what a text console cares about: wheel notches,
clicks counted into single/double/triple, drags and releases, in text cells.

Pure: time is passed in, nothing is drawn or sent here.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Button mask bits.
LEFT, MIDDLE, RIGHT, WHEEL_UP, WHEEL_DOWN = 1, 2, 4, 8, 16

#: Seconds within which presses on the same cell count as a double or triple click.
MULTI_CLICK_SECONDS = 0.4


@dataclass(frozen=True, slots=True)
class Wheel:
    """One wheel notch: +1 up (towards history), -1 down."""

    notches: int


@dataclass(frozen=True, slots=True)
class Press:
    """The left button went down on a cell; `clicks` is 1, 2 or 3."""

    column: int
    row: int
    clicks: int


@dataclass(frozen=True, slots=True)
class Drag:
    """The pointer moved to another cell with the left button held."""

    column: int
    row: int


@dataclass(frozen=True, slots=True)
class Release:
    """The left button went up."""

    column: int
    row: int


@dataclass(frozen=True, slots=True)
class MiddleClick:
    """The middle button went down (paste the selection, X11-style)."""


PointerAction = Wheel | Press | Drag | Release | MiddleClick


class PointerTracker:
    """Remembers the previous mask, position and clicks of one viewer's pointer."""

    def __init__(self, cell_width: int, cell_height: int) -> None:
        self.cell_width = cell_width
        self.cell_height = cell_height
        self._mask = 0
        self._cell = (-1, -1)
        self._last_press = (float("-inf"), (-1, -1))
        self._clicks = 0

    def event(self, mask: int, x: int, y: int, now: float) -> list[PointerAction]:
        """Actions for one PointerEvent, in order."""
        pressed = mask & ~self._mask
        released = self._mask & ~mask
        held = mask & self._mask
        self._mask = mask
        cell = (x // self.cell_width, y // self.cell_height)
        moved = cell != self._cell
        self._cell = cell
        actions: list[PointerAction] = []
        if pressed & WHEEL_UP:
            actions.append(Wheel(1))
        if pressed & WHEEL_DOWN:
            actions.append(Wheel(-1))
        if pressed & MIDDLE:
            actions.append(MiddleClick())
        if pressed & LEFT:
            last_time, last_cell = self._last_press
            if now - last_time <= MULTI_CLICK_SECONDS and last_cell == cell:
                self._clicks = self._clicks % 3 + 1
            else:
                self._clicks = 1
            self._last_press = (now, cell)
            actions.append(Press(cell[0], cell[1], self._clicks))
        elif held & LEFT and moved:
            actions.append(Drag(*cell))
        if released & LEFT:
            actions.append(Release(*cell))
        return actions
