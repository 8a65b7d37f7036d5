"""End to end: the real `vncterm` program on 127.0.0.1, driven by vncdotool's RFB client."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PROBE = [sys.executable, "-m", "tests.e2e.vncprobe"]
SHELL = ["env", "PS1=$ ", "HOME=/tmp", "sh", "-i"]


class Vncterm:
    """A running vncterm process and the port it listens on."""

    def __init__(self, *args: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "vncterm", "--listen", "tcp:0:interface=127.0.0.1", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
        if match is None:
            self.process.kill()
            _, err = self.process.communicate(timeout=10)
            raise AssertionError(f"vncterm did not start: {line!r} {err}")
        self.port = int(match.group(1))

    def probe(self, *args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*PROBE, "--port", str(self.port), "--timeout", str(timeout), *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            timeout=timeout + 15,
        )

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            _, err = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, err = self.process.communicate()
        return err


@pytest.fixture
def shell() -> Iterator[Vncterm]:
    server = Vncterm("--name", "e2e", "--", *SHELL)
    yield server
    server.stop()


@pytest.mark.parametrize(
    ("version", "bpp", "encoding"),
    [("3.3", 8, "raw"), ("3.7", 16, "hextile"), ("3.8", 32, "raw"), ("3.8", 16, "raw"),
     ("3.3", 32, "hextile")],
)
def test_typed_command_echoes(shell: Vncterm, version: str, bpp: int, encoding: str) -> None:
    """Keys typed in a viewer reach the shell and its output is drawn, for each version/format."""
    result = shell.probe("--version", version, "--bpp", str(bpp), "--encoding", encoding,
                         "--ready", "$", "--type", "echo $((6*7))xy\\n", "--expect", "42xy")
    assert result.returncode == 0, result.stderr
    assert "echo $((6*7))xy" in result.stdout


def test_scrolling_uses_copyrect(shell: Vncterm) -> None:
    """Output that scrolls the screen reaches a CopyRect-capable viewer intact."""
    result = shell.probe("--copyrect", "--ready", "$",
                         "--type", "for i in $(seq 1 40); do echo line$i; sleep 0.05; done\\n",
                         "--expect", "line40\n$")
    assert result.returncode == 0, result.stderr
    assert "line39\nline40" in result.stdout
    copies = int(re.search(r"copyrects=(\d+)", result.stderr).group(1))  # type: ignore[union-attr]
    assert copies >= 1


def test_password_required_and_checked(tmp_path: Path) -> None:
    """With --password-file, the right password gets the screen and a wrong one is refused."""
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    server = Vncterm("--password-file", str(secret), "--", *SHELL)
    try:
        good = server.probe("--password", "s3cret", "--expect", "$")
        assert good.returncode == 0, good.stderr
        bad = server.probe("--password", "wrong", "--expect", "$", timeout=8)
        assert bad.returncode != 0
    finally:
        server.stop()


def test_viewer_sees_output_written_before_it_connected(tmp_path: Path) -> None:
    """Console output is emulated with nobody watching: a later viewer sees the current screen."""
    script = tmp_path / "talk.sh"
    script.write_text("printf 'early bird\\r\\n'; printf 'done\\r\\n'; sleep 30\n")
    server = Vncterm("--", "sh", str(script))
    try:
        time.sleep(1.0)
        result = server.probe("--expect", "done")
        assert result.returncode == 0, result.stderr
        assert "early bird" in result.stdout
    finally:
        server.stop()


def test_exits_after_command_ends_and_viewer_leaves(tmp_path: Path) -> None:
    """A finished command leaves its last screen and a status line; vncterm exits afterwards."""
    server = Vncterm("--", "sh", "-c", "echo goodbye; sleep 3")
    try:
        result = server.probe("--expect", "exited with status 0")
        assert result.returncode == 0, result.stderr
        assert "goodbye" in result.stdout
        assert server.process.wait(timeout=10) == 0
    finally:
        server.stop()


def test_bad_viewer_does_not_disturb_others(shell: Vncterm) -> None:
    """Garbage from one connection closes only that connection; another viewer still works."""
    import socket

    with socket.create_connection(("127.0.0.1", shell.port), timeout=5) as bad:
        assert bad.recv(12) == b"RFB 003.008\n"
        bad.sendall(b"RFB 003.008\n")
        bad.recv(64)
        bad.sendall(b"\x01\x00")  # security None, then ClientInit
        bad.settimeout(5)
        bad.sendall(b"\xff" * 32)  # an unknown message type
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and bad.recv(65536):
            pass
    result = shell.probe("--ready", "$", "--type", "echo ok$((1+1))\\n", "--expect", "ok2")
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(os.environ.get("VNCTERM_SKIP_DEMO") == "1", reason="demo disabled")
def test_demo_replays_boot_log() -> None:
    """With no console source, the embedded demo shows the replayed guest boot."""
    server = Vncterm()
    try:
        result = server.probe("--expect", "vncterm demo", timeout=25)
        assert result.returncode == 0, result.stderr
    finally:
        server.stop()


def test_pty_device_source(tmp_path: Path) -> None:
    """--pty attaches to an existing pty: its output is drawn and typed keys come out of it."""
    master, slave = os.openpty()
    server = Vncterm("--pty", os.ttyname(slave), "--name", "dom1")
    try:
        os.write(master, b"domain console says hi\r\nlogin: ")
        result = server.probe("--ready", "login:", "--type", "root\\n",
                              "--expect", "domain console says hi")
        assert result.returncode == 0, result.stderr
        os.set_blocking(master, False)
        typed = b""
        deadline = time.monotonic() + 10
        while b"root\r" not in typed and time.monotonic() < deadline:
            try:
                typed += os.read(master, 1024)
            except BlockingIOError:
                time.sleep(0.05)
        # The console gets the keys; a BusyBox-style ESC[6n answer may come first.
        assert b"root\r" in typed
    finally:
        server.stop()
        os.close(master)
        os.close(slave)


def test_respawn_restarts_the_command(tmp_path: Path) -> None:
    """--respawn starts the command again each time it exits, keeping the screen."""
    counter = tmp_path / "n"
    script = (f"n=$(cat {counter} 2>/dev/null || echo 0); n=$((n+1)); echo $n > {counter}; "
              "echo run$n; sleep 0.3")
    server = Vncterm("--respawn", "--", "sh", "-c", script)
    try:
        result = server.probe("--expect", "run3", timeout=25)
        assert result.returncode == 0, result.stderr
        assert "run1" in result.stdout and "run2" in result.stdout
    finally:
        server.stop()


def test_log_recording_and_text_access(tmp_path: Path) -> None:
    """--log and --record keep all output with nobody watching; --text-listen serves the screen."""
    import json
    import urllib.request

    log, cast = tmp_path / "console.log", tmp_path / "console.cast"
    process = subprocess.Popen(
        [sys.executable, "-m", "vncterm", "--listen", "tcp:0:interface=127.0.0.1",
         "--text-listen", "tcp:0:interface=127.0.0.1", "--log", str(log), "--record", str(cast),
         "--", "sh", "-c", "echo nobody watched this; sleep 30"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline(), process.stdout.readline()]
        match = re.search(r"text access on 127\.0\.0\.1:(\d+)", "".join(lines))
        assert match, lines
        url = f"http://127.0.0.1:{match.group(1)}"
        deadline = time.monotonic() + 10
        text = ""
        while "nobody watched this" not in text and time.monotonic() < deadline:
            with urllib.request.urlopen(f"{url}/screen.txt", timeout=5) as reply:
                text = reply.read().decode()
            time.sleep(0.1)
        assert text.splitlines()[0] == "nobody watched this"
        with urllib.request.urlopen(f"{url}/screen.png", timeout=5) as reply:
            assert reply.read(8) == b"\x89PNG\r\n\x1a\n"
    finally:
        process.terminate()
        process.communicate(timeout=10)
    assert b"nobody watched this" in log.read_bytes()
    header, *events = cast.read_text().splitlines()
    assert json.loads(header)["version"] == 2
    assert any("nobody watched this" in json.loads(event)[2] for event in events)


def test_scrollback_and_selection_with_vncdotool(shell: Vncterm) -> None:
    """Shift+Page Up shows one viewer the history; another viewer still sees the live screen."""
    result = shell.probe("--ready", "$", "--type", "seq 1 100\\n", "--expect", "100\n$",
                         "--scrollback", "--then", "\n62\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "100" not in lines
    live = shell.probe("--expect", "100\n$")
    assert live.returncode == 0, live.stderr


def test_drag_copies_to_viewer_clipboard(shell: Vncterm) -> None:
    """Dragging over text in vncdotool's viewer sends that text as ServerCutText."""
    result = shell.probe("--ready", "$", "--type", "echo copy-me-please\\n",
                         "--expect", "\ncopy-me-please", "--drag", "0,1,13,1")
    assert result.returncode == 0, result.stderr
    assert "copied: copy-me-please" in result.stderr


