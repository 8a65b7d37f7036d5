"""The failed-authentication throttle shared by vncterm (VNC Authentication) and consoleproxy
(XML-RPC, browser and Basic logins): per-peer and per-user failure counts, a growing delay
before each refusal is answered, and a temporary block of a peer that keeps failing.

Pure: callers pass the time in and get decisions out (seconds to wait, seconds blocked); the
adapters do the waiting with their reactor, so a delayed refusal holds up nothing else.

The rules (``vncterm.limits.AuthThrottleLimits`` holds the numbers):

* Every failure adds one to its peer's count and to its user's count. Counts decay steadily:
  one failure is forgotten every ``forget_seconds`` (whole failures, so "five failures" means
  five, not four and a bit).
* A refusal is answered after ``first_delay * 2 ** (n - 1)`` seconds (at most ``max_delay``),
  where ``n`` is the larger of the two counts after this failure. Successful checks are never
  delayed: the penalty falls on the guesser, not on the user who types the right password.
* A peer reaching ``block_after`` failures is blocked for ``block_seconds`` (doubling with
  each later block, at most ``block_max_seconds``): while blocked its attempts are refused
  without checking the password, the right one included. After a block its count stays one
  below the threshold (nothing decays during a block), so a single further failure blocks it
  again (as TigerVNC does).
* Users are never blocked, only delayed: anyone can fail as any user, so a block by user
  would let an attacker lock the real user out. The user's delay is capped, and a success
  resets the user's count. A success does not reset the peer's count: otherwise a guesser
  holding one valid account could clear its own record between guesses.
* IPv6 peers count per /64 (one host usually holds a whole /64); IPv4 per address.
* Memory is bounded: at most ``max_entries`` peers and as many users are remembered, the
  least recently failed forgotten first; a record whose count decayed to nothing is dropped.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict
from dataclasses import dataclass

from vncterm.limits import DEFAULT_AUTH_THROTTLE, AuthThrottleLimits

__all__ = ["AuthThrottle", "peer_key"]


def peer_key(host: str) -> str:
    """The key a peer's failures are counted under: its IPv4 address, or its IPv6 /64."""
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return host  # a UNIX socket or a name: counted as given
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


@dataclass(slots=True)
class _Record:
    #: Failures not yet forgotten.
    failures: int
    #: When forgetting the next failure started counting.
    at: float
    #: How many times this peer was blocked (the next block lasts twice as long).
    blocks: int = 0
    blocked_until: float = 0.0


class AuthThrottle:
    """Failure counts of peers and users, and what they imply now."""

    def __init__(self, limits: AuthThrottleLimits = DEFAULT_AUTH_THROTTLE) -> None:
        self._limits = limits
        self._peers: OrderedDict[str, _Record] = OrderedDict()
        self._users: OrderedDict[str, _Record] = OrderedDict()

    @property
    def limits(self) -> AuthThrottleLimits:
        """The numbers in force."""
        return self._limits

    def blocked_for(self, peer: str, now: float) -> float:
        """Seconds the peer is still blocked for (0.0 when it may try)."""
        record = self._current(self._peers, peer_key(peer), now)
        if record is None:
            return 0.0
        return max(0.0, record.blocked_until - now)

    def failed(self, peer: str, user: str | None, now: float) -> float:
        """Count a failed check; returns the seconds to wait before answering it."""
        limits = self._limits
        key = peer_key(peer)
        record = self._bump(self._peers, key, now)
        count = record.failures
        if record.failures >= limits.block_after and record.blocked_until <= now:
            duration = min(limits.block_seconds * 2.0**record.blocks, limits.block_max_seconds)
            record.blocks += 1
            record.blocked_until = now + duration
            record.failures = limits.block_after - 1
        if user is not None:
            count = max(count, self._bump(self._users, user, now).failures)
        return min(limits.first_delay * 2.0 ** (count - 1), limits.max_delay)

    def succeeded(self, peer: str, user: str | None, now: float) -> None:
        """A check passed: the user's count starts again (the peer's does not)."""
        if user is not None:
            self._users.pop(user, None)

    def __len__(self) -> int:
        """Records held, peers and users together (for tests of the memory bound)."""
        return len(self._peers) + len(self._users)

    # -- records ---------------------------------------------------------------------------

    def _current(self, table: OrderedDict[str, _Record], key: str, now: float) -> _Record | None:
        """The record decayed to ``now``; None (and dropped) when nothing is left of it."""
        record = table.get(key)
        if record is None:
            return None
        # Nothing is forgotten while blocked: one failure after a block blocks again.
        start = max(record.at, record.blocked_until)
        forgotten = int((now - start) // self._limits.forget_seconds) if now > start else 0
        if forgotten:
            record.failures = max(0, record.failures - forgotten)
            record.at = start + forgotten * self._limits.forget_seconds
        if record.failures <= 0 and record.blocked_until <= now:
            del table[key]
            return None
        return record

    def _bump(self, table: OrderedDict[str, _Record], key: str, now: float) -> _Record:
        record = self._current(table, key, now)
        if record is None:
            record = table[key] = _Record(0, now)
            while len(table) > self._limits.max_entries:
                table.popitem(last=False)
        record.failures += 1
        table.move_to_end(key)
        return record
