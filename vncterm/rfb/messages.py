"""Client messages as events and builders of server messages (RFC 6143 s7.3.2, s7.5, s7.6)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

from vncterm.rfb.constants import Encoding, ServerMessageType
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import PixelFormat


@dataclass(frozen=True, slots=True)
class ClientInitialised:
    """The handshake is complete: the client sent ClientInit (RFC 6143 s7.3.1).

    ``version`` is the protocol version in use, (3, 3), (3, 7) or (3, 8).
    """

    shared: bool
    version: tuple[int, int]


@dataclass(frozen=True, slots=True)
class SetPixelFormat:
    """The client wants pixels in ``pixel_format`` from now on (RFC 6143 s7.5.1)."""

    pixel_format: PixelFormat


@dataclass(frozen=True, slots=True)
class SetEncodings:
    """The encodings the client supports, most preferred first (RFC 6143 s7.5.2).

    Known numbers are `Encoding` members; unknown ones stay plain ints.
    """

    encodings: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class FramebufferUpdateRequest:
    """The client wants the given area (RFC 6143 s7.5.3); not clipped to the desktop."""

    incremental: bool
    x: int
    y: int
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class KeyEvent:
    """A key, named by its X11 keysym, was pressed or released (RFC 6143 s7.5.4)."""

    down: bool
    keysym: int


@dataclass(frozen=True, slots=True)
class PointerEvent:
    """The pointer moved or its buttons changed; bit 0 of the mask is button 1 (s7.5.5)."""

    button_mask: int
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class ClientCutText:
    """The client's clipboard changed (RFC 6143 s7.5.6); ``text`` is raw Latin-1 bytes."""

    text: bytes

    @property
    def latin1(self) -> str:
        """The text decoded as Latin-1, the encoding RFB specifies."""
        return self.text.decode("latin-1")


#: Everything `RfbServer.next_event` can return besides its sentinels.
Event = (
    ClientInitialised
    | SetPixelFormat
    | SetEncodings
    | FramebufferUpdateRequest
    | KeyEvent
    | PointerEvent
    | ClientCutText
)


@dataclass(frozen=True, slots=True)
class Rectangle:
    """One rectangle of a FramebufferUpdate: its header fields and encoded payload."""

    x: int
    y: int
    width: int
    height: int
    encoding: int
    payload: bytes = b""


_UPDATE_HEADER = struct.Struct(">BxH")
_RECTANGLE_HEADER = struct.Struct(">HHHHi")
_COLOUR_MAP_HEADER = struct.Struct(">BxHH")
_COLOUR = struct.Struct(">HHH")
_CUT_TEXT_HEADER = struct.Struct(">B3xI")
_MAX_U16 = 0xFFFF


def _pack(fmt: struct.Struct, *values: int) -> bytes:
    try:
        return fmt.pack(*values)
    except struct.error as error:
        raise LocalProtocolError(f"value out of range for the wire format: {error}") from error


def framebuffer_update(rects: Sequence[Rectangle]) -> bytes:
    """Build a FramebufferUpdate message carrying ``rects`` (RFC 6143 s7.6.1)."""
    parts = [_pack(_UPDATE_HEADER, ServerMessageType.FramebufferUpdate, len(rects))]
    for rect in rects:
        parts.append(
            _pack(_RECTANGLE_HEADER, rect.x, rect.y, rect.width, rect.height, rect.encoding)
        )
        parts.append(rect.payload)
    return b"".join(parts)


def desktop_size_rectangle(width: int, height: int) -> Rectangle:
    """The DesktopSize pseudo-rectangle telling the client the desktop is now width x height."""
    return Rectangle(0, 0, width, height, Encoding.DESKTOP_SIZE)


def set_colour_map_entries(first: int, colours: Sequence[tuple[int, int, int]]) -> bytes:
    """Build a SetColourMapEntries message of 16-bit (r, g, b) colours (RFC 6143 s7.6.2)."""
    if first + len(colours) > _MAX_U16 + 1:
        raise LocalProtocolError("colour map entries beyond index 65535")
    parts = [_pack(_COLOUR_MAP_HEADER, ServerMessageType.SetColourMapEntries, first, len(colours))]
    parts.extend(_pack(_COLOUR, *colour) for colour in colours)
    return b"".join(parts)


def bell() -> bytes:
    """Build a Bell message (RFC 6143 s7.6.3)."""
    return bytes([ServerMessageType.Bell])


def server_cut_text(text: bytes) -> bytes:
    """Build a ServerCutText message; ``text`` is Latin-1 bytes (RFC 6143 s7.6.4)."""
    return _pack(_CUT_TEXT_HEADER, ServerMessageType.ServerCutText, len(text)) + text