def test_paste_is_typed_into_the_console(shell: Vncterm) -> None:
    """Clipboard text from the viewer is typed into the shell, newline as Enter."""
    result = shell.probe("--ready", "$", "--type", "", "--paste", "echo pasted$((2*21))\\n",
                         "--expect", "pasted42")
    assert result.returncode == 0, result.stderr
    assert "$ echo pasted$((2*21))\npasted42" in result.stdout


SERIAL_GUEST = r'''
import os, socket, sys, time
path = sys.argv[1]
server = socket.socket(socket.AF_UNIX)
server.bind(path)
server.listen(1)
server.settimeout(30)
for boot in (1, 2):
    conn, _ = server.accept()
    conn.sendall(b"guest boot %d\r\n(initramfs) " % boot)
    if boot == 1:
        time.sleep(0.5)
        conn.close()  # the guest reboots: its serial socket closes
        server.close()
        os.unlink(path)
        time.sleep(1.0)  # nothing listens for a while: vncterm retries with back-off
        server = socket.socket(socket.AF_UNIX)
        server.bind(path)
        server.listen(1)
        server.settimeout(30)
    else:
        data = b""
        while b"\r" not in data:
            data += conn.recv(100)
        conn.sendall(b"\r\nyou typed " + data.strip() + b"\r\n")
        time.sleep(5)
'''


def test_unix_serial_console_survives_a_guest_reboot(tmp_path: Path) -> None:
    """--unix: a serial socket that closes is reconnected with back-off; the screen is kept."""
    guest_script = tmp_path / "guest.py"
    guest_script.write_text(SERIAL_GUEST)
    socket_path = tmp_path / "ttyS0.sock"
    guest = subprocess.Popen([sys.executable, str(guest_script), str(socket_path)])
    try:
        deadline = time.monotonic() + 10
        while not socket_path.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        server = Vncterm("--unix", str(socket_path), "--name", "guest")
        try:
            result = server.probe("--ready", "guest boot 2", "--type", "ls\\n",
                                  "--expect", "you typed ls", timeout=25)
            assert result.returncode == 0, result.stderr
            screen = result.stdout
            assert "guest boot 1" in screen  # the first boot's output is still on screen
            assert "ttyS0.sock closed" in screen  # and a status line says what happened
        finally:
            server.stop()
    finally:
        guest.kill()
        guest.wait(timeout=10)
