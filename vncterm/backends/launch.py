"""How a console program is started: the Launcher plug-in point and the Launch it returns.

A :class:`~vncterm.backends.command.CommandSource` asks its launcher once per start (and
again for every respawn) what to run: the launcher may wrap the command (resource limits,
another user, a sandbox: :mod:`vncterm.sandbox`), replace its environment and give it a
directory of its own that is removed when the program ends.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Launch:
    """One start of a console program."""

    #: What to execute; ``argv[0]`` is the program (an absolute path or one found on PATH).
    argv: tuple[str, ...]
    #: The program's whole environment (TERM, COLUMNS and LINES are added by the source).
    environment: Mapping[str, str]
    #: Working directory; None: the current one.
    directory: str | None = None
    #: Give the pty to this uid before starting (as login does), so the program can open its
    #: own terminal by name; None: leave it.
    tty_owner: int | None = None
    #: Called once when the program has ended or could not be started.
    cleanup: Callable[[], None] = field(default=_nothing)


class Launcher(Protocol):
    """Decides how a console program runs."""

    def prepare(self, argv: Sequence[str], environment: Mapping[str, str]) -> Launch:
        """The Launch of ``argv``; ``environment`` is what the program would get unconfined.

        Raises OSError when the program cannot be started this time (logged, like a failed
        exec).
        """
        ...


class PlainLauncher:
    """Runs the command as it is, with the environment it was given."""

    def prepare(self, argv: Sequence[str], environment: Mapping[str, str]) -> Launch:
        return Launch(tuple(argv), dict(environment))
