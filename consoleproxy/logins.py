"""Password logins off the event loop: hash checks in a bounded thread pool, failed logins
slowed and blocked by ``vncterm.auththrottle``, and one log line per refusal.

Every way in that takes a password goes through :meth:`PasswordLogins.login`: XML-RPC
``session.login_with_password``, the browser's login form, and CONNECT/WebSocket with HTTP
Basic. A login:

1. is refused at once, without hashing, when its peer is blocked (even with the right
   password: a block is a block), or when the peer already has
   ``max_pending_logins_per_peer`` logins checking or waiting out a delay, or when
   ``max_pending_logins`` checks are already queued (a flood costs no memory or threads);
2. else has its password hashed by the runner (a thread pool of ``password_check_threads``
   threads in the service; scrypt and PBKDF2 release the GIL while they work), so the event
   loop keeps serving everyone else meanwhile;
3. on success opens a session at once (the user's failure count starts again); on failure
   is answered only after the throttle's delay, by a timer, holding nothing else up.

Log lines name the channel, the peer and the user (cut to 64 printable characters: a user
name field sometimes receives a password by mistake), never a password or session.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, Protocol

from twisted.internet import defer
from twisted.internet.interfaces import IReactorFromThreads, IReactorTime
from twisted.internet.threads import deferToThreadPool
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.python.threadpool import ThreadPool

from consoleproxy.auth import AuthenticationFailed, SessionStore
from consoleproxy.limits import Limits
from vncterm.auththrottle import AuthThrottle, peer_key

__all__ = [
    "BLOCKED",
    "BUSY",
    "CheckRunner",
    "PasswordLogins",
    "RunNow",
    "ThreadPoolRunner",
    "peer_host",
]

log = Logger()

#: The reason given to a blocked peer (no password is checked).
BLOCKED: Final = "too many authentication failures; try again later"
#: The reason given when too many checks are pending.
BUSY: Final = "too many logins in progress; try again later"
_WRONG: Final = "Authentication failure"
_SHOWN_NAME_CHARACTERS: Final = 64


class CheckRunner(Protocol):
    """Runs password checks somewhere, giving their results back on the event loop."""

    def __call__(self, check: Callable[[], bool]) -> defer.Deferred[bool]:
        """Run ``check``; the Deferred fires on the reactor thread with its result."""
        ...

    def stop(self) -> None:
        """Finish what runs and release the threads (at shutdown)."""
        ...


class ThreadPoolRunner:
    """The service's runner: Twisted's ThreadPool, started at the first check."""

    def __init__(self, reactor: IReactorFromThreads, threads: int) -> None:
        self._reactor = reactor
        self._pool = ThreadPool(minthreads=0, maxthreads=threads, name="password checks")

    def __call__(self, check: Callable[[], bool]) -> defer.Deferred[bool]:
        if not self._pool.started:
            self._pool.start()
        return deferToThreadPool(self._reactor, self._pool, check)

    def stop(self) -> None:
        if self._pool.started:
            self._pool.stop()


class RunNow:
    """Runs each check at once, on the caller's thread (in-memory tests and tools)."""

    def __call__(self, check: Callable[[], bool]) -> defer.Deferred[bool]:
        return defer.maybeDeferred(check)

    def stop(self) -> None:
        """Nothing runs in the background."""


def peer_host(address: object) -> str:
    """The host part of a transport's peer address ("unix" for a UNIX socket)."""
    host = getattr(address, "host", None)
    if isinstance(host, str):
        return host
    return "unix"


def shown_user(username: str) -> str:
    """``username`` as a log line shows it: printable characters only, cut short."""
    cut = username[:_SHOWN_NAME_CHARACTERS]
    shown = "".join(c if c.isprintable() else "?" for c in cut)
    return shown + ("..." if len(username) > len(cut) else "")


class PasswordLogins:
    """Throttled password logins against a :class:`SessionStore` (see the module docstring)."""

    def __init__(
        self,
        clock: IReactorTime,
        sessions: SessionStore,
        limits: Limits,
        runner: CheckRunner,
    ) -> None:
        self._clock = clock
        self.sessions = sessions
        self._limits = limits
        self._runner = runner
        self.throttle = AuthThrottle(limits.auth_throttle())
        self._pending = 0
        self._pending_by_peer: dict[str, int] = {}

    @property
    def pending(self) -> int:
        """Logins checking or waiting out a failure delay now."""
        return self._pending

    def stop(self) -> None:
        """Stop the runner (at shutdown)."""
        self._runner.stop()

    def login(
        self, username: str, password: str, *, peer: str, originator: str, channel: str
    ) -> defer.Deferred[str]:
        """A new session ref for ``username``; fails with AuthenticationFailed, whose
        reason says why (wrong credentials read alike whatever was wrong)."""
        now = self._clock.seconds()
        if self.throttle.blocked_for(peer, now) > 0:
            return self._refused(channel, peer, username, BLOCKED)
        key = peer_key(peer)
        if (self._pending >= self._limits.max_pending_logins
                or self._pending_by_peer.get(key, 0) >= self._limits.max_pending_logins_per_peer):
            return self._refused(channel, peer, username, BUSY)
        self._pending += 1
        self._pending_by_peer[key] = self._pending_by_peer.get(key, 0) + 1
        try:
            check = self.sessions.password_check(username, password)
        except AuthenticationFailed:
            # An over-long password: refused without hashing, but still a guess.
            return self._wrong(channel, peer, username, key)
        checking = self._runner(check.run)
        result: defer.Deferred[str] = defer.Deferred()

        def checked(matched: bool) -> None:
            if not matched:
                self._wrong(channel, peer, username, key).chainDeferred(result)
                return
            self._release(key)
            self.throttle.succeeded(peer, username, self._clock.seconds())
            try:
                ref = self.sessions.open_session(username, originator=originator)
            except AuthenticationFailed as failure:
                self._refused(channel, peer, username, failure.reason).chainDeferred(result)
                return
            result.callback(ref)

        def broken(failure: Failure) -> None:
            self._release(key)
            log.failure("password check of user {user} failed", failure,
                        user=shown_user(username))
            result.errback(AuthenticationFailed(username, "the password could not be checked"))

        checking.addCallbacks(checked, broken)
        return result

    def _wrong(self, channel: str, peer: str, username: str, key: str) -> defer.Deferred[str]:
        """A wrong password (or user): counted, logged, answered after the delay."""
        delay = self.throttle.failed(peer, username, self._clock.seconds())
        blocked = self.throttle.blocked_for(peer, self._clock.seconds())
        log.info("{channel} login refused: peer {peer}, user {user}: wrong user or password; "
                 "answered in {delay:.2f} s{block}", channel=channel, peer=peer,
                 user=shown_user(username), delay=delay,
                 block=f"; peer blocked for {blocked:.0f} s" if blocked > 0 else "")
        answer: defer.Deferred[str] = defer.Deferred()

        def answer_now() -> None:
            self._release(key)
            answer.errback(AuthenticationFailed(username, _WRONG))

        self._clock.callLater(delay, answer_now)
        return answer

    def _refused(self, channel: str, peer: str, username: str,
                 reason: str) -> defer.Deferred[str]:
        log.info("{channel} login refused: peer {peer}, user {user}: {reason}",
                 channel=channel, peer=peer, user=shown_user(username), reason=reason)
        return defer.fail(AuthenticationFailed(username, reason))

    def _release(self, key: str) -> None:
        self._pending -= 1
        left = self._pending_by_peer[key] - 1
        if left:
            self._pending_by_peer[key] = left
        else:
            del self._pending_by_peer[key]
