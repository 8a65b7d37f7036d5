"""The console log: every byte the console writes, appended to a file with size-based rotation.

`ConsoleLog` is one of the session's ``raw_listeners``, so it sees console output from the moment
the console starts, whether or not a viewer is attached. Files, newest first::

    console.log      this boot, being written
    console.log.1    the previous file: the previous boot's log, or this boot's older part
    ...
    console.log.N    the oldest kept (N = ``keep``); rotating past it drops it

Opening the log is a new boot: a non-empty ``console.log`` left by the previous run is rotated
to ``console.log.1`` first, so the previous boot's output is kept (until ``keep`` rotations push
it out: the cap on disk use, ``(keep + 1) * max_bytes``, wins over history).

Writes never block the reactor for long and never break the console: output is buffered in
memory and written on a short timer (or when the buffer is full) and on close; an ``OSError``
(disk full, permission, a vanished directory) after opening is logged once, stored in
``error``, and logging stops. Only opening the log raises, so the command line can refuse to
start with a log it cannot write.

`BufferedFileWriter` (the buffering, timer and error handling) is shared with
`vncterm.recording`, and `rotate_files` with its previous-run handling.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import IO, Protocol

from twisted.logger import Logger

__all__ = [
    "DEFAULT_FLUSH_BYTES",
    "DEFAULT_FLUSH_INTERVAL",
    "DEFAULT_KEEP",
    "DEFAULT_MAX_BYTES",
    "BufferedFileWriter",
    "ConsoleLog",
    "DelayedCall",
    "Opener",
    "Scheduler",
    "open_file",
    "parse_byte_size",
    "rotate_files",
    "rotate_previous_run",
    "rotated_path",
]

log = Logger()

#: Largest size of one log file before it is rotated (10 MiB).
DEFAULT_MAX_BYTES = 10 * 1024 * 1024
#: Rotated files kept (``path.1`` ... ``path.5``); the oldest beyond this is deleted.
DEFAULT_KEEP = 5
#: Most seconds console output waits in memory before it is written to the file.
DEFAULT_FLUSH_INTERVAL = 0.5
#: Most bytes buffered in memory; reaching it writes the buffer at once.
DEFAULT_FLUSH_BYTES = 64 * 1024


_SIZE_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}


def parse_byte_size(text: str) -> int:
    """``"10M"`` -> 10485760: a positive size with an optional binary unit K, M or G.

    The unit may be written ``K``, ``KB`` or ``KiB`` (all 1024). Raises ``ValueError``.
    """
    value = text.strip().lower().removesuffix("ib").removesuffix("b")
    unit = value[-1:] if value[-1:] in ("k", "m", "g") else ""
    digits = value[: len(value) - len(unit)]
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"size must look like 10M, 512K or 1048576, not {text!r}")
    return int(digits) * _SIZE_UNITS[unit]


class DelayedCall(Protocol):
    """A pending call from `Scheduler.callLater` (Twisted's ``IDelayedCall`` fits)."""

    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """The part of the reactor this module needs (a reactor or ``task.Clock`` fits)."""

    def callLater(self, delay: float, callable: Callable[[], object]) -> DelayedCall: ...


#: Opens a file for writing: ``(path, mode)`` with mode ``"ab"`` or ``"wb"``.
Opener = Callable[[Path, str], IO[bytes]]


def open_file(path: Path, mode: str) -> IO[bytes]:
    """The default `Opener`: the built-in ``open`` (buffered binary)."""
    return open(path, mode)


def rotated_path(path: Path, index: int) -> Path:
    """``path.index``: the index-th older file (1 is the newest rotated one)."""
    return path.with_name(f"{path.name}.{index}")


def rotate_files(path: Path, keep: int) -> None:
    """Shift ``path`` to ``path.1``, ``path.1`` to ``path.2``, ... dropping ``path.keep``.

    With ``keep`` 0 nothing is kept: ``path`` is removed. A missing ``path`` is not an error.
    Raises ``OSError`` when a rename fails.
    """
    if keep < 1:
        path.unlink(missing_ok=True)
        return
    # Only the run .1, .2, ... up to the first gap needs to move; at keep the oldest is replaced.
    top = 1
    while top < keep and rotated_path(path, top).exists():
        top += 1
    for index in range(top - 1, 0, -1):
        os.replace(rotated_path(path, index), rotated_path(path, index + 1))
    if path.exists():
        os.replace(path, rotated_path(path, 1))


def rotate_previous_run(path: Path, keep: int) -> None:
    """A new run starts: keep a non-empty file left by the previous one as ``path.1``."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size > 0:
        rotate_files(path, keep)


class BufferedFileWriter:
    """Bytes buffered in memory and written to a file on a timer, when full, and on close.

    Subclasses provide `_write_out` (the file handling). The first ``OSError`` stops the writer:
    it is logged once, kept in ``error``, and later writes are dropped cheaply.
    """

    #: What the file is, for log messages ("console log", "recording").
    kind = "file"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Scheduler,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_bytes: int = DEFAULT_FLUSH_BYTES,
        opener: Opener = open_file,
    ) -> None:
        if flush_interval < 0 or flush_bytes < 1:
            raise ValueError("flush_interval must be >= 0 and flush_bytes >= 1")
        self.path = Path(path)
        self._clock = clock
        self._flush_interval = flush_interval
        self._flush_bytes = flush_bytes
        self._opener = opener
        self._file: IO[bytes] | None = None
        self._buffer = bytearray()
        self._flush_call: DelayedCall | None = None
        self._closed = False
        #: Why writing stopped (``None`` while all is well); set once, on the first error.
        self.error: str | None = None
        #: Bytes handed to the file so far (rotations included).
        self.bytes_written = 0

    @property
    def active(self) -> bool:
        """True while data is still being recorded (not closed, no error)."""
        return not self._closed and self.error is None

    def _append(self, data: bytes) -> None:
        if not data or not self.active:
            return
        self._buffer += data
        if len(self._buffer) >= self._flush_bytes:
            self.flush()
        elif self._flush_call is None:
            self._flush_call = self._clock.callLater(self._flush_interval, self._timed_flush)

    def _timed_flush(self) -> None:
        self._flush_call = None
        self.flush()

    def flush(self) -> None:
        """Write everything buffered to the file now."""
        if self._flush_call is not None:
            if self._flush_call.active():
                self._flush_call.cancel()
            self._flush_call = None
        if not self._buffer or not self.active:
            return
        data = bytes(self._buffer)
        self._buffer.clear()
        try:
            self._write_out(data)
            if self._file is not None:
                self._file.flush()
        except OSError as exc:
            self._fail(exc)

    def _write_out(self, data: bytes) -> None:
        raise NotImplementedError

    def _write_file(self, data: bytes) -> None:
        if self._file is None:
            raise OSError(f"{self.path} is not open")
        self._file.write(data)
        self.bytes_written += len(data)

    def close(self) -> None:
        """Write what is buffered and close the file; later writes are ignored."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._close_file()

    def _close_file(self) -> None:
        handle, self._file = self._file, None
        if handle is None:
            return
        try:
            handle.close()
        except OSError as exc:
            self._fail(exc)

    def _fail(self, exc: OSError) -> None:
        self._stop(f"{exc.strerror or exc}")

    def _stop(self, reason: str) -> None:
        """Stop writing for good: log ``reason`` once and drop whatever is buffered."""
        if self.error is not None:
            return
        self.error = reason
        self._buffer.clear()
        if self._flush_call is not None and self._flush_call.active():
            self._flush_call.cancel()
        self._flush_call = None
        log.error("{kind} {path} stopped: {error}", kind=self.kind, path=str(self.path),
                  error=self.error)
        handle, self._file = self._file, None
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass  # already failing: the first error is the one reported


class ConsoleLog(BufferedFileWriter):
    """All console output appended to ``path``, rotated by size; opening starts a new boot.

    Raises ``OSError`` from the constructor if the file cannot be rotated or opened.
    """

    kind = "console log"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        clock: Scheduler,
        max_bytes: int = DEFAULT_MAX_BYTES,
        keep: int = DEFAULT_KEEP,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_bytes: int = DEFAULT_FLUSH_BYTES,
        opener: Opener = open_file,
    ) -> None:
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be positive, not {max_bytes}")
        if keep < 0:
            raise ValueError(f"keep must not be negative, not {keep}")
        super().__init__(path, clock=clock, flush_interval=flush_interval,
                         flush_bytes=flush_bytes, opener=opener)
        self.max_bytes = max_bytes
        self.keep = keep
        rotate_previous_run(self.path, keep)
        self._file = opener(self.path, "ab")
        self._size = self._file.tell()

    def listener(self, data: bytes) -> None:
        """A ``ConsoleSession.raw_listeners`` entry: log these console bytes."""
        self._append(data)

    def _write_out(self, data: bytes) -> None:
        start, end = 0, len(data)
        while start < end:
            room = self.max_bytes - self._size
            if end - start <= room:
                cut = end
            else:
                # Prefer to end a file after a whole line, so that lines are not split between
                # two files; a line longer than a whole file is cut where the file is full.
                cut = data.rfind(b"\n", start, start + room) + 1
                if cut <= start:
                    cut = start + room if self._size == 0 else start
            if cut == start:
                self._rotate()
                continue
            self._write_file(data[start:cut])
            self._size += cut - start
            start = cut

    def _rotate(self) -> None:
        handle, self._file = self._file, None
        if handle is not None:
            handle.close()
        rotate_files(self.path, self.keep)
        self._file = self._opener(self.path, "ab")
        self._size = 0

    def files(self) -> list[Path]:
        """The log's files that exist now, newest first."""
        found = [self.path] if self.path.exists() else []
        for index in range(1, self.keep + 1):
            older = rotated_path(self.path, index)
            if not older.exists():
                break
            found.append(older)
        return found
