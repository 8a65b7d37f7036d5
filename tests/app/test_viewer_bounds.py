"""What one viewer may cost the others, in memory: bounded framebuffers, seats, timeouts,
resizes and selections; and that no viewer's failure reaches another viewer or the console."""

from __future__ import annotations

import struct
import tracemalloc
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from tests.app.test_session import (
    HEIGHT,
    WIDTH,
    Screen,
    connect,
    key,
    output,
    pointer,
    rectangles,
    request,
    run_until_idle,
    set_desktop_size,
    set_encodings,
)
from vncterm.backends.memory import MemorySource
from vncterm.limits import Limits
from vncterm.protocol import RfbViewerFactory, RfbViewerProtocol
from vncterm.render.framebuffer import Renderer
from vncterm.session import ConsoleSession
from vncterm.updates import CellRect, CellScroll, ViewerUpdates

LEFT, WHEEL_UP, WHEEL_DOWN = 1, 8, 16


def make_session(clock: MemoryReactorClock, console: MemorySource, **limits: Any) -> ConsoleSession:
    session = ConsoleSession(clock, console, name="test", limits=Limits(**limits))
    session.start()
    return session


def open_viewer(session: ConsoleSession, user: str | None = None
                ) -> tuple[RfbViewerProtocol, StringTransport]:
    """A connection accepted for `user` (the handshake not yet done)."""
    protocol = RfbViewerFactory(session).buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    protocol.user = user
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    protocol.makeConnection(transport)
    return protocol, transport


def request_all(protocol: RfbViewerProtocol, *, incremental: bool) -> None:
    """A FramebufferUpdateRequest for the whole of a console of any size."""
    session = protocol.session
    protocol.dataReceived(struct.pack("!BBHHHH", 3, int(incremental), 0, 0, session.width,
                                      session.height))


def handshake(protocol: RfbViewerProtocol, transport: StringTransport) -> None:
    for data in (b"RFB 003.008\n", b"\x01", b"\x01"):
        protocol.dataReceived(data)
    transport.clear()


# -- a viewer's failure stays its own ---------------------------------------------------------


