"""What changed on a terminal's screen between two looks: damaged rows and one pending scroll."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Damage"]


@dataclass(frozen=True, slots=True)
class Damage:
    """What changed on the screen since the previous `Terminal.take_damage()`.

    Apply it to the previous image in order: first move rows ``top + count .. bottom`` of the
    scroll region up to ``top .. bottom - count`` (if ``scroll`` is set), then redraw every row
    in ``rows`` from the current screen. Rows not in ``rows`` are then exactly right.
    """

    rows: frozenset[int]
    #: ``(top, bottom, count)``: region rows ``top..bottom`` (inclusive) scrolled up ``count``.
    scroll: tuple[int, int, int] | None = None
