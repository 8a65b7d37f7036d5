"""How much console output a tty holds beyond what FIONREAD shows, to place a keystroke's echo.

A program that floods a pty keeps the kernel's buffers full. Only the line discipline's part
of them (at most one read's worth) is visible to FIONREAD; the rest waits in the tty's flip
buffer. A key's echo comes after all of it, so while reads keep coming back full the session
is told a little more than a whole buffer is ahead (what a pty holds is measured once on a
pty pair), and only what FIONREAD shows once a read comes back short.
"""

from __future__ import annotations

import array
import fcntl
import functools
import os
import termios
import tty

#: Bytes written to the probe pty at most (a kernel holding more than this is not measured).
PROBE_LIMIT = 1 << 20


def unread_bytes_on(fd: int) -> int:
    """Bytes ready to be read on `fd` (a tty or a socket) by FIONREAD; 0 when unknown."""
    count = array.array("i", [0])
    try:
        fcntl.ioctl(fd, termios.FIONREAD, count)
    except (OSError, ValueError):
        return 0
    return max(0, count[0])


@functools.cache
def pty_buffering() -> tuple[int, int]:
    """(largest single read, bytes held in all) of a raw pty on this kernel; (0, 0) when no pty
    can be opened."""
    try:
        master, slave = os.openpty()
    except OSError:
        return 0, 0
    try:
        tty.setraw(slave)
        os.set_blocking(slave, False)
        os.set_blocking(master, False)
        held = 0
        chunk = bytes(1024)
        while held < PROBE_LIMIT:
            try:
                held += os.write(slave, chunk)
            except BlockingIOError:
                break
        try:
            largest = len(os.read(master, PROBE_LIMIT))
        except BlockingIOError:
            largest = 0
        return largest, held
    except OSError:
        return 0, 0
    finally:
        os.close(slave)
        os.close(master)


class TtyBacklog:
    """Tracks a tty source's reads to estimate the bytes written but not read yet."""

    def __init__(self) -> None:
        self._backed_up = False

    def read(self, size: int) -> None:
        """The source just read `size` bytes."""
        largest, _ = pty_buffering()
        self._backed_up = largest > 0 and size >= largest

    def unread(self, fd: int) -> int:
        """About this many bytes were written to the tty and not read yet, erring high while
        reads come back full (FIONREAD alone after a short read: the buffers were empty)."""
        visible = unread_bytes_on(fd)
        if not self._backed_up:
            return visible
        _, held = pty_buffering()
        # More than the tty holds: the program goes on writing while it gets round to reading
        # the key. Placing the mark too far costs little (emulating a few KiB more before the
        # echo is drawn); too near costs a frame drawn before the echo, which then waits
        # for the next one.
        return max(visible, held * 5 // 4)
