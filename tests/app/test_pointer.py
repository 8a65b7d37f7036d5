"""Pointer events turned into wheel notches, counted clicks, drags and releases."""

from __future__ import annotations

from vncterm.pointer import (
    LEFT,
    MIDDLE,
    WHEEL_DOWN,
    WHEEL_UP,
    Drag,
    MiddleClick,
    PointerTracker,
    Press,
    Release,
    Wheel,
)


def test_wheel_notches_count_on_press_only() -> None:
    """A wheel notch is the button going down; holding it does not repeat."""
    tracker = PointerTracker(8, 16)
    assert tracker.event(WHEEL_UP, 0, 0, 0.0) == [Wheel(1)]
    assert tracker.event(WHEEL_UP, 0, 0, 0.1) == []
    assert tracker.event(0, 0, 0, 0.2) == []
    assert tracker.event(WHEEL_DOWN, 0, 0, 0.3) == [Wheel(-1)]


def test_click_drag_release_in_cells() -> None:
    """Press, moves to other cells and release come out in text cells."""
    tracker = PointerTracker(8, 16)
    assert tracker.event(LEFT, 17, 33, 0.0) == [Press(2, 2, 1)]
    assert tracker.event(LEFT, 18, 34, 0.1) == []  # same cell
    assert tracker.event(LEFT, 40, 34, 0.2) == [Drag(5, 2)]
    assert tracker.event(0, 40, 34, 0.3) == [Release(5, 2)]


def test_double_and_triple_clicks() -> None:
    """Quick presses on the same cell count up to three, then start again."""
    tracker = PointerTracker(8, 16)
    clicks = []
    for i in range(4):
        (press,) = tracker.event(LEFT, 5, 5, i * 0.1)
        tracker.event(0, 5, 5, i * 0.1 + 0.01)
        assert isinstance(press, Press)
        clicks.append(press.clicks)
    assert clicks == [1, 2, 3, 1]
    (late,) = tracker.event(LEFT, 5, 5, 5.0)
    assert isinstance(late, Press) and late.clicks == 1


def test_middle_click() -> None:
    """The middle button going down asks for a paste."""
    assert PointerTracker(8, 16).event(MIDDLE, 0, 0, 0.0) == [MiddleClick()]
