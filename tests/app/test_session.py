"""The console session and its RFB adapter, in memory: fake console, fake transports, fake clock."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from vncterm.backends.memory import MemorySource as FakeConsole
from vncterm.limits import Limits
from vncterm.protocol import RfbViewerFactory, RfbViewerProtocol
from vncterm.session import ConsoleSession

WIDTH, HEIGHT = 640, 384


@pytest.fixture
def session(clock: MemoryReactorClock, console: FakeConsole) -> ConsoleSession:
    s = ConsoleSession(clock, console, name="test")
    s.start()
    return s


#: Seconds ahead beyond which a delayed call is a connection's timer (handshake, stall,
#: close), not the session's work (feed slices, frames, paste: milliseconds).
TIMER_HORIZON = 5.0


def run_until_idle(clock: MemoryReactorClock) -> None:
    for _ in range(10000):
        due = [c.getTime() for c in clock.getDelayedCalls()]
        if not due or min(due) > clock.seconds() + TIMER_HORIZON:
            return
        clock.advance(min(due) - clock.seconds())
    raise AssertionError("the session never went idle")


def output(session: ConsoleSession, clock: MemoryReactorClock, data: bytes) -> None:
    assert session.source is not None
    session.console_output(data)
    run_until_idle(clock)


def connect(
    session: ConsoleSession, *, shared: bool = True
) -> tuple[RfbViewerProtocol, StringTransport]:
    """A viewer that has finished an RFB 3.8 handshake with security None."""
    protocol = RfbViewerFactory(session).buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40000))
    protocol.makeConnection(transport)
    assert transport.value() == b"RFB 003.008\n"
    transport.clear()
    protocol.dataReceived(b"RFB 003.008\n")
    assert transport.value() == b"\x01\x01"
    transport.clear()
    protocol.dataReceived(b"\x01")
    assert transport.value() == b"\x00\x00\x00\x00"
    transport.clear()
    protocol.dataReceived(b"\x01" if shared else b"\x00")
    width, height = struct.unpack("!HH", transport.value()[:4])
    assert (width, height) == (WIDTH, HEIGHT)
    transport.clear()
    return protocol, transport


def request(protocol: RfbViewerProtocol, incremental: bool) -> None:
    protocol.dataReceived(struct.pack("!BBHHHH", 3, int(incremental), 0, 0, WIDTH, HEIGHT))


def rectangles(data: bytes) -> list[tuple[int, int, int, int, int]]:
    """Rectangle headers of the Raw/CopyRect framebuffer updates in `data` (32 bpp)."""
    found = []
    offset = 0
    while offset < len(data):
        kind = data[offset]
        if kind == 2:  # Bell
            offset += 1
            continue
        assert kind == 0, f"unexpected server message {kind}"
        (count,) = struct.unpack_from("!H", data, offset + 2)
        offset += 4
        for _ in range(count):
            x, y, w, h, encoding = struct.unpack_from("!HHHHi", data, offset)
            offset += 12
            if encoding == 1:
                offset += 4
            elif encoding == -308:
                offset += 4 + 16 * data[offset]
            elif encoding == -307:
                offset += 4 + struct.unpack_from("!I", data, offset)[0]
            elif encoding != -223:
                offset += w * h * 4
            found.append((x, y, w, h, encoding))
    return found


def test_cursor_position_query_is_answered(session: ConsoleSession, clock: MemoryReactorClock,
                                           console: FakeConsole) -> None:
    """A BusyBox prompt's ESC[6n is answered on the console, with nobody watching."""
    output(session, clock, b"(initramfs) \x1b[6n")
    assert bytes(console.written) == b"\x1b[1;13R"


