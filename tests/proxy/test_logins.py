"""Password logins off the event loop: delays, blocks and caps on a MemoryReactorClock, the
log line of each refusal, and a real thread pool doing the hashing."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from twisted.internet import defer
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import LogEvent, formatEvent, globalLogPublisher
from twisted.python.failure import Failure

from consoleproxy.auth import AuthenticationFailed, SessionStore, User, parse_password_hash
from consoleproxy.limits import Limits
from consoleproxy.logins import BLOCKED, BUSY, PasswordLogins, RunNow, ThreadPoolRunner
from tests.proxy.helpers import PASSWORD, PASSWORD_HASH

LIMITS = Limits(login_first_delay=0.5, login_max_delay=8.0, login_block_after=5,
                login_block_seconds=60.0, max_pending_logins=6, max_pending_logins_per_peer=3)


class HeldChecks:
    """A runner that keeps each check until the test releases it."""

    def __init__(self) -> None:
        self.held: list[tuple[Callable[[], bool], defer.Deferred[bool]]] = []

    def __call__(self, check: Callable[[], bool]) -> defer.Deferred[bool]:
        waiting: defer.Deferred[bool] = defer.Deferred()
        self.held.append((check, waiting))
        return waiting

    def release(self) -> None:
        check, waiting = self.held.pop(0)
        waiting.callback(check())

    def stop(self) -> None:
        """Nothing to stop."""


class CountingRunNow(RunNow):
    """RunNow that counts the checks it ran (so a test sees that none was hashed)."""

    def __init__(self) -> None:
        self.runs = 0

    def __call__(self, check: Callable[[], bool]) -> defer.Deferred[bool]:
        self.runs += 1
        return super().__call__(check)


def make(runner: Any = None, limits: Limits = LIMITS,
         names: tuple[str, ...] = ("root",)) -> tuple[PasswordLogins, MemoryReactorClock]:
    """Logins for users ``names`` (password PASSWORD) over a fresh session store."""
    clock = MemoryReactorClock()
    stored = parse_password_hash(PASSWORD_HASH)
    sessions = SessionStore(limits, clock.seconds, users=[User(name, stored) for name in names])
    return PasswordLogins(clock, sessions, limits, runner or RunNow()), clock


def outcome(deferred: defer.Deferred[str]) -> list[object]:
    """What a login Deferred has given so far: [] while it waits, else [ref or failure]."""
    results: list[object] = []

    def failed(failure: Failure) -> None:
        results.append(failure.value)

    deferred.addCallbacks(results.append, failed)
    return results


def login(logins: PasswordLogins, password: str, peer: str = "192.0.2.1") -> list[object]:
    return outcome(logins.login("root", password, peer=peer, originator="t", channel="xmlrpc"))


def test_a_right_password_is_answered_at_once_and_a_wrong_one_after_the_delay() -> None:
    """Success opens a session at once; a failure is answered only after the first delay."""
    logins, clock = make()
    good = login(logins, PASSWORD)
    assert len(good) == 1 and isinstance(good[0], str)
    assert logins.sessions.validate(good[0]) is not None
    bad = login(logins, "guess")
    assert bad == []
    clock.advance(0.49)
    assert bad == []
    clock.advance(0.01)
    assert isinstance(bad[0], AuthenticationFailed)
    assert bad[0].reason == "Authentication failure"


def test_delays_grow_and_the_peer_is_blocked_even_with_the_right_password() -> None:
    """Each failure waits longer; after five the peer is refused without hashing, right
    password included, while another peer logs in; the block ends after its time."""
    runner = CountingRunNow()
    logins, clock = make(runner)
    waits = []
    for _ in range(5):
        answer = login(logins, "guess")
        waited = 0.0
        while not answer:
            clock.advance(0.25)
            waited += 0.25
        waits.append(waited)
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]
    runs = runner.runs
    blocked = login(logins, PASSWORD)
    assert isinstance(blocked[0], AuthenticationFailed) and blocked[0].reason == BLOCKED
    assert runner.runs == runs  # refused without a hash
    other = login(logins, PASSWORD, peer="198.51.100.9")
    assert isinstance(other[0], str)
    clock.advance(60.0 - sum(waits[-1:]))
    assert isinstance(login(logins, PASSWORD)[0], str)


def test_a_peer_may_have_only_a_few_logins_pending() -> None:
    """A peer past max_pending_logins_per_peer (checking or waiting out a delay) is refused
    at once; other peers still get checked; a finished check frees its place."""
    runner = HeldChecks()
    logins, _ = make(runner)
    pending = [login(logins, PASSWORD) for _ in range(3)]
    assert pending == [[], [], []]
    refused = login(logins, PASSWORD)
    assert isinstance(refused[0], AuthenticationFailed) and refused[0].reason == BUSY
    assert login(logins, PASSWORD, peer="198.51.100.9") == []
    runner.release()
    assert isinstance(pending[0][0], str)
    assert login(logins, PASSWORD) == []
    assert logins.pending == 4


def test_all_peers_together_have_a_cap_on_pending_checks() -> None:
    """Past max_pending_logins, a login is refused at once without queueing a check."""
    runner = HeldChecks()
    logins, _ = make(runner)
    for index in range(6):
        login(logins, PASSWORD, peer=f"10.0.0.{index}")
    refused = login(logins, PASSWORD, peer="10.0.0.99")
    assert isinstance(refused[0], AuthenticationFailed) and refused[0].reason == BUSY
    assert len(runner.held) == 6


def test_an_over_long_password_counts_as_a_failure_without_hashing() -> None:
    """A password past max_password_bytes is refused after the delay, without a hash."""
    runner = CountingRunNow()
    logins, clock = make(runner)
    answer = login(logins, "x" * 5000)
    assert answer == [] and runner.runs == 0
    clock.advance(0.5)
    assert isinstance(answer[0], AuthenticationFailed)


def test_each_refusal_is_logged_once_with_peer_and_user_never_the_password() -> None:
    """One line per refusal names the channel, peer and user; no password appears."""
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    try:
        logins, clock = make()
        login(logins, "Tr0ub4dor&3", peer="203.0.113.5")
        clock.advance(1.0)
        name = "root\x1b[2J" + "x" * 100
        outcome(logins.login(name, "correct horse", peer="203.0.113.5", originator="",
                             channel="web"))
        clock.advance(2.0)
    finally:
        globalLogPublisher.removeObserver(events.append)
    lines = [formatEvent(event) for event in events if "login refused" in
             event.get("log_format", "")]
    assert len(lines) == 2
    assert lines[0].startswith("xmlrpc login refused: peer 203.0.113.5, user root:")
    assert "web login refused: peer 203.0.113.5, user root?[2Jxxx" in lines[1]
    assert "x" * 61 not in lines[1]  # the user name is cut short
    for event in events:
        text = formatEvent(event) + repr(event)
        assert "Tr0ub4dor&3" not in text and "correct horse" not in text


def test_a_session_cap_refusal_is_reported_as_such() -> None:
    """A right password refused only because no session can be given says so."""
    logins, _ = make(limits=Limits(max_sessions=1), names=("root", "other"))
    assert isinstance(login(logins, PASSWORD)[0], str)
    refused = outcome(logins.login("other", PASSWORD, peer="10.0.0.1", originator="",
                                   channel="xmlrpc"))
    assert isinstance(refused[0], AuthenticationFailed)
    assert "too many sessions" in refused[0].reason


class ThreadsClock(MemoryReactorClock):
    """A test reactor whose callFromThread queues the call for the test thread to run."""

    def __init__(self) -> None:
        super().__init__()
        self.from_threads: list[tuple[Callable[..., object], tuple[object, ...]]] = []
        self.arrived = threading.Event()

    def callFromThread(self, f: Callable[..., object], *args: object,  # type: ignore[override]
                       **kwargs: object) -> None:
        self.from_threads.append((f, args))
        self.arrived.set()


def test_the_thread_pool_runner_hashes_off_the_reactor_thread() -> None:
    """ThreadPoolRunner runs the check on a pool thread and fires on the reactor's."""
    reactor = ThreadsClock()
    runner = ThreadPoolRunner(reactor, threads=2)
    threads: list[int] = []

    def check() -> bool:
        threads.append(threading.get_ident())
        return True

    try:
        result = outcome(runner(check))  # type: ignore[arg-type]
        assert reactor.arrived.wait(10.0), "the pool never answered"
        assert result == []  # not until the reactor runs what the thread sent
        for f, args in reactor.from_threads:
            f(*args)
        assert result == [True]
        assert threads and threads[0] != threading.get_ident()
    finally:
        runner.stop()


@pytest.mark.parametrize("threads", [1, 2])
def test_stopping_the_runner_releases_its_threads(threads: int) -> None:
    """stop() joins the pool's threads (no thread outlives the service)."""
    reactor = ThreadsClock()
    runner = ThreadPoolRunner(reactor, threads=threads)
    before = threading.active_count()
    runner(lambda: True)
    assert reactor.arrived.wait(10.0)
    runner.stop()
    assert threading.active_count() <= before
