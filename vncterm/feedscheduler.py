"""Turns of emulator work shared by every console of a process: round-robin slices between
reactor iterations, so that a console that keeps using its slices (a flood, a hostile guest)
delays the others, and the reactor's own I/O (keystrokes, XML-RPC, accepts), by one bounded
turn at most.

A console with output waiting asks for a slice (`wake`). One reactor call later, a turn
begins: every console waiting when it began gets a slice of ``turn_seconds / n`` (at least
``min_slice_seconds``), in the order they have waited, until the turn's time is used up; a
console that still has output waits again at the back of the line, and the ones the turn did
not reach are first in the next. Then the reactor runs its I/O before the next turn.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["FeedScheduler", "Feeder"]


class Feeder(Protocol):
    """A console whose output the scheduler feeds to its emulator."""

    def feed_for(self, seconds: float) -> bool:
        """Emulate waiting output for about ``seconds``; True while some is still waiting."""


class FeedScheduler:
    """Round-robin slices of emulator work for the consoles of one process."""

    def __init__(
        self,
        reactor: IReactorTime,
        *,
        turn_seconds: float = 0.005,
        min_slice_seconds: float = 0.0005,
        timer: Callable[[], float] = time.perf_counter,
    ) -> None:
        self._reactor = reactor
        self.turn_seconds = turn_seconds
        self.min_slice_seconds = min_slice_seconds
        self._timer = timer
        # In the order they have waited (a dict as an ordered set: a hostile console waking
        # on every read must not cost a scan of every other console).
        self._waiting: OrderedDict[Feeder, None] = OrderedDict()
        self._call: IDelayedCall | None = None
        #: Turns run so far (for tests and the bench).
        self.turns = 0

    def wake(self, feeder: Feeder) -> None:
        """``feeder`` has output waiting: give it a slice in the next turn (once)."""
        self._waiting.setdefault(feeder, None)
        if self._call is None:
            self._call = self._reactor.callLater(0, self._turn)

    def forget(self, feeder: Feeder) -> None:
        """``feeder`` stops (its console is closing): no more slices."""
        self._waiting.pop(feeder, None)
        if not self._waiting and self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _turn(self) -> None:
        self._call = None
        self.turns += 1
        waiting = self._waiting
        deadline = self._timer() + self.turn_seconds
        share = max(self.turn_seconds / max(len(waiting), 1), self.min_slice_seconds)
        for _ in range(len(waiting)):
            if not waiting:
                break  # a feeder's slice closed others (forget)
            feeder, _none = waiting.popitem(last=False)
            if feeder.feed_for(share):
                waiting.setdefault(feeder, None)
            if self._timer() >= deadline:
                break
        if waiting and self._call is None:
            self._call = self._reactor.callLater(0, self._turn)
