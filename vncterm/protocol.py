"""Twisted adapter around the sans-I/O RFB server: one per viewer connection.

It only moves bytes between the transport and `RfbServer`, and turns the machine's events into
calls on the console session. It is also the viewer's push producer target: while the transport
is full (a slow or stalled viewer), no update is produced and damage simply accumulates.
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from vncterm.render.framebuffer import CELL_HEIGHT, CELL_WIDTH
from vncterm.rfb.errors import RemoteProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    ClientInitialised,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    SetEncodings,
    SetPixelFormat,
)
from vncterm.rfb.server import CLOSED, NEED_DATA, RfbServer, ServerConfig
from vncterm.session import ConsoleSession
from vncterm.terminal.keymap import Keyboard
from vncterm.updates import ViewerUpdates

log = Logger()


@implementer(IPushProducer)
class RfbViewerProtocol(Protocol):
    """One viewer of one console."""

    def __init__(self, session: ConsoleSession, password: bytes | None) -> None:
        self.session = session
        self.server = RfbServer(
            ServerConfig(
                width=session.width,
                height=session.height,
                name=session.name,
                password=password,
                limits=session.limits,
            )
        )
        self.updates = ViewerUpdates(
            session.terminal.cols, session.terminal.rows, CELL_WIDTH, CELL_HEIGHT
        )
        self.keyboard = Keyboard()
        self._attached = False
        self._paused = False
        self._handshake_timer: Any = None
        self._last_bell = float("-inf")
        self._closing = False
        self._peer = "?"
        self._opened = 0.0
        self.bytes_sent = 0
        self.bytes_received = 0
        self._desktop_name = session.name

    # -- connection lifetime -----------------------------------------------------------------

    def connectionMade(self) -> None:
        assert self.transport is not None
        self._peer = _describe(self.transport.getPeer())
        self._opened = self.session.reactor.seconds()
        log.info("viewer {peer} connected to {console}", peer=self._peer,
                 console=self.session.name)
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._handshake_timer = self.session.reactor.callLater(
            self.session.limits.handshake_timeout, self._handshake_timed_out
        )
        self.server.initiate()
        if len(self.session.viewers) >= self.session.limits.max_viewers:
            log.warn("viewer {peer} refused: too many viewers", peer=self._peer)
            self.server.refuse("too many viewers on this console")
        self._write_out()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        if self._attached:
            self._attached = False
            self.session.detach(self)
        duration = self.session.reactor.seconds() - self._opened
        log.info(
            "viewer {peer} left {console}: {sent} bytes sent, {received} received, "
            "{duration:.1f} s, {why}",
            peer=self._peer,
            console=self.session.name,
            sent=self.bytes_sent,
            received=self.bytes_received,
            duration=duration,
            why=reason.getErrorMessage(),
        )

    def _handshake_timed_out(self) -> None:
        self._handshake_timer = None
        if not self._attached:
            log.warn("viewer {peer}: handshake not finished in time", peer=self._peer)
            self._abort()

    def _abort(self) -> None:
        self._closing = True
        if self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def disconnect(self, reason: str) -> None:
        log.info("closing viewer {peer}: {reason}", peer=self._peer, reason=reason)
        if self._attached:
            self._attached = False
            self.session.detach(self)
        self._closing = True
        if self.transport is not None:
            self.transport.loseConnection()

    # -- bytes in ----------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.bytes_received += len(data)
        try:
            self.server.receive_data(data)
            while True:
                event = self.server.next_event()
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    self._closing = True
                    self._write_out()
                    if self.transport is not None:
                        self.transport.loseConnection()
                    return
                if not self._handle(event):
                    break
        except RemoteProtocolError as exc:
            log.warn("viewer {peer} closed: {reason}", peer=self._peer, reason=exc.reason)
            self._write_out()
            self._closing = True
            if self.transport is not None:
                self.transport.loseConnection()
            return
        self._write_out()

    def _handle(self, event: object) -> bool:
        session = self.session
        if isinstance(event, KeyEvent):
            session.type_keys(
                self.keyboard.key_event(
                    event.down,
                    event.keysym,
                    application_cursor=session.terminal.application_cursor_keys,
                    application_keypad=session.terminal.application_keypad,
                )
            )
        elif isinstance(event, FramebufferUpdateRequest):
            self.updates.request(event.incremental, event.x, event.y, event.width, event.height)
            session.frame_wanted(now=not event.incremental)
            self._flush()
        elif isinstance(event, PointerEvent):
            pass  # mouse reporting and selection come with the scrollback work
        elif isinstance(event, SetEncodings):
            self.updates.set_encodings(event.encodings)
        elif isinstance(event, SetPixelFormat):
            if not event.pixel_format.true_colour:
                self.server.send_colour_map()
            self.updates.damage_all()
        elif isinstance(event, ClientCutText):
            # Pasted text is typed; newlines become carriage returns as on a real keyboard.
            text = event.text.replace(b"\r\n", b"\r").replace(b"\n", b"\r")
            session.type_keys(text.decode("latin-1").encode("utf-8"))
        elif isinstance(event, ClientInitialised):
            if self._handshake_timer is not None and self._handshake_timer.active():
                self._handshake_timer.cancel()
            self._handshake_timer = None
            if not session.attach(self, shared=event.shared):
                log.warn("viewer {peer} refused: too many viewers", peer=self._peer)
                self.disconnect("too many viewers on this console")
                return False
            self._attached = True
        return True

    # -- bytes out ---------------------------------------------------------------------------

    def _write_out(self) -> None:
        data = self.server.data_to_send()
        if data and self.transport is not None:
            self.bytes_sent += len(data)
            self.transport.write(data)

    def _flush(self) -> None:
        if self._paused or self._closing or not self._attached:
            return
        rects = self.updates.take_update(self.session.renderer.pixels, self.server.pixel_format)
        if rects is None:
            return
        self.server.send_framebuffer_update(rects)
        self._write_out()

    # -- Viewer (called by the session) ------------------------------------------------------

    def screen_changed(self) -> None:
        self._flush()

    def bell(self) -> None:
        now = self.session.reactor.seconds()
        if self._attached and now - self._last_bell >= self.session.limits.bell_interval:
            self._last_bell = now
            self.server.send_bell()
            self._write_out()

    def desktop_name_changed(self, name: str) -> None:
        self._desktop_name = name  # sent once DesktopName is negotiated (issue: xterm fidelity)

    # -- IPushProducer -----------------------------------------------------------------------

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._flush()

    def stopProducing(self) -> None:
        self._paused = True


class RfbViewerFactory(Factory):
    """Builds a viewer protocol for each connection to one console."""

    noisy = False  # connections are logged by the protocol itself, one line each way

    def __init__(self, session: ConsoleSession, password: bytes | None = None) -> None:
        self.session = session
        self.password = password

    def buildProtocol(self, addr: IAddress | None) -> RfbViewerProtocol:
        return RfbViewerProtocol(self.session, self.password)


def _describe(address: object) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None:
        return f"{host}:{port}"
    name = getattr(address, "name", None)
    return str(name or address)
