"""Recording as asciicast v2: the header, output and resize events, UTF-8 split across reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.task import Clock

from vncterm.consolelog import DEFAULT_FLUSH_INTERVAL
from vncterm.recording import AsciicastEncoder, Recording
from vncterm.terminal import TERM_NAME

WALL = 1_700_000_000.75


def parse(data: bytes) -> tuple[dict[str, Any], list[list[Any]]]:
    """An asciicast v2 file: the header and the events, checking the shape of every line."""
    assert data.endswith(b"\n")
    lines = data.decode("utf-8").split("\n")[:-1]
    header = json.loads(lines[0])
    assert isinstance(header, dict)
    assert header["version"] == 2
    events = [json.loads(line) for line in lines[1:]]
    for event in events:
        assert isinstance(event, list) and len(event) == 3
        assert isinstance(event[0], float | int) and event[0] >= 0
        assert event[1] in ("o", "r") and isinstance(event[2], str)
    times = [event[0] for event in events]
    assert times == sorted(times)
    return header, events


def replay(events: list[list[Any]]) -> str:
    """What a player writes to its terminal: the "o" data in order."""
    return "".join(data for _, code, data in events if code == "o")


def record(tmp_path: Path, **kwargs: Any) -> tuple[Recording, Clock]:
    clock = Clock()
    recording = Recording(tmp_path / "console.cast", cols=80, rows=24, clock=clock,
                          monotonic=clock.seconds, wall=lambda: WALL, **kwargs)
    return recording, clock


def test_the_header_describes_the_terminal(tmp_path: Path) -> None:
    """The first line is an asciicast v2 header with size, start time, TERM and title."""
    recording, _ = record(tmp_path, title="guest 7 console")
    recording.close()
    header, events = parse((tmp_path / "console.cast").read_bytes())
    assert header == {"version": 2, "width": 80, "height": 24, "timestamp": 1_700_000_000,
                      "env": {"TERM": TERM_NAME}, "title": "guest 7 console"}
    assert events == []


def test_output_events_carry_seconds_since_the_start(tmp_path: Path) -> None:
    """Each console read becomes an "o" event timed by the injected monotonic clock."""
    recording, clock = record(tmp_path)
    clock.advance(1.5)
    recording.listener(b"login: ")
    clock.advance(0.25)
    recording.listener(b"\x1b[1mroot\x1b[0m\r\n")
    recording.close()
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert events == [[1.5, "o", "login: "], [1.75, "o", "\x1b[1mroot\x1b[0m\r\n"]]


def test_resize_is_an_r_event(tmp_path: Path) -> None:
    """A resize is recorded as an "r" event with data COLSxROWS."""
    recording, clock = record(tmp_path)
    clock.advance(2)
    recording.resize(132, 43)
    recording.close()
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert events == [[2, "r", "132x43"]]


def test_a_character_split_between_reads_is_written_whole(tmp_path: Path) -> None:
    """The first bytes of a multibyte character wait for the rest: no U+FFFD, no empty event."""
    recording, clock = record(tmp_path)
    recording.listener(b"price \xe2\x82")
    clock.advance(1)
    recording.listener(b"\xac")
    recording.close()
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert events == [[0, "o", "price "], [1, "o", "\u20ac"]]


def test_invalid_and_unfinished_utf8_become_replacement_characters(tmp_path: Path) -> None:
    """Bytes that are not UTF-8, and a character cut off at close, are written as U+FFFD."""
    recording, _ = record(tmp_path)
    recording.listener(b"a\xffb")
    recording.listener(b"\xe6\x97")
    recording.close()
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert replay(events) == "a\ufffdb\ufffd"


def test_writes_are_buffered_until_the_timer(tmp_path: Path) -> None:
    """Events reach the file on the flush timer, so the reactor does not write per read."""
    recording, clock = record(tmp_path)
    recording.listener(b"x")
    assert (tmp_path / "console.cast").read_bytes() == b""
    clock.advance(DEFAULT_FLUSH_INTERVAL)
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert replay(events) == "x"
    recording.close()


def test_the_previous_recording_is_kept(tmp_path: Path) -> None:
    """Starting a new recording on the same path keeps the previous one as .1."""
    first, _ = record(tmp_path)
    first.listener(b"first run")
    first.close()
    second, _ = record(tmp_path)
    second.listener(b"second run")
    second.close()
    _, events = parse((tmp_path / "console.cast").read_bytes())
    assert replay(events) == "second run"
    _, events = parse((tmp_path / "console.cast.1").read_bytes())
    assert replay(events) == "first run"


def test_the_size_cap_stops_recording_on_a_whole_event(tmp_path: Path) -> None:
    """Past max_bytes recording stops, the file still parses, and the reason is kept."""
    recording, clock = record(tmp_path, max_bytes=300)
    for n in range(50):
        recording.listener(b"line %d\r\n" % n)
        clock.advance(DEFAULT_FLUSH_INTERVAL)
    recording.close()
    data = (tmp_path / "console.cast").read_bytes()
    assert len(data) <= 300
    _, events = parse(data)
    assert 0 < len(events) < 50
    assert recording.error is not None and "size limit" in recording.error


def test_times_never_go_backwards() -> None:
    """A clock that steps back does not produce an event earlier than the previous one."""
    encoder = AsciicastEncoder(80, 24, start=10.0, timestamp=0)
    later = json.loads(encoder.output(b"a", 12.0))
    earlier = json.loads(encoder.output(b"b", 11.0))
    assert later[0] == earlier[0] == 2.0


@given(text=st.text(), cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=20))
def test_replay_reproduces_utf8_output_however_it_is_split(text: str, cuts: list[int]) -> None:
    """Concatenating the "o" data gives back the exact output for any split of valid UTF-8."""
    data = text.encode("utf-8")
    points = sorted({min(cut, len(data)) for cut in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    encoder = AsciicastEncoder(80, 24, start=0.0, timestamp=0)
    out = encoder.header()
    for n, piece in enumerate(pieces):
        out += encoder.output(piece, float(n))
    out += encoder.finish(float(len(pieces)))
    _, events = parse(out)
    assert replay(events).encode("utf-8") == data
    assert all(data for _, _, data in events)


@pytest.mark.parametrize("control", ["\x00", "\x1b", "\u2028", '"', "\\"])
def test_every_event_is_one_json_line(control: str) -> None:
    """Control characters, separators and quotes are escaped, so each event stays on one line."""
    encoder = AsciicastEncoder(80, 24, start=0.0, timestamp=0)
    line = encoder.output(f"a{control}\n\rb".encode(), 0.5)
    assert line.count(b"\n") == 1 and line.endswith(b"\n")
    assert json.loads(line) == [0.5, "o", f"a{control}\n\rb"]
