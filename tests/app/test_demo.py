"""The demo guest: after the replayed boot the shell gets a terminal in its default modes."""

from __future__ import annotations

import os
from pathlib import Path

from vncterm.demo import boot_then_banner
from vncterm.terminal import Terminal


def test_long_commands_wrap_after_the_replayed_boot(tmp_path: Path) -> None:
    """The boot leaves autowrap off; what the demo writes before the shell turns it back on
    (and leaves the cursor where the banner put it), so a long command line wraps."""
    out = os.open(tmp_path / "console", os.O_WRONLY | os.O_CREAT)
    try:
        boot_then_banner(out, rate=float("inf"))
    finally:
        os.close(out)
    terminal = Terminal(80, 24)
    terminal.feed((tmp_path / "console").read_bytes())
    assert "this is a real shell" in terminal.text()[-2]
    assert terminal.cursor == (0, 23)
    terminal.feed(b"$ " + b"x" * 100)
    assert terminal.text()[-2].rstrip() == "$ " + "x" * 78
    assert terminal.text()[-1].rstrip() == "x" * 22
