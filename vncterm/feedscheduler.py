"""Turns of emulator work shared by every console of a process: round-robin slices between
reactor iterations, so that a console that keeps using its slices (a flood, a hostile guest)
delays the others, and the reactor's own I/O (keystrokes, XML-RPC, accepts), by one bounded
turn at most.

A console with output waiting asks for a slice (`wake`). One reactor call later, a turn
begins: every console waiting when it began gets a slice of ``turn_seconds / n`` (at least
``min_slice_seconds``) until the turn's time is used up. Consoles that had nothing to do
before come first (a key's echo, a prompt: a little output after a quiet spell), then those
that used their previous slice and still have output, in the order they have waited; one
that still has output after its slice waits again at the back of the line, and the ones a
turn did not reach keep their place for the next. Then the reactor runs its I/O before the
next turn.
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
        # In the order they have waited (dicts as ordered sets: a hostile console waking on
        # every read must not cost a scan of every other console): those that were idle,
        # and those still busy after a slice.
        self._fresh: OrderedDict[Feeder, None] = OrderedDict()
        self._waiting: OrderedDict[Feeder, None] = OrderedDict()
        self._call: IDelayedCall | None = None
        #: Turns run so far (for tests and the bench).
        self.turns = 0

    def wake(self, feeder: Feeder) -> None:
        """``feeder`` has output waiting: give it a slice in the next turn (once)."""
        if feeder not in self._waiting:
            self._fresh.setdefault(feeder, None)
        if self._call is None:
            self._call = self._reactor.callLater(0, self._turn)

    def forget(self, feeder: Feeder) -> None:
        """``feeder`` stops (its console is closing): no more slices."""
        self._fresh.pop(feeder, None)
        self._waiting.pop(feeder, None)
        if not self._fresh and not self._waiting and self._call is not None:
            if self._call.active():
                self._call.cancel()
            self._call = None

    def _turn(self) -> None:
        self._call = None
        self.turns += 1
        fresh, waiting = self._fresh, self._waiting
        deadline = self._timer() + self.turn_seconds
        count = len(fresh) + len(waiting)
        share = max(self.turn_seconds / max(count, 1), self.min_slice_seconds)
        for _ in range(count):
            if fresh:
                feeder, _none = fresh.popitem(last=False)
            elif waiting:
                feeder, _none = waiting.popitem(last=False)
            else:
                break  # a feeder's slice stopped others (forget)
            if feeder.feed_for(share):
                waiting.setdefault(feeder, None)
            if self._timer() >= deadline:
                break
        if (fresh or waiting) and self._call is None:
            self._call = self._reactor.callLater(0, self._turn)
