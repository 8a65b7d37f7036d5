"""Fuzzing Terminal with mutated real captures: nothing raises and the screen stays well formed.

`test_emulator.py` already feeds purely random bytes and escape-sequence soup to a tiny screen;
this module starts from what real programs write (the captures in tests/data: vim, less, top,
dialog, whiptail, BusyBox ash, a kernel boot) and damages it: flipped, inserted and deleted
bytes, spliced hostile sequences (huge parameters, endless strings, invalid UTF-8), streams cut
mid-sequence and continued with another program's output, and resizes in between.
"""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vncterm.terminal import Terminal

DATA = Path(__file__).parent.parent / "data"
CAPTURES = {path.stem: path.read_bytes() for path in sorted(DATA.glob("*.raw"))}
#: Longest stretch of a capture one example feeds, to keep each example fast.
WINDOW = 6000

HOSTILE = [
    b"\x1b[99999999999A", b"\x1b[99999999999B", b"\x1b[99999999999C", b"\x1b[99999999999D",
    b"\x1b[99999999999;99999999999H", b"\x1b[0;0H", b"\x1b[-1;-1H", b"\x1b[99999999999d",
    b"\x1b[99999999999G", b"\x1b[99999999999@", b"\x1b[99999999999P", b"\x1b[99999999999X",
    b"\x1b[99999999999L", b"\x1b[99999999999M", b"\x1b[99999999999S", b"\x1b[99999999999T",
    b"\x1b[99999999999b", b"\x1b[99999999999I", b"\x1b[99999999999Z", b"\x1b[99999999999J",
    b"\x1b[99999999999K", b"\x1b[99999999999;1r", b"\x1b[50;2r", b"\x1b[2;50r", b"\x1b[?6h",
    b"\x1b[?99999999999h", b"\x1b[?99999999999l", b"\x1b[99999999999m",
    b"\x1b[38;5;99999999999m", b"\x1b[48;2;99999999999;1;1m", b"\x1b[38:2::1:2m",
    b"\x1b[38;2m", b"\x1b[38;5m", b"\x1b[" + b";" * 5000 + b"m", b"\x1b[" + b"1;" * 3000 + b"H",
    b"\x1b[" + b"9" * 5000 + b"A", b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b[?47h", b"\x1b[?1047l",
    b"\x1b[?1049h\x1b[?1049h", b"\x1b[?1049l\x1b[?1049l", b"\x1b[?3h", b"\x1b[?5h", b"\x1b[?7l",
    b"\x1b[4h", b"\x1b[20h", b"\x1b#8", b"\x1bc", b"\x1b[!p", b"\x1b7", b"\x1b8", b"\x1b[s",
    b"\x1b[u", b"\x1bM" * 30, b"\x1bD" * 30, b"\n" * 30, b"\x1b[6n", b"\x1b[?6n", b"\x1b[c",
    b"\x1b[>c", b"\x1b[5n", b"\x1b[99999999999n", b"\x1b(0", b"\x1b)0\x0e", b"\x0f", b"\x1b%G",
    b"\x1b%@", b"\x1b]0;" + b"t" * 20000 + b"\x07", b"\x1b]2;unterminated", b"\x1b]11;?\x1b\\",
    b"\x1bP" + b"q" * 5000, b"\x1bPzz\x1b\\", b"\x1b_apc\x1b\\", b"\x1b^pm", b"\x1bX", b"\x9b5A",
    b"\x9d0;c1\x9c", b"\xff\xfe\xfd", b"\xc0\x80", b"\xed\xa0\x80", b"\xf4\x90\x80\x80",
    b"\xe4\xb8", b"\xf0\x9f", b"\xcc\x81" * 50, "\u4e00".encode() * 50, "\u200d\ufe0f".encode(),
    "e\u0301\u0302\u0303".encode(), "\U0001f600".encode() * 45, b"\t" * 100, b"\x08" * 100,
    b"\x1b[1;80H\xe4\xb8\x80\xe4\xb8\x80", b"\x1b[24;80H\xcc\x81x", b"\x00\x05\x7f\x18\x1a",
]

MUTATION = st.one_of(
    st.tuples(st.just("flip"), st.floats(0, 1), st.integers(1, 255)),
    st.tuples(st.just("insert"), st.floats(0, 1), st.binary(min_size=1, max_size=40)),
    st.tuples(st.just("delete"), st.floats(0, 1), st.integers(1, 200)),
    st.tuples(st.just("splice"), st.floats(0, 1), st.sampled_from(HOSTILE)),
)


def mutate(data: bytes, mutations: list[tuple[str, float, object]]) -> bytes:
    """Apply flips, insertions, deletions and spliced sequences at relative positions."""
    buffer = bytearray(data)
    for kind, where, payload in mutations:
        at = min(int(where * len(buffer)), max(len(buffer) - 1, 0))
        if kind == "flip" and buffer:
            assert isinstance(payload, int)
            buffer[at] ^= payload
        elif kind == "delete":
            assert isinstance(payload, int)
            del buffer[at : at + payload]
        elif kind in ("insert", "splice"):
            assert isinstance(payload, bytes)
            buffer[at:at] = payload
    return bytes(buffer)


def check_well_formed(terminal: Terminal) -> None:
    """The cursor is on the screen and every row has exactly cols cells."""
    cols, rows = terminal.cols, terminal.rows
    x, y = terminal.cursor
    assert 0 <= x < cols and 0 <= y < rows, (x, y, cols, rows)
    text = terminal.text()
    assert len(text) == rows
    for line in range(rows):
        cells = terminal.row(line)
        assert len(cells) == cols
        assert all(isinstance(cell.data, str) for cell in cells)
    assert all(isinstance(line, str) for line in terminal.scrollback_text())


def feed_in_chunks(terminal: Terminal, data: bytes, rnd: random.Random) -> None:
    offset = 0
    while offset < len(data):
        size = rnd.choice([1, 2, 3, 8, 64, 512, 4096])
        terminal.feed(data[offset : offset + size])
        offset += size


def window(name: str, start: float, length: int) -> bytes:
    data = CAPTURES[name]
    first = int(start * max(len(data) - length, 0))
    return data[first : first + length]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    name=st.sampled_from(sorted(CAPTURES)),
    start=st.floats(0, 1),
    length=st.integers(1, WINDOW),
    mutations=st.lists(MUTATION, max_size=12),
    rnd=st.randoms(use_true_random=False),
)
def test_mutated_captures_never_raise(
    name: str,
    start: float,
    length: int,
    mutations: list[tuple[str, float, object]],
    rnd: random.Random,
) -> None:
    """A damaged real capture, fed in random chunks, never raises and leaves a sane screen."""
    terminal = Terminal(80, 24)
    feed_in_chunks(terminal, mutate(window(name, start, length), mutations), rnd)
    check_well_formed(terminal)
    terminal.take_replies()
    terminal.take_damage()
    terminal.feed(b"\x1b\\\x18\x1bc\x1b%Gok")
    assert stripped_first(terminal) == "ok"


def stripped_first(terminal: Terminal) -> str:
    return terminal.text()[0].rstrip()


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    pieces=st.lists(
        st.tuples(
            st.sampled_from(sorted(CAPTURES)),
            st.floats(0, 1),
            st.integers(1, 1500),
            st.one_of(st.none(), st.tuples(st.integers(1, 120), st.integers(1, 40))),
        ),
        min_size=1,
        max_size=6,
    ),
    noise=st.lists(st.one_of(st.binary(max_size=30), st.sampled_from(HOSTILE)), max_size=6),
)
def test_truncated_streams_spliced_with_others_and_resizes(
    pieces: list[tuple[str, float, int, tuple[int, int] | None]], noise: list[bytes]
) -> None:
    """Streams cut mid-sequence, continued by other programs' output, random bytes and hostile
    sequences, with resizes in between, never raise and keep the cursor on the screen."""
    terminal = Terminal(80, 24)
    for index, (name, start, length, size) in enumerate(pieces):
        terminal.feed(window(name, start, length))
        if index < len(noise):
            terminal.feed(noise[index])
        if size is not None:
            terminal.resize(*size)
        check_well_formed(terminal)


