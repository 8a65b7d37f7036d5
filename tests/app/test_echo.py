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
from vncterm.protocol import RfbViewerProtocol
from vncterm.session import (
    CAUGHT_UP_DELAY,
    ECHO_WINDOW,
    MIN_ECHO_INTERVAL,
    MIN_FRAME_INTERVAL,
    ConsoleSession,
)


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