def test_bell_after_a_viewer_broke_the_protocol_reaches_the_others(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """A BEL while one viewer is in ERROR rings the others' bells and the console goes on."""
    session = make_session(clock, console)
    broken, broken_wire = connect(session)
    healthy, healthy_wire = connect(session)
    broken.dataReceived(b"\xfe\x00\x00\x00")  # an unknown message type: ERROR
    assert broken_wire.disconnecting
    output(session, clock, b"\x07ding\x1b[6n")
    assert healthy_wire.value().count(b"\x02") == 1
    assert bytes(console.written) == b"\x1b[1;5R"  # the feed loop answered the query
    assert session.viewers == [healthy]


class _ExplodingViewer:
    """A viewer whose every notification raises (a bug in some viewer implementation)."""

    def __init__(self) -> None:
        self.updates = ViewerUpdates(80, 24, 8, 16)
        self.disconnected: list[str] = []

    can_resize = True

    def screen_changed(self, scroll: CellScroll | None, rects: list[CellRect]) -> None:
        raise RuntimeError("screen_changed bug")

    def bell(self) -> None:
        raise RuntimeError("bell bug")

    def desktop_name_changed(self, name: str) -> None:
        raise RuntimeError("name bug")

    def desktop_resized(self, requested: bool) -> None:
        raise RuntimeError("resize bug")

    def resize_answered(self, done: bool) -> None:
        raise RuntimeError("resize bug")

    def disconnect(self, reason: str) -> None:
        self.disconnected.append(reason)
        raise RuntimeError("disconnect bug too")


def test_a_viewer_that_raises_is_closed_and_the_others_carry_on(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """An exception from one viewer's bell reaches neither the feed loop nor the other viewer."""
    session = make_session(clock, console)
    exploding = _ExplodingViewer()
    healthy, healthy_wire = connect(session)
    assert session.attach(exploding, shared=True)  # type: ignore[arg-type]
    output(session, clock, b"\x07\x1b[6n")
    assert exploding.disconnected == ["internal error"]
    assert session.viewers == [healthy]
    assert healthy_wire.value().count(b"\x02") == 1
    assert bytes(console.written) == b"\x1b[1;1R"


def test_a_viewer_that_raises_on_update_does_not_stop_the_frame(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """A viewer raising in screen_changed is dropped; the one after it still gets the frame."""
    session = make_session(clock, console)
    exploding = _ExplodingViewer()
    assert session.attach(exploding, shared=True)  # type: ignore[arg-type]
    healthy, wire = connect(session)
    request(healthy, incremental=False)
    request(healthy, incremental=True)
    wire.clear()
    output(session, clock, b"hello")
    assert rectangles(wire.value())
    assert session.viewers == [healthy]


# -- stalled and closing viewers ---------------------------------------------------------------


class NeverDrains(StringTransport):
    """A transport whose peer reads nothing: past 64 KiB it pauses its producer for good."""

    def write(self, data: bytes) -> None:
        super().write(data)
        if len(self.value()) > 64 * 1024 and self.producer is not None and not self.paused:
            self.paused = True
            self.producer.pauseProducing()

    paused = False


def test_viewer_that_never_drains_is_dropped_after_the_stall_timeout(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """A viewer whose socket never drains loses its seat and connection after stall_timeout."""
    session = make_session(clock, console, stall_timeout=30.0, max_viewers=2)
    protocol = RfbViewerFactory(session).buildProtocol(None)
    transport = NeverDrains()
    protocol.makeConnection(transport)
    handshake(protocol, transport)
    set_encodings(protocol, 0)
    for _ in range(3):  # full screens of Raw: 1 MiB each
        request(protocol, incremental=False)
    assert transport.paused
    clock.advance(29)
    assert session.viewers == [protocol] and not transport.disconnected
    clock.advance(1)
    assert transport.disconnected
    assert session.viewers == []
    connect(session)  # its seat is free
    connect(session)


def test_a_viewer_that_drains_in_time_is_kept(clock: MemoryReactorClock,
                                             console: MemorySource) -> None:
    """A viewer paused for a while and resumed before stall_timeout stays connected."""
    session = make_session(clock, console, stall_timeout=30.0)
    protocol, transport = connect(session)
    protocol.pauseProducing()
    clock.advance(20)
    protocol.resumeProducing()
    protocol.pauseProducing()
    clock.advance(20)
    assert not transport.disconnecting
    assert session.viewers == [protocol]


def test_closing_viewer_that_never_reads_is_dropped_after_the_close_timeout(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """A viewer closed for misbehaving leaves at once and its socket is aborted if it never
    takes its last bytes."""
    session = make_session(clock, console, close_timeout=5.0, max_viewers=1)
    bad, wire = connect(session)
    bad.dataReceived(b"\xfe\x00\x00\x00")
    assert wire.disconnecting and not wire.disconnected
    assert session.viewers == []
    connect(session)  # the seat was freed at once
    clock.advance(5)
    assert wire.disconnected


def test_closed_viewer_that_goes_away_leaves_no_timer(clock: MemoryReactorClock,
                                                     console: MemorySource) -> None:
    """A closed viewer whose connection ends normally leaves no timer behind."""
    session = make_session(clock, console)
    protocol, _ = connect(session)
    protocol.disconnect("test")
    protocol.connectionLost()
    assert clock.getDelayedCalls() == []


# -- seats per user -------------------------------------------------------------------------------


def test_viewers_per_user_are_capped_per_console(clock: MemoryReactorClock,
                                                  console: MemorySource) -> None:
    """A user at max_viewers_per_user is refused with a reason; other users are not, and a
    closed viewer frees its user's seat."""
    session = make_session(clock, console, max_viewers_per_user=2)
    alice = [open_viewer(session, "alice") for _ in range(2)]
    for protocol, transport in alice:
        handshake(protocol, transport)
    assert session.viewer_refusal("alice") is not None
    assert session.viewer_refusal("bob") is None
    refused, wire = open_viewer(session, "alice")
    refused.dataReceived(b"RFB 003.008\n")
    assert b"too many viewers of this console for this user" in wire.value()
    assert wire.disconnecting
    bob, bob_wire = open_viewer(session, "bob")
    handshake(bob, bob_wire)
    assert len(session.viewers) == 3
    alice[0][0].connectionLost()
    assert session.viewer_refusal("alice") is None


def test_pending_handshakes_count_against_the_user(clock: MemoryReactorClock,
                                                   console: MemorySource) -> None:
    """Connections of one user still in their handshake hold seats too."""
    session = make_session(clock, console, max_viewers_per_user=2)
    open_viewer(session, "alice")
    open_viewer(session, "alice")
    assert session.viewer_refusal("alice") is not None


# -- shared and private framebuffers -----------------------------------------------------------


def _history(session: ConsoleSession, clock: MemoryReactorClock, lines: int) -> None:
    output(session, clock, b"".join(b"history line %d with some text\r\n" % i
                                    for i in range(lines)))


def test_viewers_reading_history_keep_no_framebuffer_each(clock: MemoryReactorClock,
                                                          console: MemorySource) -> None:
    """Eight viewers scrolled back on a 500x200 console cost far less than one framebuffer
    (38 MiB) each."""
    session = ConsoleSession(clock, console, columns=500, rows=200)
    session.start()
    _history(session, clock, 400)
    viewers = []
    for _ in range(8):
        protocol = RfbViewerFactory(session).buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        handshake(protocol, transport)
        set_encodings(protocol, 0)
        viewers.append((protocol, transport))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for protocol, transport in viewers:
            pointer(protocol, WHEEL_UP, 0, 0)
            pointer(protocol, 0, 0, 0)
            request(protocol, incremental=True)
            transport.clear()
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert all(protocol.view.private for protocol, _ in viewers)
    assert grown < 8 << 20, f"{grown / 2**20:.1f} MiB for eight views"


def test_drag_redraws_the_rows_whose_highlight_changed(clock: MemoryReactorClock,
                                                      console: MemorySource) -> None:
    """Dragging the end of a selection that spans the whole history draws only the rows it
    moved over, not the screen and not the selection."""
    session = ConsoleSession(clock, console, columns=100, rows=50)
    session.start()
    _history(session, clock, 2000)
    protocol = RfbViewerFactory(session).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    handshake(protocol, transport)
    key(protocol, 0xFFE1)
    for _ in range(60):  # Shift+Page Up to the oldest line
        key(protocol, 0xFF55)
    key(protocol, 0xFFE1, down=False)
    pointer(protocol, LEFT, 0, 0)
    for _ in range(700):  # back down to the live screen, the button held
        pointer(protocol, LEFT | WHEEL_DOWN, 0, 0)
        pointer(protocol, LEFT, 0, 0)
    pointer(protocol, LEFT, 8 * 10, 16 * 20)
    request_all(protocol, incremental=False)
    view = protocol.view
    assert view.selection is not None and view.offset == 0
    rows_drawn: list[int] = []
    real_row = view.row

    def counting_row(y: int) -> Any:
        rows_drawn.append(y)
        return real_row(y)

    view.row = counting_row  # type: ignore[method-assign]
    request_all(protocol, incremental=True)
    pointer(protocol, LEFT, 8 * 30, 16 * 22)
    assert sorted(set(rows_drawn)) == [20, 21, 22]


def test_wheel_notch_draws_only_the_rows_it_brings_in(clock: MemoryReactorClock,
                                                      console: MemorySource) -> None:
    """A wheel notch moves what stays in sight with one CopyRect and draws the three rows that
    came in, not the screen."""
    session = ConsoleSession(clock, console, columns=100, rows=50)
    session.start()
    _history(session, clock, 500)
    protocol = RfbViewerFactory(session).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    handshake(protocol, transport)
    set_encodings(protocol, 0, 1)
    request_all(protocol, incremental=False)
    for mask in (WHEEL_UP, 0, WHEEL_UP, 0):
        pointer(protocol, mask, 0, 0)
    request_all(protocol, incremental=True)
    transport.clear()
    request_all(protocol, incremental=True)
    rows_drawn: list[int] = []
    real_row = protocol.view.row

    def counting_row(y: int) -> Any:
        rows_drawn.append(y)
        return real_row(y)

    protocol.view.row = counting_row  # type: ignore[method-assign]
    pointer(protocol, WHEEL_UP, 0, 0)
    assert sorted(rows_drawn) == [0, 1, 2]
    sent = rectangles(transport.value())
    assert sent[0] == (0, 3 * 16, 800, 47 * 16, 1)  # CopyRect: the rest moved down three rows
    rows_drawn.clear()
    pointer(protocol, 0, 0, 0)
    request_all(protocol, incremental=True)
    pointer(protocol, WHEEL_DOWN, 0, 0)
    assert sorted(rows_drawn) == [47, 48, 49]


def test_copy_is_cut_at_max_copied_text(clock: MemoryReactorClock, console: MemorySource) -> None:
    """A selection longer than max_copied_text sends that many characters, no more."""
    session = make_session(clock, console, max_copied_text=1000)
    _history(session, clock, 500)
    protocol, wire = connect(session)
    key(protocol, 0xFFE1)
    key(protocol, 0xFF55)
    key(protocol, 0xFFE1, down=False)
    pointer(protocol, LEFT, 0, 0)
    for _ in range(10):
        pointer(protocol, LEFT | WHEEL_DOWN, 0, 0)
        pointer(protocol, LEFT, 0, 0)
    pointer(protocol, LEFT, WIDTH - 1, HEIGHT - 1)
    wire.clear()
    pointer(protocol, 0, WIDTH - 1, HEIGHT - 1)
    data = wire.value()
    start = data.index(b"\x03\x00\x00\x00")
    (length,) = struct.unpack_from("!I", data, start + 4)
    assert length == 1000
    assert protocol.copied.startswith("history line ")


# Console output that exercises every kind of screen change a private view must follow.
_OUTPUTS = [
    b"plain line\r\n",
    b"".join(b"burst %d\r\n" % i for i in range(30)),
    b"\x1b[5;10Hmoved",
    b"\x1b[1;1HX",
    b"\x1b[1;1HY",
    b"\x1b[3;10r\x1b[10;1H\nregion\x1b[r",
    b"\x1b[2J\x1b[H",
    "\u65e5\u672c\u8a9e wide\r\n".encode(),
    b"\x1b[7mreverse\x1b[0m\r\n",
    b"\x1b[?25l",
    b"\x1b[?25h",
    b"\x1b[?1049hfull screen\x1b[?1049l",
    b"\x1b[12;40H\x1b[K",
    b"\x1b[24;1H\r\n\r\n\r\n",
    b"\x1b[3;10r\x1b[10;1H\n\x1b[r\x1b[24;1H\n\n",
    b"\x1b[2J\x1b[24;1H\r\n\r\n",
]

_ACTIONS = st.one_of(
    st.tuples(st.just("out"), st.sampled_from(_OUTPUTS)),
    st.tuples(st.just("run")),
    st.tuples(st.just("step")),
    st.tuples(st.just("request")),
    st.tuples(st.just("wheel"), st.sampled_from([WHEEL_UP, WHEEL_DOWN])),
    st.tuples(st.just("press"), st.integers(0, 79), st.integers(0, 23)),
    st.tuples(st.just("drag"), st.integers(0, 79), st.integers(0, 23)),
    st.tuples(st.just("release"), st.integers(0, 79), st.integers(0, 23)),
    st.tuples(st.just("type")),
)


_BURST = _OUTPUTS[1]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_ACTIONS, max_size=40))
# Drawn between frames, then the console changes the cell back: no frame says it changed.
@example([("press", 0, 0), ("drag", 5, 0), ("request",), ("run",), ("out", b"\x1b[1;1HX"),
          ("step",), ("request",), ("drag", 6, 0), ("out", b"\x1b[1;1Ho"), ("run",)])
# A selection cleared after output scrolled it away, before the frame showing that.
@example([("press", 70, 19), ("drag", 21, 22), ("request",), ("out", _BURST), ("step",),
          ("release", 17, 0), ("drag", 14, 19)])
# In a view scrolled back, the cell the cursor left went into history in sight.
@example([("type",), ("out", b"\x1b[1;1HX"), ("wheel", WHEEL_UP), ("step",),
          ("out", b"\x1b[3;10r\x1b[10;1H\n\x1b[r\x1b[24;1H\n\n"), ("request",)])
# Scrolled back while the live screen had moved on since the last frame.
@example([("out", b"\x1b[24;1H\r\n\r\n\r\n"), ("step",), ("wheel", WHEEL_UP)])
# Back to live before the frame showing that output: the shared framebuffer is that old.
@example([("out", b"\x1b[24;1H\r\n\r\n\r\n"), ("wheel", WHEEL_UP), ("run",), ("type",)])
# A selection made while scrolled back, dropped by a key: shared again, and back live.
@example([("out", b"\x1b[24;1H\r\n\r\n\r\n"), ("press", 1, 10), ("wheel", WHEEL_UP),
          ("run",), ("type",)])
def test_every_viewer_ends_up_seeing_its_own_view(actions: list[tuple[Any, ...]]) -> None:
    """Whatever the console does and however a viewer scrolls and selects, once all is drawn
    its picture is exactly its view rendered afresh (and a live viewer's, the screen's)."""
    clock = MemoryReactorClock()
    console = MemorySource()
    session = make_session(clock, console)
    output(session, clock, b"".join(b"old %d\r\n" % i for i in range(40)))
    mover, mover_wire = connect(session)
    still, still_wire = connect(session)
    screens = {mover: Screen(), still: Screen()}
    for protocol in (mover, still):
        set_encodings(protocol, 0, 1)  # Raw and CopyRect
        request(protocol, incremental=False)
    held = 0
    for action in actions:
        kind = action[0]
        if kind == "out":
            session.console_output(action[1])
        elif kind == "run":
            run_until_idle(clock)
        elif kind == "step":
            clock.advance(0.005)
        elif kind == "request":
            request(mover, incremental=True)
            request(still, incremental=True)
        elif kind == "wheel":
            pointer(mover, held | action[1], 8, 8)
            pointer(mover, held, 8, 8)
        elif kind in ("press", "drag"):
            held = LEFT
            pointer(mover, LEFT, action[1] * 8, action[2] * 16)
        elif kind == "release":
            held = 0
            pointer(mover, 0, action[1] * 8, action[2] * 16)
        elif kind == "type":
            key(mover, ord("a"))
            key(mover, ord("a"), down=False)
    run_until_idle(clock)
    for _ in range(3):  # as viewers do: ask again after each update, until all is drawn
        for protocol in (mover, still):
            request(protocol, incremental=True)
        run_until_idle(clock)
    for protocol, wire in ((mover, mover_wire), (still, still_wire)):
        screens[protocol].apply(wire.value())
    assert not still.view.private
    expected = Renderer(mover.view)
    expected.render()
    np.testing.assert_array_equal(screens[mover].pixels, expected.pixels)
    np.testing.assert_array_equal(screens[still].pixels, session.renderer.pixels)


# -- resizes --------------------------------------------------------------------------------------


def test_a_burst_of_resizes_becomes_the_first_and_the_last(clock: MemoryReactorClock,
                                                            console: MemorySource) -> None:
    """Ten SetDesktopSize in quick succession resize the console twice: at once, then to the
    last size once the interval is over; the asker gets an answer for its request."""
    session = make_session(clock, console, resize_interval=0.25)
    asker, wire = connect(session)
    set_encodings(asker, 0, -308)
    for step in range(10):
        request(asker, incremental=True)
        set_desktop_size(asker, 800 + 8 * step, 400)
        clock.advance(0.01)
    assert console.sizes == [(100, 25)]
    wire.clear()
    request(asker, incremental=True)
    clock.advance(0.25)
    assert console.sizes == [(100, 25), (109, 25)]
    assert rectangles(wire.value())[0] == (1, 0, 872, 400, -308)  # this client, no error


def test_resizes_are_spaced_by_what_they_cost(clock: MemoryReactorClock,
                                              console: MemorySource) -> None:
    """After a resize that took a second of work, the next waits five (resize_share 0.2)."""
    now = [0.0]

    def timer() -> float:
        now[0] += 0.5  # every reading half a second later: a resize "takes" 0.5 s
        return now[0]

    session = ConsoleSession(clock, console, timer=timer,
                             limits=Limits(resize_interval=0.25, resize_share=0.2))
    session.start()
    asker, _ = connect(session)
    set_encodings(asker, 0, -308)
    set_desktop_size(asker, 800, 400)
    set_desktop_size(asker, 960, 400)
    clock.advance(2.4)
    assert console.sizes == [(100, 25)]
    clock.advance(0.1)
    assert console.sizes == [(100, 25), (120, 25)]


def test_every_asker_in_a_burst_is_answered(clock: MemoryReactorClock,
                                            console: MemorySource) -> None:
    """Two viewers asking within one interval both get a this-client answer (TigerVNC waits
    for it before asking again); the size applied is the last asked for."""
    session = make_session(clock, console, resize_interval=0.25)
    first, first_wire = connect(session)
    second, second_wire = connect(session)
    for protocol in (first, second):
        set_encodings(protocol, 0, -308)
    set_desktop_size(first, 800, 400)
    set_desktop_size(first, 720, 400)
    set_desktop_size(second, 960, 480)
    for protocol, wire in ((first, first_wire), (second, second_wire)):
        request(protocol, incremental=False)
        wire.clear()
        request(protocol, incremental=True)
    clock.advance(0.25)
    assert console.sizes == [(100, 25), (120, 30)]
    assert rectangles(first_wire.value())[0] == (1, 0, 960, 480, -308)
    assert rectangles(second_wire.value())[0] == (1, 0, 960, 480, -308)


def test_asker_that_left_does_not_cancel_its_resize(clock: MemoryReactorClock,
                                                    console: MemorySource) -> None:
    """A viewer that leaves while its resize waits is sent nothing more, and the console still
    takes the last size asked for."""
    session = make_session(clock, console, resize_interval=0.25)
    asker, wire = connect(session)
    set_encodings(asker, 0, -308)
    set_desktop_size(asker, 800, 400)
    set_desktop_size(asker, 960, 400)
    request(asker, incremental=True)
    asker.connectionLost()
    wire.clear()
    clock.advance(0.25)
    assert console.sizes == [(100, 25), (120, 25)]
    assert wire.value() == b""


@pytest.mark.parametrize("size", [(WIDTH, HEIGHT), (640, 390)])
def test_resize_to_the_same_size_is_confirmed(clock: MemoryReactorClock, console: MemorySource,
                                              size: tuple[int, int]) -> None:
    """Asking for the size the console already has gets a this-client, no-error answer."""
    session = make_session(clock, console)
    asker, wire = connect(session)
    set_encodings(asker, 0, -308)
    request(asker, incremental=False)
    request(asker, incremental=True)
    wire.clear()
    set_desktop_size(asker, *size)
    assert console.sizes == []
    assert rectangles(wire.value())[0] == (1, 0, WIDTH, HEIGHT, -308)


def test_frame_held_for_an_echo_goes_out_when_the_window_ends(
    clock: MemoryReactorClock, console: MemorySource
) -> None:
    """A frame held back for a keystroke's echo is drawn at the window's end, instead of
    rescheduling itself for "0 s later" forever (a frozen clock showed it)."""
    session = make_session(clock, console)
    protocol, wire = connect(session)
    request(protocol, incremental=False)
    request(protocol, incremental=True)
    wire.clear()
    scheduled = 0
    schedule = clock.callLater

    def bounded_call_later(delay: float, f: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal scheduled
        scheduled += 1
        assert scheduled < 1000, "the session keeps rescheduling itself without time passing"
        return schedule(delay, f, *args, **kwargs)

    clock.callLater = bounded_call_later  # type: ignore[method-assign]
    session.console_output(b"\x1b[2J\x1b[Hcleared")
    key(protocol, ord("a"))  # typed before that output was emulated
    run_until_idle(clock)
    assert rectangles(wire.value())
