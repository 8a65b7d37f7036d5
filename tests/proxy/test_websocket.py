"""In-memory tests of WebSocket consoles on the front door: statuses before the upgrade,
subprotocol choice, cookie and query sessions, RFB in binary frames both ways, relays,
keep-alive pings and the idle timeout."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from twisted.internet.error import ConnectionDone
from twisted.python.failure import Failure
from wsproto.events import CloseConnection, Ping

from consoleproxy.connect import error_reply
from consoleproxy.protocol import WebSocketBridge
from consoleproxy.websocket import WebSocketSettings
from tests.proxy.helpers import (
    GUEST_VM,
    HALTED_CONSOLE,
    PASSWORD,
    RFB_RELAY,
    RFB_TEXT,
    VT100_TEXT,
    Harness,
    RecordingTransport,
)
from tests.proxy.wsclient import SAMPLE_ACCEPT, Frames, split_reply, upgrade_request

GREETING = b"RFB 003.008\n"
PREAMBLES = Path(__file__).resolve().parents[1] / "data" / "preambles"


def upgrade(harness: Harness, head: bytes, extra: bytes = b"") -> tuple[RecordingTransport, Frames]:
    protocol, transport = harness.connect()
    protocol.dataReceived(head + extra)
    frames = Frames()
    if transport.value().startswith(b"HTTP/1.1 101"):
        frames.feed(split_reply(transport.value())[1])
    harness.protocol = protocol  # type: ignore[attr-defined]
    return transport, frames


def refused_with(transport: RecordingTransport, status: int, *,
                 headers: tuple[tuple[str, str], ...] = ()) -> bool:
    return (transport.value() == error_reply(status, "1.1", headers=headers)
            and bool(transport.disconnecting))


def test_cookie_session_gets_101_in_one_write_then_rfb_in_binary_frames() -> None:
    """The 101 reply (binary subprotocol) is the first write, whole; the greeting follows framed."""
    harness = Harness()
    transport, frames = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}", cookie=f"theme=dark; session_id={harness.login()}"))
    head, _ = split_reply(transport.writes[0])
    assert transport.writes[0] == head
    assert head.startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    assert f"Sec-WebSocket-Accept: {SAMPLE_ACCEPT}".encode() in head
    assert b"Sec-WebSocket-Protocol: binary\r\n" in head
    assert bytes(frames.data) == GREETING
    assert not transport.disconnecting


def test_query_session_and_a_client_offering_no_subprotocol() -> None:
    """session_id in the query works, and a client offering no subprotocol is accepted."""
    harness = Harness()
    transport, frames = upgrade(harness, upgrade_request(
        f"/console?uuid={GUEST_VM}&session_id={harness.login()}", protocols=None))
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol" not in split_reply(transport.value())[0]
    assert bytes(frames.data) == GREETING


def test_frames_sent_with_the_request_reach_the_console() -> None:
    """The client's version, framed in the same packet as the request, reaches the RFB server."""
    harness = Harness()
    client = Frames()
    _transport, frames = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"),
        client.binary(GREETING))
    assert bytes(frames.data) == GREETING + b"\x01\x01"  # greeting, then security types


def test_viewer_input_travels_in_binary_frames() -> None:
    """Keys typed in a WebSocket viewer reach the console."""
    harness = Harness()
    _transport, _frames = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"))
    client = Frames()
    protocol = harness.protocol  # type: ignore[attr-defined]
    key_a = b"\x04\x01\x00\x00\x00\x00\x00\x61"
    for chunk in (GREETING, b"\x01", b"\x01", key_a):
        protocol.dataReceived(client.binary(chunk))
    assert b"a" in bytes(harness.source.written)


@pytest.mark.parametrize(("target", "cookie", "status"), [
    (f"/console?ref=OpaqueRef:{RFB_TEXT}", None, 401),
    (f"/console?ref=OpaqueRef:{RFB_TEXT}", "session_id=OpaqueRef:nope", 401),
    (f"/console?ref=OpaqueRef:{HALTED_CONSOLE}", "ok", 500),
    ("/console?ref=OpaqueRef:deadbeef-0000-4000-8000-000000000000", "ok", 500),
    ("/console", "ok", 400),
])
def test_the_same_statuses_as_connect_before_the_upgrade(target: str, cookie: str | None,
                                                         status: int) -> None:
    """Authentication and lookup failures give CONNECT's statuses, with no upgrade."""
    harness = Harness()
    if cookie == "ok":
        cookie = f"session_id={harness.login()}"
    transport, _ = upgrade(harness, upgrade_request(target, cookie=cookie))
    assert refused_with(transport, status)