def test_keys_reach_console(session: ConsoleSession, clock: MemoryReactorClock,
                            console: FakeConsole) -> None:
    """A KeyEvent is written to the console as the bytes of the key."""
    protocol, _ = connect(session)
    protocol.dataReceived(struct.pack("!BBxxI", 4, 1, ord("a")))
    protocol.dataReceived(struct.pack("!BBxxI", 4, 0, ord("a")))
    protocol.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFF0D))
    assert bytes(console.written) == b"a\r"


def test_first_request_gets_whole_screen(session: ConsoleSession) -> None:
    """A non-incremental request is answered at once with the whole screen."""
    protocol, transport = connect(session)
    request(protocol, incremental=False)
    rects = rectangles(transport.value())
    assert sum(w * h for (_, _, w, h, _) in rects) == WIDTH * HEIGHT


def test_incremental_update_sends_only_changed_row(session: ConsoleSession,
                                                   clock: MemoryReactorClock) -> None:
    """Console output changing one line sends only that line's cells."""
    protocol, transport = connect(session)
    request(protocol, incremental=False)
    transport.clear()
    request(protocol, incremental=True)
    run_until_idle(clock)
    assert transport.value() == b""
    output(session, clock, b"hello")
    rects = rectangles(transport.value())
    assert rects, "no update after output"
    assert all(y == 0 and h == 16 for (_, y, _, h, _) in rects)
    assert sum(w for (_, _, w, _, _) in rects) <= 6 * 8  # 5 letters plus the cursor cell


def test_stalled_viewer_gets_one_update_when_it_drains(session: ConsoleSession,
                                                       clock: MemoryReactorClock) -> None:
    """A paused (full) transport gets nothing; on resume it gets one up-to-date update."""
    protocol, transport = connect(session)
    request(protocol, incremental=False)
    transport.clear()
    request(protocol, incremental=True)
    protocol.pauseProducing()
    for i in range(200):
        output(session, clock, b"line %d\r\n" % i)
    assert transport.value() == b""
    protocol.resumeProducing()
    assert len(transport.value()) <= WIDTH * HEIGHT * 4 + 1024
    assert rectangles(transport.value())


def test_flood_is_fed_in_slices(clock: MemoryReactorClock, console: FakeConsole) -> None:
    """A flood is fed over many reactor turns and the console is paused while far behind."""
    ticks = iter(range(10**9))
    session = ConsoleSession(clock, console, timer=lambda: next(ticks) * 0.001,
                             limits=Limits(max_pending_console_bytes=10_000))
    session.start()
    turns: list[float] = []
    schedule = clock.callLater

    def counting_call_later(delay: float, f: Any, *args: Any, **kwargs: Any) -> Any:
        turns.append(delay)
        return schedule(delay, f, *args, **kwargs)

    clock.callLater = counting_call_later  # type: ignore[method-assign]
    session.console_output(b"y\r\n" * 20_000)
    assert console.paused
    run_until_idle(clock)
    # 60 kB in 4 kB chunks, 5 ms budget, 1 ms per timer read: 5 chunks a turn, 3 turns.
    assert len(turns) >= 3
    assert not console.paused
    assert session.terminal.cursor == (0, 23)


def test_garbage_closes_only_that_viewer(session: ConsoleSession, clock: MemoryReactorClock,
                                         console: FakeConsole) -> None:
    """An unknown message type closes that viewer; another viewer keeps typing."""
    good, _ = connect(session)
    bad, bad_transport = connect(session)
    bad.dataReceived(b"\xfe\x00\x00\x00")
    assert bad_transport.disconnecting
    good.dataReceived(struct.pack("!BBxxI", 4, 1, ord("z")))
    assert bytes(console.written) == b"z"


def test_exclusive_viewer_disconnects_others(session: ConsoleSession) -> None:
    """A viewer whose ClientInit says not shared closes the other viewers."""
    _, first = connect(session)
    connect(session, shared=False)
    assert first.disconnecting
    assert len(session.viewers) == 1


