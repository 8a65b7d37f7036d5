"""Which bytes of a viewer's RFB stream are real input (RFC 6143 sections 7.1-7.5): a sans-I/O
watcher of the client-to-server direction, for the idle timeout of WebSocket consoles.

Viewers send `FramebufferUpdateRequest` after every update, so "any byte from the viewer"
would keep a console that prints all day from ever being idle. Only `KeyEvent`,
`PointerEvent`, `ClientCutText` and QEMU's extended key event count as input here.

The watcher follows the client's side of the handshake for RFB 3.7/3.8 with security None or
VNC Authentication, then frames client messages by their lengths, skipping bodies without
buffering them. Anything it cannot frame (RFB 3.3, whose security type only the server
names; another security type; a message type it does not know) makes it give up and count
every later byte as input: the idle timeout then errs towards keeping a connection, never
towards closing one that is in use.

This module imports neither Twisted nor ``socket``.
"""

from __future__ import annotations

import enum
import re
from typing import Final

__all__ = ["ClientMessage", "ViewerInputWatch"]

_VERSION = re.compile(rb"RFB 003\.(\d{3})\n")
_SECURITY_NONE: Final = 1
_SECURITY_VNC_AUTH: Final = 2
_VNC_AUTH_RESPONSE: Final = 16


class ClientMessage(enum.IntEnum):
    """Client-to-server message types (RFC 6143 section 7.5, and common extensions)."""

    SetPixelFormat = 0
    SetEncodings = 2
    FramebufferUpdateRequest = 3
    KeyEvent = 4
    PointerEvent = 5
    ClientCutText = 6
    EnableContinuousUpdates = 150
    ClientFence = 248
    XvpClientMessage = 250
    SetDesktopSize = 251
    QemuClientMessage = 255


#: Message types that are input from a person.
INPUT_MESSAGES: Final = frozenset({
    ClientMessage.KeyEvent,
    ClientMessage.PointerEvent,
    ClientMessage.ClientCutText,
    ClientMessage.XvpClientMessage,
    ClientMessage.QemuClientMessage,
})

#: Bytes needed to know a message's whole length, per type.
_HEADER_BYTES: Final = {
    ClientMessage.SetPixelFormat: 1,
    ClientMessage.SetEncodings: 4,
    ClientMessage.FramebufferUpdateRequest: 1,
    ClientMessage.KeyEvent: 1,
    ClientMessage.PointerEvent: 1,
    ClientMessage.ClientCutText: 8,
    ClientMessage.EnableContinuousUpdates: 1,
    ClientMessage.ClientFence: 9,
    ClientMessage.XvpClientMessage: 1,
    ClientMessage.SetDesktopSize: 8,
    ClientMessage.QemuClientMessage: 2,
}


def _message_length(kind: ClientMessage, header: bytes) -> int | None:
    """The whole length of a message from its first ``_HEADER_BYTES[kind]`` bytes."""
    if kind is ClientMessage.SetPixelFormat:
        return 20
    if kind is ClientMessage.SetEncodings:
        return 4 + 4 * int.from_bytes(header[2:4], "big")
    if kind is ClientMessage.FramebufferUpdateRequest:
        return 10
    if kind is ClientMessage.KeyEvent:
        return 8
    if kind is ClientMessage.PointerEvent:
        return 6
    if kind is ClientMessage.ClientCutText:
        # The extended clipboard pseudo-encoding sends a negative length: its magnitude.
        length = int.from_bytes(header[4:8], "big", signed=True)
        return 8 + abs(length)
    if kind is ClientMessage.EnableContinuousUpdates:
        return 10
    if kind is ClientMessage.ClientFence:
        return 9 + header[8]
    if kind is ClientMessage.XvpClientMessage:
        return 4
    if kind is ClientMessage.SetDesktopSize:
        return 8 + 16 * header[6]
    if kind is ClientMessage.QemuClientMessage:
        return 12 if header[1] == 0 else None  # subtype 0: extended key event
    return None  # pragma: no cover - every member is handled above


class _Phase(enum.Enum):
    VERSION = "VERSION"
    SECURITY_TYPE = "SECURITY_TYPE"
    VNC_AUTH = "VNC_AUTH"
    CLIENT_INIT = "CLIENT_INIT"
    MESSAGES = "MESSAGES"
    #: Lost track: every byte counts as input.
    OPAQUE = "OPAQUE"


class ViewerInputWatch:
    """Feed it every byte a viewer sends; it says whether those bytes held real input."""

    def __init__(self) -> None:
        self._phase = _Phase.VERSION
        self._buffer = bytearray()
        self._skip = 0

    @property
    def lost_track(self) -> bool:
        """True once the stream could not be framed (every byte then counts as input)."""
        return self._phase is _Phase.OPAQUE

    def feed(self, data: bytes) -> bool:
        """True if ``data`` completes or continues any input message."""
        found = False
        view = memoryview(data)
        while view:
            if self._phase is _Phase.OPAQUE:
                return True
            if self._skip:
                taken = min(self._skip, len(view))
                self._skip -= taken
                view = view[taken:]
                continue
            # At most 12 bytes (a version) are ever kept between calls.
            self._buffer += view[:1]
            view = view[1:]
            found = self._advance() or found
        return found

    def _advance(self) -> bool:
        buffer = self._buffer
        phase = self._phase
        if phase is _Phase.VERSION:
            if len(buffer) < 12:
                return False
            match = _VERSION.fullmatch(bytes(buffer))
            minor = int(match.group(1)) if match else 0
            self._phase = _Phase.SECURITY_TYPE if minor >= 7 else _Phase.OPAQUE
        elif phase is _Phase.SECURITY_TYPE:
            chosen = buffer[0]
            self._phase = {_SECURITY_NONE: _Phase.CLIENT_INIT,
                           _SECURITY_VNC_AUTH: _Phase.VNC_AUTH}.get(chosen, _Phase.OPAQUE)
        elif phase is _Phase.VNC_AUTH:
            self._skip = _VNC_AUTH_RESPONSE - 1
            self._phase = _Phase.CLIENT_INIT
        elif phase is _Phase.CLIENT_INIT:
            self._phase = _Phase.MESSAGES
        else:
            return self._message()
        buffer.clear()
        return False

    def _message(self) -> bool:
        buffer = self._buffer
        try:
            kind = ClientMessage(buffer[0])
        except ValueError:
            self._phase = _Phase.OPAQUE
            return True
        if len(buffer) < _HEADER_BYTES[kind]:
            return False
        length = _message_length(kind, bytes(buffer))
        if length is None:
            self._phase = _Phase.OPAQUE
            return True
        self._skip = length - len(buffer)
        buffer.clear()
        return kind in INPUT_MESSAGES