@pytest.mark.parametrize("name", ["vim", "dialog-menu", "busybox-ash", "less"])
def test_every_cut_point_leaves_the_cursor_on_screen(name: str) -> None:
    """Feeding a capture one byte at a time (so it stops inside every sequence once) keeps the
    cursor on the screen after each byte and the rows well formed."""
    data = CAPTURES[name][:3000]
    terminal = Terminal(80, 24)
    for offset in range(len(data)):
        terminal.feed(data[offset : offset + 1])
        x, y = terminal.cursor
        assert 0 <= x < 80 and 0 <= y < 24, offset
        if offset % 250 == 0:
            check_well_formed(terminal)
    check_well_formed(terminal)


@pytest.mark.parametrize("sequence", HOSTILE, ids=lambda sequence: repr(sequence[:24]))
def test_hostile_sequences_inside_a_full_screen(sequence: bytes) -> None:
    """Each hostile sequence, sent while vim's screen is up, never raises and text follows."""
    terminal = Terminal(80, 24)
    terminal.feed(CAPTURES["vim"][:2617])
    terminal.feed(sequence)
    check_well_formed(terminal)
    terminal.feed(b"\x1b\\\x07\x18\x0f\x1b(B\x1b[?1049l\x1b[r\x1b[?6l\x1b[Hafter")
    assert terminal.text()[0].startswith("after")
