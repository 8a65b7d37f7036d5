"""The lean I/O event dispatch: no logging context, but the same safety net."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from twisted.logger import LogEvent, globalLogPublisher
from twisted.python import log

from vncterm import leandispatch


class Selectable:
    def logPrefix(self) -> str:
        return "relay,7,127.0.0.1"


@pytest.fixture
def installed() -> Iterator[list[LogEvent]]:
    events: list[LogEvent] = []
    globalLogPublisher.addObserver(events.append)
    leandispatch.install()
    yield events
    leandispatch.uninstall()
    globalLogPublisher.removeObserver(events.append)


def test_install_replaces_twisteds_dispatch(installed: list[LogEvent]) -> None:
    assert log.callWithLogger is not leandispatch._original
    leandispatch.install()  # again: no harm
    leandispatch.uninstall()
    assert log.callWithLogger is leandispatch._original


def test_handler_runs_and_its_value_comes_back(installed: list[LogEvent]) -> None:
    calls: list[Any] = []

    def handler(*args: Any, **kw: Any) -> str:
        calls.append((args, kw))
        return "done"

    assert log.callWithLogger(Selectable(), handler, 1, 2, key=3) == "done"
    assert calls == [((1, 2), {"key": 3})]


def test_an_exception_is_logged_with_the_prefix_not_raised(installed: list[LogEvent]) -> None:
    def handler() -> None:
        raise ValueError("boom")

    assert log.callWithLogger(Selectable(), handler) is None
    failures = [e for e in installed if e.get("isError")]
    assert len(failures) == 1
    assert failures[0]["failure"].check(ValueError)
    assert failures[0]["log_system"] == "relay,7,127.0.0.1"


def test_keyboard_interrupt_goes_through(installed: list[LogEvent]) -> None:
    def handler() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        log.callWithLogger(Selectable(), handler)
