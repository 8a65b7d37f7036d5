"""The emulator and renderer fuzzed for cost and for failure: any input is emulated within a
budget, and any terminal state renders and encodes, with the damage drawn.

Inputs are built from the worst sequences known (`vncterm.terminal.hostile`), the hostile
sequences of `test_fuzz`, text in several scripts and random bytes, repeated and mixed, at
sizes from 1x1 to the largest a console may have (500x200). Hypothesis steers towards the
slowest inputs (`hypothesis.target` on the time per byte).

Each input gets a hang budget: ten times the issue's bound per 4 KiB (20 ms at 80x24, 100 ms
at the largest size), measured once more before it fails, since these machines are shared.
That catches cost that grows faster than the input (a REP drawing screens, a toggle that
rewrites every cell), not a few percent of speed (the bench measures that, side by side).

Profiles: a short run by default (a few seconds); ``FUZZ_LONG=1`` runs 10^6 inputs per test
(hours). Every input either profile finds slow or failing is added to ``FOUND`` below, and
so stays a regression test.
"""

from __future__ import annotations

import os
import time

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings, target
from hypothesis import strategies as st

from tests.terminal.test_fuzz import HOSTILE
from vncterm.render.framebuffer import Renderer
from vncterm.rfb.encoders import ENCODERS, STATEFUL_ENCODERS, EncoderState
from vncterm.rfb.pixelformat import NATIVE
from vncterm.terminal import Terminal
from vncterm.terminal.hostile import WORST, fill, full_screen

LONG = bool(os.environ.get("FUZZ_LONG"))
EXAMPLES = 1_000_000 if LONG else 40

#: The issue's bounds, seconds per 4 KiB: at 80x24 (and below) and at the largest size.
BOUND_SMALL, BOUND_LARGE = 0.020, 0.100
#: How much slower than the bound an input may be before it fails (a hang detector).
SLACK = 10

#: Inputs found slow or failing by this harness or by measuring, kept as regression tests:
#: (columns, rows, input).
FOUND: list[tuple[int, int, bytes]] = [
    *((80, 24, fill(sequence)) for sequence in WORST.values()),
    *((500, 200, fill(sequence)) for sequence in WORST.values()),
    (80, 24, fill(b"e\xcc\x81\x1b[10000b", 110)),  # the 110 bytes that froze a proxy
    (80, 24, b"\x1b[?6h\x1b[99999999d"),  # the 13 bytes that stopped the display
]

TEXT = st.sampled_from(
    [b"hello world ", b"\r\n", "\u4e00\u4e8c\u4e09".encode(), "e\u0301\u0302".encode(),
     "\U0001f600\u200d".encode(), b"\t", b"\x08", b"\x1b[31;44m", b"\x1b[m", b"\x1b[7m"]
)
PIECE = st.one_of(
    st.sampled_from(list(WORST.values())),
    st.sampled_from(HOSTILE),
    TEXT,
    st.binary(min_size=1, max_size=24),
)
#: A piece and how often it repeats: the worst inputs are short sequences repeated.
RUN = st.tuples(PIECE, st.integers(1, 400))
SIZE = st.one_of(
    st.sampled_from([(80, 24), (500, 200), (1, 1), (2, 1), (10, 3)]),
    st.tuples(st.integers(1, 500), st.integers(1, 200)),
)


def budget(columns: int, rows: int, size: int) -> float:
    """Seconds ``size`` bytes may take at this screen size: SLACK times the bound, which
    grows from the 80x24 one to the 500x200 one with the cells."""
    share = max(0.0, (columns * rows - 80 * 24) / (500 * 200 - 80 * 24))
    bound = BOUND_SMALL + min(1.0, share) * (BOUND_LARGE - BOUND_SMALL)
    return SLACK * bound * max(size, 512) / 4096


def emulate(columns: int, rows: int, data: bytes) -> tuple[Terminal, float]:
    """A terminal of that size with a full screen, fed ``data``; and the seconds it took."""
    terminal = Terminal(columns, rows, scrollback_lines=1000)
    terminal.feed(full_screen(columns, rows))
    started = time.perf_counter()
    terminal.feed(data)
    return terminal, time.perf_counter() - started


