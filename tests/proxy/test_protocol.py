"""In-memory tests of the front door: every reply status, the 200 write, hand-off and relay."""

from __future__ import annotations

import base64
import xmlrpc.client
from typing import Any

import pytest
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from consoleproxy.connect import error_reply, ok_reply
from consoleproxy.limits import Limits
from tests.proxy.helpers import (
    GUEST_VM,
    HALTED_CONSOLE,
    PASSWORD,
    RFB_RELAY,
    RFB_TEXT,
    VT100_TEXT,
    Harness,
    RecordingTransport,
    with_limits,
)

GREETING = b"RFB 003.008\n"


def connect_request(ref: str, session: str | None = None, *, version: str = "1.0",
                    extra: str = "") -> bytes:
    cookie = f"Cookie: theme=dark; session_id={session}\r\n" if session else ""
    return (f"CONNECT /console?ref=OpaqueRef:{ref} HTTP/{version}\r\nHost: h\r\n{cookie}"
            f"{extra}\r\n").encode()


def refused_with(transport: RecordingTransport, status: int, version: str = "1.0") -> bool:
    return transport.value() == error_reply(status, version) and bool(transport.disconnecting)


def test_rfb_text_console_gets_exact_200_in_one_write_before_the_greeting() -> None:
    """The 200 reply is the first write, whole, and the RFB greeting follows it."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, harness.login()))
    assert transport.writes[0] == ok_reply()
    assert b"".join(transport.writes[1:]).startswith(GREETING)
    assert not transport.disconnecting


def test_bytes_after_the_blank_line_go_to_the_console() -> None:
    """A client version sent in the same packet as the request reaches the RFB server."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, harness.login()) + GREETING)
    # The server answered the client's version with its security types (1: None).
    assert transport.value() == ok_reply() + GREETING + b"\x01\x01"


def test_request_fed_byte_by_byte_is_answered_once() -> None:
    """Splitting the request into single bytes gives the same reply."""
    harness = Harness()
    protocol, transport = harness.connect()
    for byte in connect_request(RFB_TEXT, harness.login()):
        protocol.dataReceived(bytes([byte]))
    assert transport.writes[0] == ok_reply()


def test_query_session_and_uuid_forms_work() -> None:
    """session_id in the query (xe, nova) and uuid= of a VM open its rfb console."""
    harness = Harness()
    protocol, transport = harness.connect()
    session = harness.login()
    protocol.dataReceived(
        f"CONNECT /console?uuid={GUEST_VM}&session_id={session} HTTP/1.1\r\n\r\n".encode())
    assert transport.writes[0] == ok_reply()


def test_basic_login_session_is_ended_with_the_connection() -> None:
    """Basic username/password makes a session that is logged out when the connection ends."""
    harness = Harness()
    protocol, transport = harness.connect()
    credentials = base64.b64encode(f"root:{PASSWORD}".encode()).decode()
    basic = f"Authorization: Basic {credentials}\r\n"
    protocol.dataReceived(connect_request(RFB_TEXT, extra=basic))
    assert transport.writes[0] == ok_reply()
    assert len(harness.sessions) == 1
    protocol.connectionLost(Failure(ConnectionDone()))
    assert len(harness.sessions) == 0


def test_401_without_credentials_echoes_the_http_version() -> None:
    """No session at all: 401 with the request's HTTP version, then close."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, version="1.1"))
    assert refused_with(transport, 401, "1.1")
    assert b'WWW-Authenticate: Basic realm="connect_console"' in transport.value()


def test_401_for_a_logged_out_session() -> None:
    """A session that was logged out no longer opens consoles."""
    harness = Harness()
    session = harness.login()
    harness.sessions.logout(session)
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, session))
    assert refused_with(transport, 401)


def test_403_for_another_path() -> None:
    """Only /console is served."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(
        f"CONNECT /other?ref=OpaqueRef:{RFB_TEXT}&session_id={harness.login()} HTTP/1.0\r\n\r\n"
        .encode())
    assert refused_with(transport, 403)


