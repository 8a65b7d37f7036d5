"""`RfbServer`: the sans-I/O RFB server state machine, handshake to normal phase (RFC 6143 s7).

Feed it bytes with `RfbServer.receive_data` (``b""`` is EOF), take events with
`RfbServer.next_event` until it returns `NEED_DATA` or `CLOSED`, and write whatever
`RfbServer.data_to_send` returns. A `RemoteProtocolError` from `next_event` means the
connection is over: write `data_to_send()` (it may hold a failure message) and close;
so does `CLOSED` (EOF, or after `RfbServer.refuse`).

Tolerated on purpose: padding bytes are not checked; any non-zero flag byte is true;
FramebufferUpdateRequest areas are passed on unclipped (clients race with desktop resizes);
bytes arriving after the connection closed or failed are dropped.
"""

from __future__ import annotations

import os
import re
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from enum import Enum, auto
from typing import Final, Literal

from vncterm.limits import DEFAULT_LIMITS, Limits
from vncterm.rfb import clipboard, messages
from vncterm.rfb.constants import ClientMessageType, SecurityResult, SecurityType, as_encoding
from vncterm.rfb.errors import AuthenticationFailed, LocalProtocolError, RemoteProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    ClientInitialised,
    Event,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    Rectangle,
    Screen,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
)
from vncterm.rfb.pixelformat import COLOUR_MAP, NATIVE, PixelFormat
from vncterm.rfb.security import CHALLENGE_LENGTH, check_response, make_challenge

#: The version this server announces (RFC 6143 s7.1.1).
SERVER_VERSION: Final = (3, 8)
_MAX_U16 = 0xFFFF


class State(Enum):
    """Where the connection is in the protocol (RFC 6143 s7.1-s7.3, then s7.5)."""

    VERSION = auto()
    SECURITY = auto()
    AUTHENTICATION = auto()
    CLIENT_INIT = auto()
    NORMAL = auto()
    CLOSED = auto()
    ERROR = auto()


class Sentinel(Enum):
    """Non-event results of `RfbServer.next_event`."""

    NEED_DATA = auto()
    CLOSED = auto()


#: `next_event` needs more bytes before it can return another event.
NEED_DATA: Final = Sentinel.NEED_DATA
#: The connection is over (EOF, or refused): flush `data_to_send` and close.
CLOSED: Final = Sentinel.CLOSED


@dataclass(frozen=True)
class ServerConfig:
    """What the server announces and enforces; ``password=None`` means security type None.

    ``limits.max_receive_buffer`` caps the bytes of one incomplete message. It should be at
    least the largest message the other caps allow (the defaults are), or whether a long
    message is refused would depend on how its bytes were split into reads.
    """

    width: int
    height: int
    name: str
    password: bytes | None
    limits: Limits = DEFAULT_LIMITS
    #: A second password whose holders may only watch (x11vnc's -viewpasswd); it needs
    #: `password` to be set too.
    view_only_password: bytes | None = None

    def __post_init__(self) -> None:
        if not (0 <= self.width <= _MAX_U16 and 0 <= self.height <= _MAX_U16):
            raise ValueError(f"desktop size {self.width}x{self.height} does not fit in 16 bits")
        if self.view_only_password is not None and self.password is None:
            raise ValueError("a view-only password needs a full-access password too")


_VERSION_PATTERN = re.compile(rb"RFB (\d{3})\.(\d{3})\n")
_VERSION_LENGTH = 12
_U8 = struct.Struct(">B")
_U32 = struct.Struct(">I")
_SERVER_INIT = struct.Struct(">HH16sI")


def negotiate_version(major: int, minor: int) -> tuple[int, int] | None:
    """Map a client's ProtocolVersion to the version spoken, or None if unsupported.

    RFC 6143 s7.1.1: other 3.x minors (3.4, 3.5, 3.6 ...) must be treated as 3.3; later
    versions (Apple's 3.889, 4.x) get the newest this server has, 3.8.
    """
    if major < 3:
        return None
    if major > 3 or minor >= 8:
        return (3, 8)
    if minor == 7:
        return (3, 7)
    return (3, 3)


