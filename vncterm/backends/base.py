"""The two plug-in points between a console source and the session that consumes it."""

from __future__ import annotations

from typing import Protocol


class ConsoleSink(Protocol):
    """What a console source reports to (the session)."""

    def console_output(self, data: bytes) -> None:
        """Bytes the console wrote: always delivered, in order."""

    def console_connected(self, description: str) -> None:
        """The source is (again) connected to its console."""

    def console_disconnected(self, reason: str, *, final: bool) -> None:
        """The console went away; `final` when no reconnect or respawn will follow."""


class ConsoleSource(Protocol):
    """A text console: bytes out to a sink, keystrokes in, optional window size."""

    #: Short human name of the console, used as the default desktop name.
    description: str

    def start(self, sink: ConsoleSink) -> None:
        """Begin delivering output to `sink`."""

    def write(self, data: bytes) -> None:
        """Send keystrokes or emulator replies to the console (dropped while disconnected)."""

    def resize(self, columns: int, rows: int) -> None:
        """Tell the console its new window size, where the source has one."""

    def unread_bytes(self) -> int:
        """Bytes the console has written that are not read yet (the kernel's buffer); 0 when
        unknown. A keystroke's echo can only come after them."""

    def pause_reading(self) -> None:
        """Stop reading console output (the session is behind)."""

    def resume_reading(self) -> None:
        """Read console output again."""

    def stop(self) -> None:
        """Close the console for good."""