def test_403_when_the_authorizer_refuses() -> None:
    """An authorizer saying no gives 403."""

    class Nobody:
        def refusal(self, session: Any, console: Any) -> str | None:
            return "nobody may"

        def may_see(self, session: Any, vm: Any) -> bool:
            return True

    harness = Harness(authorizer=Nobody())
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, harness.login()))
    assert refused_with(transport, 403)


def test_404_when_the_text_console_is_not_connected() -> None:
    """A hosted console whose program or device is gone gives 404."""
    harness = Harness(connected=False)
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(VT100_TEXT, harness.login()))
    assert refused_with(transport, 404)


def test_404_when_the_console_server_is_unreachable() -> None:
    """The reply waits for the backend connection, so an unreachable one gives 404."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_RELAY, harness.login()))
    assert transport.value() == b""
    harness.endpoint.attempts[0][1].errback(Failure(ConnectionRefusedError()))
    assert refused_with(transport, 404)


def test_408_when_the_request_is_not_complete_in_time() -> None:
    """A request head not finished within the deadline is answered 408."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"CONNECT /console?ref=x HTTP/1.1\r\nHost: h\r\n")
    harness.clock.advance(harness.config.limits.request_deadline)
    assert refused_with(transport, 408, "1.1")


def test_431_when_the_request_head_is_too_large() -> None:
    """A head beyond the cap is answered 431 (yet a 16 KiB cookie fits)."""
    harness = Harness()
    protocol, transport = harness.connect()
    big_cookie = "Cookie: junk=" + "x" * 16384 + "\r\n"
    protocol.dataReceived(connect_request(RFB_TEXT, harness.login(), extra=big_cookie))
    assert transport.writes[0] == ok_reply()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"CONNECT /console HTTP/1.0\r\nCookie: " + b"x" * 40000)
    assert refused_with(transport, 431)


def test_500_for_an_unknown_ref_and_a_halted_vm() -> None:
    """Unknown refs and consoles of VMs not running here give 500."""
    harness = Harness()
    session = harness.login()
    for ref in ("deadbeef-0000-4000-8000-000000000000", HALTED_CONSOLE):
        protocol, transport = harness.connect()
        protocol.dataReceived(connect_request(ref, session))
        assert refused_with(transport, 500)


def test_501_for_unknown_methods() -> None:
    """Methods other than CONNECT, GET and POST give 501."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(b"DELETE /console HTTP/1.1\r\n\r\n")
    assert refused_with(transport, 501, "1.1")


def test_503_at_the_connection_cap() -> None:
    """A connection beyond the process cap is answered 503 once its request line is read."""
    harness = Harness(config=with_limits(Harness().config, max_connections=1))
    first, _first_transport = harness.connect()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, harness.login()))
    assert refused_with(transport, 503)
    first.connectionLost(Failure(ConnectionDone()))
    protocol.connectionLost(Failure(ConnectionDone()))
    assert harness.factory.open_connections == 0


def test_503_at_the_per_console_session_limit() -> None:
    """A console at its configured session limit refuses one more with 503, then frees up."""
    harness = Harness(max_sessions_per_console=1)
    session = harness.login()
    first, first_transport = harness.connect()
    first.dataReceived(connect_request(VT100_TEXT, session))
    assert first_transport.writes[0] == ok_reply()
    second, second_transport = harness.connect()
    second.dataReceived(connect_request(VT100_TEXT, session))
    assert refused_with(second_transport, 503)
    first.connectionLost(Failure(ConnectionDone()))
    third, third_transport = harness.connect()
    third.dataReceived(connect_request(VT100_TEXT, session))
    assert third_transport.writes[0] == ok_reply()


def test_errors_close_even_when_the_client_keeps_sending() -> None:
    """After an error reply nothing the client sends is answered or passed on."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT) + b"more bytes")
    protocol.dataReceived(b"and more")
    assert refused_with(transport, 401)


