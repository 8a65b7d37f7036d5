"""End to end with a real native viewer: TigerVNC on a virtual X screen, typed into by xdotool.

Skipped where Xvfb, TigerVNC's vncviewer, xdotool or ImageMagick's import are not installed
(`.ci/run` installs them from Debian's packages).
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image

from tests.e2e.screentext import screen_text
from tests.e2e.test_vncterm_e2e import SHELL, Vncterm

TOOLS = ("Xvfb", "vncviewer", "xdotool", "import")
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        any(shutil.which(tool) is None for tool in TOOLS),
        reason="needs Xvfb, tigervnc-viewer, xdotool and imagemagick",
    ),
]

@pytest.fixture
def xserver() -> Iterator[dict[str, str]]:
    """A virtual X screen on a display number Xvfb picks itself (free even when another run
    of this suite has one open)."""
    read_end, write_end = os.pipe()
    process = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_end), "-screen", "0", "800x600x24",
         "-nolisten", "tcp"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_end,),
    )
    os.close(write_end)
    try:
        number = b""
        with os.fdopen(read_end, "rb") as announced:
            ready, _, _ = select.select([announced], [], [], 20)
            if ready:
                number = announced.readline().strip()
        assert number.isdigit(), "Xvfb did not say which display it took"
        env = {"DISPLAY": f":{number.decode()}", "PATH": "/usr/bin:/bin", "HOME": "/tmp"}
        for _ in range(50):
            if subprocess.run(["xdotool", "getmouselocation"], env=env,
                              capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        yield env
    finally:
        process.terminate()
        process.wait(timeout=10)


def _screen(env: dict[str, str], window: str, path: Path, size: tuple[int, int]) -> str:
    """What the viewer window shows (the framebuffer fills it from its top-left corner)."""
    subprocess.run(["import", "-window", window, f"png24:{path}"], env=env, check=True,
                   timeout=20)
    with Image.open(path) as shot:
        return screen_text(shot.convert("RGB").crop((0, 0, *size)))


def _wait_for(env: dict[str, str], window: str, path: Path, text: str,
              timeout: float = 15.0, size: tuple[int, int] = (640, 384)) -> str:
    deadline = time.monotonic() + timeout
    seen = ""
    while time.monotonic() < deadline:
        seen = _screen(env, window, path, size)
        if text in seen:
            return seen
        time.sleep(0.3)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{seen}")


def _type_line(env: dict[str, str], window: str, text: str, attempts: int = 3) -> None:
    """Focus the viewer and type ``text`` and Return, as a person would.

    TigerVNC may replace the inner window that has the focus while it settles (a new
    desktop size, say); xdotool then fails with BadWindow before typing anything. The line
    is cleared (Ctrl+U) and typed again with the focus set anew.
    """
    for attempt in range(attempts):
        subprocess.run(["xdotool", "windowfocus", "--sync", window], env=env, timeout=15)
        if attempt:
            subprocess.run(["xdotool", "key", "ctrl+u"], env=env, timeout=15)
        typed = subprocess.run(["xdotool", "type", "--delay", "40", text], env=env,
                               capture_output=True, timeout=30)
        if typed.returncode == 0:
            subprocess.run(["xdotool", "key", "Return"], env=env, check=True, timeout=15)
            return
        time.sleep(0.5)
    raise AssertionError(f"xdotool could not type into the viewer: {typed.stderr!r}")


def test_tigervnc_shows_console_and_types(xserver: dict[str, str], tmp_path: Path) -> None:
    """TigerVNC shows the shell prompt, and text typed in its window runs in the console."""
    server = Vncterm("--", *SHELL)
    viewer = subprocess.Popen(
        ["vncviewer", f"127.0.0.1::{server.port}"],
        env=xserver,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    shot = tmp_path / "screen.png"
    try:
        window = subprocess.run(["xdotool", "search", "--sync", "--name", "TigerVNC"],
                                env=xserver, capture_output=True, text=True, timeout=15)
        window_id = window.stdout.split()[0]
        _wait_for(xserver, window_id, shot, "$")
        _type_line(xserver, window_id, "echo tiger$((40+2))")
        screen = _wait_for(xserver, window_id, shot, "tiger42")
        assert "$ echo tiger$((40+2))" in screen
        # Resizing the window makes TigerVNC ask for a new desktop size (ExtendedDesktopSize):
        # the console follows in whole cells and the shell sees the new size.
        subprocess.run(["xdotool", "windowsize", "--sync", window_id, "800", "480"],
                       env=xserver, timeout=15)
        time.sleep(1.0)
        _type_line(xserver, window_id, "stty size")
        screen = _wait_for(xserver, window_id, shot, "30 100", size=(800, 480))
        assert "$ stty size" in screen
    finally:
        viewer.terminate()
        viewer.wait(timeout=10)
        server.stop()
