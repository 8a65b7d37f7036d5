"""FeedScheduler and sessions sharing one: round-robin slices, bounded turns, a hostile
console that slows only itself; a slice stops inside a costly chunk."""

from __future__ import annotations

from twisted.internet.testing import MemoryReactorClock

from vncterm.backends.memory import MemorySource
from vncterm.feedscheduler import FeedScheduler
from vncterm.limits import Limits
from vncterm.session import ConsoleSession
from vncterm.terminal.hostile import WORST, fill
from vncterm.updates import CellRect


class Clock:
    """A timer the fake feeders move on by the work they pretend to do."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeFeeder:
    """Uses ``cost`` seconds per slice (all of its slice when ``cost`` is None)."""

    def __init__(self, clock: Clock, name: str, log: list[str], *, slices: int,
                 cost: float | None = None) -> None:
        self.clock, self.name, self.log = clock, name, log
        self.slices, self.cost = slices, cost

    def feed_for(self, seconds: float) -> bool:
        self.log.append(self.name)
        self.clock.now += seconds if self.cost is None else self.cost
        self.slices -= 1
        return self.slices > 0


def one_turn(reactor: MemoryReactorClock) -> None:
    """Run the calls due now, as one iteration of a real reactor does (`Clock.advance` would
    also run the calls they make for "now", which a reactor leaves to its next iteration)."""
    due = [call for call in reactor.getDelayedCalls() if call.getTime() <= reactor.seconds()]
    for call in due:
        if call.active():
            reactor.calls.remove(call)
            call.called = 1
            call.func(*call.args, **call.kw)


def turns(reactor: MemoryReactorClock, log: list[str], count: int) -> list[list[str]]:
    """What each of the next ``count`` reactor turns fed."""
    seen = []
    for _ in range(count):
        before = len(log)
        one_turn(reactor)
        seen.append(log[before:])
    return seen


def test_consoles_take_turns_round_robin() -> None:
    """Consoles with output waiting each get one slice per turn, in the order they waited."""
    reactor, clock, log = MemoryReactorClock(), Clock(), []
    scheduler = FeedScheduler(reactor, turn_seconds=0.01, timer=clock)
    for name in "abc":
        scheduler.wake(FakeFeeder(clock, name, log, slices=2, cost=0.001))
    assert turns(reactor, log, 3) == [["a", "b", "c"], ["a", "b", "c"], []]
    assert not reactor.getDelayedCalls()


def test_a_hog_uses_its_share_and_the_others_still_get_theirs() -> None:
    """A console that uses all of every slice gets its share of a turn, not the turn: one
    that was idle and wakes after it is fed first in the next turn, and the turn's time
    stays bounded."""
    reactor, clock, log = MemoryReactorClock(), Clock(), []
    scheduler = FeedScheduler(reactor, turn_seconds=0.004, min_slice_seconds=0.001,
                              timer=clock)
    scheduler.wake(FakeFeeder(clock, "hog", log, slices=10**6))
    one_turn(reactor)
    scheduler.wake(FakeFeeder(clock, "echo", log, slices=1, cost=0.0001))
    started = clock.now
    assert turns(reactor, log, 1) == [["echo", "hog"]]
    assert clock.now - started <= 0.004 + 0.0001
    assert turns(reactor, log, 2) == [["hog"], ["hog"]]


def test_a_turn_ends_when_its_time_is_used_and_the_rest_go_first_next() -> None:
    """Many hogs: a turn ends once its time is used, and the consoles it did not reach are
    the first ones fed in the next turn (nobody waits more than a turn or two)."""
    reactor, clock, log = MemoryReactorClock(), Clock(), []
    scheduler = FeedScheduler(reactor, turn_seconds=0.003, min_slice_seconds=0.001,
                              timer=clock)
    for name in "abcde":
        scheduler.wake(FakeFeeder(clock, name, log, slices=10**6))
    assert turns(reactor, log, 3) == [["a", "b", "c"], ["d", "e", "a"], ["b", "c", "d"]]


def test_forgotten_console_gets_no_more_slices() -> None:
    """A console that stops is taken off the line, and an empty line costs no reactor call."""
    reactor, clock, log = MemoryReactorClock(), Clock(), []
    scheduler = FeedScheduler(reactor, timer=clock)
    feeder = FakeFeeder(clock, "a", log, slices=5, cost=0.0)
    scheduler.wake(feeder)
    scheduler.forget(feeder)
    assert not reactor.getDelayedCalls()
    one_turn(reactor)
    assert log == []


# -- sessions ---------------------------------------------------------------------------------


class Ticking(Clock):
    """A timer that moves on ``step`` seconds each time it is read (work takes time)."""

    def __init__(self, step: float) -> None:
        super().__init__()
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def test_a_costly_chunk_stops_where_the_slice_ends() -> None:
    """One chunk of costly output (4 KiB of DECALN) is not emulated in one go: the slice
    ends inside it, the rest waits in the terminal, and later slices finish it in order."""
    reactor = MemoryReactorClock()
    source = MemorySource()
    session = ConsoleSession(reactor, source, timer=Ticking(0.001), limits=Limits())
    session.start()
    session.console_output(fill(WORST["char-decaln"]) + b"\x1b[Hdone")
    one_turn(reactor)
    assert session.terminal.backlog
    assert not session.terminal.text()[0].startswith("done")
    for _ in range(10_000):
        if not reactor.getDelayedCalls():
            break
        one_turn(reactor)
    assert not session.terminal.backlog
    assert session.terminal.text()[0].startswith("doneE")


def test_hostile_consoles_do_not_starve_a_normal_one() -> None:
    """Ten consoles streaming costly output and one echoing a key share a scheduler: the
    echo is emulated within two reactor turns, and no turn runs much past its time."""
    reactor = MemoryReactorClock()
    timer = Ticking(0.0001)
    limits = Limits()
    scheduler = FeedScheduler(reactor, turn_seconds=limits.feed_turn_seconds, timer=timer)
    hostile = [ConsoleSession(reactor, MemorySource(), timer=timer, scheduler=scheduler)
               for _ in range(10)]
    normal = ConsoleSession(reactor, MemorySource(), timer=timer, scheduler=scheduler)
    for session in [*hostile, normal]:
        session.start()
    for session in hostile:
        session.console_output(fill(WORST["char-decaln"], 64 * 1024))
    one_turn(reactor)
    normal.console_output(b"k")
    for turn in range(2):
        started = timer.now
        one_turn(reactor)
        # A turn: its 5 ms, plus what one slice does past its deadline.
        assert timer.now - started <= limits.feed_turn_seconds + 0.002, turn
        if normal.terminal.text()[0].startswith("k"):
            break
    assert normal.terminal.text()[0].startswith("k")
    assert all(session._pending for session in hostile)


class FakeViewer:
    """A viewer that always waits for a frame and records the rows each frame changed."""

    class Updates:
        has_request = True

    updates = Updates()
    can_resize = True

    def __init__(self) -> None:
        self.rows: set[int] = set()
        self.frames = 0

    def screen_changed(self, scroll: object, rects: list[CellRect]) -> None:
        self.frames += 1
        for rect in rects:
            self.rows.update(range(rect.y, rect.y + rect.height))

    def bell(self) -> None: ...
    def desktop_name_changed(self, name: str) -> None: ...
    def disconnect(self, reason: str) -> None: ...
    def desktop_resized(self, requested_by: object) -> None: ...


def test_a_frame_too_costly_for_one_slice_is_finished_in_later_ones() -> None:
    """Drawing a whole large screen stops where the slice ends; the scheduler's next slices
    finish it, a part per turn, and the watching viewer gets every row."""
    reactor = MemoryReactorClock()
    session = ConsoleSession(reactor, MemorySource(), columns=200, rows=60,
                             timer=Ticking(0.001))
    session.start()
    viewer = FakeViewer()
    session.attach(viewer, shared=True)  # type: ignore[arg-type]
    session.console_output(b"\x1b[H" + b"".join(b"\x1b[3%dm" % (y % 8) + b"%03d" % y * 66
                                                 + b"\r\n" for y in range(59)))
    one_turn(reactor)
    assert session.renderer.pending or viewer.frames == 0
    for _ in range(1000):
        if not reactor.getDelayedCalls():
            break
        reactor.advance(max(0.0, min(c.getTime() for c in reactor.getDelayedCalls())
                            - reactor.seconds()))
    assert not session.renderer.pending
    assert viewer.rows >= set(range(59))
    assert viewer.frames > 2


def test_a_frame_of_an_ordinary_screen_is_drawn_and_sent_whole() -> None:
    """Up to the cells a frame costs a few milliseconds for (80x24 and well beyond), a frame
    is never cut into parts, each of which would cost its viewer a round trip."""
    reactor = MemoryReactorClock()
    session = ConsoleSession(reactor, MemorySource(), columns=100, rows=40,
                             timer=Ticking(0.001))
    session.start()
    viewer = FakeViewer()
    session.attach(viewer, shared=True)  # type: ignore[arg-type]
    frames = viewer.frames
    session.console_output(b"\x1b[H" + b"x" * 3999)
    for _ in range(100):
        one_turn(reactor)
    assert not session.renderer.pending
    assert viewer.frames == frames + 1 and viewer.rows == set(range(40))
    assert session.frame_stop() is None
