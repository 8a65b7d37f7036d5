"""In-memory tests of who gets through the front door: role refusals with their audit lines,
Basic logins answered after an off-loop password check (bytes held meanwhile), failure delays
and blocks on CONNECT and XML-RPC, and what the browser list shows each role."""

from __future__ import annotations

import base64
import json
import xmlrpc.client
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from twisted.internet.error import ConnectionDone
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from consoleproxy.connect import error_reply, ok_reply
from consoleproxy.logins import BLOCKED
from consoleproxy.registry import parse_config
from tests.proxy.helpers import (
    CONFIG_TEXT,
    PASSWORD,
    PASSWORD_HASH,
    RFB_TEXT,
    VT100_TEXT,
    Harness,
    RecordingTransport,
    with_limits,
)
from tests.proxy.test_logins import HeldChecks
from tests.proxy.test_websocket import upgrade, upgrade_request

DOM0 = "88888888-8888-4888-8888-888888888888"
DOM0_CONSOLE = "88888888-8888-4888-8888-000000000000"
PEER = "192.168.1.1"  # StringTransport's peer

ROLE_CONFIG = CONFIG_TEXT + f"""
[[users]]
name = "admin"
password_hash = "{PASSWORD_HASH}"
role = "pool-admin"
[[users]]
name = "operator"
password_hash = "{PASSWORD_HASH}"
role = "vm-operator"
[[users]]
name = "watcher"
password_hash = "{PASSWORD_HASH}"
role = "read-only"

[[vms]]
uuid = "{DOM0}"
name_label = "Control domain"
is_control_domain = true
  [[vms.consoles]]
  uuid = "{DOM0_CONSOLE}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5909"
"""


def harness(**options: object) -> Harness:
    """A front door over the role configuration."""
    return Harness(config=parse_config(ROLE_CONFIG), **options)  # type: ignore[arg-type]


