"""Recording the console as an asciicast v2 file, replayable with ``asciinema play``.

Format (asciinema's "asciicast v2"): newline-delimited JSON. The first line is a header
object ``{"version": 2, "width": COLS, "height": ROWS, "timestamp": UNIX_SECONDS, "env":
{"TERM": ...}, "title": ...}``; each further line is an event ``[seconds, code, data]`` with
seconds since the start of the recording, code ``"o"`` (console output, as text) or ``"r"``
(the terminal was resized, data ``"COLSxROWS"``).

`AsciicastEncoder` is the format alone (no I/O, no clock); `Recording` writes it to a file
through `vncterm.consolelog.BufferedFileWriter` (buffered, flushed on a timer, errors logged
once and never raised to the console). Output bytes are decoded as UTF-8 incrementally: a
character split between two reads is emitted whole with the later event, and invalid bytes
become U+FFFD (asciicast data is text, so raw non-UTF-8 bytes cannot be kept).
"""

from __future__ import annotations

import codecs
import json
import os
import time
from collections.abc import Callable

from vncterm.consolelog import (
    DEFAULT_FLUSH_BYTES,
    DEFAULT_FLUSH_INTERVAL,
    BufferedFileWriter,
    Opener,
    Scheduler,
    open_file,
    rotate_previous_run,
)
from vncterm.terminal import TERM_NAME

__all__ = [
    "ASCIICAST_VERSION",
    "DEFAULT_MAX_RECORDING_BYTES",
    "AsciicastEncoder",
    "Recording",
]

#: The asciicast format version written in the header.
ASCIICAST_VERSION = 2
#: Largest recording file; recording stops (logged once) when the next event would exceed it.
DEFAULT_MAX_RECORDING_BYTES = 1024 * 1024 * 1024
#: Event times are written with microsecond precision, as asciinema does.
_TIME_DIGITS = 6


def _line(value: object) -> bytes:
    # ensure_ascii=False keeps the file readable; json still escapes every control character.
    return json.dumps(value, ensure_ascii=False, separators=(", ", ": ")).encode() + b"\n"


class AsciicastEncoder:
    """Console output and resizes in, asciicast v2 lines (UTF-8 bytes, ``\\n``-ended) out."""

    def __init__(
        self,
        cols: int,
        rows: int,
        *,
        start: float,
        timestamp: int,
        term: str = TERM_NAME,
        title: str | None = None,
    ) -> None:
        self.cols = cols
        self.rows = rows
        self._start = start
        self._timestamp = timestamp
        self._term = term
        self._title = title
        self._last = 0.0
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def header(self) -> bytes:
        header: dict[str, object] = {
            "version": ASCIICAST_VERSION,
            "width": self.cols,
            "height": self.rows,
            "timestamp": self._timestamp,
            "env": {"TERM": self._term},
        }
        if self._title:
            header["title"] = self._title
        return _line(header)

    def _time(self, now: float) -> float:
        # Event times never go backwards, even if the clock does.
        self._last = max(self._last, round(now - self._start, _TIME_DIGITS))
        return self._last

    def output(self, data: bytes, now: float) -> bytes:
        """An ``"o"`` event for ``data``; empty if it only began a multibyte character."""
        text = self._decoder.decode(data)
        if not text:
            return b""
        return _line([self._time(now), "o", text])

    def resize(self, cols: int, rows: int, now: float) -> bytes:
        """An ``"r"`` event: the terminal is now ``cols`` x ``rows``."""
        self.cols, self.rows = cols, rows
        return _line([self._time(now), "r", f"{cols}x{rows}"])

    def finish(self, now: float) -> bytes:
        """The end of output: an incomplete trailing character becomes U+FFFD."""
        text = self._decoder.decode(b"", final=True)
        if not text:
            return b""
        return _line([self._time(now), "o", text])


class Recording(BufferedFileWriter):
    """The console recorded to ``path`` as asciicast v2, from now until `close`.

    A non-empty file left at ``path`` by a previous run is kept as ``path.1`` (replacing an
    older ``path.1``). Raises ``OSError`` from the constructor if the file cannot be opened.
    """

    kind = "recording"

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        cols: int,
        rows: int,
        clock: Scheduler,
        monotonic: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
        term: str = TERM_NAME,
        title: str | None = None,
        max_bytes: int = DEFAULT_MAX_RECORDING_BYTES,
        flush_interval: float = DEFAULT_FLUSH_INTERVAL,
        flush_bytes: int = DEFAULT_FLUSH_BYTES,
        opener: Opener = open_file,
    ) -> None:
        super().__init__(path, clock=clock, flush_interval=flush_interval,
                         flush_bytes=flush_bytes, opener=opener)
        self.max_bytes = max_bytes
        self._monotonic = monotonic
        self.encoder = AsciicastEncoder(cols, rows, start=monotonic(), timestamp=int(wall()),
                                        term=term, title=title)
        rotate_previous_run(self.path, 1)
        self._file = opener(self.path, "wb")
        self._append(self.encoder.header())

    def listener(self, data: bytes) -> None:
        """A ``ConsoleSession.raw_listeners`` entry: record these console bytes."""
        if self.active:
            self._append(self.encoder.output(data, self._monotonic()))

    def resize(self, cols: int, rows: int) -> None:
        """Record that the terminal is now ``cols`` x ``rows``."""
        if self.active:
            self._append(self.encoder.resize(cols, rows, self._monotonic()))

    def close(self) -> None:
        if self.active:
            self._append(self.encoder.finish(self._monotonic()))
        super().close()

    def _write_out(self, data: bytes) -> None:
        room = self.max_bytes - self.bytes_written
        if len(data) > room:
            # Only whole events: a truncated last line would make the file unparseable.
            cut = data.rfind(b"\n", 0, max(room, 0)) + 1
            self._write_file(data[:cut])
            self._stop(f"the recording reached its size limit of {self.max_bytes} bytes")
            return
        self._write_file(data)
