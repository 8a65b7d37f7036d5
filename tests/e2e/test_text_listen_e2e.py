"""End to end: the real `vncterm` refuses to serve its unauthenticated text interface anywhere
but on loopback or a UNIX socket, judged by what Twisted binds, not by a reading of the string."""

from __future__ import annotations

import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
VNCTERM = [sys.executable, "-m", "vncterm", "--listen", "tcp:0:interface=127.0.0.1"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _refused(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return False
    except OSError:
        return True


def test_two_interfaces_the_last_one_public_is_refused() -> None:
    """``interface=127.0.0.1:interface=0.0.0.0`` (Twisted binds the last) is refused, and
    nothing is served on the port."""
    port = _free_port()
    endpoint = f"tcp:{port}:interface=127.0.0.1:interface=0.0.0.0"
    done = subprocess.run([*VNCTERM, "--text-listen", endpoint, "--", "cat"],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0
    assert f"--text-listen {endpoint}: only loopback or unix endpoints" in done.stderr
    assert _refused(port)


def test_socket_bound_to_every_address_is_refused_once_listening() -> None:
    """A socket passed in systemd's way, bound to 0.0.0.0, passes the string check; the
    address it is actually bound to is not loopback, so vncterm stops and says so."""
    listening = socket.socket()
    try:
        listening.bind(("0.0.0.0", 0))  # the very address the check must refuse
        listening.listen(1)
        port = listening.getsockname()[1]
        fd = listening.fileno()
        # As systemd passes it: descriptor 3, LISTEN_PID vncterm's own (exec keeps the pid).
        launch = ("import os, sys; os.dup2(int(sys.argv[1]), 3); "
                  "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1', "
                  "LISTEN_FDNAMES='text'); os.execv(sys.executable, sys.argv[2:])")
        done = subprocess.run(
            [sys.executable, "-c", launch, str(fd), *VNCTERM, "--text-listen",
             "systemd:domain=INET:index=0", "--", "cat"],
            capture_output=True, text=True, cwd=ROOT, timeout=60, pass_fds=(fd,))
        assert done.returncode == 1, done.stderr
        assert f"listening on 0.0.0.0:{port}, which is neither a loopback address" in done.stderr
    finally:
        listening.close()


def test_loopback_text_interface_is_served() -> None:
    """A text interface on 127.0.0.1 passes both checks and serves the screen."""
    import re
    import urllib.request

    process = subprocess.Popen([*VNCTERM, "--text-listen", "tcp:0:interface=127.0.0.1", "--",
                                "sh", "-c", "echo text ok; sleep 30"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               cwd=ROOT)
    try:
        assert process.stdout is not None
        port = None
        for _ in range(3):
            match = re.search(r"text access on 127\.0\.0\.1:(\d+)", process.stdout.readline())
            if match:
                port = int(match.group(1))
                break
        assert port is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/screen.txt", timeout=10) as reply:
            assert reply.status == 200
    finally:
        process.terminate()
        process.communicate(timeout=10)