def test_bell_is_rate_limited(session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """A burst of BELs gives one Bell message per interval."""
    _, transport = connect(session)
    for _ in range(5):
        output(session, clock, b"\x07")
    assert transport.value().count(b"\x02") == 1


def test_session_finishes_when_console_ends_and_last_viewer_leaves(
    session: ConsoleSession, clock: MemoryReactorClock
) -> None:
    """After the console ends for good, the session finishes when the last viewer leaves."""
    finished: list[bool] = []
    session.on_finished = lambda: finished.append(True)
    protocol, _ = connect(session)
    session.console_disconnected("sh exited with status 0", final=True)
    run_until_idle(clock)
    assert not finished
    protocol.connectionLost()
    assert finished == [True]


def test_viewer_over_the_limit_is_told_why(clock: MemoryReactorClock, console: FakeConsole) -> None:
    """A viewer beyond max_viewers gets an RFB 3.8 failure reason, and the others stay."""
    session = ConsoleSession(clock, console, limits=Limits(max_viewers=1))
    session.start()
    connect(session)
    protocol = RfbViewerFactory(session).buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    transport = StringTransport(peerAddress=IPv4Address("TCP", "127.0.0.1", 40001))
    protocol.makeConnection(transport)
    protocol.dataReceived(b"RFB 003.008\n")
    assert b"too many viewers" in transport.value()
    assert transport.disconnecting
    assert len(session.viewers) == 1


def test_colour_map_viewer_gets_the_map_and_8bpp_pixels(session: ConsoleSession) -> None:
    """A colour-map pixel format gets SetColourMapEntries, then one byte per pixel."""
    protocol, transport = connect(session)
    colour_map_format = struct.pack("!BBBBHHHBBBxxx", 8, 8, 0, 0, 0, 0, 0, 0, 0, 0)
    protocol.dataReceived(b"\x00\x00\x00\x00" + colour_map_format)
    data = transport.value()
    assert data[0] == 1  # SetColourMapEntries
    first, count = struct.unpack_from("!HH", data, 2)
    assert (first, count) == (0, 256)
    transport.clear()
    request(protocol, incremental=False)
    data = transport.value()
    (rects,) = struct.unpack_from("!H", data, 2)
    x, y, w, h, encoding = struct.unpack_from("!HHHHi", data, 4)
    assert (rects, x, y, w, h, encoding) == (1, 0, 0, WIDTH, HEIGHT, 0)
    assert len(data) == 4 + 12 + WIDTH * HEIGHT


class Screen:
    """A viewer-side picture rebuilt from Raw/CopyRect updates (native 32 bpp format)."""

    def __init__(self) -> None:
        import numpy as np

        self.pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)

    def apply(self, data: bytes) -> None:
        import numpy as np

        offset = 0
        while offset < len(data):
            kind = data[offset]
            if kind in (2,):
                offset += 1
                continue
            if kind == 3:  # ServerCutText
                (length,) = struct.unpack_from("!I", data, offset + 4)
                offset += 8 + length
                continue
            assert kind == 0
            (count,) = struct.unpack_from("!H", data, offset + 2)
            offset += 4
            for _ in range(count):
                x, y, w, h, encoding = struct.unpack_from("!HHHHi", data, offset)
                offset += 12
                if encoding == 1:
                    sx, sy = struct.unpack_from("!HH", data, offset)
                    offset += 4
                    self.pixels[y : y + h, x : x + w] = self.pixels[sy : sy + h, sx : sx + w].copy()
                else:
                    raw = np.frombuffer(data, np.uint8, w * h * 4, offset).reshape(h, w, 4)
                    self.pixels[y : y + h, x : x + w] = raw[:, :, 2::-1]
                    offset += w * h * 4

    def text(self) -> list[str]:
        from PIL import Image

        from tests.e2e.screentext import screen_text

        return screen_text(Image.fromarray(self.pixels)).split("\n")


def key(protocol: RfbViewerProtocol, keysym: int, down: bool = True) -> None:
    protocol.dataReceived(struct.pack("!BBxxI", 4, int(down), keysym))