def test_404_when_the_console_is_not_connected() -> None:
    """A hosted console whose program is gone gives 404 before the upgrade."""
    harness = Harness(connected=False)
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}", cookie=f"session_id={harness.login()}"))
    assert refused_with(transport, 404)


def test_403_when_the_authorizer_refuses() -> None:
    """An authorizer saying no gives 403 before the upgrade."""

    class Nobody:
        def refusal(self, session: object, console: object) -> str | None:
            return "nobody may"

        def may_see(self, session: object, vm: object) -> bool:
            return True

    harness = Harness(authorizer=Nobody())
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}", cookie=f"session_id={harness.login()}"))
    assert refused_with(transport, 403)


@pytest.mark.parametrize(("options", "status", "headers"), [
    ({"version": "8"}, 426, (("Sec-WebSocket-Version", "13"),)),
    ({"protocols": "base64"}, 400, ()),
    ({"key": None}, 400, ()),
])
def test_bad_upgrades_are_refused(options: dict[str, object], status: int,
                                  headers: tuple[tuple[str, str], ...]) -> None:
    """A wrong version (426), an offer without binary or no key (400) are refused."""
    harness = Harness()
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}", cookie=f"session_id={harness.login()}",
        **options))  # type: ignore[arg-type]
    assert refused_with(transport, status, headers=headers)


def test_a_plain_get_of_the_console_path_gets_426() -> None:
    """GET /console without an upgrade is told to upgrade."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"GET /console?ref=x HTTP/1.1\r\nHost: h\r\n\r\n")
    assert refused_with(transport, 426, headers=(("Upgrade", "websocket"),))


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:81",
                                    "http://127.0.0.1.evil.example"])
def test_a_page_of_another_origin_is_refused_whatever_session_it_carries(origin: str) -> None:
    """A foreign page gets 403 before any credential is looked at: a cookie, a session in the
    query and Basic credentials alike (a browser lets any page put them in the URL)."""
    harness = Harness()
    session = harness.login()
    target = f"/console?ref=OpaqueRef:{RFB_TEXT}"
    basic = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    for head in (
        upgrade_request(target, cookie=f"session_id={session}", origin=origin),
        upgrade_request(f"{target}&session_id={session}", origin=origin),
        upgrade_request(target, origin=origin, extra=f"Authorization: Basic {basic}\r\n"),
    ):
        transport, frames = upgrade(harness, head)
        assert refused_with(transport, 403), head
        assert not frames.data


def test_the_same_origin_and_clients_without_origin_are_served() -> None:
    """The listener's own pages (any spelling of its default port) and non-browser clients
    (no Origin header) get 101."""
    harness = Harness()
    session = harness.login()
    target = f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={session}"
    for origin, host in (("http://127.0.0.1", "127.0.0.1"), ("https://h:8443", "h:8443"),
                         ("https://H", "h:443"), (None, "127.0.0.1")):
        _, frames = upgrade(harness, upgrade_request(target, origin=origin, host=host))
        assert bytes(frames.data) == GREETING, origin


def test_a_configured_origin_may_open_consoles_but_not_with_the_cookie() -> None:
    """An origin the operator listed is served with a query session; the browser's cookie is
    still not sent on its behalf."""
    harness = Harness(websocket=WebSocketSettings(
        allowed_origins=frozenset({"https://xo.example.com"})))
    session = harness.login()
    target = f"/console?ref=OpaqueRef:{RFB_TEXT}"
    _, frames = upgrade(harness, upgrade_request(
        f"{target}&session_id={session}", origin="https://xo.example.com:443"))
    assert bytes(frames.data) == GREETING
    transport, _ = upgrade(harness, upgrade_request(
        target, cookie=f"session_id={session}", origin="https://xo.example.com"))
    assert refused_with(transport, 401)


def test_a_duplicate_host_on_an_upgrade_is_a_clean_400() -> None:
    """Two Host headers on a WebSocket upgrade get 400 (it was a 500 with a traceback)."""
    harness = Harness()
    head = upgrade_request(f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}",
                           extra="Host: other\r\n")
    transport, _ = upgrade(harness, head)
    assert refused_with(transport, 400)


def test_xen_orchestra_preamble_is_answered() -> None:
    """Xen Orchestra's captured upgrade (binary, session in the query) gets 101 once its
    session is live."""
    harness = Harness()
    captured = (PREAMBLES / "xo-websocket.bin").read_bytes()
    session = harness.login()
    head = (captured.replace(b"OpaqueRef:0b7f6c4e-5d1a-4c8e-9f3b-2a6d8e1c7f90", session.encode())
            .replace(b"76825670-6b1e-439b-b2c1-eccaa11fbc0f", RFB_TEXT.encode()))
    transport, frames = upgrade(harness, head)
    assert b"Sec-WebSocket-Protocol: binary" in transport.value()
    assert bytes(frames.data) == GREETING
    # Unmodified, its session is unknown here: 401 before the upgrade.
    transport, _ = upgrade(Harness(), captured)
    assert transport.value().startswith(b"HTTP/1.1 401 ")


def test_vt100_consoles_stream_text_in_binary_frames() -> None:
    """A vt100 console's raw text travels framed too, and typed bytes reach the console."""
    harness = Harness()
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{VT100_TEXT}&session_id={harness.login()}"))
    harness.console.console_output(b"login: ")
    frames = Frames()
    frames.feed(split_reply(transport.value())[1])
    assert bytes(frames.data) == b"login: "
    harness.protocol.dataReceived(Frames().binary(b"root\r"))  # type: ignore[attr-defined]
    assert b"root\r" in bytes(harness.source.written)


