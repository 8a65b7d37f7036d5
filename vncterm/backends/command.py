"""A command spawned in a fresh pty: the `vncterm -- COMMAND` console source.

What actually runs is the launcher's choice (:mod:`vncterm.backends.launch`): by default the
command itself; :class:`vncterm.sandbox.Confinement` wraps it in resource limits, another user
and a sandbox. The pty, TERM, window-size changes and respawn work the same either way.
"""

from __future__ import annotations

import fcntl
import os
import pty
import struct
import termios
from collections.abc import Mapping, Sequence
from typing import Any

from twisted.internet.error import ProcessDone, ProcessTerminated
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from vncterm.backends.base import ConsoleSink
from vncterm.backends.launch import Launch, Launcher, PlainLauncher
from vncterm.backends.ttybacklog import TtyBacklog

log = Logger()


def set_window_size(fd: int, columns: int, rows: int) -> None:
    """Set a pty's window size (TIOCSWINSZ): the kernel sends SIGWINCH to its foreground job."""
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))


def exit_description(reason: Failure) -> str:
    """How a process ended, in words for the status line."""
    value = reason.value
    if isinstance(value, ProcessDone):
        return "exited with status 0"
    if isinstance(value, ProcessTerminated):
        if value.signal is not None:
            return f"killed by signal {value.signal}"
        return f"exited with status {value.exitCode}"
    return f"ended ({value})"


class _CommandProtocol(ProcessProtocol):
    def __init__(self, owner: CommandSource) -> None:
        self._owner = owner

    def outReceived(self, data: bytes) -> None:
        self._owner.sink_output(data)

    def processEnded(self, reason: Failure) -> None:
        self._owner.process_ended(reason)


class CommandSource:
    """Runs `argv` in a new pty; respawns it on exit when asked to."""

    def __init__(
        self,
        reactor: Any,
        argv: Sequence[str],
        *,
        columns: int,
        rows: int,
        term: str,
        environment: Mapping[str, str] | None = None,
        respawn: bool = False,
        respawn_delay: float = 1.0,
        launcher: Launcher | None = None,
    ) -> None:
        if not argv:
            raise ValueError("a command is needed")
        self._reactor = reactor
        self._argv = list(argv)
        self._columns = columns
        self._rows = rows
        self._term = term
        self._environment = dict(os.environ if environment is None else environment)
        self._respawn = respawn
        self._respawn_delay = respawn_delay
        self._launcher: Launcher = launcher or PlainLauncher()
        self._launch: Launch | None = None
        self._sink: ConsoleSink | None = None
        self._process: Any = None
        self._stopped = False
        self._backlog = TtyBacklog()
        self.description = os.path.basename(self._argv[0])

    def start(self, sink: ConsoleSink) -> None:
        self._sink = sink
        self._spawn()

    def _spawn(self) -> None:
        env = dict(self._environment)
        env["TERM"] = self._term
        env["COLUMNS"] = str(self._columns)
        env["LINES"] = str(self._rows)
        try:
            launch = self._launcher.prepare(self._argv, env)
        except OSError as exc:
            self._start_failed(exc)
            return
        environment = dict(launch.environment)
        for name in ("TERM", "COLUMNS", "LINES"):
            environment[name] = env[name]
        master, slave = pty.openpty()
        try:
            set_window_size(slave, self._columns, self._rows)
            if launch.tty_owner is not None:
                os.fchown(slave, launch.tty_owner, -1)
            self._process = self._reactor.spawnProcess(
                _CommandProtocol(self),
                launch.argv[0],
                list(launch.argv),
                env=environment,
                path=launch.directory,
                usePTY=(master, slave, os.ttyname(slave)),
            )
        except OSError as exc:
            os.close(master)
            os.close(slave)
            launch.cleanup()
            self._start_failed(exc)
            return
        self._launch = launch
        if self._sink is not None:
            self._sink.console_connected(" ".join(self._argv))

    def _start_failed(self, exc: OSError) -> None:
        self._process = None
        log.error("cannot start {argv}: {error}", argv=self._argv, error=exc)
        if self._sink is not None:
            self._sink.console_disconnected(f"cannot start: {exc}", final=True)

    def sink_output(self, data: bytes) -> None:
        self._backlog.read(len(data))
        if self._sink is not None:
            self._sink.console_output(data)

    def process_ended(self, reason: Failure) -> None:
        self._process = None
        launch, self._launch = self._launch, None
        if launch is not None:
            launch.cleanup()
        how = exit_description(reason)
        log.info("console command {argv} {how}", argv=self._argv, how=how)
        final = self._stopped or not self._respawn
        if self._sink is not None:
            self._sink.console_disconnected(f"{self.description} {how}", final=final)
        if not final:
            self._reactor.callLater(self._respawn_delay, self._respawn_now)

    def _respawn_now(self) -> None:
        if not self._stopped and self._process is None:
            self._spawn()

    def write(self, data: bytes) -> None:
        process = self._process
        if process is not None and data:
            process.write(data)

    def resize(self, columns: int, rows: int) -> None:
        self._columns, self._rows = columns, rows
        process = self._process
        if process is not None:
            try:
                set_window_size(process.fileno(), columns, rows)
            except OSError as exc:
                log.warn("cannot resize the pty: {error}", error=exc)

    def unread_bytes(self) -> int:
        process = self._process
        return self._backlog.unread(process.fileno()) if process is not None else 0

    def pause_reading(self) -> None:
        process = self._process
        if process is not None:
            process.pauseProducing()

    def resume_reading(self) -> None:
        process = self._process
        if process is not None:
            process.resumeProducing()

    def stop(self) -> None:
        self._stopped = True
        process = self._process
        if process is not None:
            try:
                process.signalProcess("HUP")
            except Exception:  # the process may already be gone
                pass
