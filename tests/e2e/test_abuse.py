"""Fault and abuse, end to end against a real consoleproxy on 127.0.0.1: slow and flooding
clients, a viewer that stops reading, a relayed backend that dies, and SIGTERM with a console
open. Each test is bounded and asserts what other clients still get, not how fast."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import textwrap
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.proxy.helpers import PASSWORD, PASSWORD_HASH
from tests.proxy.serving import consoleproxy, stop

pytestmark = pytest.mark.e2e

DEADLINE = 20.0
#: Seconds a client may take to finish its request head, in these tests.
REQUEST_DEADLINE = 1
#: Connection cap in these tests.
MAX_CONNECTIONS = 40

# A guest that prints a numbered line whenever asked (a key), and a flood on "f".
GUEST = textwrap.dedent("""
    import os, sys
    os.write(1, b"guest ready\\r\\n")
    count = 0
    while True:
        key = os.read(0, 1)
        if not key:
            break
        if key == b"f":
            for _ in range(2000):
                count += 1
                os.write(1, b"flood %06d %s\\r\\n" % (count, b"x" * 60))
        else:
            count += 1
            os.write(1, b"line %06d\\r\\n" % count)
""")

ECHO_SERVER = textwrap.dedent("""
    import socket, threading
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    def serve(conn):
        with conn:
            conn.sendall(b"RFB 003.008\\n")
            while data := conn.recv(65536):
                conn.sendall(data)
    while True:
        conn, _ = listener.accept()
        threading.Thread(target=serve, args=(conn,), daemon=True).start()