def test_relayed_consoles_are_framed_both_ways() -> None:
    """A relayed console's bytes are framed to the client; early client frames are unwrapped."""
    harness = Harness()
    client = Frames()
    protocol, transport = harness.connect()
    protocol.dataReceived(upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_RELAY}&session_id={harness.login()}")
        + client.binary(b"early"))
    assert transport.value() == b""  # nothing before the console's server is there
    server, server_transport = harness.endpoint.succeed()
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    assert server_transport.value() == b"early"
    server.dataReceived(GREETING)
    frames = Frames()
    frames.feed(split_reply(transport.value())[1])
    assert bytes(frames.data) == GREETING
    protocol.dataReceived(client.binary(b"later"))
    assert server_transport.value() == b"earlylater"


def test_a_client_close_ends_the_console_connection() -> None:
    """A Close frame is echoed and the connection dropped."""
    harness = Harness()
    transport, _frames = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"))
    client = Frames()
    harness.protocol.dataReceived(client.close())  # type: ignore[attr-defined]
    assert transport.disconnecting
    client.feed(split_reply(transport.value())[1])
    assert client.of(CloseConnection)


def test_idle_connections_are_pinged_and_silent_ones_dropped() -> None:
    """A client silent for the ping interval gets a Ping; silent as long again, it is dropped."""
    harness = Harness(websocket=WebSocketSettings(ping_interval=30.0))
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"))
    client = Frames()
    for chunk in (GREETING, b"\x01", b"\x01"):  # the RFB handshake, so vncterm keeps it
        harness.protocol.dataReceived(client.binary(chunk))  # type: ignore[attr-defined]
    harness.clock.advance(29.0)
    client.feed(split_reply(transport.value())[1])
    assert not client.of(Ping)
    harness.clock.advance(1.0)
    client.feed(transport.writes[-1])
    assert client.of(Ping)
    harness.protocol.dataReceived(client.pong(b"keep-alive"))  # type: ignore[attr-defined]
    harness.clock.advance(30.0)
    assert not transport.disconnected
    harness.clock.advance(30.0)
    assert transport.disconnected  # aborted: the pings went unanswered


def test_idle_timeout_counts_only_real_input() -> None:
    """Update requests and pongs do not keep a viewer from idling out; a key does."""
    harness = Harness(websocket=WebSocketSettings(ping_interval=10.0, idle_timeout=60.0))
    transport, _ = upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"))
    client = Frames()
    protocol = harness.protocol  # type: ignore[attr-defined]
    for chunk in (GREETING, b"\x01", b"\x01"):
        protocol.dataReceived(client.binary(chunk))
    fbur = b"\x03\x01" + b"\x00" * 8
    key = b"\x04\x01\x00\x00\x00\x00\x00\x61"
    for _ in range(5):
        harness.clock.advance(10.0)
        protocol.dataReceived(client.binary(fbur) + client.pong(b"keep-alive"))
    protocol.dataReceived(client.binary(key))
    harness.clock.advance(59.0)
    assert not transport.disconnecting
    harness.clock.advance(1.0)
    assert transport.disconnecting
    frames = Frames()
    frames.feed(split_reply(transport.value())[1])
    (close,) = frames.of(CloseConnection)
    assert close.code == 4000


def test_losing_the_connection_detaches_the_viewer() -> None:
    """A WebSocket viewer that goes away leaves the console and cancels its timers."""
    harness = Harness()
    upgrade(harness, upgrade_request(
        f"/console?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()}"))
    harness.protocol.connectionLost(Failure(ConnectionDone()))  # type: ignore[attr-defined]
    console = harness.registry.console_by_uuid(RFB_TEXT)
    assert console is not None and harness.factory.sessions_on(console) == 0
    bridges = [call for call in harness.clock.getDelayedCalls()
               if isinstance(getattr(getattr(call, "func", None), "__self__", None),
                             WebSocketBridge)]
    assert not bridges
