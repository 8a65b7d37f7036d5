"""Dispatching the reactor's I/O events without Twisted's per-event logging context.

Twisted's reactors run every read and write event through ``log.callWithLogger``, which asks
the connection for its log prefix and pushes it as a context (for legacy ``log.msg`` calls
made inside), then pops it again: several microseconds an event, a quarter of what relaying a
byte costs consoleproxy. Our logging (twisted.logger) never reads that context; the cost buys
only the ``[system]`` label of Twisted's own legacy messages. `install` replaces it with a
dispatch that keeps the part that matters: an exception escaping an event handler is logged,
not raised into the reactor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.python import log

_original = log.callWithLogger


def _call_with_logger(logger: object, func: Callable[..., Any], *args: Any, **kw: Any) -> Any:
    try:
        return func(*args, **kw)
    except KeyboardInterrupt:
        raise
    except BaseException:
        log.err(system=_prefix(logger))
        return None


def _prefix(logger: object) -> str:
    try:
        return str(logger.logPrefix())  # type: ignore[attr-defined]
    except Exception:
        return "(buggy logPrefix method)"


def install() -> None:
    """Use the lean dispatch from now on, in this process (idempotent)."""
    log.callWithLogger = _call_with_logger


def uninstall() -> None:
    """Back to Twisted's own dispatch (for tests)."""
    log.callWithLogger = _original
