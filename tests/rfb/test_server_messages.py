"""Tests of RfbServer's normal phase: parsing client messages, caps, and the sending API."""

from __future__ import annotations

import struct
import time

import pytest

from tests.rfb.helpers import drain, feed, key_event, normal_server, splits
from vncterm.limits import Limits
from vncterm.rfb.constants import Encoding
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    Event,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    Rectangle,
    SetEncodings,
    SetPixelFormat,
)
from vncterm.rfb.pixelformat import COLOUR_MAP, NATIVE, PixelFormat
from vncterm.rfb.server import State

RGB565 = PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)
COLOUR_MAPPED = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)
SMALL = Limits(max_client_cut_text=10, max_encodings=3, max_receive_buffer=20)


def set_encodings(*numbers: int) -> bytes:
    """Wire bytes of a SetEncodings."""
    return struct.pack(f">BxH{len(numbers)}i", 2, len(numbers), *numbers)


MESSAGES: list[tuple[bytes, Event]] = [
    (b"\x00\x01\x02\x03" + RGB565.pack(), SetPixelFormat(RGB565)),
    (set_encodings(5, 0, -239, -32, 0x574D5669), SetEncodings((5, 0, -239, -32, 0x574D5669))),
    (set_encodings(), SetEncodings(())),
    (b"\x03\x01\0\x01\0\x02\x02\x80\x01\x80", FramebufferUpdateRequest(True, 1, 2, 640, 384)),
    (b"\x03\x00" + bytes(4) + b"\xff" * 4, FramebufferUpdateRequest(False, 0, 0, 65535, 65535)),
    (key_event(True, 0xFF0D), KeyEvent(True, 0xFF0D)),
    (key_event(False, 0x10000E9), KeyEvent(False, 0x10000E9)),
    (b"\x05\x05" + struct.pack(">HH", 300, 7), PointerEvent(5, 300, 7)),
    (b"\x06\x00\x00\x00" + struct.pack(">I", 4) + b"\xe9t\xe9!", ClientCutText(b"\xe9t\xe9!")),
    (b"\x06\x00\x00\x00" + struct.pack(">I", 0), ClientCutText(b"")),
]


@pytest.mark.parametrize(("data", "event"), MESSAGES)
def test_each_message_in_any_split(data: bytes, event: Event) -> None:
    """Every client message gives the same single event whole, byte by byte, or split."""
    for chunks in splits(data, seed=len(data)):
        assert feed(normal_server(), chunks) == ([event], "need-data")


def test_all_messages_together_in_any_split() -> None:
    """A stream of every message type parses identically however it is split."""
    data = b"".join(d for d, _ in MESSAGES)
    expected = [e for _, e in MESSAGES]
    for chunks in splits(data, seed=1):
        assert feed(normal_server(), chunks) == (expected, "need-data")


def test_unknown_encodings_stay_plain_ints() -> None:
    """Known encoding numbers become Encoding members; unknown ones stay ints."""
    server = normal_server()
    (event,), _ = feed(server, [set_encodings(16, -32, 0x574D5669, -1063131698)])
    assert isinstance(event, SetEncodings)
    kinds = [type(n) for n in event.encodings]
    assert kinds == [Encoding, int, int, Encoding]
    assert event.encodings[3] is Encoding.EXTENDED_CLIPBOARD
    assert server.encodings == event.encodings


def test_pixel_format_tracked() -> None:
    """The server's pixel_format follows SetPixelFormat."""
    server = normal_server()
    assert server.pixel_format == NATIVE
    feed(server, [b"\x00\x00\x00\x00" + RGB565.pack()])
    assert server.pixel_format == RGB565


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x07", "unknown message type 7"),
        (b"\xff", "unknown message type 255"),
        (b"\x01\x00", "unknown message type 1"),
        (
            b"\x00\x00\x00\x00" + PixelFormat(24, 24, False, True, 255, 255, 255, 16, 8, 0).pack(),
            "invalid pixel format: bits-per-pixel 24 is not 8, 16 or 32",
        ),
        (set_encodings(1, 2, 3, 4), "SetEncodings lists 4 encodings, over the cap"),
        (b"\x06\x00\x00\x00" + struct.pack(">I", 11), "ClientCutText of 11 bytes is over the cap"),
    ],
)
def test_remote_errors(data: bytes, reason: str) -> None:
    """Unknown types, invalid pixel formats and over-cap lengths are RemoteProtocolErrors."""
    for chunks in splits(data + bytes(30), seed=3):
        server = normal_server(SMALL)
        assert feed(server, chunks) == ([], reason)
        assert server.state is State.ERROR


