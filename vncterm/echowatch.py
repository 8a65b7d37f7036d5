"""Where a keystroke's echo can be in a console's output stream, and when to draw for it.

A flooding program keeps the kernel's buffers full, so a key's echo comes after everything the
console wrote before the key. At each key the session tells :class:`EchoWatch` how much output
it has queued and how much the source says is still unread; the sum is the *mark*: output up
to it cannot hold the echo. Until the emulator is past the mark, frames wait (drawing older
output would only delay the echo). Passing the mark, and a second checkpoint half as much again
in case the source guessed short, asks for a frame at once; for the rest of the echo window,
output is drawn at most every :data:`MIN_ECHO_INTERVAL`. No time source and no reactor: the
session passes ``now`` and byte counts in (docs/architecture.md, "Keystroke echo during a
flood").
"""

from __future__ import annotations

from collections import deque

__all__ = ["ECHO_WINDOW", "MIN_ECHO_INTERVAL", "EchoWatch"]

#: Seconds after a keystroke during which its echo is waited for: output written after the key
#: is shown at once, and frames of older output are held back so as not to delay it.
ECHO_WINDOW = 0.05

#: Fewest seconds between two immediate renders after the first one (a flood after a key).
MIN_ECHO_INTERVAL = 0.008


class EchoWatch:
    """The latest keystroke's place in the output stream (byte offsets since the start)."""

    __slots__ = ("_checkpoints", "_due", "_mark", "_queued_at_key", "_urgent", "until")

    def __init__(self) -> None:
        #: Output queued when the key was typed (the mark when the console turns out to have
        #: held less than it said).
        self._queued_at_key = 0
        #: Output up to here was written before the key.
        self._mark = 0
        #: Offsets past which a frame goes out at once: the mark, then the second guess.
        self._checkpoints: deque[int] = deque()
        #: A frame is due at once (a checkpoint was passed, or the console caught up).
        self._due = False
        #: Output past the mark was emulated: frames at most every MIN_ECHO_INTERVAL.
        self._urgent = False
        #: The end of the echo window (seconds, the session's clock).
        self.until = float("-inf")

    def key_typed(self, now: float, queued: int, unread: int) -> None:
        """A key goes to the console, which had ``queued`` bytes of output read so far and
        says ``unread`` more are waiting in the kernel."""
        self._queued_at_key = queued
        self._mark = queued + unread
        self._checkpoints = deque(sorted({self._mark, self._mark + unread // 2}))
        self._due = False
        self.until = now + ECHO_WINDOW

    def next_checkpoint(self, now: float) -> int | None:
        """Where the next feed slice should stop to draw; None past the echo window."""
        checkpoints = self._checkpoints
        if checkpoints and now > self.until:
            checkpoints.clear()
        return checkpoints[0] if checkpoints else None

    def fed(self, now: float, fed: int) -> bool:
        """The emulator has taken ``fed`` bytes in all; True when output from after the key
        was emulated inside the echo window (it may hold the echo)."""
        checkpoints = self._checkpoints
        while checkpoints and fed > checkpoints[0]:
            checkpoints.popleft()
            self._due = True
        return fed > self._mark and now <= self.until

    def awaiting(self, now: float, fed: int) -> bool:
        """The key was typed a moment ago and output from before it is still being emulated:
        its echo is on the way, so frames of older output wait."""
        return fed <= self._mark and now <= self.until

    def caught_up(self, fed: int) -> bool:
        """No output came for a moment: the console held less than it said when the key was
        typed (a flood that stopped, say at Ctrl+C), so what was emulated may hold the echo;
        True when it does (a frame is due at once)."""
        self._mark = self._queued_at_key
        self._checkpoints.clear()
        if fed > self._mark:
            self._due = True
        return self._due

    def draw_at_once(self, now: float, last_render: float, *, urgent: bool) -> bool:
        """Whether a frame should go out now rather than at the frame clock's next tick
        (``urgent``: the last feed slice may have emulated the echo). True consumes the
        request; a False ``urgent`` keeps one made earlier."""
        self._urgent = self._urgent or urgent
        if self._due or (self._urgent and now - last_render >= MIN_ECHO_INTERVAL):
            self._due = self._urgent = False
            return True
        return False

    def note_urgent(self, urgent: bool) -> None:
        """Remember an urgent frame for when a viewer next asks (nobody asked yet)."""
        self._urgent = self._urgent or urgent
