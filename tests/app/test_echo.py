"""Keystroke echo during a flood: frames wait for the echo, and the echo is drawn at once.

The session knows where in the console's output a key was typed (what it had read plus what
the console says is still unread); frames of older output are held back until the emulator
is past that mark, and the first output past it is drawn without waiting for the frame clock.
"""

from __future__ import annotations

import pytest
from twisted.internet.testing import MemoryReactorClock, StringTransport

from tests.app.test_session import connect, key, request
from vncterm.backends.memory import MemorySource
from vncterm.echowatch import ECHO_WINDOW, MIN_ECHO_INTERVAL, EchoWatch
from vncterm.protocol import RfbViewerProtocol
from vncterm.session import CAUGHT_UP_DELAY, MIN_FRAME_INTERVAL, ConsoleSession


@pytest.fixture
def watched(
    clock: MemoryReactorClock, console: MemorySource
) -> tuple[ConsoleSession, RfbViewerProtocol, StringTransport]:
    """A session with one viewer that was just sent a frame and has a request outstanding."""
    session = ConsoleSession(clock, console, name="echo")
    session.start()
    protocol, transport = connect(session)
    request(protocol, False)
    request(protocol, True)
    emulate(clock, session, b"$ ")
    assert transport.value()
    transport.clear()
    request(protocol, True)
    return session, protocol, transport


def type_key(protocol: RfbViewerProtocol, keysym: int = ord("a")) -> None:
    key(protocol, keysym)
    key(protocol, keysym, down=False)


def type_key_behind(console: MemorySource, protocol: RfbViewerProtocol, unread: int) -> None:
    """A key typed while the console still holds `unread` bytes of output not read yet."""
    console.unread = unread
    type_key(protocol)


def emulate(clock: MemoryReactorClock, session: ConsoleSession, data: bytes) -> None:
    """The console writes `data`; the session's feed slices run (no time passes)."""
    session.console_output(data)
    for _ in range(100):
        if not any(call.getTime() <= clock.seconds() for call in clock.getDelayedCalls()):
            return
        clock.advance(0)


def flood(clock: MemoryReactorClock, session: ConsoleSession, lines: int, seconds: float) -> None:
    """`lines` numbered lines of 10 bytes read back to back (a read every half
    CAUGHT_UP_DELAY): every frame differs."""
    step = CAUGHT_UP_DELAY / 2
    reads = max(1, round(seconds / step))
    first = session.bytes_in
    for _ in range(reads):
        count = lines // reads
        emulate(clock, session, b"".join(b"%8d\r\n" % (first + n) for n in range(count)))
        first += count
        clock.advance(step)


def test_output_without_a_key_waits_for_the_frame_clock(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport]
) -> None:
    session, _, transport = watched
    emulate(clock, session, b"x")
    assert transport.value() == b""
    clock.advance(MIN_FRAME_INTERVAL)
    assert transport.value()