def test_over_cap_length_fails_before_the_body_arrives() -> None:
    """An over-cap ClientCutText is rejected from its header alone."""
    server = normal_server(SMALL)
    assert feed(server, [b"\x06\x00\x00\x00\x7f\xff\xff\xff"]) == (
        [],
        "ClientCutText of 2147483647 bytes is over the cap",
    )
    # A negative length is an Extended Clipboard payload of that many bytes: capped as well.
    server = normal_server(SMALL)
    assert feed(server, [b"\x06\x00\x00\x00\x80\x00\x00\x00"]) == (
        [],
        "ClientCutText of 2147483648 bytes is over the cap",
    )


def test_receive_buffer_cap() -> None:
    """More unparsed bytes of one message than max_receive_buffer is a RemoteProtocolError."""
    limits = Limits(max_client_cut_text=100, max_receive_buffer=20)
    message = b"\x06\x00\x00\x00" + struct.pack(">I", 30) + bytes(30)
    server = normal_server(limits)
    assert feed(server, [key_event(True, 1), message[:20]]) == ([KeyEvent(True, 1)], "need-data")
    assert feed(server, [message[20:21]]) == ([], "more than 20 bytes of one message")


def test_eof_between_and_inside_messages() -> None:
    """EOF after whole messages closes cleanly; inside a message it is an error."""
    assert feed(normal_server(), [key_event(True, 1)], eof=True) == ([KeyEvent(True, 1)], "closed")
    assert feed(normal_server(), [key_event(True, 1)[:3]], eof=True) == (
        [],
        "client closed the connection in mid-message",
    )


def test_many_messages_in_one_read_is_linear() -> None:
    """Parsing 100,000 messages from one read takes time linear in its size, not quadratic."""
    server = normal_server()
    server.receive_data(key_event(True, 65) * 100_000)
    start = time.perf_counter()
    events, outcome = drain(server)
    assert outcome == "need-data" and len(events) == 100_000
    assert time.perf_counter() - start < 5


def test_send_api_bytes() -> None:
    """The sending methods queue the builders' bytes in order."""
    server = normal_server()
    server.send_bell()
    server.send_server_cut_text(b"hi")
    server.send_framebuffer_update([Rectangle(0, 0, 1, 1, Encoding.RAW, b"\1\2\3\4")])
    assert server.data_to_send() == (
        b"\x02"
        + b"\x03\0\0\0\0\0\0\x02hi"
        + b"\0\0\0\x01"
        + b"\0\0\0\0\0\x01\0\x01\0\0\0\0"
        + b"\1\2\3\4"
    )
    assert server.data_to_send() == b""


def test_send_colour_map_only_for_colour_map_formats() -> None:
    """The fixed colour map is sent to colour-map clients and refused for true colour."""
    server = normal_server()
    with pytest.raises(LocalProtocolError):
        server.send_colour_map()
    feed(server, [b"\x00\x00\x00\x00" + COLOUR_MAPPED.pack()])
    server.send_colour_map()
    data = server.data_to_send()
    assert data[:6] == b"\x01\x00\x00\x00\x01\x00"
    assert len(data) == 6 + 6 * 256
    assert struct.unpack_from(">HHH", data, 6 + 6 * 196) == COLOUR_MAP[196]


def test_set_desktop_size() -> None:
    """set_desktop_size changes the config used later; out-of-range sizes are our bug."""
    server = normal_server()
    server.set_desktop_size(1024, 768)
    assert (server.config.width, server.config.height) == (1024, 768)
    with pytest.raises(LocalProtocolError):
        server.set_desktop_size(1 << 16, 1)


def test_data_after_error_is_ignored() -> None:
    """Bytes arriving after the connection failed are dropped without raising."""
    server = normal_server()
    feed(server, [b"\x09"])
    server.receive_data(b"\x04" * 100)
    assert server.state is State.ERROR


def test_set_desktop_size_is_parsed_in_any_split() -> None:
    """SetDesktopSize (251) with a screen layout gives one event, however the bytes arrive."""
    import struct as _struct

    from tests.rfb.helpers import normal_server
    from vncterm.rfb.messages import Screen, SetDesktopSize

    message = _struct.pack(">BxHHBx", 251, 800, 480, 1) + _struct.pack(">IHHHHI", 0, 0, 0, 800,
                                                                       480, 0)
    for step in (len(message), 1):
        server = normal_server()
        for start in range(0, len(message), step):
            server.receive_data(message[start : start + step])
        assert server.next_event() == SetDesktopSize(800, 480, (Screen(0, 0, 0, 800, 480),))


def test_set_desktop_size_screen_cap() -> None:
    """A SetDesktopSize listing more screens than the cap closes the connection."""
    import struct as _struct

    import pytest as _pytest

    from tests.rfb.helpers import normal_server
    from vncterm.rfb.errors import RemoteProtocolError

    server = normal_server()
    server.receive_data(_struct.pack(">BxHHBx", 251, 800, 480, 200))
    with _pytest.raises(RemoteProtocolError):
        server.next_event()