def check_emulated_in_budget(columns: int, rows: int, data: bytes) -> float:
    """Emulate ``data``; fail if it takes more than its budget twice in a row."""
    terminal, elapsed = emulate(columns, rows, data)
    limit = budget(columns, rows, len(data))
    if elapsed > limit:
        terminal, elapsed = emulate(columns, rows, data)  # a busy moment, or really slow?
    assert elapsed <= limit, (
        f"{len(data)} bytes at {columns}x{rows} took {elapsed * 1000:.0f} ms "
        f"(hang budget {limit * 1000:.0f} ms): {data[:80]!r}"
    )
    x, y = terminal.cursor
    assert 0 <= x < columns and 0 <= y < rows
    return elapsed


@pytest.mark.parametrize(("columns", "rows", "data"), FOUND,
                         ids=lambda value: repr(value)[:30] if isinstance(value, bytes) else None)
def test_found_inputs_are_emulated_within_budget(columns: int, rows: int, data: bytes) -> None:
    """Every input once found slow or failing is emulated within its hang budget."""
    check_emulated_in_budget(columns, rows, data)


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(size=SIZE, runs=st.lists(RUN, min_size=1, max_size=8))
@example(size=(80, 24), runs=[(b"e\xcc\x81\x1b[10000b", 10)])
def test_any_input_is_emulated_within_budget(
    size: tuple[int, int], runs: list[tuple[bytes, int]]
) -> None:
    """Any mix of repeated worst sequences, hostile sequences, text and bytes (cut to 4 KiB)
    is emulated within its hang budget, at any size up to 500x200."""
    data = b"".join(piece * count for piece, count in runs)[:4096]
    elapsed = check_emulated_in_budget(*size, data)
    target(elapsed / max(len(data), 1), label="seconds per byte")


# -- rendering and encoding any state -----------------------------------------------------------


def encode_damage(renderer: Renderer, rects: list[tuple[int, int, int, int]],
                  states: EncoderState) -> None:
    """Every encoder encodes every damaged rectangle (a viewer of each kind)."""
    for x, y, w, h in rects:
        region = renderer.pixels[y : y + h, x : x + w]
        for encoding in [*ENCODERS, *STATEFUL_ENCODERS]:
            assert isinstance(states.encoder(encoding)(region, NATIVE), bytes)


STEP = st.one_of(
    st.tuples(st.just("feed"), st.lists(RUN, min_size=1, max_size=3)),
    st.tuples(st.just("resize"), st.tuples(st.integers(1, 30), st.integers(1, 12))),
    st.tuples(st.just("render"), st.none()),
)


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(size=st.tuples(st.integers(1, 30), st.integers(1, 12)),
       steps=st.lists(STEP, min_size=1, max_size=10))
@example(size=(80, 24), steps=[("feed", [(b"\x1b[?6h\x1b[99999999d", 1)]), ("render", None)])
@example(size=(6, 2), steps=[("feed", [("\u4e00\u4e8c".encode(), 1)]), ("render", None),
                             ("feed", [(b"\x1b[1;2Hx", 1)]), ("render", None)])
def test_any_state_renders_encodes_and_draws_its_damage(
    size: tuple[int, int], steps: list[tuple[str, object]]
) -> None:
    """Whatever was fed and however the screen was resized, render() succeeds, every encoder
    encodes what changed, and a viewer applying the damage has exactly a fresh render."""
    terminal = Terminal(*size, scrollback_lines=100)
    renderer = Renderer(terminal)
    renderer.render()
    viewer = renderer.pixels.copy()
    states = EncoderState()
    for kind, value in [*steps, ("render", None)]:
        if kind == "feed":
            assert isinstance(value, list)
            terminal.feed(b"".join(piece * count for piece, count in value)[:4096])
            continue
        if kind == "resize":
            assert isinstance(value, tuple)
            terminal.resize(*value)
            continue
        resized = renderer.pixels.shape != (terminal.rows * 16, terminal.cols * 8, 3)
        damage = renderer.render()
        if resized:
            viewer = np.zeros_like(renderer.pixels)  # a viewer told of a new size
        if damage.scroll is not None:
            top, bottom, dy = damage.scroll
            viewer[top : bottom - dy] = viewer[top + dy : bottom].copy()
        for x, y, w, h in damage.rects:
            viewer[y : y + h, x : x + w] = renderer.pixels[y : y + h, x : x + w]
        encode_damage(renderer, damage.rects, states)
        fresh = Renderer(terminal)
        fresh.render()
        assert np.array_equal(renderer.pixels, fresh.pixels)
        assert np.array_equal(viewer, fresh.pixels)