def test_echo_is_drawn_at_once(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    session, protocol, transport = watched
    type_key(protocol)
    assert console.written == b"a"
    emulate(clock, session, b"a")
    assert transport.value(), "the echo waited for the frame clock"


def test_frames_wait_while_output_from_before_the_key_is_emulated(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    session, protocol, transport = watched
    type_key_behind(console, protocol, 10_000)  # a flood's output, still in the kernel
    flood(clock, session, 600, MIN_FRAME_INTERVAL * 2)  # 6,000 bytes written before the key
    assert transport.value() == b"", "a frame of old output went out ahead of the echo"
    emulate(clock, session, b"y\r\n" * 1500 + b"echo")  # 4,504 bytes more: past the mark
    assert transport.value(), "the echo was not drawn at once"


def test_echo_is_drawn_once_the_console_is_caught_up(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    """The console held less than assumed (a flood stopped by the key): once no more output
    comes for a moment, what came is drawn without waiting for the echo window to end."""
    session, protocol, transport = watched
    type_key_behind(console, protocol, 50_000)
    emulate(clock, session, b"y\r\n" * 100 + b"^C\r\n$ ")
    assert transport.value() == b""
    clock.advance(CAUGHT_UP_DELAY)
    assert transport.value()
    assert clock.seconds() < ECHO_WINDOW


def test_frames_resume_when_no_echo_comes(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    """Reads coming back to back keep the frames waiting for the echo (the console is not
    caught up); they go out once the echo window is over, even if the mark is never passed."""
    session, protocol, transport = watched
    type_key_behind(console, protocol, 1_000_000)
    flood(clock, session, 1000, ECHO_WINDOW * 0.9)
    assert transport.value() == b""
    flood(clock, session, 100, ECHO_WINDOW * 0.2)
    assert transport.value()


def test_the_slice_stops_to_draw_the_echo(
    clock: MemoryReactorClock, console: MemorySource,
) -> None:
    """Output queued behind the echo is emulated after the echo's frame is out."""
    session = ConsoleSession(clock, console, name="echo", timer=lambda: 0.0)
    session.start()
    protocol, _ = connect(session)
    request(protocol, False)
    request(protocol, True)
    type_key_behind(console, protocol, 4096)
    left_to_emulate: list[int] = []
    render = session.render

    def recording_render() -> None:
        left_to_emulate.append(session._pending_bytes)
        render()

    session.render = recording_render  # type: ignore[method-assign]
    chunk = b"y\r\n" * 1365  # 4,095 bytes: one read of a pty
    for _ in range(4):
        session.console_output(chunk)
    clock.advance(0)
    # The second chunk crossed the mark: the echo's frame came before the last two chunks.
    assert left_to_emulate[0] == 2 * len(chunk)


def test_a_second_checkpoint_covers_a_short_guess(
    clock: MemoryReactorClock, watched: tuple[ConsoleSession, RfbViewerProtocol, StringTransport],
    console: MemorySource,
) -> None:
    """If the echo comes a little after the mark (the console wrote on before it read the
    key), a second frame goes out at half as much again, not a frame interval later."""
    session, protocol, transport = watched
    type_key_behind(console, protocol, 10_000)
    flood(clock, session, 1020, CAUGHT_UP_DELAY * 2)  # 10,200 bytes: past the mark
    assert transport.value()
    transport.clear()
    request(protocol, True)
    flood(clock, session, 300, CAUGHT_UP_DELAY * 2)  # 13,200: nothing due yet
    assert transport.value() == b""
    flood(clock, session, 210, CAUGHT_UP_DELAY)  # 15,300: past the second checkpoint
    assert transport.value()
    assert clock.seconds() < MIN_ECHO_INTERVAL


# -- EchoWatch alone: byte offsets and times in, decisions out --------------------------------


def test_a_watch_holds_frames_until_the_mark_then_asks_for_one_at_each_checkpoint() -> None:
    """Output up to the mark (queued + unread) holds frames back; passing the mark and the
    second checkpoint (half the unread again) each make a frame due at once."""
    watch = EchoWatch()
    watch.key_typed(10.0, queued=1000, unread=400)
    assert watch.awaiting(10.0, fed=1400)
    assert watch.next_checkpoint(10.0) == 1400
    assert not watch.fed(10.0, 1400)
    assert not watch.draw_at_once(10.0, 9.0, urgent=False)
    assert watch.fed(10.01, 1401)
    assert not watch.awaiting(10.01, 1401)
    assert watch.draw_at_once(10.01, 10.009, urgent=True)
    assert watch.next_checkpoint(10.01) == 1600
    watch.fed(10.02, 1601)
    assert watch.draw_at_once(10.02, 10.019, urgent=False)
    assert watch.next_checkpoint(10.02) is None


def test_a_watch_paces_echo_frames_and_forgets_the_key_after_its_window() -> None:
    """Past the checkpoints, urgent frames go out at most every MIN_ECHO_INTERVAL; after the
    echo window nothing is held or stopped for."""
    watch = EchoWatch()
    watch.key_typed(0.0, queued=0, unread=0)
    watch.fed(0.001, 10)
    assert watch.draw_at_once(0.001, -1.0, urgent=True)
    assert not watch.draw_at_once(0.002, 0.001, urgent=True)  # kept for later
    assert watch.draw_at_once(0.001 + MIN_ECHO_INTERVAL, 0.001, urgent=False)
    watch.key_typed(1.0, queued=10, unread=5000)
    after = 1.0 + ECHO_WINDOW + 0.001
    assert not watch.awaiting(after, 10)
    assert watch.next_checkpoint(after) is None


def test_a_watch_that_caught_up_moves_its_mark_back_to_what_was_read() -> None:
    """When the console held less than it said, the mark falls back to the output read at the
    key: a frame is due if the emulator is already past that."""
    watch = EchoWatch()
    watch.key_typed(0.0, queued=500, unread=8000)
    assert not watch.caught_up(500)
    assert watch.caught_up(501)
    assert watch.draw_at_once(0.0, -1.0, urgent=False)
