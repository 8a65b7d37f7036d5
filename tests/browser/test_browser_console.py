"""End to end in a real browser: Debian's headless Chromium, driven by playwright-core from npm,
opens the console page of a real `consoleproxy serve` (the embedded demo) over http:// and over
https:// (Chromium offers h2 and http/1.1 by ALPN: the TLS listener must pick http/1.1), logs
in from a first visit, lists the consoles by VM name, sees the console scaled to the window,
reads the demo console's text back from noVNC's canvas, types, pastes, and recovers from a lost
connection; a logged-out session is explained, not retried forever.

Needs node, /usr/bin/chromium (or $CHROMIUM) and `npm ci` (noVNC and playwright-core in
node_modules); skipped when any is missing, unless CONSOLEPROXY_REQUIRE_BROWSER=1 (CI sets it
once it has installed them), which turns the skip into a failure.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import socket
import subprocess
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from consoleproxy.web import find_novnc
from tests.e2e.screentext import screen_text
from tests.proxy.serving import consoleproxy

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DRIVER = Path(__file__).with_name("driver.mjs")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
STEP = 20.0  # seconds any one step may take


def _missing() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed"
    if not os.access(CHROMIUM, os.X_OK):
        return f"{CHROMIUM} is not installed (apt-get install chromium)"
    if not (REPO / "node_modules" / "playwright-core").is_dir():
        return "playwright-core is not installed (npm ci)"
    if find_novnc() is None:
        return "noVNC is not installed (npm ci)"
    return None


@pytest.fixture(scope="module", autouse=True)
def _browser_available() -> None:
    missing = _missing()
    if missing is not None:
        if os.environ.get("CONSOLEPROXY_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser test required but {missing}")
        pytest.skip(missing)


class Driver:
    """The node driver process: one JSON command per line, one JSON reply per line."""

    def __init__(self, profile: Path) -> None:
        self.process = subprocess.Popen(
            ["node", str(DRIVER), str(profile)], cwd=REPO, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        self._buffer = b""

    def __call__(self, cmd: str, wait: float = STEP, **arguments: Any) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"cmd": cmd, **arguments}).encode() + b"\n")
        self.process.stdin.flush()
        deadline = time.monotonic() + wait + 30.0  # the first command also starts Chromium
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            ready, _, _ = select.select([self.process.stdout], [], [], max(0.0, left))
            if not ready:
                raise TimeoutError(f"browser driver did not answer {cmd!r}")
            chunk = os.read(self.process.stdout.fileno(), 65536)
            if not chunk:
                assert self.process.stderr is not None
                raise RuntimeError(f"browser driver died: {self.process.stderr.read()!r}")
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        reply: dict[str, Any] = json.loads(line)
        if not reply.get("ok"):
            logs = self.logs()
            raise AssertionError(f"{cmd} failed: {reply}; page log: {logs}")
        return reply

    def logs(self) -> list[str]:
        try:
            return list(self("logs", wait=5)["logs"])
        except Exception:  # the driver is gone: nothing more to learn from it
            return []

    def wait_state(self, *states: str, timeout: float = STEP) -> dict[str, Any]:
        return self("wait_state", wait=timeout, states=list(states), timeout=int(timeout * 1000))

    def close(self) -> None:
        try:
            self("close", wait=10)
        except Exception:  # already gone
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for pipe in (self.process.stdin, self.process.stdout, self.process.stderr):
            if pipe is not None:
                pipe.close()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    """`consoleproxy serve` with the embedded demo on free http and https ports."""
    directory = tmp_path_factory.mktemp("browser-proxy")
    environment = {**os.environ, "SHELL": "/bin/sh", "PS1": "$ "}
    with consoleproxy(
        ["--listen", "tcp:0:interface=127.0.0.1", "--listen", "ssl:0:interface=127.0.0.1",
         "--state-dir", str(directory / "state")],
        directory, listeners=2, cwd=REPO, env=environment,
    ) as ports:
        yield ports


@pytest.fixture
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Driver]:
    """A fresh Chromium profile per test: no cookie from another run (cookies ignore ports)."""
    driver = Driver(tmp_path_factory.mktemp("chromium-profile"))
    try:
        yield driver
    finally:
        driver.close()


def wait_for_screen(browser: Driver, directory: Path, found: Callable[[str], bool],
                    what: str, timeout: float = STEP) -> str:
    """Poll noVNC's canvas until its text (read back glyph by glyph) satisfies ``found``."""
    deadline = time.monotonic() + timeout
    text = ""
    shot = directory / "canvas.png"
    while time.monotonic() < deadline:
        if browser("canvas", path=str(shot))["found"]:
            with Image.open(shot) as image:
                text = screen_text(image)
            if found(text):
                return text
        time.sleep(0.2)
    raise AssertionError(f"{what} not on the canvas in {timeout} s; it shows:\n{text}")


