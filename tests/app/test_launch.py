"""A command console started through a launcher: what is spawned, the pty handed to the
console user, throwaway resources released on exit and on failure, respawn asking again."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet.error import ProcessDone
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure

from tests.app.test_backends import RecordingSink
from vncterm.backends.command import CommandSource
from vncterm.backends.launch import Launch


@dataclass
class Spawned:
    argv: list[str]
    env: dict[str, str]
    path: str | None
    slave_owner: int
    protocol: Any


class FakeProcess:
    def __init__(self, master: int) -> None:
        self.master = master
        self.signals: list[str] = []

    def fileno(self) -> int:
        return self.master

    def signalProcess(self, name: str) -> None:
        self.signals.append(name)


class ProcessReactor(MemoryReactorClock):
    """A memory reactor that records spawnProcess calls (and can refuse them)."""

    def __init__(self) -> None:
        super().__init__()
        self.spawned: list[Spawned] = []
        self.refuse: OSError | None = None
        self.fds: list[int] = []

    def spawnProcess(self, protocol: Any, executable: str, args: Sequence[str],
                     env: Mapping[str, str], path: str | None = None,
                     usePTY: Any = None) -> FakeProcess:
        if self.refuse is not None:
            raise self.refuse
        master, slave, _ = usePTY
        self.fds += [master, slave]
        assert executable == args[0]
        self.spawned.append(Spawned(list(args), dict(env), path, os.fstat(slave).st_uid,
                                    protocol))
        return FakeProcess(master)

    def close(self) -> None:
        for fd in self.fds:
            try:
                os.close(fd)
            except OSError:
                pass


@dataclass
class RecordingLauncher:
    """Wraps every command in a marker and counts what it handed out and got back."""

    owner: int | None = None
    fail: OSError | None = None
    prepared: list[list[str]] = field(default_factory=list)
    cleaned: int = 0

    def prepare(self, argv: Sequence[str], environment: Mapping[str, str]) -> Launch:
        if self.fail is not None:
            raise self.fail
        self.prepared.append(list(argv))
        return Launch(("/usr/bin/wrapper", "--", *argv), {"ONLY": "this", "TERM": "dumb"},
                      directory="/tmp", tty_owner=self.owner, cleanup=self.cleanup)

    def cleanup(self) -> None:
        self.cleaned += 1


def test_launcher_decides_what_runs_and_the_console_keeps_its_terminal() -> None:
    """The launcher's command line, environment and directory are spawned, with the console's
    own TERM and size, and the pty given to the console user."""
    reactor = ProcessReactor()
    # Root can give the pty away (to nobody); anyone else can only check the call is made.
    owner = 65534 if os.geteuid() == 0 else os.geteuid()
    launcher = RecordingLauncher(owner=owner)
    source = CommandSource(reactor, ["/bin/sh", "-i"], columns=100, rows=30,
                           term="xterm-256color", environment={"SECRET": "x"},
                           launcher=launcher)
    sink = RecordingSink()
    try:
        source.start(sink)
        [spawned] = reactor.spawned
        assert spawned.argv == ["/usr/bin/wrapper", "--", "/bin/sh", "-i"]
        assert spawned.env == {"ONLY": "this", "TERM": "xterm-256color", "COLUMNS": "100",
                               "LINES": "30"}
        assert spawned.path == "/tmp"
        assert spawned.slave_owner == owner
        assert sink.events == ["connected"]
        assert launcher.prepared == [["/bin/sh", "-i"]]
    finally:
        reactor.close()


def test_each_respawn_is_launched_afresh_and_each_end_cleaned_up() -> None:
    """A program that ends releases its launch; the respawn asks the launcher again."""
    reactor = ProcessReactor()
    launcher = RecordingLauncher()
    source = CommandSource(reactor, ["/bin/sh"], columns=80, rows=24, term="xterm",
                           respawn=True, respawn_delay=1.0, launcher=launcher)
    sink = RecordingSink()
    try:
        source.start(sink)
        reactor.spawned[-1].protocol.processEnded(Failure(ProcessDone(0)))
        assert launcher.cleaned == 1
        reactor.advance(1.0)
        assert len(launcher.prepared) == 2 and len(reactor.spawned) == 2
        source.stop()
        reactor.spawned[-1].protocol.processEnded(Failure(ProcessDone(0)))
        assert launcher.cleaned == 2
        assert sink.events == ["connected", "lost", "connected", "final"]
    finally:
        reactor.close()


def test_a_launch_that_cannot_start_is_released_and_reported() -> None:
    """A refused launch or a failed spawn ends the console with the reason, releasing what
    the launcher handed out."""
    reactor = ProcessReactor()
    refusing = RecordingLauncher(fail=PermissionError("setpriv is needed"))
    source = CommandSource(reactor, ["/bin/sh"], columns=80, rows=24, term="xterm",
                           launcher=refusing)
    sink = RecordingSink()
    source.start(sink)
    assert reactor.spawned == [] and sink.events == ["final"]

    launcher = RecordingLauncher()
    reactor.refuse = FileNotFoundError("no such program")
    source = CommandSource(reactor, ["/bin/sh"], columns=80, rows=24, term="xterm",
                           launcher=launcher)
    sink = RecordingSink()
    source.start(sink)
    assert launcher.cleaned == 1 and sink.events == ["final"]