def pointer(protocol: RfbViewerProtocol, mask: int, x: int, y: int) -> None:
    protocol.dataReceived(struct.pack("!BBHH", 5, mask, x, y))


def test_scrollback_is_per_viewer(session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """Shift+Page Up shows history to that viewer only; typing brings it back to live."""
    output(session, clock, b"".join(b"line %d\r\n" % i for i in range(60)))
    reader, reader_wire = connect(session)
    other, other_wire = connect(session)
    reader_screen = Screen()
    for protocol in (reader, other):
        request(protocol, incremental=False)
        request(protocol, incremental=True)
    reader_screen.apply(reader_wire.value())
    assert reader_screen.text()[0] == "line 37"
    reader_wire.clear()
    other_wire.clear()
    key(reader, 0xFFE1)  # Shift_L
    key(reader, 0xFF55)  # Page_Up
    key(reader, 0xFF55, down=False)
    key(reader, 0xFFE1, down=False)
    reader_screen.apply(reader_wire.value())
    assert reader_screen.text()[0] == "line 14"
    assert other_wire.value() == b""
    request(reader, incremental=True)
    key(reader, ord("x"))
    reader_screen.apply(reader_wire.value())
    assert reader_screen.text()[0] == "line 37"


def test_drag_selection_is_copied_out(session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """Dragging over text sends it to the viewer as ServerCutText."""
    output(session, clock, b"hello world\r\nsecond line")
    protocol, wire = connect(session)
    request(protocol, incremental=False)
    wire.clear()
    pointer(protocol, 1, 6 * 8, 0)
    pointer(protocol, 1, 5 * 8, 16)
    pointer(protocol, 0, 5 * 8, 16)
    data = wire.value()
    start = data.index(b"\x03\x00\x00\x00")
    (length,) = struct.unpack_from("!I", data, start + 4)
    assert data[start + 8 : start + 8 + length] == b"world\nsecond"


def test_paste_is_paced_and_bracketed(clock: MemoryReactorClock) -> None:
    """A paste into a serial console is typed in slices; bracketed when the app asked."""
    console = FakeConsole()
    console.paste_bytes_per_second = 1000  # type: ignore[attr-defined]
    session = ConsoleSession(clock, console)
    session.start()
    output(session, clock, b"\x1b[?2004h")
    protocol, _ = connect(session)
    text = "line one\nline two\n" * 10
    protocol.dataReceived(struct.pack("!BxxxI", 6, len(text)) + text.encode("latin-1"))
    assert 0 < len(console.written) <= 10
    run_until_idle(clock)
    expected = b"\x1b[200~" + text.replace("\n", "\r").encode() + b"\x1b[201~"
    assert bytes(console.written) == expected


def test_wheel_in_full_screen_program_sends_arrows(session: ConsoleSession,
                                                    clock: MemoryReactorClock,
                                                    console: FakeConsole) -> None:
    """On the alternate screen (less, vim) the wheel sends cursor keys instead of scrolling."""
    output(session, clock, b"\x1b[?1049h\x1b[?1h")
    protocol, _ = connect(session)
    pointer(protocol, 8, 10, 10)
    pointer(protocol, 0, 10, 10)
    assert bytes(console.written) == b"\x1bOA" * 3


def test_idle_console_has_no_framebuffer(
    session: ConsoleSession, clock: MemoryReactorClock
) -> None:
    """Without viewers the console keeps no pixels; they come back with the next viewer."""
    assert session._renderer is None
    protocol, _ = connect(session)
    assert session._renderer is not None
    protocol.connectionLost()
    assert session._renderer is None
    output(session, clock, b"still emulated")
    connect(session)
    assert session.terminal.text()[0].startswith("still emulated")


def test_view_only_viewer_cannot_type_or_paste(session: ConsoleSession, clock: MemoryReactorClock,
                                               console: FakeConsole) -> None:
    """A view-only viewer sees the screen but its keys, pastes and clicks reach nothing."""
    protocol = RfbViewerFactory(session, view_only=True).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    for data in (b"RFB 003.008\n", b"\x01", b"\x01"):
        protocol.dataReceived(data)
    key(protocol, ord("a"))
    protocol.dataReceived(struct.pack("!BxxxI", 6, 5) + b"hello")
    pointer(protocol, 2, 0, 0)
    run_until_idle(clock)
    assert bytes(console.written) == b""
    transport.clear()
    request(protocol, incremental=False)
    assert rectangles(transport.value())


def set_encodings(protocol: RfbViewerProtocol, *encodings: int) -> None:
    protocol.dataReceived(struct.pack("!BxH", 2, len(encodings))
                          + struct.pack(f"!{len(encodings)}i", *encodings))


def set_desktop_size(protocol: RfbViewerProtocol, width: int, height: int) -> None:
    protocol.dataReceived(struct.pack("!BxHHBx", 251, width, height, 1)
                          + struct.pack("!IHHHHI", 0, 0, 0, width, height, 0))


def test_resize_through_extended_desktop_size(session: ConsoleSession, clock: MemoryReactorClock,
                                               console: FakeConsole) -> None:
    """SetDesktopSize resizes the console in whole cells and every viewer is told."""
    output(session, clock, b"top line\r\n")
    asker, asker_wire = connect(session)
    other, other_wire = connect(session)
    set_encodings(asker, 0, -308)
    set_encodings(other, 0, -223)
    for protocol in (asker, other):
        request(protocol, incremental=False)
        request(protocol, incremental=True)
    assert (0, 0, WIDTH, HEIGHT, -308) in rectangles(asker_wire.value())  # support announced
    asker_wire.clear()
    other_wire.clear()
    set_desktop_size(asker, 1000, 500)
    assert console.sizes == [(125, 31)]
    assert session.terminal.cols == 125 and session.terminal.rows == 31
    asker_rects = rectangles(asker_wire.value())
    assert asker_rects[0] == (1, 0, 1000, 496, -308)  # this client, no error, whole cells
    assert sum(w * h for (_, _, w, h, e) in asker_rects if e == 0) == 1000 * 496
    assert rectangles(other_wire.value())[0] == (0, 0, 1000, 496, -223)
    assert session.terminal.text()[0].startswith("top line")


def test_resize_refused_when_a_viewer_cannot_follow(session: ConsoleSession,
                                                    console: FakeConsole) -> None:
    """If some viewer supports no size change, SetDesktopSize gets 'prohibited'."""
    asker, wire = connect(session)
    connect(session)  # a viewer that never said it can follow a resize
    set_encodings(asker, 0, -308)
    request(asker, incremental=False)
    request(asker, incremental=True)
    wire.clear()
    set_desktop_size(asker, 1000, 500)
    assert console.sizes == []
    assert rectangles(wire.value())[0] == (1, 1, WIDTH, HEIGHT, -308)


def test_title_goes_out_as_desktop_name(session: ConsoleSession, clock: MemoryReactorClock) -> None:
    """An OSC title reaches viewers that accept DesktopName."""
    protocol, wire = connect(session)
    set_encodings(protocol, 0, -307)
    request(protocol, incremental=False)
    request(protocol, incremental=True)
    wire.clear()
    output(session, clock, b"\x1b]2;build log\x07")
    data = wire.value()
    assert b"build log" in data
    assert any(e == -307 for (*_, e) in rectangles(data))


def test_mouse_goes_to_application_that_asked(session: ConsoleSession, clock: MemoryReactorClock,
                                               console: FakeConsole) -> None:
    """With mouse tracking on, clicks are reported to the console; with Shift they select."""
    output(session, clock, b"\x1b[?1000h\x1b[?1006hclick me")
    protocol, wire = connect(session)
    pointer(protocol, 1, 2 * 8, 0)
    pointer(protocol, 0, 2 * 8, 0)
    assert bytes(console.written) == b"\x1b[<0;3;1M\x1b[<0;3;1m"
    key(protocol, 0xFFE1)  # Shift_L held: local selection instead
    request(protocol, incremental=False)
    wire.clear()
    pointer(protocol, 1, 0, 0)
    pointer(protocol, 1, 4 * 8, 0)
    pointer(protocol, 0, 4 * 8, 0)
    assert b"click" in wire.value()
    assert bytes(console.written) == b"\x1b[<0;3;1M\x1b[<0;3;1m"


def test_extended_clipboard_utf8_both_ways(session: ConsoleSession, clock: MemoryReactorClock,
                                           console: FakeConsole) -> None:
    """With Extended Clipboard, a selection goes out as UTF-8 and a UTF-8 paste is typed."""
    import zlib

    from vncterm.rfb import clipboard

    output(session, clock, "größe 日本".encode())
    protocol, wire = connect(session)
    set_encodings(protocol, 0, -1063131698)
    assert wire.value().startswith(b"\x03\x00\x00\x00\xff\xff\xff\xf8")  # caps, length -8
    request(protocol, incremental=False)
    wire.clear()
    pointer(protocol, 1, 0, 0)
    pointer(protocol, 1, 8 * 8, 0)
    pointer(protocol, 0, 8 * 8, 0)
    data = wire.value()
    start = data.index(b"\x03\x00\x00\x00\xff")
    (length,) = struct.unpack_from("!i", data, start + 4)
    assert clipboard.parse(data[start + 8 : start + 8 - length]).text == "größe 日本"
    text = "ça va\n".encode() + b"\0"
    payload = struct.pack("!I", (1 << 28) | 1) + zlib.compress(struct.pack("!I", len(text)) + text)
    protocol.dataReceived(struct.pack("!BxxxI", 6, (1 << 32) - len(payload)) + payload)
    run_until_idle(clock)
    assert bytes(console.written) == "ça va\r".encode()


def test_internal_error_closes_only_that_viewer(session: ConsoleSession, clock: MemoryReactorClock,
                                                console: FakeConsole) -> None:
    """A bug hit while handling one viewer's message is logged and closes just that viewer."""
    from twisted.logger import LogLevel, globalLogPublisher

    broken, broken_wire = connect(session)
    healthy, _ = connect(session)
    failures: list[dict[str, Any]] = []

    def observe(event: dict[str, Any]) -> None:
        if event.get("log_level") == LogLevel.critical:
            failures.append(event)

    def explode(event: object) -> None:
        raise RuntimeError("simulated bug")

    broken._key = explode  # type: ignore[method-assign]
    globalLogPublisher.addObserver(observe)
    try:
        key(broken, ord("a"))
    finally:
        globalLogPublisher.removeObserver(observe)
    assert broken_wire.disconnecting
    assert failures and "simulated bug" in str(failures[0]["log_failure"].value)
    key(healthy, ord("b"))
    assert bytes(console.written) == b"b"
    assert session.viewers == [healthy]


def test_viewer_accepted_before_a_resize_gets_the_new_size(session: ConsoleSession) -> None:
    """A connection accepted before a resize is told the current size in ServerInit."""
    protocol = RfbViewerFactory(session).buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    session.resize(100, 30)
    for data in (b"RFB 003.008\n", b"\x01"):
        protocol.dataReceived(data)
    transport.clear()
    protocol.dataReceived(b"\x01")
    assert struct.unpack("!HH", transport.value()[:4]) == (800, 480)
    transport.clear()
    protocol.dataReceived(struct.pack("!BBHHHH", 3, 0, 0, 0, 800, 480))
    assert sum(w * h for (_, _, w, h, _) in rectangles(transport.value())) == 800 * 480
