"""The sans-I/O WebSocket machine (upgrade checks, subprotocol choice, frames both ways) and the
watcher that tells real viewer input from update requests."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto.events import CloseConnection, Pong

from consoleproxy.connect import PreambleParser, Request
from consoleproxy.rfbinput import ViewerInputWatch
from consoleproxy.websocket import (
    NEED_DATA,
    Closed,
    PongReceived,
    StreamData,
    UpgradeRefused,
    WebSocketStream,
    choose_subprotocol,
)
from tests.proxy.wsclient import SAMPLE_ACCEPT, Frames, split_reply, upgrade_request


def parse(head: bytes) -> Request:
    parser = PreambleParser()
    parser.receive_data(head)
    event = parser.next_event()
    assert isinstance(event, Request)
    return event


def accepted(**options: object) -> tuple[WebSocketStream, bytes]:
    stream = WebSocketStream(parse(upgrade_request("/console?ref=x", **options)))  # type: ignore[arg-type]
    stream.accept()
    return stream, stream.data_to_send()


def events_of(stream: WebSocketStream) -> list[object]:
    out: list[object] = []
    while (event := stream.next_event()) is not NEED_DATA:
        out.append(event)
    return out


def test_accept_names_binary_and_the_rfc_accept_token() -> None:
    """The 101 reply carries the RFC 6455 accept token and names the binary subprotocol."""
    _, reply = accepted()
    head, rest = split_reply(reply)
    assert head.startswith(b"HTTP/1.1 101 ")
    assert f"Sec-WebSocket-Accept: {SAMPLE_ACCEPT}".encode() in head
    assert b"Sec-WebSocket-Protocol: binary\r\n" in head
    assert rest == b""


def test_no_subprotocol_offered_is_accepted_without_naming_one() -> None:
    """A client offering no subprotocol is accepted, and the reply names none."""
    _, reply = accepted(protocols=None)
    assert reply.startswith(b"HTTP/1.1 101 ")
    assert b"Sec-WebSocket-Protocol" not in reply


@pytest.mark.parametrize(("offered", "chosen"), [
    ([], None), (["binary"], "binary"), (["base64", " binary"], "binary"), ([" ", ""], None),
])
def test_subprotocol_choice(offered: list[str], chosen: str | None) -> None:
    """binary is chosen wherever it is in the offer; an empty offer chooses nothing."""
    assert choose_subprotocol(offered) == chosen


def test_an_offer_without_binary_is_refused_with_400() -> None:
    """Offering only base64 is refused before the upgrade, with a reason."""
    with pytest.raises(UpgradeRefused) as refused:
        WebSocketStream(parse(upgrade_request("/console", protocols="base64")))
    assert refused.value.status == 400


@pytest.mark.parametrize(("options", "status", "header"), [
    ({"version": "8"}, 426, ("Sec-WebSocket-Version", "13")),
    ({"version": None}, 400, ("Sec-WebSocket-Version", "13")),
    ({"key": None}, 400, None),
])
def test_bad_handshakes_are_refused(options: dict[str, object], status: int,
                                    header: tuple[str, str] | None) -> None:
    """A wrong or missing version (426/400, naming version 13) or key (400) is refused."""
    with pytest.raises(UpgradeRefused) as refused:
        WebSocketStream(parse(upgrade_request("/console", **options)))  # type: ignore[arg-type]
    assert refused.value.status == status
    if header is not None:
        assert header in refused.value.headers


def test_a_plain_get_is_told_to_upgrade() -> None:
    """GET /console without Upgrade gets 426 naming websocket."""
    with pytest.raises(UpgradeRefused) as refused:
        WebSocketStream(parse(b"GET /console?ref=x HTTP/1.1\r\nHost: h\r\n\r\n"))
    assert refused.value.status == 426
    assert ("Upgrade", "websocket") in refused.value.headers


def test_binary_messages_come_out_as_stream_bytes_and_back() -> None:
    """Binary messages from the client are stream bytes; sent bytes are binary messages."""
    stream, _ = accepted()
    client = Frames()
    stream.receive_data(client.binary(b"RFB 003.008\n") + client.binary(b"\x01"))
    assert b"".join(e.data for e in events_of(stream) if isinstance(e, StreamData)) == (
        b"RFB 003.008\n\x01")
    stream.send_data(b"RFB 003.008\n")
    client.feed(stream.data_to_send())
    assert bytes(client.data) == b"RFB 003.008\n"


@settings(max_examples=50, deadline=None)
@given(payloads=st.lists(st.binary(min_size=1, max_size=300), min_size=1, max_size=6),
       cuts=st.lists(st.integers(min_value=0, max_value=4000), max_size=12))
def test_splitting_frames_never_changes_the_stream(payloads: list[bytes], cuts: list[int]) -> None:
    """However the frames are split into reads, the same bytes come out in order."""
    client = Frames()
    wire = b"".join(client.binary(payload) for payload in payloads)
    stream, _ = accepted()
    points = sorted({min(cut, len(wire)) for cut in cuts} | {0, len(wire)})
    out = bytearray()
    for start, end in itertools.pairwise(points):
        stream.receive_data(wire[start:end])
        for event in events_of(stream):
            assert isinstance(event, StreamData)
            out += event.data
    assert bytes(out) == b"".join(payloads)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=200))
def test_any_bytes_give_events_never_exceptions(data: bytes) -> None:
    """Arbitrary bytes from a client give stream data or a Closed event, never an exception."""
    stream, _ = accepted()
    stream.receive_data(data)
    for event in events_of(stream):
        assert isinstance(event, StreamData | PongReceived | Closed)
    stream.receive_data(b"")
    events_of(stream)


def test_pings_are_answered_and_pongs_reported() -> None:
    """A client Ping is answered with a Pong; a Pong is reported, not passed on as data."""
    stream, _ = accepted()
    client = Frames()
    stream.receive_data(client.ping(b"hi") + client.pong(b"keep-alive"))
    assert events_of(stream) == [PongReceived()]
    client.feed(stream.data_to_send())
    assert [event.payload for event in client.of(Pong)] == [b"hi"]  # type: ignore[attr-defined]


def test_a_client_close_is_echoed() -> None:
    """A Close from the client is echoed and ends the stream as closed by the peer."""
    stream, _ = accepted()
    client = Frames()
    stream.receive_data(client.close(1000))
    assert events_of(stream) == [Closed(1000, "", by_peer=True)]
    client.feed(stream.data_to_send())
    assert client.of(CloseConnection)
    stream.receive_data(b"ignored after the close")
    assert events_of(stream) == []


def test_text_messages_are_refused_with_1003() -> None:
    """RFB has no text form here: a text message closes with 1003."""
    stream, _ = accepted()
    client = Frames()
    stream.receive_data(client.text("RFB 003.008\n"))
    (event,) = events_of(stream)
    assert isinstance(event, Closed) and event.code == 1003 and not event.by_peer
    client.feed(stream.data_to_send())
    (close,) = client.of(CloseConnection)
    assert close.code == 1003  # type: ignore[attr-defined]


def test_unmasked_frames_are_a_protocol_error() -> None:
    """A client frame without a mask (RFC 6455 section 5.1) closes with 1002."""
    stream, _ = accepted()
    stream.receive_data(b"\x82\x01A")
    (event,) = events_of(stream)
    assert isinstance(event, Closed) and event.code == 1002 and not event.by_peer


def test_end_of_stream_without_close_is_1006() -> None:
    """The TCP stream ending without a Close frame is an abnormal closure."""
    stream, _ = accepted()
    stream.receive_data(b"")
    assert events_of(stream) == [Closed(1006, "", by_peer=True)]


def test_nothing_is_sent_after_close() -> None:
    """Once closing, console bytes and pings are dropped, not framed."""
    stream, _ = accepted()
    stream.close(4000, "idle timeout")
    closing = stream.data_to_send()
    assert closing.startswith(b"\x88")
    stream.send_data(b"late")
    stream.ping()
    assert stream.data_to_send() == b""


# -- viewer input --------------------------------------------------------------------------

HANDSHAKE = b"RFB 003.008\n" + b"\x01" + b"\x01"  # version, security None, ClientInit shared
FBUR = b"\x03\x01" + b"\x00" * 8
KEY = b"\x04\x01\x00\x00\x00\x00\x00\x61"
POINTER = b"\x05\x00\x00\x10\x00\x10"
ENCODINGS = b"\x02\x00\x00\x02" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x05"
CUT = b"\x06\x00\x00\x00\x00\x00\x00\x05hello"


@pytest.mark.parametrize(("messages", "is_input"), [
    (ENCODINGS + FBUR + FBUR, False),
    (b"\x00" + b"\x00" * 19, False),
    (KEY, True),
    (POINTER, True),
    (CUT, True),
    (b"\xff\x00" + b"\x00" * 10, True),  # QEMU extended key event
])
def test_only_keys_pointer_and_clipboard_are_input(messages: bytes, is_input: bool) -> None:
    """Update requests, encodings and pixel formats are not input; keys, pointer, paste are."""
    watch = ViewerInputWatch()
    assert watch.feed(HANDSHAKE) is False
    assert watch.feed(messages) is is_input
    assert not watch.lost_track


def test_vnc_authentication_response_is_skipped() -> None:
    """The 16-byte VNC Authentication response is not mistaken for messages."""
    watch = ViewerInputWatch()
    assert watch.feed(b"RFB 003.008\n\x02" + b"\x04" * 16 + b"\x01" + FBUR) is False
    assert watch.feed(KEY) is True


@pytest.mark.parametrize("stream", [
    b"RFB 003.003\n" + b"\x01" + FBUR,  # 3.3: the server picks security; not followed
    HANDSHAKE + b"\x7f\x00\x00",         # an unknown message type
    b"RFB 003.008\n\x13" + FBUR,         # VeNCrypt: not followed
])
def test_what_cannot_be_framed_counts_as_input(stream: bytes) -> None:
    """A stream the watcher cannot frame is counted as input from then on (never idle)."""
    watch = ViewerInputWatch()
    watch.feed(stream)
    assert watch.lost_track
    assert watch.feed(FBUR) is True


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from([FBUR, KEY, POINTER, ENCODINGS, CUT]), max_size=8),
       st.lists(st.integers(min_value=0, max_value=200), max_size=10))
def test_splitting_never_changes_what_is_input(messages: list[bytes], cuts: list[int]) -> None:
    """Input is found whether the stream comes whole or in any pieces."""
    data = HANDSHAKE + b"".join(messages)
    expected = any(message in (KEY, POINTER, CUT) for message in messages)
    watch = ViewerInputWatch()
    points = sorted({min(cut, len(data)) for cut in cuts} | {0, len(data)})
    found = False
    for start, end in itertools.pairwise(points):
        found = watch.feed(data[start:end]) or found
    assert found is expected
    assert not watch.lost_track
