"""End to end on 127.0.0.1: a hostile guest beside a normal one in one real consoleproxy.

The hostile guest writes the costliest output known for the emulator
(`vncterm.terminal.hostile`) as fast as its console takes it; the normal guest echoes each
key on its first line. While the hostile one streams, a viewer of the normal console sees its
keys echoed, XML-RPC answers, and the hostile console itself still serves a viewer. Deadlines
are generous: this checks behaviour (nothing starves), not speed (bench item 11 measures that).
"""

from __future__ import annotations

import http.client
import socket
import struct
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.e2e.screentext import screen_text
from tests.proxy.helpers import PASSWORD, PASSWORD_HASH
from tests.proxy.serving import consoleproxy

pytestmark = pytest.mark.e2e

#: Seconds any one step may take (generous: a loaded machine, two guests at full speed).
DEADLINE = 20.0
NORMAL = "22222222-2222-4222-8222-222222222222"
HOSTILE = "33333333-3333-4333-8333-333333333333"
#: The hostile guest's console as raw text (the same session): shows that it streams.
HOSTILE_RAW = "44444444-4444-4444-8444-444444444444"

HOSTILE_GUEST = textwrap.dedent("""
    import os, sys, time
    from vncterm.terminal.hostile import stream
    end = time.monotonic() + 180
    for chunk in stream():
        if time.monotonic() > end:
            break
        os.write(sys.stdout.fileno(), chunk)
""")

ECHO_GUEST = textwrap.dedent("""
    import os, select, time, tty
    tty.setraw(0)
    os.write(1, b"\\x1b[2J\\x1b[Hready")
    end, count = time.monotonic() + 180, 0
    while time.monotonic() < end:
        if select.select([0], [], [], 0.5)[0]:
            keys = os.read(0, 64)
            if not keys:
                break
            count += len(keys)
            os.write(1, b"\\x1b[Hgot " + keys[-1:] + b" #%d\\x1b[K" % count)
""")

#: 32 bits per pixel, depth 24, little-endian, true colour, red at bit 16.
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)


class Viewer:
    """A minimal RFB 3.8 viewer through CONNECT: Raw and CopyRect, one screen image."""

    def __init__(self, port: int, session: str, console: str) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.sock.sendall(f"CONNECT /console?ref=OpaqueRef:{console}&session_id={session} "
                          "HTTP/1.0\r\n\r\n".encode())
        head = b""
        while not head.endswith(b"\r\n\r\n"):
            byte = self.sock.recv(1)
            assert byte, head
            head += byte
        assert head.startswith(b"HTTP/1.1 200"), head
        assert self.read(12) == b"RFB 003.008\n"
        self.sock.sendall(b"RFB 003.008\n")
        assert 1 in self.read(self.read(1)[0])
        self.sock.sendall(b"\x01")
        assert self.read(4) == b"\0\0\0\0"
        self.sock.sendall(b"\x01")
        self.width, self.height = struct.unpack(">HH", self.read(4))
        self.read(16)
        self.read(struct.unpack(">I", self.read(4))[0])
        self.image = np.zeros((self.height, self.width, 3), np.uint8)
        self.sock.sendall(b"\0\0\0\0" + PIXEL_FORMAT + struct.pack(">BxHii", 2, 2, 0, 1))
        self.request(incremental=False)

    def read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.sock.recv(count - len(data))
            if not chunk:
                raise ConnectionError(f"closed after {len(data)} of {count} bytes")
            data += chunk
        return data

    def request(self, *, incremental: bool) -> None:
        self.sock.sendall(struct.pack(">BBHHHH", 3, int(incremental), 0, 0, self.width,
                                      self.height))

    def key(self, keysym: int) -> None:
        self.sock.sendall(struct.pack(">BBxxI", 4, 1, keysym) + struct.pack(">BBxxI", 4, 0,
                                                                            keysym))

    def next_update(self) -> None:
        """Read server messages up to and including the next FramebufferUpdate."""
        while True:
            kind = self.read(1)[0]
            if kind == 2:  # Bell
                continue
            if kind == 3:  # ServerCutText
                self.read(3)
                self.read(struct.unpack(">I", self.read(4))[0])
                continue
            assert kind == 0, kind
            self.read(1)
            (count,) = struct.unpack(">H", self.read(2))
            for _ in range(count):
                x, y, w, h, encoding = struct.unpack(">HHHHi", self.read(12))
                if encoding == 0:
                    pixels = np.frombuffer(self.read(w * h * 4), np.uint8).reshape(h, w, 4)
                    self.image[y : y + h, x : x + w] = pixels[:, :, [2, 1, 0]]
                elif encoding == 1:
                    sx, sy = struct.unpack(">HH", self.read(4))
                    self.image[y : y + h, x : x + w] = self.image[sy : sy + h,
                                                                  sx : sx + w].copy()
                else:
                    raise AssertionError(f"unexpected encoding {encoding}")
            return

    def text(self) -> str:
        return screen_text(Image.fromarray(self.image, "RGB"))

    def wait_for(self, wanted: str) -> None:
        """Updates until the first row shows ``wanted`` (fails past the deadline)."""
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            self.next_update()
            if wanted in self.text().split("\n")[0]:
                return
            self.request(incremental=True)
        raise AssertionError(f"{wanted!r} not shown in {DEADLINE} s: {self.text()[:200]!r}")

    def close(self) -> None:
        self.sock.close()