@dataclass(frozen=True, slots=True)
class _MessageSpec:
    """How one client message type is framed: fixed header, then a variable body."""

    header: struct.Struct
    body_length: Callable[[tuple[int, ...], Limits], int]
    build: Callable[[tuple[int, ...], bytes], Event]


def _no_body(fields: tuple[int, ...], limits: Limits) -> int:
    return 0


def _encodings_length(fields: tuple[int, ...], limits: Limits) -> int:
    count = fields[1]
    if count > limits.max_encodings:
        raise RemoteProtocolError(f"SetEncodings lists {count} encodings, over the cap")
    return 4 * count


def _cut_text_length(fields: tuple[int, ...], limits: Limits) -> int:
    length = fields[1]
    if length >= _EXTENDED_CUT_TEXT:
        length = (1 << 32) - length  # a negative length: an Extended Clipboard payload
    if length > limits.max_client_cut_text:
        raise RemoteProtocolError(f"ClientCutText of {length} bytes is over the cap")
    return length


def _build_set_encodings(fields: tuple[int, ...], body: bytes) -> Event:
    numbers = struct.unpack(f">{len(body) // 4}i", body)
    return SetEncodings(tuple(as_encoding(number) for number in numbers))


def _build_update_request(fields: tuple[int, ...], body: bytes) -> Event:
    _, incremental, x, y, width, height = fields
    return FramebufferUpdateRequest(incremental != 0, x, y, width, height)


def _build_key_event(fields: tuple[int, ...], body: bytes) -> Event:
    _, down, keysym = fields
    return KeyEvent(down != 0, keysym)


def _build_pointer_event(fields: tuple[int, ...], body: bytes) -> Event:
    _, button_mask, x, y = fields
    return PointerEvent(button_mask, x, y)


def _build_cut_text(fields: tuple[int, ...], body: bytes) -> Event:
    if fields[1] >= _EXTENDED_CUT_TEXT:
        return clipboard.parse(body)
    return ClientCutText(body)


#: ClientCutText lengths from here up are negative int32s: Extended Clipboard messages.
_EXTENDED_CUT_TEXT = 1 << 31


#: Screens a SetDesktopSize may describe; a text console has one, multi-head viewers a few.
_MAX_SCREENS = 16
_SCREEN_LAYOUT = struct.Struct(">IHHHHI")


def _screens_length(fields: tuple[int, ...], limits: Limits) -> int:
    count = fields[3]
    if count > _MAX_SCREENS:
        raise RemoteProtocolError(f"SetDesktopSize lists {count} screens, over the cap")
    return _SCREEN_LAYOUT.size * count


def _build_set_desktop_size(fields: tuple[int, ...], body: bytes) -> Event:
    _, width, height, _count = fields
    screens = tuple(
        Screen(*_SCREEN_LAYOUT.unpack_from(body, offset))
        for offset in range(0, len(body), _SCREEN_LAYOUT.size)
    )
    return SetDesktopSize(width, height, screens)


def _build_pixel_format(fields: tuple[int, ...], body: bytes) -> Event:
    pixel_format = PixelFormat.unpack(bytes(fields[1:]))
    try:
        pixel_format.validate()
    except ValueError as error:
        raise RemoteProtocolError(f"invalid pixel format: {error}") from error
    return SetPixelFormat(pixel_format)


_MESSAGES: Final[dict[int, _MessageSpec]] = {
    # The 16 pixel-format bytes are unpacked one by one so every header is a tuple of ints.
    ClientMessageType.SetPixelFormat: _MessageSpec(
        struct.Struct(">B3x16B"), _no_body, _build_pixel_format
    ),
    ClientMessageType.SetEncodings: _MessageSpec(
        struct.Struct(">BxH"), _encodings_length, _build_set_encodings
    ),
    ClientMessageType.FramebufferUpdateRequest: _MessageSpec(
        struct.Struct(">BBHHHH"), _no_body, _build_update_request
    ),
    ClientMessageType.KeyEvent: _MessageSpec(struct.Struct(">BB2xI"), _no_body, _build_key_event),
    ClientMessageType.PointerEvent: _MessageSpec(
        struct.Struct(">BBHH"), _no_body, _build_pointer_event
    ),
    ClientMessageType.ClientCutText: _MessageSpec(
        struct.Struct(">B3xI"), _cut_text_length, _build_cut_text
    ),
    ClientMessageType.SetDesktopSize: _MessageSpec(
        struct.Struct(">BxHHBx"), _screens_length, _build_set_desktop_size
    ),
}


