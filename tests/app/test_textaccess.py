"""Text access over HTTP: screen text, JSON, PNG and scrollback, in memory and on a real port."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image
from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.web.server import Site

from vncterm.backends.memory import MemorySource as QuietConsole
from vncterm.session import ConsoleSession
from vncterm.textaccess import is_local_endpoint, make_text_site

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes = field(repr=False)

    def text(self) -> str:
        return self.body.decode("utf-8")


def request(site: Site, path: str, *, method: str = "GET", host: str | None = "127.0.0.1",
            version: str = "HTTP/1.1") -> Response:
    """One request through the real HTTP channel on an in-memory transport."""
    channel = site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 40000))
    assert channel is not None
    transport = StringTransport()
    channel.makeConnection(transport)
    head = f"{method} {path} {version}\r\n"
    if host is not None:
        head += f"Host: {host}\r\n"
    channel.dataReceived((head + "Connection: close\r\n\r\n").encode())
    raw = transport.value()
    channel.connectionLost(Failure(ConnectionDone()))
    head_bytes, _, body = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return Response(int(status_line.split()[1]), headers, body)


def console_session(output: bytes, *, columns: int = 80, rows: int = 24
                    ) -> tuple[ConsoleSession, MemoryReactorClock]:
    """A session whose console wrote ``output``, fully emulated, with no viewer."""
    reactor = MemoryReactorClock()
    console = QuietConsole()
    session = ConsoleSession(reactor, console, columns=columns, rows=rows, name="guest 7")
    session.start()
    assert console.sink is not None
    console.sink.console_output(output)
    for _ in range(100):
        reactor.advance(0)
    return session, reactor


@pytest.fixture
def site() -> Site:
    session, reactor = console_session(
        b"\x1b]0;installer\x07Welcome   \r\n\xe6\x97\xa5\xe6\x9c\xac ok\r\nlogin: "
    )
    return make_text_site(session, reactor=reactor)


def test_screen_txt_is_one_line_per_row_without_trailing_spaces(site: Site) -> None:
    """screen.txt has every row as a UTF-8 line, trailing spaces stripped, wide chars once."""
    response = request(site, "/screen.txt")
    assert response.status == 200
    assert response.headers["content-type"] == "text/plain; charset=utf-8"
    assert response.headers["cache-control"] == "no-store"
    lines = response.text().split("\n")
    assert lines[:3] == ["Welcome", "\u65e5\u672c ok", "login:"]
    assert lines[3:] == [""] * 22  # 21 empty rows, then the empty string after the last "\n"


def test_screen_json_has_size_cursor_title_and_lines(site: Site) -> None:
    """screen.json describes the screen for programs: size, cursor, title, name and lines."""
    response = request(site, "/screen.json")
    assert response.status == 200
    assert response.headers["content-type"] == "application/json"
    document = json.loads(response.body)
    assert document == {
        "cols": 80,
        "rows": 24,
        "cursor": {"x": 7, "y": 2, "visible": True},
        "title": "installer",
        "name": "guest 7",
        "lines": ["Welcome", "\u65e5\u672c ok", "login:"] + [""] * 21,
    }


def test_screen_png_is_the_current_framebuffer_even_with_no_viewer() -> None:
    """screen.png renders pending changes first, so it shows the console as it is now."""
    session, reactor = console_session(b"\x1b[41mRED\x1b[0m")
    site = make_text_site(session, reactor=reactor)
    response = request(site, "/screen.png")
    assert response.status == 200
    assert response.headers["content-type"] == "image/png"
    image = np.asarray(Image.open(io.BytesIO(response.body)).convert("RGB"))
    assert image.shape == (384, 640, 3)
    assert np.array_equal(image, session.renderer.pixels)
    assert not np.array_equal(image[0, 0], image[0, 639])  # the red background was drawn


def test_scrollback_txt_serves_lines_that_scrolled_off() -> None:
    """scrollback.txt gives the lines above the screen, oldest first, one per line."""
    output = b"".join(b"line %d   \r\n" % n for n in range(30))
    session, reactor = console_session(output)
    if not callable(getattr(session.terminal, "scrollback_text", None)):
        pytest.skip("this terminal keeps no scrollback yet")
    site = make_text_site(session, reactor=reactor)
    response = request(site, "/scrollback.txt")
    assert response.status == 200
    assert response.text() == "".join(f"line {n}\n" for n in range(7))


def test_scrollback_txt_uses_a_session_level_scrollback() -> None:
    """A session offering scrollback_text() as one string is served with spaces stripped."""
    source = SimpleNamespace(name="s", terminal=SimpleNamespace(), renderer=None,
                             render=lambda: None, scrollback_text=lambda: "old  \nolder")
    site = make_text_site(source, reactor=MemoryReactorClock())
    assert request(site, "/scrollback.txt").text() == "old\nolder\n"


def test_scrollback_txt_is_404_with_a_reason_when_none_is_kept() -> None:
    """Without scrollback_text() on session or terminal, scrollback.txt says why it is absent."""
    source = SimpleNamespace(name="s", terminal=SimpleNamespace(), renderer=None,
                             render=lambda: None)
    site = make_text_site(source, reactor=MemoryReactorClock())
    response = request(site, "/scrollback.txt")
    assert response.status == 404
    assert response.text() == "this console keeps no scrollback\n"


def test_the_index_lists_the_resources(site: Site) -> None:
    """GET / documents every resource in plain text."""
    response = request(site, "/")
    assert response.status == 200
    for name in ("/screen.txt", "/screen.json", "/screen.png", "/scrollback.txt"):
        assert name in response.text()


@pytest.mark.parametrize("path", ["/nothing", "/screen.txt/more", "/screen.txt/"])
def test_unknown_paths_are_404(site: Site, path: str) -> None:
    """Names not in the list, and paths below a document, are a plain-text 404."""
    response = request(site, path)
    assert response.status == 404 and "see /" in response.text()


def test_only_reads_are_allowed(site: Site) -> None:
    """The interface is read-only: POST is refused with 405."""
    assert request(site, "/screen.txt", method="POST").status == 405


def test_head_gives_headers_without_a_body(site: Site) -> None:
    """HEAD answers like GET without the body."""
    response = request(site, "/screen.json", method="HEAD")
    assert response.status == 200 and response.body == b""
    assert response.headers["content-type"] == "application/json"
    assert response.headers["content-length"] == str(len(request(site, "/screen.json").body))


@pytest.mark.parametrize("host", ["127.0.0.1:5980", "localhost", "LOCALHOST:80", "[::1]:5980",
                                  "::1", "vm.localhost", "10.0.0.5"])
def test_local_and_address_hosts_are_served(site: Site, host: str) -> None:
    """IP addresses and localhost names in Host are served (UNIX sockets send localhost)."""
    assert request(site, "/screen.txt", host=host).status == 200


@pytest.mark.parametrize("host", ["attacker.example", "attacker.example:5980", "127.0.0.1.nip.io"])
def test_other_host_names_are_refused(site: Site, host: str) -> None:
    """A DNS name in Host is refused with 421, so a rebinding web page cannot read the screen."""
    response = request(site, "/screen.txt", host=host)
    assert response.status == 421
    assert b"Welcome" not in response.body


def test_extra_hosts_are_accepted() -> None:
    """Host names the operator lists are served."""
    session, reactor = console_session(b"hi")
    site = make_text_site(session, reactor=reactor, extra_hosts=["Console.Internal"])
    assert request(site, "/screen.txt", host="console.internal:8080").status == 200


def test_http10_without_host_is_served(site: Site) -> None:
    """An HTTP/1.0 request without Host (not a browser) is served."""
    response = request(site, "/screen.txt", host=None, version="HTTP/1.0")
    assert response.status == 200 and response.text().startswith("Welcome\n")


SERVER = """
import sys
from twisted.internet import reactor
from twisted.internet.endpoints import serverFromString
from vncterm.session import ConsoleSession
from vncterm.textaccess import is_local_endpoint, make_text_site
from tests.app.test_textaccess import QuietConsole

