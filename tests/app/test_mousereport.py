"""Mouse reports for applications that enabled xterm mouse tracking."""

from __future__ import annotations

from vncterm.mousereport import ANY_EVENT, BUTTON_EVENT, NORMAL, X10, MouseModes, MouseReporter


def test_normal_tracking_classic_encoding() -> None:
    """Mode 1000: press and release of the left button, classic bytes (offset 32, 1-based)."""
    reporter = MouseReporter()
    modes = MouseModes(NORMAL)
    assert reporter.report(modes, 1, 4, 2) == b"\x1b[M\x20\x25\x23"
    assert reporter.report(modes, 1, 6, 2) == b""  # motion is not reported in mode 1000
    assert reporter.report(modes, 0, 6, 2) == b"\x1b[M\x23\x27\x23"


def test_sgr_encoding_says_which_button_went_up() -> None:
    """Mode 1006: ESC[<b;x;yM on press and ...m on release, with the real button."""
    reporter = MouseReporter()
    modes = MouseModes(NORMAL, sgr=True)
    assert reporter.report(modes, 4, 299, 99) == b"\x1b[<2;300;100M"
    assert reporter.report(modes, 0, 299, 99) == b"\x1b[<2;300;100m"


def test_wheel_and_drag_reports() -> None:
    """Wheel notches are buttons 64/65; mode 1002 reports drags, 1003 any motion."""
    reporter = MouseReporter()
    drag = MouseModes(BUTTON_EVENT, sgr=True)
    assert reporter.report(drag, 8, 0, 0) == b"\x1b[<64;1;1M"
    reporter.report(drag, 0, 0, 0)
    reporter.report(drag, 1, 0, 0)
    assert reporter.report(drag, 1, 3, 0) == b"\x1b[<32;4;1M"
    reporter.report(drag, 0, 3, 0)
    assert reporter.report(drag, 0, 5, 0) == b""
    assert reporter.report(MouseModes(ANY_EVENT, sgr=True), 0, 6, 0) == b"\x1b[<35;7;1M"


def test_x10_reports_presses_only() -> None:
    """Mode 9 (X10) reports button presses, nothing else."""
    reporter = MouseReporter()
    modes = MouseModes(X10)
    assert reporter.report(modes, 1, 0, 0) == b"\x1b[M\x20\x21\x21"
    assert reporter.report(modes, 0, 0, 0) == b""
    assert reporter.report(modes, 8, 0, 0) == b""


def test_no_tracking_reports_nothing() -> None:
    """Without tracking, pointer events produce no bytes."""
    assert MouseReporter().report(MouseModes(), 1, 1, 1) == b""
