"""An in-memory console source: output is pushed by the caller, keystrokes are recorded.

For tests, benchmarks and embedding: it behaves like any other source to the session (no
reactor, no file descriptors).
"""

from __future__ import annotations

from vncterm.backends.base import ConsoleSink


class MemorySource:
    """A console whose output the owner pushes with `output`; what is typed is in `written`."""

    def __init__(self, description: str = "memory", *, connected: bool = True) -> None:
        self.description = description
        self.connected = connected
        self.sink: ConsoleSink | None = None
        #: Every byte written to the console (keystrokes, emulator replies, pastes).
        self.written = bytearray()
        #: Every size the console was told, in order.
        self.sizes: list[tuple[int, int]] = []
        self.paused = False
        self.stopped = False
        #: What `unread_bytes` answers (output the console wrote that is not delivered yet).
        self.unread = 0

    def start(self, sink: ConsoleSink) -> None:
        self.sink = sink
        if self.connected:
            sink.console_connected(self.description)

    def output(self, data: bytes) -> None:
        """The console writes `data` (delivered to the session at once)."""
        if self.sink is not None:
            self.sink.console_output(data)

    def write(self, data: bytes) -> None:
        self.written += data

    def resize(self, columns: int, rows: int) -> None:
        self.sizes.append((columns, rows))

    def unread_bytes(self) -> int:
        return self.unread

    def pause_reading(self) -> None:
        self.paused = True

    def resume_reading(self) -> None:
        self.paused = False

    def stop(self) -> None:
        self.stopped = True