console = QuietConsole()
session = ConsoleSession(reactor, console)
session.start()
console.sink.console_output("ready \\u2713\\r\\n$ ".encode())
def listening(port):
    print(port.getHost().port, flush=True)
serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(
    make_text_site(session)).addCallback(listening)
reactor.callLater(30, reactor.stop)
reactor.run()
"""


@pytest.mark.e2e
def test_a_real_client_reads_the_screen_over_127_0_0_1() -> None:
    """urllib reads screen.txt and screen.json from a vncterm text site on a real loopback port."""
    process = subprocess.Popen([sys.executable, "-c", SERVER], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        base = f"http://127.0.0.1:{port}"
        with urllib.request.urlopen(f"{base}/screen.txt", timeout=10) as response:
            text = response.read().decode("utf-8")
        assert text.split("\n")[:2] == ["ready \u2713", "$"]
        with urllib.request.urlopen(f"{base}/screen.json", timeout=10) as response:
            assert json.load(response)["cursor"] == {"x": 2, "y": 1, "visible": True}
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(f"{base}/nothing", timeout=10)
        assert missing.value.code == 404
        missing.value.close()
    finally:
        process.terminate()
        process.communicate(timeout=10)


@pytest.mark.parametrize(("endpoint", "local"), [
    ("unix:/run/vncterm/guest7.text.sock", True),
    ("tcp:5980:interface=127.0.0.1", True),
    ("tcp:interface=127.0.0.2:port=5980", True),
    ("tcp6:5980:interface=\\:\\:1", True),
    ("tcp:5980:interface=localhost", True),
    ("tcp:5980", False),
    ("tcp:5980:interface=0.0.0.0", False),
    ("tcp6:5980:interface=\\:\\:", False),
    ("tcp:5980:interface=192.168.1.4", False),
    ("ssl:5980:interface=127.0.0.1", False),
    # Twisted binds the last interface given: so does the check.
    ("tcp:5980:interface=127.0.0.1:interface=0.0.0.0", False),
    ("tcp:5980:interface=0.0.0.0:interface=127.0.0.1", True),
    ("tcp6:5980:interface=\\:\\:ffff\\:127.0.0.1", True),
    ("tcp6:5980:interface=\\:\\:ffff\\:10.0.0.1", False),
    ("systemd:domain=INET:index=0", False),
    ("tcp:5980:interface=127.0.0.1\\", False),
])
def test_is_local_endpoint(endpoint: str, local: bool) -> None:
    """Only UNIX sockets and TCP bound to a loopback address count as local endpoints."""
    assert is_local_endpoint(endpoint) is local


def test_sockets_systemd_passes_are_judged_once_listening() -> None:
    """A systemd socket may be tried (its address is known once adopted); a public one may
    not."""
    from vncterm.textaccess import may_listen_on

    assert may_listen_on("systemd:domain=INET:index=0")
    assert may_listen_on("unix:/run/t.sock")
    assert not may_listen_on("tcp:5980:interface=127.0.0.1:interface=0.0.0.0")
    assert not may_listen_on("ssl:5980:interface=127.0.0.1")


@pytest.mark.parametrize(("address", "local"), [
    (IPv4Address("TCP", "127.0.0.1", 5980), True),
    (IPv4Address("TCP", "127.3.4.5", 5980), True),
    (IPv4Address("TCP", "0.0.0.0", 5980), False),
    (IPv4Address("TCP", "10.1.2.3", 5980), False),
    (IPv6Address("TCP", "::1", 5980), True),
    (IPv6Address("TCP", "::", 5980), False),
    (IPv6Address("TCP", "::ffff:127.0.0.1", 5980), True),
    (IPv6Address("TCP", "fe80::1%eth0", 5980), False),
    (UNIXAddress(b"/run/t.sock"), True),
    (object(), False),
])
def test_is_local_address(address: object, local: bool) -> None:
    """The address a port is bound to is local only if loopback or a UNIX socket."""
    from vncterm.textaccess import is_local_address

    assert is_local_address(address) is local
