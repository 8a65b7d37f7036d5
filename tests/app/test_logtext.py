"""The lean text log observer writes exactly what Twisted's text file observer writes."""

from __future__ import annotations

import io
import time
from typing import Any

import pytest
from twisted.logger import Logger, LogLevel, LogPublisher, textFileLogObserver
from twisted.python.failure import Failure

from vncterm.logtext import TextLogObserver

#: One moment for every event compared (Twisted's text of an unformattable event shows it).
WHEN = 1_795_000_000.25


def both(emit: Any) -> tuple[str, str]:
    """What Twisted's observer and ours write for the events ``emit(log)`` logs."""
    outputs = []
    for make in (textFileLogObserver, TextLogObserver):
        stream = io.StringIO()
        observer = make(stream)

        def at_one_time(event: dict[str, Any], observer: Any = observer) -> None:
            observer({**event, "log_time": WHEN})

        log = Logger(namespace="consoleproxy.protocol", observer=LogPublisher(at_one_time))
        emit(log)
        outputs.append(stream.getvalue())
    return outputs[0], outputs[1]


class Thing:
    name = "thing"

    def __repr__(self) -> str:
        return "<Thing>"


@pytest.mark.parametrize("emit", [
    lambda log: log.info(
        "console request from {peer}: user {user}, {status} {reason}; {bytes_in} bytes in, "
        "{duration:.3f} s", peer="127.0.0.1:5555", user="root", status=200, reason="OK",
        bytes_in=138, duration=0.30251),
    lambda log: log.warn("limit {name} is {value!r}", name="x", value=b"\x00"),
    lambda log: log.error("two\nlines {n}", n=2),
    lambda log: log.info("attribute {thing.name} and index {pair[1]}", thing=Thing(),
                         pair=("a", "b")),
    lambda log: log.info("a call {thing.name.upper()}", thing=Thing()),
    lambda log: log.info("missing {nothing}"),
    lambda log: log.info("system given", log_system="my system"),
    lambda log: log.info(""),
], ids=["audit", "repr", "multi-line", "lookups", "call", "missing", "system", "empty"])
def test_lines_match_twisteds(emit: Any) -> None:
    """Formats, lookups, calls, missing keys, a given system and multi-line text."""
    theirs, ours = both(emit)
    assert ours == theirs


def test_a_failure_is_written_with_its_traceback() -> None:
    """An event with a failure (log.failure) gets Twisted's own text, traceback included."""
    def emit(log: Logger) -> None:
        try:
            raise ValueError("boom")
        except ValueError:
            log.failure("handler failed for {peer}", Failure(), peer="p")

    theirs, ours = both(emit)
    assert "ValueError: boom" in ours
    assert ours == theirs


def test_an_event_without_a_time_or_level_matches_twisteds() -> None:
    """No time: "-" for the timestamp; no namespace or level: "-#-" for the system."""
    event = {"log_format": "bare {x}", "x": 1}
    theirs, ours = io.StringIO(), io.StringIO()
    textFileLogObserver(theirs)(dict(event))
    TextLogObserver(ours)(dict(event))
    assert ours.getvalue() == theirs.getvalue() == "- [-#-] bare 1\n"


def test_timestamps_follow_the_clock_across_seconds() -> None:
    """The cached timestamp changes with the second of each event."""
    stream = io.StringIO()
    observer = TextLogObserver(stream)
    now = time.time()
    for when in (now, now + 0.2, now + 1.0, now + 3600.0):
        observer({"log_format": "x", "log_time": when, "log_namespace": "n",
                  "log_level": LogLevel.info})
    stamps = [line.split(" ", 1)[0] for line in stream.getvalue().splitlines()]
    reference = io.StringIO()
    twisted_observer = textFileLogObserver(reference)
    for when in (now, now + 0.2, now + 1.0, now + 3600.0):
        twisted_observer({"log_format": "x", "log_time": when, "log_namespace": "n",
                          "log_level": LogLevel.info})
    assert stamps == [line.split(" ", 1)[0] for line in reference.getvalue().splitlines()]
    assert len(set(stamps)) >= 3


def test_plain_formats_do_not_go_through_twisteds_formatter(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The audit line's kind of format is written without Twisted's (slow) formatter."""
    def unused(event: Any, **kw: Any) -> str:
        raise AssertionError("Twisted's formatter was used")

    monkeypatch.setattr("vncterm.logtext.formatEventAsClassicLogText", unused)
    stream = io.StringIO()
    log = Logger(namespace="n", observer=LogPublisher(TextLogObserver(stream)))
    log.info("{peer}: {status} {reason}; {duration:.3f} s", peer="p", status=200, reason="OK",
             duration=0.5)
    assert stream.getvalue().endswith(" [n#info] p: 200 OK; 0.500 s\n")


def test_debug_events_are_left_out_unless_asked_for() -> None:
    """Debug lines (one per page or XML-RPC connection) are not written by default; with
    debug=True they are, as Twisted writes them."""
    for debug in (False, True):
        stream = io.StringIO()
        log = Logger(namespace="consoleproxy.protocol",
                     observer=LogPublisher(TextLogObserver(stream, debug=debug)))
        log.debug("http connection from {peer} closed", peer="127.0.0.1:5")
        log.info("console request from {peer}", peer="127.0.0.1:6")
        lines = stream.getvalue().splitlines()
        assert [line.split("] ", 1)[1] for line in lines] == (
            ["http connection from 127.0.0.1:5 closed", "console request from 127.0.0.1:6"]
            if debug else ["console request from 127.0.0.1:6"])