""")

GUEST_RFB = "22222222-2222-4222-8222-222222222222"
RELAYED_RFB = "55555555-5555-4555-8555-555555555555"


@dataclass
class Proxy:
    port: int
    pid: int
    log: Path
    echo: subprocess.Popen[bytes]


def start_echo(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    (directory / "echo.py").write_text(ECHO_SERVER)
    echo = subprocess.Popen([sys.executable, str(directory / "echo.py")], stdout=subprocess.PIPE)
    assert echo.stdout is not None
    return echo, int(echo.stdout.readline())


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    (tmp_path / "guest.py").write_text(GUEST)
    echo, echo_port = start_echo(tmp_path)
    try:
        (tmp_path / "proxy.toml").write_text(textwrap.dedent(f"""
            [host]
            uuid = "99999999-9999-4999-8999-999999999999"
            name_label = "abuse"
            address = "127.0.0.1"
            [limits]
            request_deadline = {REQUEST_DEADLINE}
            max_connections = {MAX_CONNECTIONS}
            [[users]]
            name = "root"
            password_hash = "{PASSWORD_HASH}"
            [[vms]]
            uuid = "11111111-1111-4111-8111-111111111111"
            name_label = "guest"
              [[vms.consoles]]
              uuid = "{GUEST_RFB}"
              protocol = "rfb"
              backend = "command:{sys.executable} {tmp_path / 'guest.py'}"
            [[vms]]
            uuid = "44444444-4444-4444-8444-444444444444"
            name_label = "hvm"
              [[vms.consoles]]
              uuid = "{RELAYED_RFB}"
              protocol = "rfb"
              backend = "tcp:127.0.0.1:{echo_port}"
        """))
        with consoleproxy(["--config", str(tmp_path / "proxy.toml"),
                           "--listen", "tcp:0:interface=127.0.0.1",
                           "--state-dir", str(tmp_path / "state")],
                          tmp_path, listeners=1) as ports:
            yield Proxy(ports["http"], ports["pid"], tmp_path / "proxy.log", echo)
    finally:
        stop(echo)


def login(port: int) -> str:
    """A session through XML-RPC; the call must answer for the test to go on."""
    with xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/") as server:
        reply = server.session.login_with_password("root", PASSWORD, "2.21", "abuse")
    assert reply["Status"] == "Success", reply
    return str(reply["Value"])


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def open_viewer(port: int, session: str, console: str, *,
                receive_buffer: int | None = None) -> tuple[socket.socket, int, int]:
    """CONNECT, then RFB 3.8 with security None and 32-bpp Raw; returns the socket and size."""
    sock = socket.socket()
    if receive_buffer is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(DEADLINE)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"CONNECT /console?ref=OpaqueRef:{console}&session_id={session} HTTP/1.0"
                 "\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exactly(sock, 1)
    assert head.startswith(b"HTTP/1.1 200 "), head
    assert recv_exactly(sock, 12) == b"RFB 003.008\n"
    sock.sendall(b"RFB 003.008\n")
    (count,) = recv_exactly(sock, 1)
    assert 1 in recv_exactly(sock, count)
    sock.sendall(b"\x01")
    assert recv_exactly(sock, 4) == b"\0\0\0\0"
    sock.sendall(b"\x01")
    width, height = struct.unpack(">HH", recv_exactly(sock, 4))
    recv_exactly(sock, 16)
    (name_length,) = struct.unpack(">I", recv_exactly(sock, 4))
    recv_exactly(sock, name_length)
    sock.sendall(struct.pack(">BxHi", 2, 1, 0))  # Raw only
    return sock, width, height


def read_update(sock: socket.socket) -> int:
    """Read server messages up to the end of one FramebufferUpdate; returns its pixel bytes."""
    while True:
        (kind,) = recv_exactly(sock, 1)
        if kind == 2:  # Bell
            continue
        if kind == 3:  # ServerCutText
            recv_exactly(sock, 3)
            (length,) = struct.unpack(">I", recv_exactly(sock, 4))
            recv_exactly(sock, length)
            continue
        assert kind == 0, kind
        _, rectangles = struct.unpack(">BH", recv_exactly(sock, 3))
        total = 0
        for _ in range(rectangles):
            _x, _y, w, h, encoding = struct.unpack(">HHHHi", recv_exactly(sock, 12))
            assert encoding == 0, encoding
            total += len(recv_exactly(sock, w * h * 4))
        return total


def key(char: str) -> bytes:
    """KeyEvent down and up for a printable character."""
    return struct.pack(">BBxxI", 4, 1, ord(char)) + struct.pack(">BBxxI", 4, 0, ord(char))


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise LookupError("no VmRSS")


def test_slow_clients_are_dropped_and_others_are_served(proxy: Proxy) -> None:
    """Slowloris: connections trickling a request head get 408 at the deadline, and a normal
    client logs in meanwhile."""
    slow = [socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE)
            for _ in range(MAX_CONNECTIONS // 2)]
    try:
        for sock in slow:
            sock.sendall(b"CONNECT /console?ref=x HTTP/1.1\r\n")
        login(proxy.port)
        ends = time.monotonic() + REQUEST_DEADLINE * 10
        replies = []
        for sock in slow:
            received = b""
            while time.monotonic() < ends:
                try:
                    sock.sendall(b"X")  # one more byte of a header that never ends
                except OSError:
                    pass
                sock.settimeout(0.2)
                try:
                    chunk = sock.recv(4096)
                except TimeoutError:
                    continue
                if not chunk:
                    break
                received += chunk
            replies.append(received)
        assert all(reply.startswith(b"HTTP/1.1 408 ") for reply in replies), replies[:3]
    finally:
        for sock in slow:
            sock.close()
    login(proxy.port)


def test_a_flood_past_the_cap_gets_503_and_the_service_recovers(proxy: Proxy) -> None:
    """Connections past the cap are answered 503 at once; once they close, clients are
    served again."""
    held = [socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE)
            for _ in range(MAX_CONNECTIONS)]
    try:
        extra = [socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE)
                 for _ in range(5)]
        for sock in extra:
            sock.sendall(b"CONNECT /console?ref=x HTTP/1.1\r\n\r\n")
            reply = b""
            while chunk := sock.recv(4096):
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 503 "), reply
            sock.close()
    finally:
        for sock in held:
            sock.close()
    ends = time.monotonic() + DEADLINE
    while True:
        try:
            login(proxy.port)
            break
        except (OSError, xmlrpc.client.ProtocolError, AssertionError):
            if time.monotonic() > ends:
                raise
            time.sleep(0.1)


def test_a_viewer_that_stops_reading_costs_the_others_nothing(proxy: Proxy) -> None:
    """One viewer stops reading during a flood: another viewer of the same console keeps
    getting updates, and the proxy's memory stays bounded."""
    session = login(proxy.port)
    stalled, width, height = open_viewer(proxy.port, session, GUEST_RFB, receive_buffer=4096)
    live, _, _ = open_viewer(proxy.port, session, GUEST_RFB)
    try:
        pid = proxy.pid
        before = rss_kib(pid)
        full = struct.pack(">BBHHHH", 3, 0, 0, 0, width, height)
        incremental = struct.pack(">BBHHHH", 3, 1, 0, 0, width, height)
        stalled.sendall(full + incremental * 50)
        live.sendall(full)
        read_update(live)
        for _ in range(3):
            live.sendall(key("f"))  # 2,000 lines of flood
            stalled.sendall(incremental * 20)
            for _ in range(5):  # each key prints a line: something new to see each time
                live.sendall(key("k") + incremental)
                assert read_update(live) > 0
        assert rss_kib(pid) - before < 64 * 1024
    finally:
        stalled.close()
        live.close()


