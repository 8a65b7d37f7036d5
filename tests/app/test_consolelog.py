"""The console log: buffering on a fake clock, size rotation with a cap, boots, and errors."""

from __future__ import annotations

import errno
import io
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.task import Clock
from twisted.internet.testing import MemoryReactorClock
from twisted.logger import capturedLogs, formatEvent

from vncterm.backends.memory import MemorySource as QuietConsole
from vncterm.consolelog import DEFAULT_FLUSH_INTERVAL, ConsoleLog, parse_byte_size, rotated_path
from vncterm.session import ConsoleSession


def read_all(log: ConsoleLog) -> bytes:
    """Every kept byte, oldest file first."""
    return b"".join(path.read_bytes() for path in reversed(log.files()))


class FullDisk(io.BytesIO):
    """A file that accepts ``room`` bytes and then fails as a full disk does."""

    def __init__(self, room: int) -> None:
        super().__init__()
        self.room = room

    def write(self, data: bytes) -> int:  # type: ignore[override]
        if len(data) > self.room:
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(data)
        return super().write(data)


def test_output_waits_for_the_flush_timer(tmp_path: Path) -> None:
    """Console output reaches the file when the flush timer fires, not on every write."""
    clock = Clock()
    log = ConsoleLog(tmp_path / "console.log", clock=clock)
    log.listener(b"hello ")
    log.listener(b"world\r\n")
    assert (tmp_path / "console.log").read_bytes() == b""
    assert len(clock.getDelayedCalls()) == 1
    clock.advance(DEFAULT_FLUSH_INTERVAL)
    assert (tmp_path / "console.log").read_bytes() == b"hello world\r\n"
    assert clock.getDelayedCalls() == []
    log.close()


def test_a_full_buffer_is_written_at_once(tmp_path: Path) -> None:
    """Reaching flush_bytes writes the buffer without waiting for the timer."""
    clock = Clock()
    log = ConsoleLog(tmp_path / "console.log", clock=clock, flush_bytes=10)
    log.listener(b"0123456789ab")
    assert (tmp_path / "console.log").read_bytes() == b"0123456789ab"
    assert clock.getDelayedCalls() == []
    log.close()


def test_close_writes_the_buffer_and_stops(tmp_path: Path) -> None:
    """Closing writes what is buffered, cancels the timer, and ignores later output."""
    clock = Clock()
    log = ConsoleLog(tmp_path / "console.log", clock=clock)
    log.listener(b"last words")
    log.close()
    log.listener(b"after close")
    log.close()
    assert (tmp_path / "console.log").read_bytes() == b"last words"
    assert clock.getDelayedCalls() == []
    assert not log.active


def test_rotation_keeps_at_most_keep_files_of_at_most_max_bytes(tmp_path: Path) -> None:
    """Size rotation shifts files to .1, .2 and drops the oldest beyond keep: disk use is capped."""
    clock = Clock()
    path = tmp_path / "console.log"
    log = ConsoleLog(path, clock=clock, max_bytes=100, keep=2)
    written = b"".join(b"line %03d\n" % n for n in range(100))
    for offset in range(0, len(written), 37):
        log.listener(written[offset : offset + 37])
        clock.advance(DEFAULT_FLUSH_INTERVAL)
    log.close()
    assert log.files() == [path, rotated_path(path, 1), rotated_path(path, 2)]
    assert not rotated_path(path, 3).exists()
    assert all(0 < p.stat().st_size <= 100 for p in log.files())
    kept = read_all(log)
    assert written.endswith(kept)
    assert len(kept) > 200


def test_rotation_ends_files_on_whole_lines(tmp_path: Path) -> None:
    """A file is rotated after the last complete line that fits, so lines are not split."""
    clock = Clock()
    path = tmp_path / "console.log"
    log = ConsoleLog(path, clock=clock, max_bytes=64, keep=50)
    written = b"".join(b"message number %d\r\n" % n for n in range(40))
    log.listener(written)
    log.close()
    assert read_all(log) == written
    for rotated in log.files()[1:]:
        assert rotated.read_bytes().endswith(b"\r\n")


def test_a_line_longer_than_a_file_is_cut_without_loss(tmp_path: Path) -> None:
    """Output without newlines is split at max_bytes and nothing is lost."""
    clock = Clock()
    log = ConsoleLog(tmp_path / "console.log", clock=clock, max_bytes=10, keep=10)
    log.listener(b"x" * 35)
    log.close()
    assert [p.stat().st_size for p in reversed(log.files())] == [10, 10, 10, 5]
    assert read_all(log) == b"x" * 35


def test_the_previous_boot_is_kept(tmp_path: Path) -> None:
    """Opening the log again (a new vncterm start) moves the previous boot's log to .1."""
    path = tmp_path / "console.log"
    first = ConsoleLog(path, clock=Clock())
    first.listener(b"boot one\n")
    first.close()
    second = ConsoleLog(path, clock=Clock())
    second.listener(b"boot two\n")
    second.close()
    assert path.read_bytes() == b"boot two\n"
    assert rotated_path(path, 1).read_bytes() == b"boot one\n"


