"""Client messages as events and builders of server messages (RFC 6143 s7.3.2, s7.5, s7.6)."""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.clipboard import ExtendedClipboard
from vncterm.rfb.constants import (
    Encoding,
    ExtendedDesktopSizeReason,
    ExtendedDesktopSizeStatus,
    ServerMessageType,
)
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import PixelFormat, encode_pixels


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


@dataclass(frozen=True, slots=True)
class Screen:
    """One screen of an ExtendedDesktopSize layout: an id and the area it shows."""

    id: int
    x: int
    y: int
    width: int
    height: int
    flags: int = 0


@dataclass(frozen=True, slots=True)
class SetDesktopSize:
    """The client asks for a new framebuffer size and screen layout (rfbproto, type 251)."""

    width: int
    height: int
    screens: tuple[Screen, ...]


#: Everything `RfbServer.next_event` can return besides its sentinels.
Event = (
    ClientInitialised
    | SetPixelFormat
    | SetEncodings
    | FramebufferUpdateRequest
    | KeyEvent
    | PointerEvent
    | ClientCutText
    | SetDesktopSize
    | ExtendedClipboard
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


_NAME_LENGTH = struct.Struct(">I")
_SCREEN_COUNT = struct.Struct(">B3x")
_SCREEN = struct.Struct(">IHHHHI")


def desktop_name_rectangle(name: str) -> Rectangle:
    """The DesktopName pseudo-rectangle: the desktop's new name, UTF-8 (rfbproto, -307)."""
    encoded = name.encode("utf-8")
    return Rectangle(0, 0, 0, 0, Encoding.DESKTOP_NAME, _pack(_NAME_LENGTH, len(encoded)) + encoded)


def extended_desktop_size_rectangle(
    width: int,
    height: int,
    reason: ExtendedDesktopSizeReason = ExtendedDesktopSizeReason.SERVER,
    status: ExtendedDesktopSizeStatus = ExtendedDesktopSizeStatus.NO_ERROR,
    screens: Sequence[Screen] | None = None,
) -> Rectangle:
    """The ExtendedDesktopSize pseudo-rectangle (rfbproto, -308): the framebuffer size, why it
    is sent, the outcome of a resize request and the screen layout; by default one screen,
    id 0, covering the whole framebuffer."""
    if screens is None:
        screens = [Screen(0, 0, 0, width, height)]
    parts = [_pack(_SCREEN_COUNT, len(screens))]
    parts += [_pack(_SCREEN, s.id, s.x, s.y, s.width, s.height, s.flags) for s in screens]
    return Rectangle(reason, status, width, height, Encoding.EXTENDED_DESKTOP_SIZE, b"".join(parts))


def last_rect_rectangle() -> Rectangle:
    """The LastRect pseudo-rectangle: no more rectangles in this update (rfbproto, -224).

    It lets an update announce 65535 rectangles and end early.
    """
    return Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)


def cursor_rectangle(
    hotspot_x: int,
    hotspot_y: int,
    pixels: NDArray[np.uint8],
    mask: NDArray[np.bool_],
    pf: PixelFormat,
) -> Rectangle:
    """The Cursor pseudo-rectangle (rfbproto, -239): the pointer's shape and hotspot.

    ``pixels`` is RGB ``uint8[h, w, 3]``, sent in the client's pixel format; ``mask`` is
    ``bool[h, w]``, true where the cursor is opaque, sent one bit a pixel, most significant
    first, each row padded to a byte.
    """
    height, width = pixels.shape[:2]
    if mask.shape != (height, width):
        raise LocalProtocolError(f"cursor mask {mask.shape} does not match pixels {pixels.shape}")
    if not (0 <= hotspot_x < max(width, 1) and 0 <= hotspot_y < max(height, 1)):
        raise LocalProtocolError(f"cursor hotspot ({hotspot_x}, {hotspot_y}) outside the cursor")
    bitmask = np.packbits(mask.astype(np.uint8), axis=1).tobytes()
    return Rectangle(
        hotspot_x, hotspot_y, width, height, Encoding.CURSOR, encode_pixels(pixels, pf) + bitmask
    )
