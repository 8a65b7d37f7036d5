"""Twisted adapter around the sans-I/O RFB server: one per viewer connection.

It only moves bytes between the transport and `RfbServer`, and turns the machine's events into
calls on the console session. It is also the viewer's push producer target: while the transport
is full (a slow or stalled viewer), no update is produced and damage simply accumulates; a
viewer that reads nothing for `Limits.stall_timeout` is dropped, and one being closed that does
not take its last bytes within `Limits.close_timeout` too. A viewer leaves the session (its
seat and memory) the moment it is closed, not when its socket is finally gone.

A viewer on the live screen is sent the session's shared framebuffer. A viewer reading history
or holding a selection is sent its own view (`vncterm.view`), drawn where its damage says
(`vncterm.viewsync`) when an update goes out (`vncterm.render.region`): it keeps no
framebuffer of its own.

With a password and an `AuthThrottle` (``vncterm.auththrottle``; one per process, shared by
every listener): a failed VNC Authentication is counted against the viewer's address and the
console, and its SecurityResult failure is sent only after the throttle's delay (a timer:
nothing else waits); a viewer from a blocked address is refused before authenticating, with
"too many authentication failures" as the reason (which RFB 3.7+ clients show; 3.3 ones get
it too, in place of a security type).
"""

from __future__ import annotations

from typing import Any

from twisted.internet.interfaces import IAddress, IDelayedCall, IPushProducer
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from zope.interface import implementer

from vncterm.auththrottle import AuthThrottle
from vncterm.mousereport import CONTROL, META, MouseModes, MouseReporter
from vncterm.pointer import Drag, MiddleClick, PointerAction, PointerTracker, Press, Release, Wheel
from vncterm.render import pointershape
from vncterm.render.framebuffer import CELL_HEIGHT, CELL_WIDTH, Pixels
from vncterm.render.region import draw_region
from vncterm.rfb import clipboard
from vncterm.rfb.clipboard import ClipboardFlag, ExtendedClipboard
from vncterm.rfb.constants import Encoding, ExtendedDesktopSizeReason, ExtendedDesktopSizeStatus
from vncterm.rfb.errors import AuthenticationFailed, RemoteProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    ClientInitialised,
    FramebufferUpdateRequest,
    KeyEvent,
    PointerEvent,
    Rectangle,
    SetDesktopSize,
    SetEncodings,
    SetPixelFormat,
    cursor_rectangle,
    desktop_name_rectangle,
    desktop_size_rectangle,
    extended_desktop_size_rectangle,
)
from vncterm.rfb.server import CLOSED, NEED_DATA, RfbServer, ServerConfig, State
from vncterm.session import ConsoleSession
from vncterm.terminal.keymap import Keyboard, Keysym
from vncterm.transport import no_delay, write_now
from vncterm.updates import CellRect, CellScroll, ViewerUpdates
from vncterm.view import WHEEL_LINES, Position, Selection, ViewerView
from vncterm.viewsync import ViewSync

log = Logger()

#: What a viewer from a blocked address is told.
TOO_MANY_FAILURES = "too many authentication failures; try again later"


