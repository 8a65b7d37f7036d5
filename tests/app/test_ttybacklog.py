"""How much output a tty holds unread: FIONREAD, and the upper bound used while reads come
back full (the part in the kernel's flip buffer that FIONREAD does not show)."""

from __future__ import annotations

import os
import select
import socket
import tty
from collections.abc import Iterator

import pytest

from vncterm.backends.ttybacklog import TtyBacklog, pty_buffering, unread_bytes_on


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, int]]:
    master, slave = os.openpty()
    tty.setraw(slave)
    os.set_blocking(slave, False)
    yield master, slave
    os.close(master)
    os.close(slave)


def fill(fd: int) -> int:
    written = 0
    try:
        while True:
            written += os.write(fd, b"y" * 1024)
    except BlockingIOError:
        return written


def test_a_pty_is_measured() -> None:
    largest, held = pty_buffering()
    assert 0 < largest <= held


def test_unread_bytes_on_a_socket_and_a_closed_fd() -> None:
    ours, theirs = socket.socketpair()
    with ours, theirs:
        theirs.sendall(b"x" * 100)
        assert unread_bytes_on(ours.fileno()) == 100
    assert unread_bytes_on(ours.fileno()) == 0  # closed: unknown, not an error


def test_backed_up_pty_is_assumed_full(pty_pair: tuple[int, int]) -> None:
    """After a full read the estimate covers all the pty holds; FIONREAD alone would not."""
    master, slave = pty_pair
    written = fill(slave)
    backlog = TtyBacklog()
    data = os.read(master, 1 << 16)
    backlog.read(len(data))
    still_held = written - len(data)
    # FIONREAD usually shows only part of it here; how much the kernel has moved by now
    # depends on its timing (under load, sometimes all), so only the estimate is asserted.
    assert backlog.unread(master) >= still_held


def test_after_a_short_read_fionread_is_believed(pty_pair: tuple[int, int]) -> None:
    master, slave = pty_pair
    os.write(slave, b"echo")
    backlog = TtyBacklog()
    backlog.read(len(os.read(master, 1 << 16)))
    assert backlog.unread(master) == 0
    os.write(slave, b"more")
    # The kernel moves the bytes to where FIONREAD sees them asynchronously: wait for that.
    assert select.select([master], [], [], 5.0)[0]
    assert backlog.unread(master) == 4