class RfbServer:
    """One viewer's RFB connection, as a pure state machine (no I/O, no clock)."""

    def __init__(
        self, config: ServerConfig, random_bytes: Callable[[int], bytes] = os.urandom
    ) -> None:
        self._config = config
        self._random_bytes = random_bytes
        self._state = State.VERSION
        self._buffer = bytearray()
        self._offset = 0
        self._outgoing = bytearray()
        self._initiated = False
        self._eof = False
        self._version: tuple[int, int] | None = None
        self._challenge = b""
        self._refusal: str | None = None
        self._error: RemoteProtocolError | None = None
        #: The client's current pixel format (NATIVE until it sends SetPixelFormat).
        self.pixel_format: PixelFormat = NATIVE
        #: The client's encodings, most preferred first (empty until SetEncodings).
        self.encodings: tuple[int, ...] = ()
        #: Whether the client authenticated with the view-only password.
        self.view_only = False
        self._handlers: dict[State, Callable[[], Event | Sentinel | None]] = {
            State.VERSION: self._read_version,
            State.SECURITY: self._read_security_type,
            State.AUTHENTICATION: self._read_authentication,
            State.CLIENT_INIT: self._read_client_init,
            State.NORMAL: self._read_message,
        }

    # -- inspection ----------------------------------------------------------------------

    @property
    def state(self) -> State:
        """Where the connection is in the protocol."""
        return self._state

    @property
    def config(self) -> ServerConfig:
        """The configuration, with the desktop size as last set."""
        return self._config

    @property
    def version(self) -> tuple[int, int] | None:
        """The protocol version in use, once the client has sent its ProtocolVersion."""
        return self._version

    # -- bytes in and out ----------------------------------------------------------------

    def initiate(self) -> None:
        """Queue the server's ProtocolVersion greeting; call once, first."""
        if self._initiated or self._state is not State.VERSION:
            raise LocalProtocolError("initiate() must be called once, at the start")
        self._initiated = True
        self._outgoing += b"RFB %03d.%03d\n" % SERVER_VERSION

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; ``b""`` means the client closed its side."""
        if self._eof:
            raise LocalProtocolError("receive_data() after EOF")
        if not data:
            self._eof = True
        elif self._state not in (State.CLOSED, State.ERROR):
            # Once the connection is over the client's bytes mean nothing.
            self._buffer += data

    def data_to_send(self) -> bytes:
        """Return, and forget, the bytes queued for the client."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def next_event(self) -> Event | Literal[Sentinel.NEED_DATA, Sentinel.CLOSED]:
        """Return the next event, `NEED_DATA` or `CLOSED`; raise `RemoteProtocolError`.

        Call it until it returns `NEED_DATA` after every `receive_data`; the receive-buffer
        cap is checked only then.
        """
        if self._state is State.ERROR:
            assert self._error is not None
            raise RemoteProtocolError(self._error.reason)
        try:
            while self._state is not State.CLOSED:
                result = self._handlers[self._state]()
                if result is None:
                    continue
                if result is NEED_DATA:
                    return self._need_data()
                assert not isinstance(result, Sentinel)
                return result
            return CLOSED
        except RemoteProtocolError as error:
            self._state = State.ERROR
            self._error = error
            raise

    def _need_data(self) -> Literal[Sentinel.NEED_DATA, Sentinel.CLOSED]:
        pending = len(self._buffer) - self._offset
        if self._eof:
            if pending:
                raise RemoteProtocolError("client closed the connection in mid-message")
            self._state = State.CLOSED
            return CLOSED
        if pending > self._config.limits.max_receive_buffer:
            raise RemoteProtocolError(
                f"more than {self._config.limits.max_receive_buffer} bytes of one message"
            )
        return NEED_DATA

    def _available(self) -> int:
        return len(self._buffer) - self._offset

    def _peek(self, size: int) -> bytes | None:
        if self._available() < size:
            return None
        return bytes(self._buffer[self._offset : self._offset + size])

    def _take(self, size: int) -> bytes | None:
        data = self._peek(size)
        if data is not None:
            self._offset += size
            # Drop consumed bytes only once they are most of the buffer: amortised O(n).
            if self._offset > 4096 and 2 * self._offset > len(self._buffer):
                del self._buffer[: self._offset]
                self._offset = 0
        return data

    # -- handshake (RFC 6143 s7.1-s7.3) ----------------------------------------------------

    def _offered_type(self) -> SecurityType:
        if self._config.password is None:
            return SecurityType.NONE
        return SecurityType.VNC_AUTHENTICATION

    def _read_version(self) -> Sentinel | None:
        data = self._take(_VERSION_LENGTH)
        if data is None:
            return NEED_DATA
        match = _VERSION_PATTERN.fullmatch(data)
        if match is None:
            raise RemoteProtocolError(f"not an RFB ProtocolVersion: {data!r}")
        version = negotiate_version(int(match[1]), int(match[2]))
        if version is None:
            raise RemoteProtocolError(f"unsupported RFB version {data[4:11].decode()}")
        self._version = version
        if self._refusal is not None:
            self._send_connection_failed(self._refusal)
            self._state = State.CLOSED
            return None
        offered = self._offered_type()
        if version == (3, 3):
            # RFB 3.3: the server alone decides the security type.
            self._outgoing += _U32.pack(offered)
            self._start_security(offered)
        else:
            self._outgoing += bytes([1, offered])
            self._state = State.SECURITY
        return None

    def _send_connection_failed(self, reason: str) -> None:
        """Fail in place of the security types (3.3: type Invalid; 3.7+: zero types)."""
        count = _U32.pack(SecurityType.INVALID) if self._version == (3, 3) else b"\0"
        self._outgoing += count + _reason(reason)

    def _send_security_failed(self, reason: str) -> None:
        """Send SecurityResult failed, with the reason that only 3.8 carries."""
        self._outgoing += _U32.pack(SecurityResult.FAILED)
        if self._version == (3, 8):
            self._outgoing += _reason(reason)

    def _start_security(self, security_type: SecurityType) -> None:
        if security_type is SecurityType.VNC_AUTHENTICATION:
            self._challenge = make_challenge(self._random_bytes(CHALLENGE_LENGTH))
            self._outgoing += self._challenge
            self._state = State.AUTHENTICATION
        else:
            # Only 3.8 sends a SecurityResult for security type None.
            if self._version == (3, 8):
                self._outgoing += _U32.pack(SecurityResult.OK)
            self._state = State.CLIENT_INIT

    def _read_security_type(self) -> Sentinel | None:
        data = self._take(1)
        if data is None:
            return NEED_DATA
        offered = self._offered_type()
        if data[0] != offered:
            reason = f"security type {data[0]} was not offered"
            # A 3.7 client expects no SecurityResult here, so it can only be disconnected.
            if self._version == (3, 8):
                self._send_security_failed(reason)
            raise RemoteProtocolError(reason)
        self._start_security(offered)
        return None

    def _read_authentication(self) -> Sentinel | None:
        response = self._take(CHALLENGE_LENGTH)
        if response is None:
            return NEED_DATA
        config = self._config
        assert config.password is not None
        if check_response(config.password, self._challenge, response):
            self.view_only = False
        elif config.view_only_password is not None and check_response(
            config.view_only_password, self._challenge, response
        ):
            self.view_only = True
        else:
            reason = "authentication failed"
            self._send_security_failed(reason)
            raise AuthenticationFailed(reason)
        self._outgoing += _U32.pack(SecurityResult.OK)
        self._state = State.CLIENT_INIT
        return None

    def _read_client_init(self) -> Event | Sentinel:
        data = self._take(1)
        if data is None:
            return NEED_DATA
        name = self._config.name.encode("utf-8")
        self._outgoing += (
            _SERVER_INIT.pack(self._config.width, self._config.height, NATIVE.pack(), len(name))
            + name
        )
        self._state = State.NORMAL
        assert self._version is not None
        return ClientInitialised(shared=data[0] != 0, version=self._version)

    def refuse(self, reason: str) -> None:
        """Turn the client away during the handshake with ``reason`` (e.g. too many viewers).

        Before the client's version is known the refusal waits for it, so that the failure
        has the right form; afterwards a SecurityResult failure is sent at once (with the
        reason for 3.8; a 3.7 client still choosing a type can only be disconnected). Then
        `next_event` returns `CLOSED`.
        """
        if self._state is State.VERSION:
            self._refusal = reason
            return
        if self._state is State.AUTHENTICATION or (
            self._state is State.SECURITY and self._version == (3, 8)
        ):
            self._send_security_failed(reason)
        elif self._state is not State.SECURITY:
            raise LocalProtocolError(f"cannot refuse a client in state {self._state.name}")
        self._state = State.CLOSED

    # -- normal phase (RFC 6143 s7.5) --------------------------------------------------------

    def _read_message(self) -> Event | Sentinel:
        first = self._peek(1)
        if first is None:
            return NEED_DATA
        spec = _MESSAGES.get(first[0])
        if spec is None:
            raise RemoteProtocolError(f"unknown message type {first[0]}")
        header = self._peek(spec.header.size)
        if header is None:
            return NEED_DATA
        fields = spec.header.unpack(header)
        body_length = spec.body_length(fields, self._config.limits)
        if self._available() < spec.header.size + body_length:
            return NEED_DATA
        self._take(spec.header.size)
        body = self._take(body_length)
        assert body is not None
        event = spec.build(fields, body)
        if isinstance(event, SetPixelFormat):
            self.pixel_format = event.pixel_format
        elif isinstance(event, SetEncodings):
            self.encodings = event.encodings
        return event

    # -- sending (RFC 6143 s7.6) ---------------------------------------------------------------

    def _require_normal(self, what: str) -> None:
        if self._state is not State.NORMAL:
            raise LocalProtocolError(f"cannot send {what} in state {self._state.name}")

    def send_framebuffer_update(self, rects: Sequence[Rectangle]) -> None:
        """Queue a FramebufferUpdate of already-encoded rectangles."""
        self._require_normal("FramebufferUpdate")
        self._outgoing += messages.framebuffer_update(rects)

    def send_bell(self) -> None:
        """Queue a Bell."""
        self._require_normal("Bell")
        self._outgoing += messages.bell()

    def send_server_cut_text(self, text: bytes) -> None:
        """Queue a ServerCutText of Latin-1 ``text``."""
        self._require_normal("ServerCutText")
        self._outgoing += messages.server_cut_text(text)

    def send_extended_clipboard(self, payload: bytes) -> None:
        """Queue a ServerCutText carrying an Extended Clipboard payload (see `clipboard`)."""
        self._require_normal("ServerCutText")
        self._outgoing += clipboard.server_cut_text_extended(payload)

    def send_colour_map(self) -> None:
        """Queue SetColourMapEntries with the fixed 256-entry `COLOUR_MAP`.

        Call it when the client switches to a colour-map pixel format.
        """
        self._require_normal("SetColourMapEntries")
        if self.pixel_format.true_colour:
            raise LocalProtocolError("the client's pixel format has no colour map")
        self._outgoing += messages.set_colour_map_entries(0, COLOUR_MAP)

    def set_desktop_size(self, width: int, height: int) -> None:
        """Record a new desktop size for ServerInit and later updates; sends nothing.

        The application tells a connected client with a DesktopSize pseudo-rectangle.
        """
        try:
            self._config = replace(self._config, width=width, height=height)
        except ValueError as error:
            raise LocalProtocolError(str(error)) from error


def _reason(reason: str) -> bytes:
    text = reason.encode("utf-8")
    return _U32.pack(len(text)) + text