def test_a_relayed_backend_that_dies_closes_its_tunnel(proxy: Proxy) -> None:
    """kill -9 of a relayed RFB server ends the client's tunnel (EOF), is audited, and other
    clients are served."""
    session = login(proxy.port)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=DEADLINE)
    sock.sendall(f"CONNECT /console?ref=OpaqueRef:{RELAYED_RFB}&session_id={session} "
                 "HTTP/1.0\r\n\r\n".encode())
    received = b""
    while b"RFB 003.008\n" not in received:
        received += recv_exactly(sock, 1)
    sock.sendall(b"ping")
    assert recv_exactly(sock, 4) == b"ping"
    proxy.echo.send_signal(signal.SIGKILL)
    proxy.echo.wait(timeout=DEADLINE)
    assert sock.recv(4096) == b""
    sock.close()
    login(proxy.port)
    ends = time.monotonic() + DEADLINE
    while f"OpaqueRef:{RELAYED_RFB}" not in proxy.log.read_text():
        assert time.monotonic() < ends, proxy.log.read_text()
        time.sleep(0.05)


def test_sigterm_with_a_console_open_exits_cleanly_and_audits_it(tmp_path: Path) -> None:
    """SIGTERM while a viewer is connected: the process exits 0 and the connection's audit
    line is written."""
    (tmp_path / "guest.py").write_text(GUEST)
    (tmp_path / "proxy.toml").write_text(textwrap.dedent(f"""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "abuse"
        address = "127.0.0.1"
        [[users]]
        name = "root"
        password_hash = "{PASSWORD_HASH}"
        [[vms]]
        uuid = "11111111-1111-4111-8111-111111111111"
        name_label = "guest"
          [[vms.consoles]]
          uuid = "{GUEST_RFB}"
          protocol = "rfb"
          backend = "command:{sys.executable} {tmp_path / 'guest.py'}"
    """))
    log_path = tmp_path / "proxy.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "consoleproxy", "serve", "--config",
             str(tmp_path / "proxy.toml"), "--listen", "tcp:0:interface=127.0.0.1",
             "--state-dir", str(tmp_path / "state")],
            stdout=subprocess.PIPE, stderr=log, cwd=tmp_path)
    try:
        assert process.stdout is not None
        line = process.stdout.readline().decode()
        port = int(line.split("listening on ", 1)[1].split()[0].rsplit(":", 1)[1].strip("/"))
        viewer, _, _ = open_viewer(port, login(port), GUEST_RFB)
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=DEADLINE) == 0
        viewer.close()
        text = log_path.read_text()
        assert f"console OpaqueRef:{GUEST_RFB}, 200 OK" in text, text
    finally:
        stop(process)
