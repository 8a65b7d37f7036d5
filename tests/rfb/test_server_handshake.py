"""Tests of RfbServer's handshake: versions, security types, authentication, refusal."""

from __future__ import annotations

import struct

import pytest

from tests.rfb.helpers import CHALLENGE, feed, make_server, splits
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.messages import ClientInitialised
from vncterm.rfb.pixelformat import NATIVE
from vncterm.rfb.security import expected_response
from vncterm.rfb.server import NEED_DATA, RfbServer, ServerConfig, State

V33, V37, V38 = b"RFB 003.003\n", b"RFB 003.007\n", b"RFB 003.008\n"
OK, FAILED = struct.pack(">I", 0), struct.pack(">I", 1)
RIGHT = expected_response(b"secret", CHALLENGE)
WRONG = expected_response(b"Secret", CHALLENGE)


def server_init(name: bytes = b"test") -> bytes:
    """The ServerInit a 640x384 test server sends."""
    return struct.pack(">HH", 640, 384) + NATIVE.pack() + struct.pack(">I", len(name)) + name


def reason(text: bytes) -> bytes:
    """A length-prefixed failure reason."""
    return struct.pack(">I", len(text)) + text


# (client version, password, client bytes after the version, expected server bytes after the
# greeting, expected outcome, expected events)
HANDSHAKES = {
    "3.3 none": (V33, None, b"\x01", b"\0\0\0\x01" + server_init(), "need-data", (3, 3)),
    "3.3 vnc": (
        V33,
        b"secret",
        RIGHT + b"\x00",
        b"\0\0\0\x02" + CHALLENGE + OK + server_init(),
        "need-data",
        (3, 3),
    ),
    "3.3 vnc wrong": (
        V33,
        b"secret",
        WRONG + b"\x00",
        b"\0\0\0\x02" + CHALLENGE + FAILED,
        "authentication failed",
        None,
    ),
    "3.7 none": (V37, None, b"\x01\x01", b"\x01\x01" + server_init(), "need-data", (3, 7)),
    "3.7 vnc": (
        V37,
        b"secret",
        b"\x02" + RIGHT + b"\x01",
        b"\x01\x02" + CHALLENGE + OK + server_init(),
        "need-data",
        (3, 7),
    ),
    "3.7 vnc wrong": (
        V37,
        b"secret",
        b"\x02" + WRONG + b"\x01",
        b"\x01\x02" + CHALLENGE + FAILED,
        "authentication failed",
        None,
    ),
    "3.7 type not offered": (
        V37,
        b"secret",
        b"\x01\x01",
        b"\x01\x02",
        "security type 1 was not offered",
        None,
    ),
    "3.8 none": (V38, None, b"\x01\x01", b"\x01\x01" + OK + server_init(), "need-data", (3, 8)),
    "3.8 vnc": (
        V38,
        b"secret",
        b"\x02" + RIGHT + b"\x01",
        b"\x01\x02" + CHALLENGE + OK + server_init(),
        "need-data",
        (3, 8),
    ),
    "3.8 vnc wrong": (
        V38,
        b"secret",
        b"\x02" + WRONG + b"\x01",
        b"\x01\x02" + CHALLENGE + FAILED + reason(b"authentication failed"),
        "authentication failed",
        None,
    ),
    "3.8 type not offered": (
        V38,
        None,
        b"\x02",
        b"\x01\x01" + FAILED + reason(b"security type 2 was not offered"),
        "security type 2 was not offered",
        None,
    ),
}


@pytest.mark.parametrize("case", list(HANDSHAKES))
def test_handshake(case: str) -> None:
    """Each version and security type sends exactly the spec's bytes, however input is split."""
    version, password, rest, expected, outcome, negotiated = HANDSHAKES[case]
    for seed, chunks in enumerate(splits(version + rest, seed=len(case))):
        server = make_server(password=password)
        events, result = feed(server, chunks)
        assert server.data_to_send() == expected, (case, seed)
        assert result == outcome
        if negotiated is None:
            assert events == []
            assert server.state is State.ERROR
        else:
            assert events == [ClientInitialised(shared=rest[-1] != 0, version=negotiated)]
            assert server.state is State.NORMAL
            assert server.version == negotiated


def test_shared_flag() -> None:
    """ClientInit's shared flag is reported as given: 0 is exclusive, non-zero shared."""
    for flag, shared in [(b"\x00", False), (b"\x01", True), (b"\x7f", True)]:
        server = make_server()
        events, _ = feed(server, [V38 + b"\x01" + flag])
        assert events == [ClientInitialised(shared=shared, version=(3, 8))]


def test_server_init_name_is_utf8() -> None:
    """The desktop name goes out UTF-8 encoded with its byte length."""
    server = make_server(name="Café ☕")
    feed(server, [V33, b"\x01"])
    assert server.data_to_send().endswith(server_init("Café ☕".encode()))


@pytest.mark.parametrize(
    ("version", "negotiated"),
    [
        (b"RFB 003.003\n", (3, 3)),
        (b"RFB 003.004\n", (3, 3)),
        (b"RFB 003.005\n", (3, 3)),
        (b"RFB 003.006\n", (3, 3)),
        (b"RFB 003.007\n", (3, 7)),
        (b"RFB 003.008\n", (3, 8)),
        (b"RFB 003.889\n", (3, 8)),
        (b"RFB 004.001\n", (3, 8)),
    ],
)
def test_version_negotiation(version: bytes, negotiated: tuple[int, int]) -> None:
    """Other 3.x minors mean 3.3; newer versions (Apple's 3.889, 4.x) get 3.8."""
    server = make_server()
    events, outcome = feed(server, [version])
    assert (events, outcome) == ([], "need-data")
    assert server.version == negotiated
    assert server.data_to_send() == (b"\0\0\0\x01" if negotiated == (3, 3) else b"\x01\x01")