class BoundedTransport(xmlrpc.client.Transport):
    """XML-RPC over HTTP whose every call fails past the deadline instead of hanging."""

    def make_connection(self, host: object) -> http.client.HTTPConnection:
        connection = super().make_connection(host)  # type: ignore[arg-type]
        connection.timeout = DEADLINE
        return connection


def assert_streaming(port: int, session: str) -> None:
    """The hostile guest is writing its worst output (read raw through its vt100 console)."""
    with socket.create_connection(("127.0.0.1", port), timeout=DEADLINE) as sock:
        sock.sendall(f"CONNECT /console?ref=OpaqueRef:{HOSTILE_RAW}&session_id={session} "
                     "HTTP/1.0\r\n\r\n".encode())
        received = b""
        deadline = time.monotonic() + DEADLINE
        while len(received) < 256 * 1024 and time.monotonic() < deadline:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
    assert received.startswith(b"HTTP/1.1 200"), received[:100]
    assert len(received) >= 256 * 1024 and b"\x1b#8" in received, len(received)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[int]:
    (tmp_path / "hostile.py").write_text(HOSTILE_GUEST)
    (tmp_path / "echo.py").write_text(ECHO_GUEST)
    (tmp_path / "proxy.toml").write_text(textwrap.dedent(f"""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "e2e"
        address = "127.0.0.1"
        [[users]]
        name = "root"
        password_hash = "{PASSWORD_HASH}"
        [[vms]]
        uuid = "11111111-1111-4111-8111-111111111111"
        name_label = "guests"
          [[vms.consoles]]
          uuid = "{NORMAL}"
          protocol = "rfb"
          backend = "command:{sys.executable} {tmp_path / 'echo.py'}"
          [[vms.consoles]]
          uuid = "{HOSTILE}"
          protocol = "rfb"
          backend = "command:{sys.executable} {tmp_path / 'hostile.py'}"
          [[vms.consoles]]
          uuid = "{HOSTILE_RAW}"
          protocol = "vt100"
          backend = "command:{sys.executable} {tmp_path / 'hostile.py'}"
    """))
    with consoleproxy(["--config", str(tmp_path / "proxy.toml"),
                       "--listen", "tcp:0:interface=127.0.0.1",
                       "--state-dir", str(tmp_path / "state")],
                      tmp_path, listeners=1) as ports:
        yield ports["http"]


def test_a_hostile_guest_slows_only_itself(proxy: int) -> None:
    """While one guest streams the worst output known, another guest's viewer sees each key
    echoed, XML-RPC answers, and the hostile console still serves its own viewer."""
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{proxy}/", allow_none=True,
                                   transport=BoundedTransport()) as server:
        reply = server.session.login_with_password("root", PASSWORD, "1.0", "e2e")
        assert reply["Status"] == "Success"
        session = reply["Value"]
        assert_streaming(proxy, session)
        normal = Viewer(proxy, session, NORMAL)
        try:
            normal.wait_for("ready")
            for count, letter in enumerate("abc", start=1):
                normal.key(ord(letter))
                normal.request(incremental=True)
                normal.wait_for(f"got {letter} #{count}")
                answer = server.session.get_this_host(session, session)
                assert answer["Status"] == "Success"
        finally:
            normal.close()
        hostile = Viewer(proxy, session, HOSTILE)
        try:
            hostile.next_update()  # the whole screen, whatever it shows now
        finally:
            hostile.close()
        assert server.session.get_this_host(session, session)["Status"] == "Success"
