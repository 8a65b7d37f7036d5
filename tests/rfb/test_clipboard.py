"""Extended Clipboard payloads: UTF-8 text both ways, caps, request, and the caps on input."""

from __future__ import annotations

import struct
import zlib

import pytest

from tests.rfb.helpers import normal_server
from vncterm.rfb import clipboard
from vncterm.rfb.clipboard import ClipboardFlag, ExtendedClipboard
from vncterm.rfb.errors import RemoteProtocolError


def _client_provide(text: str) -> bytes:
    data = text.encode() + b"\0"
    return struct.pack(">I", ClipboardFlag.PROVIDE | ClipboardFlag.TEXT) + zlib.compress(
        struct.pack(">I", len(data)) + data
    )


def test_provide_round_trip_utf8() -> None:
    """Our Provide decodes back to the same UTF-8 text (CRLF on the wire, LF in Python)."""
    payload = clipboard.provide("grüße\n日本")
    flags, body = struct.unpack(">I", payload[:4])[0], zlib.decompress(payload[4:])
    assert flags == ClipboardFlag.PROVIDE | ClipboardFlag.TEXT
    (length,) = struct.unpack(">I", body[:4])
    assert body[4 : 4 + length] == "grüße\r\n日本".encode() + b"\0"
    assert clipboard.parse(payload).text == "grüße\n日本"


def test_server_parses_negative_length_cut_text_in_any_split() -> None:
    """A ClientCutText with a negative length is an Extended Clipboard message."""
    payload = _client_provide("héllo")
    message = struct.pack(">B3xi", 6, -len(payload)) + payload
    for step in (len(message), 1):
        server = normal_server()
        for start in range(0, len(message), step):
            server.receive_data(message[start : start + step])
        event = server.next_event()
        assert isinstance(event, ExtendedClipboard)
        assert event.text == "héllo" and event.action == ClipboardFlag.PROVIDE


def test_caps_and_actions_without_data() -> None:
    """Caps announce text and its size; a notify carries no text."""
    caps = clipboard.caps()
    flags, size = struct.unpack(">II", caps)
    assert flags & ClipboardFlag.CAPS and flags & ClipboardFlag.TEXT and size == clipboard.MAX_TEXT
    notify = clipboard.parse(struct.pack(">I", ClipboardFlag.NOTIFY | ClipboardFlag.TEXT))
    assert notify.action == ClipboardFlag.NOTIFY and notify.text is None


def test_oversized_or_broken_provide_is_refused() -> None:
    """Text over the cap (even well compressed) or data that is not zlib closes the connection."""
    big = struct.pack(">I", ClipboardFlag.PROVIDE | ClipboardFlag.TEXT) + zlib.compress(
        struct.pack(">I", clipboard.MAX_TEXT + 1) + b"a" * 100
    )
    with pytest.raises(RemoteProtocolError):
        clipboard.parse(big)
    with pytest.raises(RemoteProtocolError):
        clipboard.parse(struct.pack(">I", ClipboardFlag.PROVIDE | ClipboardFlag.TEXT) + b"junk")


def test_caps_listing_provide_is_not_mistaken_for_data() -> None:
    """A client's Caps sets the Provide bit among its actions and is not zlib (noVNC)."""
    flags = (ClipboardFlag.CAPS | ClipboardFlag.TEXT | ClipboardFlag.REQUEST
             | ClipboardFlag.NOTIFY | ClipboardFlag.PROVIDE)
    message = clipboard.parse(struct.pack(">II", flags, 10 * 1024 * 1024))
    assert message.action == ClipboardFlag.CAPS and message.text is None