@pytest.mark.parametrize(
    "version", [b"RFB 002.000\n", b"RFB 003.08\n\n", b"RFB 003.008\r", b"GET / HTTP/1.1\r\n"]
)
def test_bad_version_is_remote_error(version: bytes) -> None:
    """A reply that is not a supported `RFB xxx.yyy\\n` closes the connection, saying nothing."""
    server = make_server()
    events, outcome = feed(server, [version])
    assert events == [] and outcome != "need-data"
    assert server.state is State.ERROR
    assert server.data_to_send() == b""


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (V33, struct.pack(">I", 0) + reason(b"too many viewers")),
        (V37, b"\x00" + reason(b"too many viewers")),
        (V38, b"\x00" + reason(b"too many viewers")),
    ],
)
def test_refuse_before_version(version: bytes, expected: bytes) -> None:
    """A refusal before the client's version is sent as that version's connection failure."""
    server = make_server()
    server.refuse("too many viewers")
    events, outcome = feed(server, [version])
    assert (events, outcome) == ([], "closed")
    assert server.data_to_send() == expected
    assert server.state is State.CLOSED


def test_refuse_during_authentication() -> None:
    """A refusal after the challenge is a SecurityResult failure (with reason in 3.8)."""
    server = make_server(password=b"secret")
    feed(server, [V38 + b"\x02"])
    server.data_to_send()
    server.refuse("too many viewers")
    assert server.data_to_send() == FAILED + reason(b"too many viewers")
    assert feed(server, [RIGHT]) == ([], "closed")


def test_refuse_during_security_3_7_just_closes() -> None:
    """A 3.7 client still choosing its security type cannot be told anything."""
    server = make_server()
    feed(server, [V37])
    server.data_to_send()
    server.refuse("no")
    assert server.data_to_send() == b""
    assert server.state is State.CLOSED


def test_refuse_after_handshake_is_local_error() -> None:
    """Refusing once the handshake is over is a misuse of the machine."""
    server = make_server()
    feed(server, [V38 + b"\x01\x01"])
    with pytest.raises(LocalProtocolError):
        server.refuse("too late")


def test_eof_during_handshake() -> None:
    """A client leaving between messages closes; leaving mid-message is an error."""
    server = make_server()
    assert feed(server, [V38], eof=True) == ([], "closed")
    server = make_server()
    assert feed(server, [V38[:5]], eof=True) == ([], "client closed the connection in mid-message")


def test_errors_repeat() -> None:
    """After a RemoteProtocolError every later next_event raises again."""
    server = make_server()
    feed(server, [b"RFB 001.000\n"])
    assert feed(server, [b"more"]) == ([], "unsupported RFB version 001.000")


def test_initiate_twice_is_local_error() -> None:
    """initiate() may only be called once."""
    server = make_server()
    with pytest.raises(LocalProtocolError):
        server.initiate()


def test_receive_after_eof_is_local_error() -> None:
    """Data after EOF is a misuse of the machine."""
    server = make_server()
    server.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        server.receive_data(b"x")


def test_sending_before_handshake_is_local_error() -> None:
    """The sending API refuses to write before the handshake has finished."""
    server = make_server()
    for send in (server.send_bell, lambda: server.send_framebuffer_update([])):
        with pytest.raises(LocalProtocolError):
            send()


def test_uses_injected_randomness() -> None:
    """The challenge comes from the injected random source, 16 bytes of it."""
    asked: list[int] = []

    def random_bytes(size: int) -> bytes:
        asked.append(size)
        return b"\xaa" * size

    server = RfbServer(ServerConfig(1, 1, "x", b"pw"), random_bytes=random_bytes)
    server.initiate()
    server.receive_data(V33)
    assert server.next_event() is NEED_DATA
    assert server.data_to_send().endswith(b"\0\0\0\x02" + b"\xaa" * 16)
    assert asked == [16]


def test_config_rejects_impossible_sizes() -> None:
    """A desktop size that does not fit ServerInit's 16-bit fields is a ValueError."""
    with pytest.raises(ValueError):
        ServerConfig(70000, 1, "x", None)


def test_view_only_password_marks_the_connection() -> None:
    """The view-only password authenticates too, and the server says the client may only watch."""
    from vncterm.rfb.security import expected_response
    from vncterm.rfb.server import RfbServer, ServerConfig

    challenge = bytes(range(16))
    for password, view_only in ((b"full", False), (b"watch", True)):
        server = RfbServer(
            ServerConfig(640, 384, "t", b"full", view_only_password=b"watch"),
            random_bytes=lambda n: challenge[:n],
        )
        server.initiate()
        server.receive_data(b"RFB 003.008\n")
        server.next_event()
        server.receive_data(b"\x02")
        server.next_event()
        server.data_to_send()
        server.receive_data(expected_response(password, challenge))
        server.next_event()
        assert server.data_to_send() == b"\x00\x00\x00\x00"
        assert server.view_only is view_only
