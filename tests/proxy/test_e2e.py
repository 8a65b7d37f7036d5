"""End to end on 127.0.0.1: a real consoleproxy process, the official XenAPI binding, TLS,
RFB hand-shakes, a relay to an RFB server in another process, and a raw vt100 console."""

from __future__ import annotations

import base64
import os
import select
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import textwrap
import threading
import time
import warnings
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import XenAPI

from consoleproxy.cli import open_console
from consoleproxy.connect import ok_reply
from tests.proxy.helpers import PASSWORD, PASSWORD_HASH
from tests.proxy.serving import consoleproxy, stop

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DEADLINE = 20.0

GUEST = textwrap.dedent("""
    import sys
    sys.stdout.write("guest ready\\r\\n")
    sys.stdout.flush()
    for line in sys.stdin:
        sys.stdout.write("you typed: " + line.strip() + "\\r\\n")
        sys.stdout.flush()
""")

# An RFB server stand-in in another process: greets, then echoes every byte back.
ECHO_SERVER = textwrap.dedent("""
    import socket, sys, threading
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


@dataclass
class Server:
    http_port: int
    https_port: int
    log: Path

    @property
    def https_url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}/"

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}/"


def read_line(process: subprocess.Popen[bytes], deadline: float) -> bytes:
    assert process.stdout is not None
    line = b""
    while not line.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise TimeoutError(f"no output in time; got {line!r}")
        byte = os.read(process.stdout.fileno(), 1)
        if not byte:
            raise RuntimeError(f"process ended; got {line!r}")
        line += byte
    return line


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("consoleproxy")
    (directory / "guest.py").write_text(GUEST)
    (directory / "echo.py").write_text(ECHO_SERVER)
    echo = subprocess.Popen([sys.executable, str(directory / "echo.py")],
                            stdout=subprocess.PIPE)
    try:
        echo_port = int(read_line(echo, time.monotonic() + DEADLINE))
        (directory / "proxy.toml").write_text(textwrap.dedent(f"""
            [host]
            uuid = "99999999-9999-4999-8999-999999999999"
            name_label = "e2e"
            address = "127.0.0.1"
            [[users]]
            name = "root"
            password_hash = "{PASSWORD_HASH}"
            [[vms]]
            uuid = "11111111-1111-4111-8111-111111111111"
            name_label = "guest"
              [[vms.consoles]]
              uuid = "22222222-2222-4222-8222-222222222222"
              protocol = "rfb"
              backend = "command:{sys.executable} {directory / 'guest.py'}"
              [[vms.consoles]]
              uuid = "33333333-3333-4333-8333-333333333333"
              protocol = "vt100"
              backend = "command:{sys.executable} {directory / 'guest.py'}"
            [[vms]]
            uuid = "44444444-4444-4444-8444-444444444444"
            name_label = "hvm"
              [[vms.consoles]]
              uuid = "55555555-5555-4555-8555-555555555555"
              protocol = "rfb"
              backend = "tcp:127.0.0.1:{echo_port}"
        """))
        with consoleproxy(
            ["--config", str(directory / "proxy.toml"),
             "--listen", "tcp:0:interface=127.0.0.1", "--listen", "ssl:0:interface=127.0.0.1",
             "--state-dir", str(directory / "state")],
            directory, listeners=2,
        ) as ports:
            yield Server(ports["http"], ports["https"], directory / "proxy.log")
    finally:
        stop(echo)


def tls_context(maximum: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    if maximum is not None:
        context.minimum_version = ssl.TLSVersion.MINIMUM_SUPPORTED
        context.maximum_version = maximum
    return context


def discover(url: str, vm: str, protocol: str) -> tuple[XenAPI.Session, str]:
    """The seed's flow with the XenAPI binding: returns the session and the location."""
    session = XenAPI.Session(url, ignore_ssl=True)
    session.xenapi.login_with_password("root", PASSWORD, "1.0", "e2e")
    vms = session.xenapi.VM.get_by_name_label(vm)
    assert len(vms) == 1
    for console in session.xenapi.VM.get_consoles(vms[0]):
        if session.xenapi.console.get_protocol(console) == protocol:
            return session, session.xenapi.console.get_location(console)
    raise AssertionError("no console")


def close_session(session: XenAPI.Session) -> None:
    session.xenapi.session.logout()
    session("close")()


def connect(port: int, request: bytes, *, tls: bool = True) -> tuple[socket.socket, bytes]:
    """Send ``request``, read the reply head; returns the socket and bytes after the head."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    if tls:
        sock = tls_context().wrap_socket(sock)
    sock.sendall(request)
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(65536)
        if not chunk:
            break
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return sock, head + b"\r\n\r\n" + rest


def recv_exactly(sock: socket.socket, count: int, already: bytes = b"") -> bytes:
    data = already
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        if not chunk:
            raise ConnectionError(f"closed after {len(data)} of {count} bytes")
        data += chunk
    return data


def rfb_handshake(sock: socket.socket, early: bytes) -> tuple[int, int, str]:
    """RFB 3.8 with security None, one full update; returns width, height and name."""
    greeting = recv_exactly(sock, 12, early)
    assert greeting == b"RFB 003.008\n"
    sock.sendall(b"RFB 003.008\n")
    (count,) = recv_exactly(sock, 1)
    types = recv_exactly(sock, count)
    assert 1 in types
    sock.sendall(b"\x01")
    assert recv_exactly(sock, 4) == b"\0\0\0\0"
    sock.sendall(b"\x01")  # shared
    width, height = struct.unpack(">HH", recv_exactly(sock, 4))
    recv_exactly(sock, 16)
    (name_length,) = struct.unpack(">I", recv_exactly(sock, 4))
    name = recv_exactly(sock, name_length).decode()
    sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
    message_type, _, rectangles = struct.unpack(">BBH", recv_exactly(sock, 4))
    assert message_type == 0 and rectangles >= 1
    x, y, w, h, _encoding = struct.unpack(">HHHHi", recv_exactly(sock, 12))
    assert w > 0 and h > 0 and x + w <= width and y + h <= height
    return width, height, name


def target_of(location: str) -> str:
    parts = urlsplit(location)
    return f"{parts.path}?{parts.query}"


def test_xenapi_flow_then_connect_with_cookie_over_tls(server: Server) -> None:
    """XenAPI over HTTPS finds the console; CONNECT with the cookie gives an RFB desktop."""
    session, location = discover(server.https_url, "guest", "rfb")
    try:
        # The location names the TLS listener that was bound (ssl:0), with its port.
        assert location.startswith(
            f"https://127.0.0.1:{server.https_port}/console?ref=OpaqueRef:")
        request = (f"CONNECT {target_of(location)} HTTP/1.0\r\nHost: 127.0.0.1\r\n"
                   f"Cookie: other=1; session_id={session.handle}\r\n\r\n").encode()
        sock, received = connect(server.https_port, request)
        with sock:
            assert received.startswith(ok_reply())
            width, height, name = rfb_handshake(sock, received[len(ok_reply()):])
            assert (width, height) == (640, 384) and name == "guest"
    finally:
        close_session(session)


@pytest.fixture(scope="module")
def reactor_relay_server(server: Server) -> Iterator[Server]:
    """The same configuration served with ``relay_thread = false``: relays on the reactor."""
    directory = server.log.parent / "reactor-relay"
    directory.mkdir()
    config = directory / "proxy.toml"
    config.write_text((server.log.parent / "proxy.toml").read_text()
                      + "\n[proxy]\nrelay_thread = false\n")
    with consoleproxy(
        ["--config", str(config), "--listen", "tcp:0:interface=127.0.0.1",
         "--state-dir", str(server.log.parent / "state")],
        directory, listeners=1,
    ) as ports:
        yield Server(ports["http"], 0, directory / "proxy.log")


@pytest.mark.parametrize("relay", ["thread", "reactor"])
def test_plain_tcp_relay_is_byte_exact_half_closes_and_is_counted(
    relay: str, request: pytest.FixtureRequest
) -> None:
    """Over plain TCP, on the relay thread or on the reactor, bytes cross the relay both ways
    exactly, the client's end of input reaches the server (which then closes), and the audit
    line counts every byte each way."""
    server: Server = request.getfixturevalue("server" if relay == "thread"
                                             else "reactor_relay_server")
    session, location = discover(server.http_url, "hvm", "rfb")
    request = (f"CONNECT {target_of(location)} HTTP/1.0\r\n"
               f"Cookie: session_id={session.handle}\r\n\r\n").encode()
    payload = os.urandom(1 << 20)
    try:
        sock, received = connect(server.http_port, request, tls=False)
        with sock:
            expected = ok_reply() + b"RFB 003.008\n" + payload
            sender = threading.Thread(target=sock.sendall, args=(payload,))
            sender.start()
            data = bytearray(received)
            while len(data) < len(expected):
                chunk = sock.recv(1 << 20)
                assert chunk, f"closed after {len(data)} of {len(expected)} bytes"
                data += chunk
            sender.join(DEADLINE)
            assert bytes(data) == expected
            sock.shutdown(socket.SHUT_WR)  # the echo server sees the end, and closes
            assert sock.recv(1) == b""
    finally:
        close_session(session)
    deadline = time.monotonic() + DEADLINE
    wanted = (f"{len(request) + len(payload)} bytes in, "
              f"{len(ok_reply()) + 12 + len(payload)} bytes out")
    while wanted not in server.log.read_text():
        assert time.monotonic() < deadline, f"no audit line with {wanted!r}"
        time.sleep(0.05)


def test_xenapi_over_http_then_nova_style_query_request(server: Server) -> None:
    """Plain HTTP discovery on the same listener, then a header-less HTTP/1.1 CONNECT."""
    session, location = discover(server.http_url, "guest", "rfb")
    try:
        request = f"CONNECT {target_of(location)}&session_id={session.handle} HTTP/1.1\r\n\r\n"
        sock, received = connect(server.http_port, request.encode(), tls=False)
        with sock:
            assert received.split(b"\r\n", 1)[0] == b"HTTP/1.1 200 OK"
            rfb_handshake(sock, received[len(ok_reply()):])
    finally:
        close_session(session)


def test_basic_credentials_open_the_console(server: Server) -> None:
    """Basic username/password works without a prior login; a wrong password gets 401."""
    target = "/console?uuid=11111111-1111-4111-8111-111111111111"
    good = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    sock, received = connect(
        server.https_port,
        f"CONNECT {target} HTTP/1.0\r\nAuthorization: Basic {good}\r\n\r\n".encode())
    with sock:
        assert received.startswith(ok_reply())
        rfb_handshake(sock, received[len(ok_reply()):])
    bad = base64.b64encode(b"root:wrong").decode()
    sock, received = connect(
        server.https_port,
        f"CONNECT {target} HTTP/1.0\r\nAuthorization: Basic {bad}\r\n\r\n".encode())
    with sock:
        assert received.startswith(b"HTTP/1.0 401 Unauthorized\r\n")
        assert sock.recv(1) == b""


def test_relay_to_an_rfb_server_elsewhere_is_byte_exact(server: Server) -> None:
    """Megabytes through the relay come back byte-exact, with bytes sent alongside the request."""
    session, location = discover(server.https_url, "hvm", "rfb")
    payload = os.urandom(4 << 20)
    try:
        sock = tls_context().wrap_socket(
            socket.create_connection(("127.0.0.1", server.https_port), timeout=DEADLINE))
        request = (f"CONNECT {target_of(location)} HTTP/1.0\r\n"
                   f"Cookie: session_id={session.handle}\r\n\r\n").encode()
        first = payload[:1000]
        with sock:
            sock.sendall(request + first)
            # One thread drives both directions: an SSL socket must not be used by two
            # threads at once (OpenSSL's SSL object is not thread-safe).
            expected = ok_reply() + b"RFB 003.008\n" + payload
            received = bytearray()
            rest = memoryview(payload)[1000:]
            sock.setblocking(False)
            deadline = time.monotonic() + DEADLINE * 3
            while len(received) < len(expected):
                assert time.monotonic() < deadline, f"{len(received)} of {len(expected)} bytes"
                writable = [sock] if rest else []
                readable, ready, _ = select.select([sock], writable, [], 1.0)
                if ready:
                    try:
                        rest = rest[sock.send(rest[: 64 * 1024]) :]
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        pass
                while readable or sock.pending():
                    readable = []
                    try:
                        chunk = sock.recv(1 << 20)
                    except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                        break
                    assert chunk, f"closed after {len(received)} bytes"
                    received += chunk
            assert received[: len(ok_reply())] == ok_reply()
            assert bytes(received) == expected
    finally:
        close_session(session)


def test_vt100_console_is_raw_text(server: Server) -> None:
    """The vt100 console (as `xe console` opens it) carries the guest's raw text both ways."""
    session, location = discover(server.https_url, "guest", "vt100")
    try:
        sock = open_console(location, session.handle, address=("127.0.0.1", server.https_port))
        with sock:
            sock.settimeout(DEADLINE)
            sock.sendall(b"hello\r")
            received = b""
            while b"you typed: hello" not in received:
                chunk = sock.recv(4096)
                assert chunk, received
                received += chunk
    finally:
        close_session(session)


def test_tls_below_1_2_is_refused(server: Server) -> None:
    """The TLS listener accepts TLS 1.2 and refuses TLS 1.1 by default."""
    raw = socket.create_connection(("127.0.0.1", server.https_port), timeout=DEADLINE)
    with tls_context(ssl.TLSVersion.TLSv1_2).wrap_socket(raw) as sock:
        assert sock.version() == "TLSv1.2"
    raw = socket.create_connection(("127.0.0.1", server.https_port), timeout=DEADLINE)
    with raw, warnings.catch_warnings(), pytest.raises(ssl.SSLError):
        warnings.simplefilter("ignore", DeprecationWarning)  # asking for TLS 1.1 on purpose
        tls_context(ssl.TLSVersion.TLSv1_1).wrap_socket(raw)


def test_sample_flow_script_reads_the_greeting(server: Server) -> None:
    """samples/xenapi_console_flow.py runs the seed's flow unmodified against the proxy."""
    result = subprocess.run(
        [sys.executable, str(REPO / "samples" / "xenapi_console_flow.py"),
         "--url", server.https_url, "--password", PASSWORD, "--vm", "guest",
         "--connect", f"127.0.0.1:{server.https_port}"],
        capture_output=True, timeout=DEADLINE, check=True,
    )
    assert b"RFB greeting: b'RFB 003.008\\n'" in result.stdout


def test_curl_offering_alpn_gets_xml_rpc_over_https(server: Server) -> None:
    """curl offers h2 and http/1.1 over ALPN, as browsers do: the TLS listener selects
    http/1.1 and answers (every ALPN client got TLS alert 80 under Twisted 26.10)."""
    curl = shutil.which("curl")
    if curl is None:
        pytest.skip("curl is not installed (apt-get install curl)")
    body = xmlrpc.client.dumps(("root", PASSWORD, "2.21", "curl"), "session.login_with_password")
    result = subprocess.run(
        [curl, "-sS", "-k", "-v", "--max-time", "20", "--data-binary", "@-",
         "-H", "Content-Type: text/xml", server.https_url],
        input=body.encode(), capture_output=True, timeout=30, check=False,
    )
    trace = result.stderr.decode(errors="replace")
    assert result.returncode == 0, trace
    assert "ALPN: server accepted http/1.1" in trace
    (reply,), _ = xmlrpc.client.loads(result.stdout)
    assert reply["Status"] == "Success"