@implementer(IPushProducer)
class RfbViewerProtocol(Protocol):
    """One viewer of one console."""

    def __init__(
        self,
        session: ConsoleSession,
        password: bytes | None,
        *,
        view_only_password: bytes | None = None,
        view_only: bool = False,
        log_connections: bool = True,
        throttle: AuthThrottle | None = None,
        user: str | None = None,
    ) -> None:
        self.session = session
        self._log_connections = log_connections
        self._throttle = throttle if password is not None else None
        self._failure_answer: IDelayedCall | None = None
        #: Who this viewer is, when the front door knows (counted per user by the session).
        self.user = user
        self._seated = False
        self.server = RfbServer(
            ServerConfig(
                width=session.width,
                height=session.height,
                name=session.name,
                password=password,
                limits=session.limits,
                view_only_password=view_only_password,
            )
        )
        self._listener_view_only = view_only
        self.updates = ViewerUpdates(
            session.terminal.cols, session.terminal.rows, CELL_WIDTH, CELL_HEIGHT
        )
        self.keyboard = Keyboard()
        self.pointer = PointerTracker(CELL_WIDTH, CELL_HEIGHT)
        self.mouse = MouseReporter()
        self.view = ViewerView(session.terminal)
        self.sync = ViewSync(self.view, self.updates)
        self._drag_anchor: Position | None = None
        #: The text this viewer last selected (what a middle click pastes).
        self.copied = ""
        #: An ExtendedDesktopSize/DesktopSize owed to the viewer: (reason, status).
        self._size_notice: tuple[ExtendedDesktopSizeReason, ExtendedDesktopSizeStatus] | None = None
        #: A DesktopName owed to the viewer.
        self._name_notice: str | None = None
        #: The pointer's shape is owed (the viewer draws it itself: Cursor pseudo-encoding).
        self._pointer_shape_owed = False
        #: Whether the viewer speaks Extended Clipboard (UTF-8 both ways).
        self._extended_clipboard = False
        self._attached = False
        self._paused = False
        self._handshake_timer: IDelayedCall | None = None
        self._stall_timer: IDelayedCall | None = None
        self._close_timer: IDelayedCall | None = None
        self._last_bell = float("-inf")
        self._closing = False
        self._lost = False
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
        no_delay(self.transport)
        if self._log_connections:
            log.info("viewer {peer} connected to {console}", peer=self._peer,
                     console=self.session.name)
        self.transport.registerProducer(self, True)  # type: ignore[attr-defined]
        self._handshake_timer = self.session.reactor.callLater(
            self.session.limits.handshake_timeout, self._handshake_timed_out
        )
        self.server.initiate()
        refusal = self.session.viewer_refusal(self.user)
        if refusal is None and self.user is not None:
            self._seated = self.session.take_seat(self.user)
        if self._throttle is not None and self._throttle.blocked_for(
                self._peer_host(), self.session.reactor.seconds()) > 0:
            log.warn("viewer {peer} refused: its address is blocked after repeated "
                     "authentication failures", peer=self._peer)
            self.server.refuse(TOO_MANY_FAILURES)
        elif refusal is not None:
            log.warn("viewer {peer} refused: {reason}", peer=self._peer, reason=refusal)
            self.server.refuse(refusal)
        self._write_out()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._closing = self._lost = True
        self._leave()
        for timer in (self._close_timer, self._failure_answer):
            _cancel(timer)
        self._close_timer = self._failure_answer = None
        if not self._log_connections:
            return
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
            self._close(abort=True)

    def _leave(self) -> None:
        """Out of the session: its seat, its place among the viewers, its timers."""
        for timer in (self._handshake_timer, self._stall_timer):
            _cancel(timer)
        self._handshake_timer = self._stall_timer = None
        if self._attached:
            self._attached = False
            self.session.detach(self)
        if self._seated and self.user is not None:
            self._seated = False
            self.session.leave_seat(self.user)

    def _close(self, *, abort: bool = False) -> None:
        """Leave the session now, then close: politely (what is queued still goes out), but
        dropped if the viewer does not take it within the close timeout."""
        self._closing = True
        self._leave()
        transport: Any = self.transport
        if transport is None or self._lost:
            return
        if abort:
            _cancel(self._close_timer)
            self._close_timer = None
            transport.abortConnection()
        elif self._close_timer is None:
            transport.loseConnection()
            self._close_timer = self.session.reactor.callLater(
                self.session.limits.close_timeout, self._close_timed_out)

    def _close_timed_out(self) -> None:
        self._close_timer = None
        log.warn("viewer {peer} did not take its last bytes in {seconds} s: dropped",
                 peer=self._peer, seconds=self.session.limits.close_timeout)
        self._close(abort=True)

    def _stalled(self) -> None:
        self._stall_timer = None
        log.warn("viewer {peer} read nothing for {seconds} s: dropped", peer=self._peer,
                 seconds=self.session.limits.stall_timeout)
        self._close(abort=True)

    def disconnect(self, reason: str) -> None:
        log.info("closing viewer {peer}: {reason}", peer=self._peer, reason=reason)
        self._close()

    # -- bytes in ----------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        if self._closing:
            return
        self.bytes_received += len(data)
        if not self._attached:
            # The console may have been resized since this connection was accepted: the
            # ServerInit about to be sent must carry today's size.
            self.server.set_desktop_size(self.session.width, self.session.height)
        try:
            self.server.receive_data(data)
            while True:
                event = self.server.next_event()
                if event is NEED_DATA:
                    break
                if event is CLOSED:
                    self._write_out()
                    self._close()
                    return
                if not self._handle(event):
                    break
        except AuthenticationFailed as exc:
            if self._throttle is None:
                log.warn("viewer {peer} closed: {reason}", peer=self._peer, reason=exc.reason)
                self._write_out()
                self._close()
                return
            self._answer_failure_later()
            return
        except RemoteProtocolError as exc:
            log.warn("viewer {peer} closed: {reason}", peer=self._peer, reason=exc.reason)
            self._write_out()
            self._close()
            return
        except Exception:
            # A bug of ours, not the viewer's fault: log it whole, close this viewer only;
            # the console and the other viewers go on.
            log.failure("viewer {peer}: internal error; closing this viewer", peer=self._peer)
            self.disconnect("internal error")
            return
        self._write_out()

    def _peer_host(self) -> str:
        peer = self.transport.getPeer() if self.transport is not None else None
        host = getattr(peer, "host", None)
        return host if isinstance(host, str) else "unix"

    def _answer_failure_later(self) -> None:
        """Count a failed VNC Authentication; send its failure after the throttle's delay."""
        assert self._throttle is not None
        self._closing = True
        delay = self._throttle.failed(self._peer_host(), self._throttle_user(),
                                      self.session.reactor.seconds())
        log.warn("viewer {peer} failed VNC Authentication; answered in {delay:.2f} s",
                 peer=self._peer, delay=delay)
        if self._handshake_timer is not None and self._handshake_timer.active():
            self._handshake_timer.cancel()
        self._handshake_timer = None
        failure = self.server.data_to_send()

        def answer() -> None:
            self._failure_answer = None
            if self.transport is not None:
                self.bytes_sent += len(failure)
                self.transport.write(failure)
            self._close()

        self._failure_answer = self.session.reactor.callLater(delay, answer)

    def _throttle_user(self) -> str:
        # VNC Authentication has no user: the console's password is what is guessed.
        return f"vnc console {self.session.name}"

    def _handle(self, event: object) -> bool:
        session = self.session
        if isinstance(event, KeyEvent):
            self._key(event)
        elif isinstance(event, FramebufferUpdateRequest):
            self.updates.request(event.incremental, event.x, event.y, event.width, event.height)
            session.frame_wanted(now=not event.incremental)
            self._flush()
        elif isinstance(event, PointerEvent):
            self._pointer_event(event)
        elif isinstance(event, SetEncodings):
            self.updates.set_encodings(event.encodings)
            if Encoding.EXTENDED_DESKTOP_SIZE in event.encodings:
                # Announce support (rfbproto: as soon as possible after SetEncodings).
                self._size_notice = (ExtendedDesktopSizeReason.SERVER,
                                     ExtendedDesktopSizeStatus.NO_ERROR)
            self._pointer_shape_owed = Encoding.CURSOR in event.encodings
            if Encoding.DESKTOP_NAME in event.encodings and session.terminal.title:
                self._name_notice = session.terminal.title
            if Encoding.EXTENDED_CLIPBOARD in event.encodings and not self._extended_clipboard:
                self._extended_clipboard = True
                self.server.send_extended_clipboard(clipboard.caps())
        elif isinstance(event, ExtendedClipboard):
            self._extended_clipboard_message(event)
        elif isinstance(event, SetDesktopSize):
            self._set_desktop_size(event)
        elif isinstance(event, SetPixelFormat):
            if not event.pixel_format.true_colour:
                self.server.send_colour_map()
            # The shape goes in the viewer's pixel format: again in the new one.
            self._pointer_shape_owed = Encoding.CURSOR in self.updates.encodings
            self.updates.damage_all()
        elif isinstance(event, ClientCutText):
            # ClientCutText is Latin-1 (RFC 6143 7.5.6); it is typed into the console, paced.
            if not self.view_only:
                self._back_to_live()
                session.paste(event.latin1)
        elif isinstance(event, ClientInitialised):
            if self._handshake_timer is not None and self._handshake_timer.active():
                self._handshake_timer.cancel()
            self._handshake_timer = None
            if self._throttle is not None:
                self._throttle.succeeded(self._peer_host(), self._throttle_user(),
                                         session.reactor.seconds())
            if not session.attach(self, shared=event.shared):
                log.warn("viewer {peer} refused: too many viewers", peer=self._peer)
                self.disconnect("too many viewers on this console")
                return False
            self._attached = True
            terminal = session.terminal
            if (self.updates.columns, self.updates.rows) != (terminal.cols, terminal.rows):
                self.updates.resize(terminal.cols, terminal.rows)
        return True

    # -- bytes out ---------------------------------------------------------------------------

    def _write_out(self) -> None:
        data = self.server.data_to_send()
        if data and self.transport is not None:
            self.bytes_sent += len(data)
            write_now(self.transport, data)

    def _flush(self) -> None:
        if self._paused or self._closing or not self._attached:
            return
        notices = self._take_notices() if self.updates.has_request else []
        if notices:
            self.updates.force()
        pixels = self._draw_view if self.view.private else self.session.renderer.pixels
        # Within a time slice: a large screen costly to encode goes out in several updates.
        rects = self.updates.take_update(pixels, self.server.pixel_format,
                                         stop=self.session.frame_stop())
        if rects is None:
            return
        self.server.send_framebuffer_update(notices + rects)
        self._write_out()

    def _take_notices(self) -> list[Rectangle]:
        """Pseudo-rectangles owed to this viewer: a new size first, then a new name, then the
        pointer's shape."""
        notices = []
        if self._size_notice is not None:
            reason, status = self._size_notice
            self._size_notice = None
            width, height = self.session.width, self.session.height
            if Encoding.EXTENDED_DESKTOP_SIZE in self.updates.encodings:
                notices.append(extended_desktop_size_rectangle(width, height, reason, status))
            elif status == ExtendedDesktopSizeStatus.NO_ERROR:
                notices.append(desktop_size_rectangle(width, height))
        if self._name_notice is not None:
            notices.append(desktop_name_rectangle(self._name_notice))
            self._name_notice = None
        if self._pointer_shape_owed:
            self._pointer_shape_owed = False
            pixels, mask = pointershape.i_beam()
            notices.append(cursor_rectangle(*pointershape.HOTSPOT, pixels, mask,
                                            self.server.pixel_format))
        return notices

    # -- size ---------------------------------------------------------------------------------

    @property
    def can_resize(self) -> bool:
        encodings = self.updates.encodings
        return Encoding.EXTENDED_DESKTOP_SIZE in encodings or Encoding.DESKTOP_SIZE in encodings

    def _set_desktop_size(self, event: SetDesktopSize) -> None:
        if self.view_only:
            self._size_notice = (ExtendedDesktopSizeReason.THIS_CLIENT,
                                 ExtendedDesktopSizeStatus.RESIZE_PROHIBITED)
        elif len(event.screens) != 1 or event.width < 1 or event.height < 1:
            self._size_notice = (ExtendedDesktopSizeReason.THIS_CLIENT,
                                 ExtendedDesktopSizeStatus.INVALID_SCREEN_LAYOUT)
        else:
            # Answered by desktop_resized() or resize_answered(), now or once the console's
            # resize interval is over (a burst of requests becomes one resize, the last size).
            columns, rows = event.width // CELL_WIDTH, event.height // CELL_HEIGHT
            self.session.request_resize(columns, rows, self)
        self._flush()

    def desktop_resized(self, requested: bool) -> None:
        if self._closing:
            return
        terminal = self.session.terminal
        self.server.set_desktop_size(self.session.width, self.session.height)
        self.updates.resize(terminal.cols, terminal.rows)
        self.view.clear_selection()
        self.sync.resized()
        reason = (ExtendedDesktopSizeReason.THIS_CLIENT if requested
                  else ExtendedDesktopSizeReason.OTHER_CLIENT)
        self._size_notice = (reason, ExtendedDesktopSizeStatus.NO_ERROR)
        self._flush()

    def resize_answered(self, done: bool) -> None:
        if self._closing:
            return
        status = (ExtendedDesktopSizeStatus.NO_ERROR if done
                  else ExtendedDesktopSizeStatus.RESIZE_PROHIBITED)
        self._size_notice = (ExtendedDesktopSizeReason.THIS_CLIENT, status)
        self._flush()

    # -- Viewer (called by the session) ------------------------------------------------------

    def screen_changed(self, scroll: CellScroll | None, rects: list[CellRect]) -> None:
        if self._closing:
            return
        self.sync.screen_changed(scroll, rects)
        self._flush()

    # -- this viewer's own view: scrollback position and selection ----------------------------

    def _draw_view(self, rect: CellRect) -> Pixels:
        """The pixels of `rect` of this viewer's view, drawn now for the update."""
        self.sync.drawing(rect, newer=self.session.render_pending)
        return draw_region(self.view, rect.x, rect.y, rect.width, rect.height)

    def _selection_changed(self, before: Selection | None) -> None:
        self.sync.selection_changed(before)
        self._flush()

    def _back_to_live(self) -> None:
        view = self.view
        before = view.selection
        if view.clear_selection():
            self.sync.selection_changed(before)  # where the picture is now
        if view.to_live():
            self.sync.moved()
        self._flush()

    @property
    def view_only(self) -> bool:
        """Whether this viewer may only watch (its listener or its password says so)."""
        return self._listener_view_only or self.server.view_only

    def _key(self, event: KeyEvent) -> None:
        session = self.session
        if (
            event.down
            and event.keysym in (Keysym.Pause, Keysym.Break)
            and self.keyboard.control
            and self.keyboard.alt
            and not self.view_only
        ):
            # Ctrl+Alt+Break: a serial BREAK, the first half of a Linux SysRq on a serial line.
            session.send_break()
            return
        if (
            event.down
            and self.keyboard.shift
            and event.keysym in (Keysym.Page_Up, Keysym.Page_Down)
            and not session.terminal.alternate_screen
        ):
            # Shift+Page Up/Down scroll this viewer's history, as in xterm; not sent on.
            page = max(1, session.terminal.rows - 1)
            if self.view.scroll(page if event.keysym == Keysym.Page_Up else -page):
                self.sync.moved()
                self._flush()
            return
        data = self.keyboard.key_event(
            event.down,
            event.keysym,
            application_cursor=session.terminal.application_cursor_keys,
            application_keypad=session.terminal.application_keypad,
        )
        if data and not self.view_only:
            self._back_to_live()
            session.type_keys(data)

    def _extended_clipboard_message(self, message: ExtendedClipboard) -> None:
        action = message.action
        if action == ClipboardFlag.PROVIDE and message.text is not None:
            if not self.view_only:
                self._back_to_live()
                self.session.paste(message.text)
        elif action == ClipboardFlag.NOTIFY and message.flags & ClipboardFlag.TEXT:
            if not self.view_only:
                self.server.send_extended_clipboard(clipboard.request_text())
        elif action == ClipboardFlag.REQUEST and message.flags & ClipboardFlag.TEXT:
            if self.copied:
                self.server.send_extended_clipboard(clipboard.provide(self.copied))

    def _pointer_event(self, event: PointerEvent) -> None:
        session = self.session
        tracking, sgr = session.terminal.mouse_modes
        column, row = event.x // CELL_WIDTH, event.y // CELL_HEIGHT
        # An application that asked for the mouse gets it (unless Shift is held: then, as in
        # xterm, the viewer selects text locally); a view-only viewer's mouse goes nowhere.
        if tracking and not self.keyboard.shift and not self.view.private:
            report = self.mouse.report(
                MouseModes(tracking, sgr), event.button_mask, column, row,
                self._mouse_modifiers(),
            )
            self.pointer.event(event.button_mask, event.x, event.y, session.reactor.seconds())
            if report and not self.view_only:
                session.type_keys(report)
            return
        self.mouse.report(MouseModes(), event.button_mask, column, row)
        for action in self.pointer.event(event.button_mask, event.x, event.y,
                                         session.reactor.seconds()):
            self._pointer(action)

    def _mouse_modifiers(self) -> int:
        keyboard = self.keyboard
        return (CONTROL if keyboard.control else 0) | (META if keyboard.alt else 0)

    def _pointer(self, action: PointerAction) -> None:
        view = self.view
        terminal = self.session.terminal
        if isinstance(action, Wheel):
            if terminal.alternate_screen and self.view_only:
                return
            if terminal.alternate_screen:
                # Full-screen programs (less, vim) get arrow keys, as xterm's alternateScroll.
                key = Keysym.Up if action.notches > 0 else Keysym.Down
                arrow = self.keyboard.key_event(
                    True, key, application_cursor=terminal.application_cursor_keys
                )
                self.session.type_keys(arrow * WHEEL_LINES)
            elif view.scroll(action.notches * WHEEL_LINES):
                self.sync.moved()
                self._flush()
        elif isinstance(action, Press):
            at = view.position(action.column, action.row)
            self._drag_anchor = at
            before = view.selection
            if action.clicks == 2:
                view.select_word(at)
            elif action.clicks == 3:
                view.select_line(at)
            else:
                view.clear_selection()
            self._selection_changed(before)
        elif isinstance(action, Drag):
            if self._drag_anchor is not None:
                before = view.selection
                view.select(self._drag_anchor, view.position(action.column, action.row))
                self._selection_changed(before)
        elif isinstance(action, Release):
            self._drag_anchor = None
            text = view.selected_text(self.session.limits.max_copied_text)
            if text:
                self.copied = text
                if self._extended_clipboard:
                    self.server.send_extended_clipboard(clipboard.provide(text))
                else:
                    self.server.send_server_cut_text(text.encode("latin-1", "replace"))
                self._write_out()
        elif isinstance(action, MiddleClick) and self.copied and not self.view_only:
            self.session.paste(self.copied)

    def bell(self) -> None:
        if self._closing or not self._attached or self.server.state is not State.NORMAL:
            return
        now = self.session.reactor.seconds()
        if now - self._last_bell >= self.session.limits.bell_interval:
            self._last_bell = now
            self.server.send_bell()
            self._write_out()

    def desktop_name_changed(self, name: str) -> None:
        if self._closing:
            return
        if name != self._desktop_name:
            self._desktop_name = name
            if Encoding.DESKTOP_NAME in self.updates.encodings:
                self._name_notice = name
                self._flush()

    # -- IPushProducer -----------------------------------------------------------------------

    def pauseProducing(self) -> None:
        self._paused = True
        if self._stall_timer is None and not self._closing:
            self._stall_timer = self.session.reactor.callLater(
                self.session.limits.stall_timeout, self._stalled)

    def resumeProducing(self) -> None:
        self._paused = False
        _cancel(self._stall_timer)
        self._stall_timer = None
        self._flush()

    def stopProducing(self) -> None:
        self._paused = True