def test_vt100_console_is_raw_text_both_ways() -> None:
    """A vt100 console sends the console's bytes as they are and types what arrives."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(VT100_TEXT, harness.login()) + b"ls\r")
    assert transport.writes[0] == ok_reply()
    harness.source.sink.console_output(b"\x1b[1mguest$ \x1b[0m")
    assert transport.value() == ok_reply() + b"\x1b[1mguest$ \x1b[0m"
    assert harness.source.written == b"ls\r"
    protocol.connectionLost(Failure(ConnectionDone()))
    assert harness.console.raw_listeners == []


def test_slow_vt100_client_is_disconnected_not_buffered_forever() -> None:
    """A vt100 client that stops reading is dropped once its backlog passes the cap."""
    harness = Harness(config=with_limits(Harness().config, relay_high_water=1000))
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(VT100_TEXT, harness.login()))
    transport.producer.pauseProducing()
    harness.source.sink.console_output(b"x" * 600)
    assert not transport.disconnecting
    harness.source.sink.console_output(b"x" * 600)
    assert transport.disconnecting


def test_relay_forwards_early_bytes_first_and_replies_after_connecting() -> None:
    """Bytes sent with and after the request reach the backend first, in order, after 200."""
    harness = Harness()
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_RELAY, harness.login()) + b"one,")
    assert transport.producerState == "paused"
    protocol.dataReceived(b"two,")
    assert transport.value() == b""
    backend, backend_transport = harness.endpoint.succeed()
    assert transport.writes[0] == ok_reply()
    assert transport.producerState == "producing"
    protocol.dataReceived(b"three")
    assert backend_transport.value() == b"one,two,three"
    backend.dataReceived(GREETING)
    assert transport.value() == ok_reply() + GREETING


def test_relay_passes_on_an_end_of_input_received_while_connecting() -> None:
    """A client half-close before the backend connects is passed on after the early bytes."""
    harness = Harness()
    protocol, _transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_RELAY, harness.login()) + b"last words")
    protocol.readConnectionLost()
    _backend, backend_transport = harness.endpoint.succeed()
    assert backend_transport.value() == b"last words"
    assert backend_transport.write_closed


def test_a_joined_relay_is_offered_to_the_relay_thread_and_its_bytes_are_audited(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With a relay thread, a plain relay is handed off once joined (not one whose client
    already half-closed), and the bytes the thread read count in the audit line."""
    offered: list[tuple[Any, Any, Any]] = []

    def hand_off(relays: Any, client: Any, server: Any, client_bytes: Any) -> bool:
        offered.append((relays, client, client_bytes))
        return True

    monkeypatch.setattr("consoleproxy.protocol.hand_off", hand_off)
    relays = object()
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        harness = Harness(relays=relays)
        request = connect_request(RFB_RELAY, harness.login())
        protocol, _transport = harness.connect()
        protocol.dataReceived(request)
        harness.endpoint.succeed()
        [(given, client_end, client_bytes)] = offered
        assert given is relays and client_end is protocol._delegate
        client_bytes(1000)
        protocol.connectionLost(Failure(ConnectionDone()))

        half_closed, _ = harness.connect()
        half_closed.dataReceived(request)
        half_closed.readConnectionLost()
        harness.endpoint.succeed()
        assert len(offered) == 1
    finally:
        globalLogPublisher.removeObserver(events.append)
    audits = [event for event in events if "console request" in event.get("log_format", "")]
    assert audits[0]["bytes_in"] == len(request) + 1000


def test_client_leaving_while_connecting_cancels_the_attempt() -> None:
    """The backend connection attempt is cancelled when the client goes away first."""
    harness = Harness()
    protocol, _transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_RELAY, harness.login()))
    protocol.connectionLost(Failure(ConnectionDone()))
    attempt = harness.endpoint.attempts[0][1]
    assert attempt.called
    assert harness.factory.sessions_on(harness.registry.console_by_uuid(RFB_RELAY)) == 0