def connect(ref: str, *, session: str | None = None, basic: tuple[str, str] | None = None,
            then: bytes = b"") -> bytes:
    """A CONNECT request head (and what follows it)."""
    lines = [f"CONNECT /console?ref=OpaqueRef:{ref} HTTP/1.0", "Host: h"]
    if session is not None:
        lines.append(f"Cookie: session_id={session}")
    if basic is not None:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode()
        lines.append(f"Authorization: Basic {token}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + then


def refused_with(transport: RecordingTransport, status: int) -> bool:
    return transport.value() == error_reply(status, "1.0") and bool(transport.disconnecting)


@contextmanager
def logged() -> Iterator[list[LogEvent]]:
    """The log events emitted inside the block."""
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        yield events
    finally:
        globalLogPublisher.removeObserver(events.append)


def audits(events: list[LogEvent]) -> list[LogEvent]:
    return [event for event in events if "console request" in event.get("log_format", "")]


# -- roles -----------------------------------------------------------------------------------


def test_a_vm_operator_gets_403_for_the_control_domain_with_an_audit_line() -> None:
    """A vm-operator's CONNECT to the control domain's console is 403, and the audit line
    names the user, the console and why."""
    front = harness()
    with logged() as events:
        protocol, transport = front.connect()
        protocol.dataReceived(connect(DOM0_CONSOLE, session=front.sessions.login(
            "operator", PASSWORD)))
        protocol.connectionLost(Failure(ConnectionDone()))
    assert refused_with(transport, 403)
    assert front.endpoint.attempts == []
    (audit,) = audits(events)
    assert (audit["user"], audit["console"], audit["status"]) == (
        "operator", f"OpaqueRef:{DOM0_CONSOLE}", 403)
    assert "role vm-operator is below pool-operator" in audit["reason"]


def test_a_pool_admin_opens_the_control_domains_console() -> None:
    """A pool-admin's CONNECT to the control domain goes on to its console server."""
    front = harness()
    protocol, transport = front.connect()
    protocol.dataReceived(connect(DOM0_CONSOLE, session=front.sessions.login("admin", PASSWORD)))
    assert len(front.endpoint.attempts) == 1
    front.endpoint.succeed()
    assert transport.writes[0] == ok_reply()


def test_read_only_opens_nothing_on_connect_or_websocket() -> None:
    """A read-only user's CONNECT and WebSocket to a guest console are both 403."""
    front = harness()
    watcher = front.sessions.login("watcher", PASSWORD)
    with logged() as events:
        protocol, transport = front.connect()
        protocol.dataReceived(connect(RFB_TEXT, session=watcher))
        protocol.connectionLost(Failure(ConnectionDone()))
    assert refused_with(transport, 403)
    assert "role read-only opens no console" in audits(events)[0]["reason"]
    ws_transport, _ = upgrade(front, upgrade_request(f"/console?ref=OpaqueRef:{RFB_TEXT}",
                                                     cookie=f"session_id={watcher}"))
    assert ws_transport.value().startswith(b"HTTP/1.1 403 ")


# -- Basic logins off the event loop ---------------------------------------------------------


def test_a_basic_login_waits_for_its_check_and_keeps_the_bytes_in_order() -> None:
    """Nothing is answered while the password is checked (the client is paused); console
    bytes that arrive meanwhile reach the console after the 200, in order."""
    runner = HeldChecks()
    front = harness(runner=runner)
    protocol, transport = front.connect()
    protocol.dataReceived(connect(VT100_TEXT, basic=("operator", PASSWORD), then=b"ls"))
    assert transport.value() == b""
    assert transport.producerState == "paused"
    protocol.dataReceived(b" -l")
    protocol.dataReceived(b"\r")
    runner.release()
    assert transport.writes[0] == ok_reply()
    assert transport.producerState == "producing"
    assert front.source.written == b"ls -l\r"
    protocol.dataReceived(b"exit\r")
    assert front.source.written == b"ls -l\rexit\r"
    assert front.sessions.sessions_of("operator") == 1
    protocol.connectionLost(Failure(ConnectionDone()))
    assert front.sessions.sessions_of("operator") == 0  # the Basic session ends with it


def test_others_are_served_while_a_password_is_checked() -> None:
    """A pending password check holds up no other client: a CONNECT with a session is
    answered meanwhile."""
    runner = HeldChecks()
    front = harness(runner=runner)
    waiting, waiting_transport = front.connect()
    waiting.dataReceived(connect(VT100_TEXT, basic=("operator", PASSWORD)))
    other, other_transport = front.connect()
    other.dataReceived(connect(VT100_TEXT, session=front.sessions.login("admin", PASSWORD)))
    assert other_transport.writes[0] == ok_reply()
    assert waiting_transport.value() == b""
    runner.release()
    assert waiting_transport.writes[0] == ok_reply()


def test_an_end_of_input_during_the_check_is_passed_on() -> None:
    """A client that half-closes while its password is checked gets its console, then the
    end of its input is passed on."""
    runner = HeldChecks()
    front = harness(runner=runner)
    protocol, transport = front.connect()
    protocol.dataReceived(connect(VT100_TEXT, basic=("operator", PASSWORD), then=b"date\r"))
    protocol.readConnectionLost()
    runner.release()
    assert transport.writes[0] == ok_reply()
    assert front.source.written == b"date\r"
    assert transport.disconnecting


def test_too_many_bytes_during_the_check_are_refused() -> None:
    """Bytes beyond max_bytes_while_authenticating close the request with 400; the session
    the check then makes is ended at once."""
    runner = HeldChecks()
    config = with_limits(parse_config(ROLE_CONFIG), max_bytes_while_authenticating=10)
    front = Harness(config=config, runner=runner)
    protocol, transport = front.connect()
    protocol.dataReceived(connect(VT100_TEXT, basic=("operator", PASSWORD), then=b"12345"))
    protocol.dataReceived(b"678901")
    assert refused_with(transport, 400)
    protocol.connectionLost(Failure(ConnectionDone()))
    runner.release()
    assert front.sessions.sessions_of("operator") == 0


def test_a_client_that_leaves_during_the_check_leaves_no_session() -> None:
    """A client gone before its check ends: the session made for it is ended, one audit
    line is written."""
    runner = HeldChecks()
    front = harness(runner=runner)
    with logged() as events:
        protocol, _ = front.connect()
        protocol.dataReceived(connect(RFB_TEXT, basic=("operator", PASSWORD)))
        protocol.connectionLost(Failure(ConnectionDone()))
        runner.release()
    assert front.sessions.sessions_of("operator") == 0
    assert len(audits(events)) == 1


def test_a_wrong_basic_password_is_answered_after_the_delay() -> None:
    """A wrong Basic password gets its 401 only after the throttle's delay."""
    front = harness()
    protocol, transport = front.connect()
    protocol.dataReceived(connect(RFB_TEXT, basic=("operator", "guess")))
    assert transport.value() == b""
    front.clock.advance(front.config.limits.login_first_delay)
    assert refused_with(transport, 401)


def test_a_blocked_peer_is_refused_even_with_the_right_password() -> None:
    """After five wrong Basic passwords the peer's next CONNECT is 401 with the right
    password too, and the audit line says why; the block ends after its time."""
    front = harness()
    for _ in range(5):
        protocol, transport = front.connect()
        protocol.dataReceived(connect(RFB_TEXT, basic=("operator", "guess")))
        front.clock.advance(front.config.limits.login_max_delay)
        assert refused_with(transport, 401)
    with logged() as events:
        protocol, transport = front.connect()
        protocol.dataReceived(connect(RFB_TEXT, basic=("operator", PASSWORD)))
        protocol.connectionLost(Failure(ConnectionDone()))
    assert refused_with(transport, 401)
    assert audits(events)[0]["reason"] == BLOCKED
    front.clock.advance(front.config.limits.login_block_seconds)
    protocol, transport = front.connect()
    protocol.dataReceived(connect(VT100_TEXT, basic=("operator", PASSWORD)))
    assert transport.writes[0] == ok_reply()


# -- XML-RPC ---------------------------------------------------------------------------------


def xmlrpc_login(front: Harness, password: str) -> tuple[RecordingTransport, object]:
    """Post a login through the front door; returns the transport and its protocol."""
    body = xmlrpc.client.dumps(("operator", password, "2.21", "test"),
                               "session.login_with_password").encode()
    protocol, transport = front.connect()
    protocol.dataReceived(
        (f"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: text/xml\r\n"
         f"Content-Length: {len(body)}\r\n\r\n").encode() + body)
    return transport, protocol


def xmlrpc_value(transport: RecordingTransport) -> dict[str, object]:
    head, _, body = transport.value().partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK") and b"Content-Length" in head
    return xmlrpc.client.loads(body)[0][0]  # type: ignore[no-any-return]


def test_a_failed_xmlrpc_login_is_logged_and_answered_after_the_delay() -> None:
    """A wrong XML-RPC login is logged (user, peer, reason) and answered only after the
    delay; a right one is answered at once."""
    front = harness()
    with logged() as events:
        transport, _ = xmlrpc_login(front, "hunter2")
        assert transport.value() == b""
        front.clock.advance(front.config.limits.login_first_delay)
    reply = xmlrpc_value(transport)
    assert reply["ErrorDescription"] == ["SESSION_AUTHENTICATION_FAILED", "operator",
                                         "Authentication failure"]
    lines = [formatEvent(event) for event in events]
    assert any(line.startswith(f"xmlrpc login refused: peer {PEER}, user operator: wrong")
               for line in lines)
    assert not any("hunter2" in line for line in lines)
    transport, _ = xmlrpc_login(front, PASSWORD)
    assert xmlrpc_value(transport)["Status"] == "Success"


def test_an_xmlrpc_client_gone_before_its_answer_leaves_no_session() -> None:
    """The session of a login whose client left before the answer is ended."""
    runner = HeldChecks()
    front = harness(runner=runner)
    _transport, protocol = xmlrpc_login(front, PASSWORD)
    protocol.connectionLost(Failure(ConnectionDone()))  # type: ignore[attr-defined]
    runner.release()
    assert front.sessions.sessions_of("operator") == 0


# -- the browser list ------------------------------------------------------------------------


def api(front: Harness, target: str, session: str) -> dict[str, object]:
    protocol, transport = front.connect()
    protocol.dataReceived(f"GET {target} HTTP/1.1\r\nHost: h\r\nCookie: session_id={session}"
                          "\r\nConnection: close\r\n\r\n".encode())
    return json.loads(transport.value().partition(b"\r\n\r\n")[2])  # type: ignore[no-any-return]


def test_the_browser_list_shows_each_role_what_it_may_see() -> None:
    """The console list leaves the control domain out for a vm-operator, shows a read-only
    user the guests as not openable, and a pool-admin everything."""
    front = harness()

    def listed(user: str) -> list[tuple[str, bool]]:
        body = api(front, "/api/consoles", front.sessions.login(user, PASSWORD))
        return [(item["uuid"], item["openable"]) for item in body["consoles"]]  # type: ignore

    assert (DOM0_CONSOLE, True) in listed("admin")
    assert DOM0_CONSOLE not in dict(listed("operator"))
    assert all(not openable for _, openable in listed("watcher"))
    assert dict(listed("watcher")).keys() == dict(listed("operator")).keys()
    status = api(front, f"/api/console?ref=OpaqueRef:{DOM0_CONSOLE}",
                 front.sessions.login("operator", PASSWORD))
    assert status["status"] == 403


def test_a_bug_while_starting_the_check_is_a_500(monkeypatch: pytest.MonkeyPatch) -> None:
    """A bug in finding a request's credentials is answered 500 on that connection only."""
    front = harness()

    def broken(request: object) -> object:
        raise RuntimeError("simulated bug")

    with monkeypatch.context() as patch, logged():
        patch.setattr(front.sessions, "resolve_request", broken)
        protocol, transport = front.connect()
        protocol.dataReceived(connect(RFB_TEXT, basic=("operator", PASSWORD)))
    assert refused_with(transport, 500)