class RfbViewerFactory(Factory):
    """Builds a viewer protocol for each connection to one console."""

    noisy = False  # connections are logged by the protocol itself, one line each way

    def __init__(
        self,
        session: ConsoleSession,
        password: bytes | None = None,
        *,
        view_only_password: bytes | None = None,
        view_only: bool = False,
        log_connections: bool = True,
        throttle: AuthThrottle | None = None,
    ) -> None:
        """``throttle`` (shared by every factory of the process) slows and blocks viewers
        that fail VNC Authentication; it matters only with a password."""
        self.session = session
        self.password = password
        self.throttle = throttle
        self.view_only_password = view_only_password
        self.view_only = view_only
        #: Whether viewers log their own open/close lines (a front door that hands them
        #: connections writes its own audit line instead).
        self.log_connections = log_connections

    def buildProtocol(self, addr: IAddress | None) -> RfbViewerProtocol:
        return RfbViewerProtocol(
            self.session,
            self.password,
            view_only_password=self.view_only_password,
            view_only=self.view_only,
            log_connections=self.log_connections,
            throttle=self.throttle,
        )


def _cancel(timer: IDelayedCall | None) -> None:
    if timer is not None and timer.active():
        timer.cancel()


def _describe(address: object) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None:
        return f"{host}:{port}"
    name = getattr(address, "name", None)
    return str(name or address)
