"""RFB protocol numbers as enums: message types, security types, encodings (RFC 6143 s7)."""

from __future__ import annotations

from enum import IntEnum


class ClientMessageType(IntEnum):
    """The first byte of every client-to-server message (RFC 6143 s7.5)."""

    SetPixelFormat = 0
    SetEncodings = 2
    FramebufferUpdateRequest = 3
    KeyEvent = 4
    PointerEvent = 5
    ClientCutText = 6
    #: ExtendedDesktopSize's client request (rfbproto "SetDesktopSize"); only sent by clients
    #: that saw the server announce the -308 pseudo-encoding.
    SetDesktopSize = 251


class ServerMessageType(IntEnum):
    """The first byte of every server-to-client message (RFC 6143 s7.6)."""

    FramebufferUpdate = 0
    SetColourMapEntries = 1
    Bell = 2
    ServerCutText = 3


class SecurityType(IntEnum):
    """Security types offered in the handshake (RFC 6143 s7.1.2, s7.2)."""

    INVALID = 0
    NONE = 1
    VNC_AUTHENTICATION = 2


class SecurityResult(IntEnum):
    """The u32 word of the SecurityResult handshake message (RFC 6143 s7.1.3)."""

    OK = 0
    FAILED = 1


class Encoding(IntEnum):
    """Encoding numbers (signed 32-bit) of rectangles and pseudo-encodings (RFC 6143 s7.7, s7.8).

    A client's SetEncodings may list numbers that are not members; those are kept as plain
    ``int`` values by the parser.
    """

    RAW = 0
    COPY_RECT = 1
    RRE = 2
    HEXTILE = 5
    ZLIB = 6
    TIGHT = 7
    ZRLE = 16
    CURSOR = -239
    DESKTOP_SIZE = -223
    LAST_RECT = -224
    DESKTOP_NAME = -307
    EXTENDED_DESKTOP_SIZE = -308
    FENCE = -312
    CONTINUOUS_UPDATES = -313
    #: 0xC0A1E5CE read as a signed 32-bit number.
    EXTENDED_CLIPBOARD = -1063131698


#: Pseudo-encoding of Tight JPEG quality level 0; levels 0-9 are -32..-23 (RFC 6143 s7.8).
TIGHT_QUALITY_LEVEL_0 = -32
#: Pseudo-encoding of Tight JPEG quality level 9.
TIGHT_QUALITY_LEVEL_9 = -23
#: Every Tight quality-level pseudo-encoding, lowest quality first.
TIGHT_QUALITY_LEVELS = range(TIGHT_QUALITY_LEVEL_0, TIGHT_QUALITY_LEVEL_9 + 1)
#: Pseudo-encoding of Tight compression level 0; levels 0-9 are -256..-247 (RFC 6143 s7.8).
TIGHT_COMPRESS_LEVEL_0 = -256
#: Pseudo-encoding of Tight compression level 9.
TIGHT_COMPRESS_LEVEL_9 = -247
#: Every Tight compression-level pseudo-encoding, fastest first.
TIGHT_COMPRESS_LEVELS = range(TIGHT_COMPRESS_LEVEL_0, TIGHT_COMPRESS_LEVEL_9 + 1)


def as_encoding(number: int) -> Encoding | int:
    """Return the `Encoding` member for ``number``, or ``number`` itself if it has none."""
    try:
        return Encoding(number)
    except ValueError:
        return number


class ExtendedDesktopSizeReason(IntEnum):
    """Why an ExtendedDesktopSize rectangle is sent: its x field (rfbproto "ExtendedDesktopSize
    Pseudo-encoding")."""

    SERVER = 0
    THIS_CLIENT = 1
    OTHER_CLIENT = 2


class ExtendedDesktopSizeStatus(IntEnum):
    """The outcome of a client's SetDesktopSize: an ExtendedDesktopSize rectangle's y field."""

    NO_ERROR = 0
    RESIZE_PROHIBITED = 1
    OUT_OF_RESOURCES = 2
    INVALID_SCREEN_LAYOUT = 3
