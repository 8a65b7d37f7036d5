"""The Extended Clipboard pseudo-encoding (rfbproto "Extended Clipboard Pseudo-Encoding"):
UTF-8 text both ways instead of Latin-1, carried in Server/ClientCutText messages whose length
field is negative.

A payload is a 32-bit flags word (formats in the low 16 bits, one action in the top byte),
then action-specific data: sizes for Caps, a zlib stream of length-prefixed format data for
Provide, nothing for Request/Peek/Notify.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntFlag

from vncterm.rfb.errors import RemoteProtocolError

#: The largest text this server will accept or offer (also announced in Caps).
MAX_TEXT = 1 << 20


class ClipboardFlag(IntFlag):
    """Formats (low bits) and actions (high byte) of an extended clipboard message."""

    TEXT = 1 << 0
    RTF = 1 << 1
    HTML = 1 << 2
    DIB = 1 << 3
    FILES = 1 << 4
    CAPS = 1 << 24
    REQUEST = 1 << 25
    PEEK = 1 << 26
    NOTIFY = 1 << 27
    PROVIDE = 1 << 28


_ACTIONS = (ClipboardFlag.CAPS | ClipboardFlag.REQUEST | ClipboardFlag.PEEK
            | ClipboardFlag.NOTIFY | ClipboardFlag.PROVIDE)
_FORMATS = 0xFFFF
_U32 = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class ExtendedClipboard:
    """A client's extended clipboard message: its flags and, for Provide, the UTF-8 text."""

    flags: ClipboardFlag
    text: str | None = None

    @property
    def action(self) -> ClipboardFlag:
        """The message's action. A Caps message also sets the bits of every action the peer
        supports, so Caps wins over the others."""
        if self.flags & ClipboardFlag.CAPS:
            return ClipboardFlag.CAPS
        return ClipboardFlag(self.flags & _ACTIONS)


def parse(payload: bytes, max_text: int = MAX_TEXT) -> ExtendedClipboard:
    """Decode a client payload; malformed or oversized data is a RemoteProtocolError."""
    if len(payload) < 4:
        raise RemoteProtocolError("extended clipboard message without flags")
    (flags,) = _U32.unpack_from(payload)
    flags = ClipboardFlag(flags)
    message = ExtendedClipboard(flags)
    if message.action != ClipboardFlag.PROVIDE or not flags & ClipboardFlag.TEXT:
        return message  # Caps (with uncompressed sizes), Request, Peek, Notify
    # Provide: a zlib stream of (u32 length, data) for each format flagged, in bit order;
    # text comes first. Decompress no more than the cap (a zip bomb costs nothing).
    inflater = zlib.decompressobj()
    try:
        head = inflater.decompress(payload[4:], 4)
        if len(head) < 4:
            raise RemoteProtocolError("extended clipboard text without a length")
        (length,) = _U32.unpack(head)
        if length > max_text:
            raise RemoteProtocolError(f"extended clipboard text of {length} bytes is over the cap")
        data = inflater.decompress(inflater.unconsumed_tail, length)
    except zlib.error as error:
        raise RemoteProtocolError(f"extended clipboard data is not zlib: {error}") from error
    text = data.split(b"\0", 1)[0].decode("utf-8", "replace").replace("\r\n", "\n")
    return ExtendedClipboard(flags, text)


def caps() -> bytes:
    """Our capabilities: UTF-8 text, up to MAX_TEXT bytes; we request, notify and provide."""
    flags = (ClipboardFlag.CAPS | ClipboardFlag.TEXT | ClipboardFlag.REQUEST
             | ClipboardFlag.NOTIFY | ClipboardFlag.PROVIDE)
    return _U32.pack(flags) + _U32.pack(MAX_TEXT)


def provide(text: str) -> bytes:
    """Provide UTF-8 text (CRLF line ends, NUL-terminated, as the format says)."""
    data = text.replace("\n", "\r\n").encode("utf-8") + b"\0"
    body = zlib.compress(_U32.pack(len(data)) + data)
    return _U32.pack(ClipboardFlag.PROVIDE | ClipboardFlag.TEXT) + body


def request_text() -> bytes:
    """Ask the client for its clipboard text (after it notified us)."""
    return _U32.pack(ClipboardFlag.REQUEST | ClipboardFlag.TEXT)


def server_cut_text_extended(payload: bytes) -> bytes:
    """A ServerCutText carrying an extended payload (negative length)."""
    return struct.pack(">B3xi", 3, -len(payload)) + payload