def kick_viewers(port: int, session: str) -> None:
    """Open the demo console over CONNECT as an exclusive viewer (shared flag 0), which makes
    vncterm drop every other viewer, then leave."""
    ref = "OpaqueRef:76825670-6b1e-439b-b2c1-eccaa11fbc0f"
    with socket.create_connection(("127.0.0.1", port), timeout=STEP) as sock:
        sock.sendall(f"CONNECT /console?ref={ref}&session_id={session} HTTP/1.0\r\n\r\n"
                     .encode())
        received = b""
        while not received.endswith(b"RFB 003.008\n"):  # the reply head, then the greeting
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK"), received
        sock.sendall(b"RFB 003.008\n")
        assert sock.recv(2) == b"\x01\x01"  # security types: None
        sock.sendall(b"\x01")
        assert sock.recv(4) == b"\x00\x00\x00\x00"  # SecurityResult OK
        sock.sendall(b"\x00")  # ClientInit, shared flag 0: exclusive
        sock.recv(4096)  # ServerInit


DEMO_RFB = "OpaqueRef:76825670-6b1e-439b-b2c1-eccaa11fbc0f"


def assert_scaled_to_fit(browser: Driver) -> None:
    """noVNC's canvas fills the console area along one side (scaled up or down to the window),
    keeping the console's 640x384 shape."""
    screen = browser("box", selector="#screen")["box"]
    canvas = browser("box", selector="#screen canvas")["box"]
    assert abs(canvas["width"] / canvas["height"] - 640 / 384) < 0.02, canvas
    fits_width = abs(canvas["width"] - screen["width"]) <= 2
    fits_height = abs(canvas["height"] - screen["height"]) <= 2
    assert fits_width or fits_height, (canvas, screen)
    assert canvas["width"] <= screen["width"] + 2 and canvas["height"] <= screen["height"] + 2


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_browser_console(proxy: dict[str, int], browser: Driver, tmp_path: Path,
                         scheme: str) -> None:
    """From a first visit to a console link, a browser is asked to log in (not told its session
    expired), logs in, lists the consoles by VM name with the login form gone, sees the console
    scaled to its window, types, pastes, reconnects after losing the connection, and is told to
    log in again once its session is gone."""
    base = f"{scheme}://127.0.0.1:{proxy[scheme]}"
    browser("goto", url=f"{base}/console.html?ref={DEMO_RFB}")
    state = browser.wait_state("login")
    assert "expired" not in state["status"]
    assert browser("visible", selector="#login")["visible"]
    assert not browser("visible", selector="#login-expired")["visible"]
    browser("screenshot", path=str(tmp_path / f"first-visit-{scheme}.png"))
    browser("fill", selector="input[name=username]", value="root")
    browser("fill", selector="input[name=password]", value="wrong")
    browser("click", selector="#login button[type=submit]")
    browser.wait_state("login")
    assert "Wrong user name" in browser("text", selector="#login")["text"]
    browser("fill", selector="input[name=username]", value="root")
    browser("fill", selector="input[name=password]", value="demo")
    browser("click", selector="#login button[type=submit]")
    # Back where the first visit was going.
    browser.wait_state("connected")
    cookies = {c["name"]: c for c in browser("cookies")["cookies"]}
    cookie = cookies["session_id"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert cookie["secure"] == (scheme == "https")
    assert cookie["value"].startswith("OpaqueRef:")

    browser("goto", url=f"{base}/")
    browser.wait_state("list")
    assert not browser("visible", selector="#login")["visible"]
    assert browser("texts", selector="a.open-console")["texts"] == ["demo"]
    assert browser("texts", selector=".console-uuid")["texts"] == [DEMO_RFB.split(":")[1]]
    browser("screenshot", path=str(tmp_path / f"list-{scheme}.png"))
    browser("click", selector="a.open-console")
    browser.wait_state("connected")
    wait_for_screen(browser, tmp_path, lambda text: "the boot above was a replay" in text,
                    "the demo's boot log and shell banner")
    assert_scaled_to_fit(browser)
    browser("viewport", width=1280, height=900)
    wait_until(lambda: browser("box", selector="#screen canvas")["box"]["width"] > 1100,
               "the console growing with the window")
    assert_scaled_to_fit(browser)
    browser("screenshot", path=str(tmp_path / f"console-{scheme}.png"))
    browser("viewport", width=900, height=600)
    # The replayed boot's cursor-position answers must not reach the shell or the screen.
    screen = wait_for_screen(browser, tmp_path, lambda text: text.rstrip().endswith("$"),
                             "the shell's prompt")
    assert "[24;13R" not in screen
    browser("focus_screen")
    browser("type", text="echo browser$((6*7))")
    browser("press", key="Enter")
    wait_for_screen(browser, tmp_path, lambda text: "\nbrowser42" in text,
                    "the output of a command typed into the canvas")

    browser("fill", selector="#paste-text", value="echo pasted$((2*3))\n")
    browser("click", selector="#paste")
    wait_for_screen(browser, tmp_path, lambda text: "\npasted6" in text,
                    "the output of pasted text")
    browser("fill", selector="#paste-text", value="echo typed$((3*3))\n")
    browser("click", selector="#type")
    wait_for_screen(browser, tmp_path, lambda text: "\ntyped9" in text,
                    "the output of text typed by the Type button")
    # Ctrl-Alt-Del reaches a text console as xterm's Ctrl+Alt+Delete sequence, which the
    # tty echoes; Ctrl-U then drops it from the shell's line.
    browser("click", selector="#ctrl-alt-del")
    wait_for_screen(browser, tmp_path, lambda text: text.rstrip().endswith("$ ^[[3;7~"),
                    "the echo of Ctrl-Alt-Del")
    browser("focus_screen")
    browser("press", key="Control+U")

    # Losing the connection (here: an exclusive viewer elsewhere) is followed by a reconnect
    # that finds the console again.
    kick_viewers(proxy["http"], cookie["value"])
    browser.wait_state("retrying", "connecting")
    browser.wait_state("connected")
    browser("focus_screen")
    browser("type", text="echo again$((5+5))")
    browser("press", key="Enter")
    wait_for_screen(browser, tmp_path, lambda text: "\nagain10" in text,
                    "the console after reconnecting")

    # A session that ended is explained and not retried, on the console and on the list.
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{proxy['http']}/") as proxy_api:
        api: Any = proxy_api
        login = api.session.login_with_password("root", "demo", "1.0", "browser test")
        helper = login["Value"]
        assert api.session.logout(cookie["value"])["Status"] == "Success"
    kick_viewers(proxy["http"], helper)
    state = browser.wait_state("expired")
    assert "log in again" in state["status"]
    browser("goto", url=f"{base}/")
    browser.wait_state("login")
    assert browser("visible", selector="#login-expired")["visible"]
    browser("screenshot", path=str(tmp_path / f"expired-{scheme}.png"))


def wait_until(condition: Callable[[], bool], what: str, timeout: float = STEP) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"no {what} in {timeout} s"
        time.sleep(0.1)