def test_audit_line_names_the_attempt_but_never_the_session() -> None:
    """One audit line per attempt with peer, user, console, status and bytes; no session id."""
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        harness = Harness()
        session = harness.login()
        protocol, _transport = harness.connect()
        protocol.dataReceived(connect_request(VT100_TEXT, session))
        protocol.connectionLost(Failure(ConnectionDone()))
    finally:
        globalLogPublisher.removeObserver(events.append)
    audits = [event for event in events if "console request" in event.get("log_format", "")]
    assert len(audits) == 1
    audit = audits[0]
    assert audit["user"] == "root"
    assert audit["status"] == 200
    assert audit["console"] == f"OpaqueRef:{VT100_TEXT}"
    assert audit["bytes_out"] == len(ok_reply())
    for event in events:
        assert session not in formatEvent(event)
        assert session not in repr(event)


def xmlrpc_post(body: bytes, path: str = "/") -> bytes:
    return (f"POST {path} HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


def test_xmlrpc_is_served_on_the_same_listener_with_keep_alive() -> None:
    """POST / answers XenAPI calls, several on one connection, as the binding does."""
    harness = Harness()
    protocol, transport = harness.connect()
    login = xmlrpc.client.dumps(("root", PASSWORD, "1.0", "test"),
                                "session.login_with_password").encode()
    protocol.dataReceived(xmlrpc_post(login))
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Content-Type: text/xml" in head
    ((reply,), _) = xmlrpc.client.loads(body)
    assert reply["Status"] == "Success"
    transport.clear()
    call = xmlrpc.client.dumps((reply["Value"], "guest"), "VM.get_by_name_label").encode()
    protocol.dataReceived(xmlrpc_post(call, "/RPC2"))
    head, _, body = transport.value().partition(b"\r\n\r\n")
    ((found,), _) = xmlrpc.client.loads(body)
    assert found == {"Status": "Success", "Value": [f"OpaqueRef:{GUEST_VM}"]}
    assert not transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))


def test_xmlrpc_body_beyond_the_cap_is_refused() -> None:
    """A body larger than the XML-RPC cap is answered 413 and the connection closed."""
    harness = Harness(config=with_limits(Harness().config, max_xmlrpc_body_bytes=100))
    protocol, transport = harness.connect()
    protocol.dataReceived(xmlrpc_post(b"x" * 101))
    assert transport.value().startswith(b"HTTP/1.1 413 ")
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))


@pytest.mark.parametrize("split", [1, 3, 7])
def test_xmlrpc_sniffing_works_on_any_split(split: int) -> None:
    """A POST arriving a few bytes at a time is still routed to XML-RPC."""
    harness = Harness()
    protocol, transport = harness.connect()
    request = xmlrpc_post(xmlrpc.client.dumps((), "system.listMethods").encode())
    for start in range(0, len(request), split):
        protocol.dataReceived(request[start : start + split])
    assert transport.value().startswith(b"HTTP/1.1 200 OK")
    protocol.connectionLost(Failure(ConnectionDone()))


def test_limits_defaults_are_used_when_not_configured() -> None:
    """The factory takes its caps from the configuration."""
    assert Harness().factory.limits == Limits()


def test_internal_error_is_a_500_on_that_connection_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug while answering one request is logged whole and answered 500; others go on."""
    harness = Harness()
    session = harness.login()
    registry = harness.factory.registry

    def broken_lookup(query: Any) -> Any:
        raise RuntimeError("simulated bug")

    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        with monkeypatch.context() as patch:
            patch.setattr(registry, "lookup", broken_lookup)
            protocol, transport = harness.connect()
            protocol.dataReceived(connect_request(RFB_TEXT, session))
    finally:
        globalLogPublisher.removeObserver(events.append)
    assert refused_with(transport, 500)
    assert any("log_failure" in event for event in events)
    protocol, transport = harness.connect()
    protocol.dataReceived(connect_request(RFB_TEXT, session))
    assert transport.writes[0] == ok_reply()
