"""One console fanned out to many viewers: feeding the emulator in time slices, rendering on
demand, and keystrokes back to the console.

Console output is consumed and emulated all the time, with or without viewers, so a viewer that
connects later sees the current screen. Emulation runs in slices bounded in time (checked
inside a chunk too: the terminal stops between two sequences when the slice is over), handed
out by a `FeedScheduler` shared by every console of the process, and rendering happens at most
once per frame interval and only when a viewer waits for an update, so a flood never delays
the keystrokes of any viewer, and a hostile console slows only itself.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from collections.abc import Callable, Collection
from typing import Any, Protocol

from twisted.logger import Logger

from vncterm.backends.base import ConsoleSource
from vncterm.echowatch import EchoWatch
from vncterm.feedscheduler import FeedScheduler
from vncterm.limits import DEFAULT_LIMITS, Limits
from vncterm.render.framebuffer import CELL_HEIGHT, CELL_WIDTH, Renderer
from vncterm.terminal import Terminal
from vncterm.terminal.scrollback import DEFAULT_SCROLLBACK_LINES
from vncterm.updates import CellRect, CellScroll, ViewerUpdates

log = Logger()

#: Bounds of a console's size in cells (the RFB framebuffer must fit in 16 bits anyway).
MIN_COLUMNS, MAX_COLUMNS = 10, 500
MIN_ROWS, MAX_ROWS = 2, 200

#: Seconds between two slices of a paste.
PASTE_INTERVAL = 0.01

#: Bytes per second a paste is typed at when the source does not say (a pty takes this easily).
DEFAULT_PASTE_RATE = 256 * 1024

#: Fewest seconds between two renders while the console keeps changing (a 50 fps ceiling).
MIN_FRAME_INTERVAL = 0.02

#: Seconds without new console output after which vncterm has caught up with the console
#: (a flood reads back to back, well within this).
CAUGHT_UP_DELAY = 0.001


class Viewer(Protocol):
    """What the session needs of one attached viewer (the RFB adapter implements it)."""

    def screen_changed(self, scroll: CellScroll | None, rects: list[CellRect]) -> None:
        """The shared screen changed (scroll first, then rects): record it, send if asked."""

    def bell(self) -> None:
        """The console rang the bell."""

    def desktop_name_changed(self, name: str) -> None:
        """The console set its title."""

    def disconnect(self, reason: str) -> None:
        """Close this viewer (another viewer asked for exclusive access, or shutdown)."""

    def desktop_resized(self, requested: bool) -> None:
        """The console changed size (`requested`: this viewer asked for it)."""

    def resize_answered(self, done: bool) -> None:
        """This viewer's resize request is over without a change of size: the size asked for
        was the size already (`done`), or some viewer could not follow (not `done`)."""

    @property
    def can_resize(self) -> bool:
        """Whether this viewer can be told of a new framebuffer size (DesktopSize)."""

    @property
    def updates(self) -> ViewerUpdates:
        """The viewer's damage and outstanding request."""


