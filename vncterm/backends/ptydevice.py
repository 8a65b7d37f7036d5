"""An existing pty or tty device opened by path: how a domain's console is reached."""

from __future__ import annotations

import errno
import os
import termios
import tty
from typing import Any

from twisted.internet import abstract
from twisted.logger import Logger
from twisted.python.failure import Failure

from vncterm.backends.base import ConsoleSink
from vncterm.backends.command import set_window_size
from vncterm.backends.ttybacklog import TtyBacklog

log = Logger()

#: Bytes read from the device per read call.
READ_SIZE = 65536


class _DeviceReader(abstract.FileDescriptor):
    """Reads and writes one open device file descriptor on the reactor."""

    def __init__(self, reactor: Any, fd: int, owner: PtyDeviceSource) -> None:
        super().__init__(reactor)
        self._fd = fd
        self._owner = owner
        self.connected = 1

    def fileno(self) -> int:
        return self._fd

    def doRead(self) -> Any:
        try:
            data = os.read(self._fd, READ_SIZE)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return None
            # EIO: the other side of the pty closed (the domain went away).
            return exc
        if not data:
            return Failure(EOFError("end of file"))
        self._owner.sink_output(data)
        return None

    def writeSomeData(self, data: bytes) -> Any:
        try:
            return os.write(self._fd, data)
        except OSError as exc:
            if exc.errno in (errno.EAGAIN, errno.EINTR):
                return 0
            return exc

    def connectionLost(self, reason: Failure) -> None:
        super().connectionLost(reason)
        try:
            os.close(self._fd)
        except OSError:
            pass
        self._owner.device_lost(reason)


class PtyDeviceSource:
    """Attaches to `path` (e.g. /dev/pts/3) in raw mode; reopens it with back-off when it closes."""

    #: A domain console is a serial line underneath: about 1/5 of 115200 baud leaves room for
    #: the guest's echo and line discipline, so nothing pasted is dropped.
    paste_bytes_per_second = 2048

    def __init__(
        self,
        reactor: Any,
        path: str,
        *,
        retry_initial: float = 0.5,
        retry_max: float = 10.0,
    ) -> None:
        self._reactor = reactor
        self.path = path
        self.description = os.path.basename(path)
        self._reader: _DeviceReader | None = None
        self._sink: ConsoleSink | None = None
        self._stopped = False
        self._backlog = TtyBacklog()
        self._retry_initial = retry_initial
        self._retry_max = retry_max
        self._delay = retry_initial

    def start(self, sink: ConsoleSink) -> None:
        self._sink = sink
        self._open()

    def _open(self) -> None:
        if self._stopped:
            return
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
        except OSError as exc:
            log.warn("cannot open console {path}: {error}", path=self.path, error=exc)
            self._retry()
            return
        try:
            if os.isatty(fd):
                tty.setraw(fd, termios.TCSANOW)
        except termios.error as exc:
            log.warn("cannot set {path} to raw mode: {error}", path=self.path, error=exc)
        self._delay = self._retry_initial
        self._reader = _DeviceReader(self._reactor, fd, self)
        self._reader.startReading()
        if self._sink is not None:
            self._sink.console_connected(self.path)

    def _retry(self) -> None:
        delay, self._delay = self._delay, min(self._delay * 2, self._retry_max)
        self._reactor.callLater(delay, self._open)

    def sink_output(self, data: bytes) -> None:
        self._backlog.read(len(data))
        if self._sink is not None:
            self._sink.console_output(data)

    def device_lost(self, reason: Failure) -> None:
        self._reader = None
        if self._sink is not None:
            self._sink.console_disconnected(
                f"{self.path} closed", final=self._stopped
            )
        if not self._stopped:
            self._retry()

    def write(self, data: bytes) -> None:
        if self._reader is not None and data:
            self._reader.write(data)

    def resize(self, columns: int, rows: int) -> None:
        if self._reader is None:
            return
        try:
            set_window_size(self._reader.fileno(), columns, rows)
        except OSError:
            pass  # not every tty has a window size (serial lines)

    def send_break(self) -> None:
        """A serial BREAK (tcsendbreak): with a SysRq key after it, Linux's serial SysRq."""
        if self._reader is not None:
            try:
                termios.tcsendbreak(self._reader.fileno(), 0)
            except termios.error as exc:
                log.warn("cannot send a break on {path}: {error}", path=self.path, error=exc)

    def unread_bytes(self) -> int:
        return self._backlog.unread(self._reader.fileno()) if self._reader is not None else 0

    def pause_reading(self) -> None:
        if self._reader is not None:
            self._reader.stopReading()

    def resume_reading(self) -> None:
        if self._reader is not None:
            self._reader.startReading()

    def stop(self) -> None:
        self._stopped = True
        if self._reader is not None:
            self._reader.loseConnection()