def test_an_empty_previous_log_is_not_rotated(tmp_path: Path) -> None:
    """A boot that wrote nothing does not push older boots' logs out of the kept files."""
    path = tmp_path / "console.log"
    first = ConsoleLog(path, clock=Clock())
    first.listener(b"boot one\n")
    first.close()
    ConsoleLog(path, clock=Clock()).close()
    third = ConsoleLog(path, clock=Clock())
    third.close()
    assert rotated_path(path, 1).read_bytes() == b"boot one\n"
    assert not rotated_path(path, 2).exists()


def test_keep_zero_keeps_only_the_current_file(tmp_path: Path) -> None:
    """With keep=0 nothing older than the current file survives a boot or a rotation."""
    path = tmp_path / "console.log"
    first = ConsoleLog(path, clock=Clock(), keep=0, max_bytes=8)
    first.listener(b"aaaa\nbbbb\ncc\n")
    first.close()
    assert path.read_bytes() == b"bbbb\ncc\n"
    ConsoleLog(path, clock=Clock(), keep=0).close()
    assert path.read_bytes() == b""
    assert list(tmp_path.iterdir()) == [path]


def test_opening_an_unwritable_log_raises(tmp_path: Path) -> None:
    """A log that cannot be opened fails at start-up, so the command line can say so."""
    with pytest.raises(OSError):
        ConsoleLog(tmp_path / "missing-directory" / "console.log", clock=Clock())


def test_a_write_error_stops_logging_once_and_never_raises(tmp_path: Path) -> None:
    """A full disk is logged once, recorded in error, and the console carries on unlogged."""
    clock = Clock()
    disk = FullDisk(room=5)

    def opener(path: Path, mode: str) -> IO[bytes]:
        return disk

    log = ConsoleLog(tmp_path / "console.log", clock=clock, opener=opener)
    with capturedLogs() as events:
        log.listener(b"12345")
        clock.advance(DEFAULT_FLUSH_INTERVAL)
        log.listener(b"6789")
        clock.advance(DEFAULT_FLUSH_INTERVAL)
        log.listener(b"more")
        clock.advance(DEFAULT_FLUSH_INTERVAL)
        log.close()
    messages = [formatEvent(event) for event in events]
    assert len(messages) == 1
    assert "console log" in messages[0] and "No space left on device" in messages[0]
    assert log.error == "No space left on device"
    assert not log.active
    assert clock.getDelayedCalls() == []


def test_the_session_logs_output_nobody_watches(tmp_path: Path) -> None:
    """As a raw listener the log receives console output even with no viewer attached."""
    reactor = MemoryReactorClock()
    console = QuietConsole()
    session = ConsoleSession(reactor, console)
    log = ConsoleLog(tmp_path / "console.log", clock=reactor)
    session.raw_listeners.append(log.listener)
    session.start()
    assert console.sink is not None
    console.sink.console_output(b"Linux version 6.1\r\n")
    reactor.advance(1)
    assert session.viewers == []
    assert (tmp_path / "console.log").read_bytes() == b"Linux version 6.1\r\n"
    log.close()


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.binary(max_size=40), max_size=30),
    flushes=st.lists(st.booleans(), max_size=30),
    max_bytes=st.integers(min_value=1, max_value=50),
)
def test_rotation_never_loses_or_reorders_bytes(
    tmp_path_factory: pytest.TempPathFactory, chunks: list[bytes], flushes: list[bool],
    max_bytes: int,
) -> None:
    """However output is split and flushed, the kept files in order are exactly the output."""
    path = tmp_path_factory.mktemp("log") / "console.log"
    clock = Clock()
    log = ConsoleLog(path, clock=clock, max_bytes=max_bytes, keep=10_000)
    for chunk, flush in zip(chunks, flushes + [False] * len(chunks), strict=False):
        log.listener(chunk)
        if flush:
            clock.advance(DEFAULT_FLUSH_INTERVAL)
    log.close()
    assert read_all(log) == b"".join(chunks)
    assert all(p.stat().st_size <= max_bytes for p in log.files())


@pytest.mark.parametrize(("text", "size"), [
    ("1048576", 1 << 20), ("10M", 10 << 20), ("512k", 512 << 10), ("2KiB", 2048),
    ("1G", 1 << 30), ("3MB", 3 << 20),
])
def test_parse_byte_size_reads_binary_units(text: str, size: int) -> None:
    """Sizes for the command line take K, M and G as powers of 1024."""
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("text", ["", "M", "0", "-1", "1.5M", "10T", "ten"])
def test_parse_byte_size_rejects_nonsense(text: str) -> None:
    """Anything but a positive whole number with an optional unit is refused."""
    with pytest.raises(ValueError):
        parse_byte_size(text)