class ConsoleSession:
    """Owns the terminal, the renderer and the console source; viewers attach and detach."""

    def __init__(
        self,
        reactor: Any,
        source: ConsoleSource,
        *,
        columns: int = 80,
        rows: int = 24,
        name: str | None = None,
        limits: Limits = DEFAULT_LIMITS,
        stay: bool = False,
        scrollback_lines: int = DEFAULT_SCROLLBACK_LINES,
        timer: Callable[[], float] = time.perf_counter,
        scheduler: FeedScheduler | None = None,
    ) -> None:
        self.reactor = reactor
        self.source = source
        self.limits = limits
        self.terminal = Terminal(columns, rows, scrollback_lines=scrollback_lines,
                                 limits=limits.terminal)
        #: Hands out slices of emulator work; shared by every console of a process that
        #: hosts several (consoleproxy), so they take turns.
        self.scheduler = scheduler or FeedScheduler(
            reactor, turn_seconds=limits.feed_turn_seconds, timer=timer)
        # The framebuffer exists only while someone watches: an idle console costs its
        # terminal, not 640x384 pixels.
        self._renderer: Renderer | None = None
        self.name = name or source.description
        self.stay = stay
        self._timer = timer
        self.viewers: list[Viewer] = []
        self._pending: deque[bytes] = deque()
        self._pending_bytes = 0
        # Output read from the console so far, and how much of it the emulator has taken:
        # the offsets the keystroke echo is placed by (vncterm.echowatch).
        self._bytes_queued = 0
        self._bytes_fed = 0
        self._echo = EchoWatch()
        self._caught_up_call: Any = None
        self._source_paused = False
        self._render_call: Any = None
        self._last_render = float("-inf")
        self._changed = False
        self._console_gone = False
        self._finished = False
        #: Called once when the session is over (console gone for good and nobody watching).
        self.on_finished: Callable[[], None] | None = None
        self.bytes_in = 0
        self._paste_queue: deque[bytes] = deque()
        self._paste_pending = 0
        self._paste_call: Any = None
        #: Callbacks receiving the console's raw output (a vt100 console relayed as bytes).
        self.raw_listeners: list[Callable[[bytes], None]] = []
        #: Callbacks told the new (columns, rows) after a resize (e.g. a recording).
        self.resize_listeners: list[Callable[[int, int], None]] = []
        # Resizes asked for by viewers: the size wanted last and who asked, applied at most
        # once per interval (vncterm.limits: resize_interval, resize_share).
        self._resize_wanted: tuple[int, int] | None = None
        self._resize_askers: list[Viewer] = []
        self._resize_call: Any = None
        self._resize_ready_at = float("-inf")
        #: Open viewer connections per user (the front door says who), from accept to close.
        self._seats: Counter[str] = Counter()

    @property
    def renderer(self) -> Renderer:
        """The shared framebuffer, created (fully drawn) on first use."""
        if self._renderer is None:
            self._renderer = Renderer(self.terminal)
            self._renderer.render()
        return self._renderer

    @property
    def width(self) -> int:
        return self.terminal.cols * CELL_WIDTH

    @property
    def height(self) -> int:
        return self.terminal.rows * CELL_HEIGHT

    def start(self) -> None:
        self.source.start(self)

    @property
    def render_pending(self) -> bool:
        """Whether the terminal changed since the framebuffer was last drawn (a viewer drawing
        its own view now shows something newer than the shared damage has described)."""
        return self._changed

    def stop(self) -> None:
        self.source.stop()
        self.scheduler.forget(self)
        for call in (self._render_call, self._paste_call, self._caught_up_call,
                     self._resize_call):
            if call is not None and call.active():
                call.cancel()
        self._tell_viewers(lambda viewer: viewer.disconnect("vncterm is shutting down"))

    # -- ConsoleSink -------------------------------------------------------------------------

    def console_output(self, data: bytes) -> None:
        if not data:
            return
        self.bytes_in += len(data)
        for listener in self.raw_listeners:
            listener(data)
        self._emulate(data)

    def _emulate(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_bytes += len(data)
        self._bytes_queued += len(data)
        if self._pending_bytes > self.limits.max_pending_console_bytes and not self._source_paused:
            self._source_paused = True
            self.source.pause_reading()
        self.scheduler.wake(self)

    def console_connected(self, description: str) -> None:
        log.info("console {console} connected: {description}", console=self.name,
                 description=description)

    def console_disconnected(self, reason: str, *, final: bool) -> None:
        log.info("console {console} disconnected: {reason}", console=self.name, reason=reason)
        # The status line goes through the emulator so that every viewer sees it in place.
        self._emulate(f"\r\n\x1b[0;7m[vncterm: {reason}]\x1b[0m\r\n".encode())
        if final:
            self._console_gone = True
            self._maybe_finish()

    # -- emulation ---------------------------------------------------------------------------

    def slice_stop(self, seconds: float) -> Callable[[], bool]:
        """A time slice of ``seconds`` (at most `Limits.feed_slice_seconds`) starting now:
        "is it over?"."""
        timer = self._timer
        deadline = timer() + min(seconds, self.limits.feed_slice_seconds)

        def over() -> bool:
            return timer() >= deadline

        return over

    def frame_stop(self) -> Callable[[], bool] | None:
        """The slice for drawing a frame, or encoding it for one viewer: None (all at once)
        up to `Limits.frame_slice_min_cells` cells, where a frame costs a few milliseconds
        and one in parts would cost the viewer a round trip per part; on larger screens,
        where a frame of colours costs up to a second, `Limits.frame_slice_seconds`."""
        terminal = self.terminal
        if terminal.cols * terminal.rows <= self.limits.frame_slice_min_cells:
            return None
        return self.slice_stop(self.limits.frame_slice_seconds)

    def _frame_waited(self) -> bool:
        """A frame drawn only in part, which a viewer waits for."""
        renderer = self._renderer
        return (renderer is not None and renderer.pending
                and any(viewer.updates.has_request for viewer in self.viewers))

    def feed_for(self, seconds: float) -> bool:
        """One slice of work (the scheduler's call): emulating waiting output, then drawing
        a frame a previous slice left unfinished, for about ``seconds`` (at most
        `Limits.feed_slice_seconds`); True while some of either still waits."""
        over = self.slice_stop(seconds)

        chunk_size = self.limits.feed_chunk_bytes
        terminal = self.terminal
        echo = self._echo
        checkpoint = echo.next_checkpoint(self.reactor.seconds())
        fed_before = self._bytes_fed
        changed = terminal.backlog
        if changed:
            terminal.resume(stop=over)
        while self._pending and not terminal.backlog:
            data = self._pending.popleft()
            if len(data) > chunk_size:
                self._pending.appendleft(data[chunk_size:])
                data = data[:chunk_size]
            self._pending_bytes -= len(data)
            self._bytes_fed += len(data)
            # A chunk of costly output stops where the slice ends; the rest waits in the
            # terminal for this console's next slice.
            terminal.feed(data, stop=over)
            if checkpoint is not None and self._bytes_fed > checkpoint:
                break  # maybe the echo: show it before emulating more
            if over():
                break
        if changed or self._bytes_fed != fed_before:
            self._changed = True
        echoed = echo.fed(self.reactor.seconds(), self._bytes_fed)
        replies = terminal.take_replies()
        if replies:
            self.source.write(replies)
        if terminal.take_bells():
            self._tell_viewers(lambda viewer: viewer.bell())
        if self._frame_waited() and not over():
            self.render(stop=over)
        # While output or a frame waits, the scheduler gives this console another slice.
        more = bool(self._pending) or terminal.backlog or self._frame_waited()
        if (
            not more
            and echo.awaiting(self.reactor.seconds(), self._bytes_fed)
            and self._caught_up_call is None
        ):
            self._caught_up_call = self.reactor.callLater(
                CAUGHT_UP_DELAY, self._check_caught_up, self._bytes_queued
            )
        if not self._pending and self._source_paused:
            self._source_paused = False
            self.source.resume_reading()
        self._schedule_render(urgent=echoed)
        return more

    def _schedule_render(self, *, urgent: bool = False) -> None:
        if not self._changed:
            return
        # A keystroke's echo may be on screen: the next frame goes out as soon as a viewer
        # asks, not at the next frame time.
        if not any(v.updates.has_request for v in self.viewers):
            # Render lazily: the damage waits in the terminal until a viewer asks.
            self._echo.note_urgent(urgent)
            return
        now = self.reactor.seconds()
        if self._echo.draw_at_once(now, self._last_render, urgent=urgent):
            if self._render_call is not None and self._render_call.active():
                self._render_call.cancel()
            self._render_call = None
            self.render()
            return
        if self._render_call is not None:
            return
        delay = self._last_render + MIN_FRAME_INTERVAL - now
        if self._echo.awaiting(now, self._bytes_fed):
            delay = max(delay, self._echo.until - now)
        self._render_call = self.reactor.callLater(max(0.0, delay), self._render_now)

    def _check_caught_up(self, queued: int) -> None:
        """No output came for a moment: the console held less than assumed when the key was
        typed (a flood that stopped, say at Ctrl+C), so what was emulated may hold the echo."""
        self._caught_up_call = None
        if self._bytes_queued != queued or not self._echo.awaiting(self.reactor.seconds(),
                                                                   self._bytes_fed):
            return
        if self._echo.caught_up(self._bytes_fed):
            self._schedule_render(urgent=True)

    def _render_now(self) -> None:
        self._render_call = None
        now = self.reactor.seconds()
        delay = self._echo.until - now
        if delay > 0 and self._echo.awaiting(now, self._bytes_fed):
            # Typed since this frame was planned: the echo's render comes first. (At the end
            # of the window itself it is drawn: waiting 0 s for it would come back here.)
            self._render_call = self.reactor.callLater(delay, self._render_now)
            return
        self.render()

    def render(self, stop: Callable[[], bool] | None = None) -> None:
        """Bring the framebuffer up to date, within a time slice, and hand the damage to
        every viewer; what the slice did not draw is drawn in this console's next slices."""
        if not self._changed or self._renderer is None:
            return
        self._changed = False
        self._last_render = self.reactor.seconds()
        damage = self._renderer.render(stop=stop or self.frame_stop())
        if self._renderer.pending:
            self._changed = True
            if self._frame_waited():
                self.scheduler.wake(self)
        scroll = damage.scroll
        cell_scroll = None
        if scroll is not None:
            top_px, bottom_px, dy_px = scroll
            cell_scroll = CellScroll(top_px // CELL_HEIGHT, bottom_px // CELL_HEIGHT,
                                     dy_px // CELL_HEIGHT)
        cell_rects = [
            CellRect(x // CELL_WIDTH, y // CELL_HEIGHT, -(-w // CELL_WIDTH), -(-h // CELL_HEIGHT))
            for (x, y, w, h) in damage.rects
        ]
        title = self.terminal.title

        def tell(viewer: Viewer) -> None:
            viewer.screen_changed(cell_scroll, cell_rects)
            if title:
                viewer.desktop_name_changed(title)

        self._tell_viewers(tell)

    def frame_wanted(self, *, now: bool = False) -> None:
        """A viewer posted a request: render now (non-incremental) or at the next frame."""
        if now:
            if self._render_call is not None and self._render_call.active():
                self._render_call.cancel()
            self._render_call = None
            self.render()
        else:
            self._schedule_render()

    # -- size --------------------------------------------------------------------------------

    def request_resize(self, columns: int, rows: int, viewer: Viewer) -> None:
        """A viewer asks for a new size: applied now if the console has not been resized
        lately, else when the interval is over, with the last size asked for by then. Every
        viewer that asked gets its answer then (`desktop_resized`, or `resize_answered`)."""
        self._resize_wanted = (columns, rows)
        if viewer not in self._resize_askers:
            self._resize_askers.append(viewer)
        if self._resize_call is not None:
            return  # coalesced: the pending resize takes this size instead
        delay = self._resize_ready_at - self.reactor.seconds()
        if delay > 0:
            self._resize_call = self.reactor.callLater(delay, self._apply_resize)
        else:
            self._apply_resize()

    def _apply_resize(self) -> None:
        self._resize_call = None
        wanted, askers = self._resize_wanted, self._resize_askers
        self._resize_wanted, self._resize_askers = None, []
        if wanted is None:
            return
        started = self._timer()
        self.resize(*wanted, requested_by=askers)
        cost = self._timer() - started
        limits = self.limits
        self._resize_ready_at = self.reactor.seconds() + max(limits.resize_interval,
                                                             cost / limits.resize_share)

    def resize(self, columns: int, rows: int,
               requested_by: Collection[Viewer] = ()) -> bool:
        """Make the console `columns` x `rows` (TIOCSWINSZ for a pty) and tell every viewer;
        False when a viewer could not be told of a new size, so nothing changed. Viewers in
        `requested_by` are answered as the ones who asked."""
        columns = max(MIN_COLUMNS, min(MAX_COLUMNS, columns))
        rows = max(MIN_ROWS, min(MAX_ROWS, rows))
        if (columns, rows) == (self.terminal.cols, self.terminal.rows):
            self._tell_viewers(lambda viewer: viewer.resize_answered(True), requested_by)
            return True
        if not all(viewer.can_resize for viewer in self.viewers):
            self._tell_viewers(lambda viewer: viewer.resize_answered(False), requested_by)
            return False
        log.info("console {console} resized to {columns}x{rows}", console=self.name,
                 columns=columns, rows=rows)
        self.terminal.resize(columns, rows)
        self.source.resize(columns, rows)
        if self._renderer is not None:
            # Redrawn whole at the new size; viewers are sent all of it after the size notice.
            self._renderer.resize()
            self._renderer.render()
            self._changed = False
        for listener in self.resize_listeners:
            listener(columns, rows)
        self._tell_viewers(lambda viewer: viewer.desktop_resized(viewer in requested_by))
        return True

    # -- viewers -----------------------------------------------------------------------------

    def viewer_refusal(self, user: str | None) -> str | None:
        """Why a new viewer (of `user`, when the front door knows who) would be refused now,
        or None: the console is at its viewer cap, or this user at theirs."""
        if len(self.viewers) >= self.limits.max_viewers:
            return "too many viewers on this console"
        if user is not None and self._seats[user] >= self.limits.max_viewers_per_user:
            return "too many viewers of this console for this user"
        return None

    def take_seat(self, user: str) -> bool:
        """Count an open viewer connection of `user` (accept to close); False, and not
        counted, when the user already has as many as allowed."""
        if self._seats[user] >= self.limits.max_viewers_per_user:
            return False
        self._seats[user] += 1
        return True

    def leave_seat(self, user: str) -> None:
        self._seats[user] -= 1
        if self._seats[user] <= 0:
            del self._seats[user]

    def _tell_viewers(self, message: Callable[[Viewer], None],
                      viewers: Collection[Viewer] | None = None) -> None:
        """Call `message` on each viewer (all, or those of `viewers` still attached). A viewer
        that raises is logged and closed; the others and the console carry on."""
        for viewer in list(self.viewers if viewers is None else viewers):
            if viewer not in self.viewers:
                continue  # gone since: closed by an earlier message, or it left
            try:
                message(viewer)
            except Exception:
                log.failure("console {console}: internal error in a viewer; closing it",
                            console=self.name)
                self._drop(viewer)

    def _drop(self, viewer: Viewer) -> None:
        self.detach(viewer)
        try:
            viewer.disconnect("internal error")
        except Exception:
            log.failure("console {console}: closing a failed viewer failed too",
                        console=self.name)

    def attach(self, viewer: Viewer, *, shared: bool) -> bool:
        """Add a viewer; False when the console already has as many viewers as allowed."""
        if not shared:
            self._tell_viewers(
                lambda other: other.disconnect("another viewer asked for exclusive access"))
        if len(self.viewers) >= self.limits.max_viewers:
            return False
        # A new viewer starts from the rendered state: make sure it is current.
        self.renderer  # noqa: B018 (creates it when this is the first viewer)
        self.render()
        self.viewers.append(viewer)
        return True

    def detach(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
        if viewer in self._resize_askers:
            self._resize_askers.remove(viewer)
        if not self.viewers:
            self._renderer = None
        self._maybe_finish()

    def _maybe_finish(self) -> None:
        if self._console_gone and not self.stay and not self.viewers and not self._finished:
            self._finished = True
            if self.on_finished is not None:
                self.on_finished()

    def type_keys(self, data: bytes) -> None:
        """Keystrokes from a viewer go straight to the console, ahead of any rendering work."""
        if data:
            # Output queued past this mark may be the echo (see feed_for).
            self._echo.key_typed(self.reactor.seconds(), self._bytes_queued,
                                 self.source.unread_bytes())
            self.source.write(data)

    def send_break(self) -> None:
        """A serial BREAK on the console, where the source can send one."""
        send_break = getattr(self.source, "send_break", None)
        if send_break is None:
            log.info("console {console} cannot send a break", console=self.name)
        else:
            send_break()

    # -- paste -------------------------------------------------------------------------------

    def paste(self, text: str) -> bool:
        """Type `text` into the console, paced for the source (a serial line must drop
        nothing); False when too much is already waiting."""
        data = text.replace("\r\n", "\r").replace("\n", "\r").encode("utf-8")
        if self.terminal.bracketed_paste:
            # The application asked to tell pastes from typing; strip markers hidden inside.
            data = data.replace(b"\x1b[201~", b"")
            data = b"\x1b[200~" + data + b"\x1b[201~"
        if self._paste_pending + len(data) > self.limits.max_client_cut_text:
            log.warn("paste of {size} bytes dropped: {pending} bytes still being typed",
                     size=len(data), pending=self._paste_pending)
            return False
        self._paste_queue.append(data)
        self._paste_pending += len(data)
        if self._paste_call is None:
            self._pump_paste()
        return True

    def _pump_paste(self) -> None:
        self._paste_call = None
        rate = getattr(self.source, "paste_bytes_per_second", DEFAULT_PASTE_RATE)
        chunk = max(1, int(rate * PASTE_INTERVAL))
        out = bytearray()
        while self._paste_queue and len(out) < chunk:
            head = self._paste_queue.popleft()
            take = chunk - len(out)
            out += head[:take]
            if len(head) > take:
                self._paste_queue.appendleft(head[take:])
        self._paste_pending -= len(out)
        self.source.write(bytes(out))
        if self._paste_queue:
            self._paste_call = self.reactor.callLater(PASTE_INTERVAL, self._pump_paste)
