"""Renderer: pixels of cells and cursor, damage rectangles, scroll CopyRect semantics."""

from __future__ import annotations

import io
import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from vncterm.render import palette
from vncterm.render.framebuffer import (
    CELL_HEIGHT,
    CELL_WIDTH,
    RenderDamage,
    Renderer,
    snapshot_png,
)
from vncterm.terminal import Char, Damage, Terminal

RED = palette.ANSI_16[1]
BRIGHT_GREEN = palette.ANSI_16[10]
BLUE = palette.ANSI_16[4]


def rendered(data: bytes, cols: int = 10, rows: int = 4) -> Renderer:
    terminal = Terminal(cols, rows)
    terminal.feed(data)
    renderer = Renderer(terminal)
    renderer.render()
    return renderer


def cell(renderer: Renderer, x: int, y: int) -> np.ndarray:
    return renderer.pixels[
        y * CELL_HEIGHT : (y + 1) * CELL_HEIGHT, x * CELL_WIDTH : (x + 1) * CELL_WIDTH
    ]


def colours(pixels: np.ndarray) -> set[tuple[int, int, int]]:
    return {(int(red), int(green), int(blue)) for red, green, blue in pixels.reshape(-1, 3)}


def test_pixels_shape() -> None:
    """The framebuffer is rows*16 x cols*8 RGB bytes."""
    renderer = rendered(b"", 80, 24)
    assert renderer.pixels.shape == (384, 640, 3)
    assert renderer.pixels.dtype == np.uint8
    assert (renderer.width, renderer.height) == (640, 384)


def test_coloured_letter_cell() -> None:
    """The cell of a red 'A' on blue has exactly red ink on a blue background."""
    renderer = rendered(b"\x1b[31;44mA\x1b[0m")
    assert colours(cell(renderer, 0, 0)) == {RED, BLUE}
    assert colours(cell(renderer, 2, 0)) == {palette.DEFAULT_BG}


def test_bold_is_bright() -> None:
    """Bold green text is drawn in bright green."""
    assert BRIGHT_GREEN in colours(cell(rendered(b"\x1b[1;32mA"), 0, 0))


def test_reverse_and_underline() -> None:
    """Reverse swaps the colours of a cell and underline inks its bottom pixel row."""
    reverse = cell(rendered(b"\x1b[7m "), 0, 0)
    assert colours(reverse) == {palette.DEFAULT_FG}
    underlined = cell(rendered(b"\x1b[4m \x1b[0m"), 0, 0)
    assert colours(underlined[-1]) == {palette.DEFAULT_FG}
    assert colours(underlined[:-1]) == {palette.DEFAULT_BG}


def test_block_cursor_inverts_its_cell() -> None:
    """The cursor cell is drawn in inverse video; a hidden cursor is not drawn."""
    renderer = rendered(b"ab")
    assert colours(cell(renderer, 2, 0)) == {palette.DEFAULT_FG}
    hidden = rendered(b"ab\x1b[?25l")
    assert colours(cell(hidden, 2, 0)) == {palette.DEFAULT_BG}


def test_underline_cursor_style() -> None:
    """The underline cursor inks only the bottom pixel row of its cell."""
    terminal = Terminal(10, 4)
    renderer = Renderer(terminal, cursor_style="underline")
    renderer.render()
    assert colours(cell(renderer, 0, 0)[-1]) == {palette.DEFAULT_FG}
    assert colours(cell(renderer, 0, 0)[:-1]) == {palette.DEFAULT_BG}


def test_moving_cursor_restores_old_cell() -> None:
    """When the cursor moves, its old cell is redrawn without it and reported as damage."""
    terminal = Terminal(10, 4)
    renderer = Renderer(terminal)
    renderer.render()
    terminal.feed(b"\x1b[3;5H")
    damage = renderer.render()
    assert colours(cell(renderer, 0, 0)) == {palette.DEFAULT_BG}
    assert colours(cell(renderer, 4, 2)) == {palette.DEFAULT_FG}
    assert damage == RenderDamage(None, [(0, 0, 8, 16), (32, 32, 8, 16)])


def test_damage_is_limited_to_changed_columns() -> None:
    """Writing three characters reports one rectangle over just those cells."""
    terminal = Terminal(20, 4)
    terminal.feed(b"\x1b[?25l")
    renderer = Renderer(terminal)
    renderer.render()
    terminal.feed(b"\x1b[3;11Habc")
    assert renderer.render() == RenderDamage(None, [(80, 32, 24, 16)])
    assert not renderer.render()


def test_rows_with_same_span_are_merged() -> None:
    """Vertically adjacent changed spans with the same columns become one rectangle."""
    terminal = Terminal(20, 4)
    terminal.feed(b"\x1b[?25l")
    renderer = Renderer(terminal)
    renderer.render()
    terminal.feed(b"\x1b[1;3Hxy\x1b[2;3Hxy")
    assert renderer.render().rects == [(16, 0, 16, 32)]


def test_scroll_is_reported_in_pixels() -> None:
    """A newline on the last row gives a one-cell-high scroll of the whole screen."""
    terminal = Terminal(10, 4)
    terminal.feed(b"\x1b[?25l1\r\n2\r\n3\r\n4")
    renderer = Renderer(terminal)
    renderer.render()
    terminal.feed(b"\r\n5")
    damage = renderer.render()
    assert damage.scroll == (0, 64, 16)
    assert damage.rects == [(0, 48, 8, 16)]


def test_wide_character_covers_two_cells() -> None:
    """A CJK ideograph is drawn 16 pixels wide across its two cells."""
    renderer = rendered("\u4e00\x1b[?25l".encode())
    both = renderer.pixels[0:16, 0:16]
    assert palette.DEFAULT_FG in colours(both[:, :8])
    assert palette.DEFAULT_FG in colours(both[:, 8:])


def test_resize_recreates_pixels() -> None:
    """After the terminal is resized the next render uses the new size and redraws it all."""
    terminal = Terminal(10, 4)
    renderer = Renderer(terminal)
    renderer.render()
    terminal.resize(12, 3)
    damage = renderer.render()
    assert renderer.pixels.shape == (48, 96, 3)
    assert damage.rects == [(0, 0, 96, 48)]


def test_snapshot_png() -> None:
    """snapshot_png gives a PNG of the framebuffer."""
    renderer = rendered(b"\x1b[31mA")
    image = Image.open(io.BytesIO(snapshot_png(renderer)))
    assert image.size == (80, 64)
    assert image.getpixel((4, 8)) in (RED, palette.DEFAULT_BG)
    assert np.array_equal(np.asarray(image.convert("RGB")), renderer.pixels)


PIECES = [
    b"x", b"hello", b"\r\n", b"\n", b"\x1b[2J", b"\x1b[K", b"\x1b[31m", b"\x1b[1;42m",
    b"\x1b[0m", b"\x1b[7m", b"\x1b[4m", b"\x1b[H", b"\x1b[3;4H", b"\x1bM", b"\x1b[2;4r",
    b"\x1b[r", b"\x1b[2S", b"\x1b[L", b"\x1b[M", b"\x1b[2P", b"\x1b[2@", b"\x1b[?25l",
    b"\x1b[?25h", "\u4e00".encode(), "e\u0301".encode(), b"\x1b[D", b"\x1b[5C", b"\x1b[?1049h",
    b"\x1b[?1049l", b"\x1b[?5h", b"\x1b[?5l", b"\x08\x08",
]


@settings(max_examples=120, deadline=None)
@given(st.lists(st.sampled_from([*PIECES, b"", b""]), min_size=20, max_size=100))
def test_incremental_render_equals_full_render(pieces: list[bytes]) -> None:
    """A viewer applying each render's scroll and rectangles always matches a full render."""
    terminal, reference_terminal = Terminal(8, 5), Terminal(8, 5)
    renderer, reference = Renderer(terminal), Renderer(reference_terminal)
    renderer.render()
    viewer = renderer.pixels.copy()
    for piece in [*pieces, b""]:
        if piece:
            terminal.feed(piece)
            reference_terminal.feed(piece)
            continue
        damage = renderer.render()
        if damage.scroll is not None:
            top, bottom, dy = damage.scroll
            viewer[top : bottom - dy] = viewer[top + dy : bottom].copy()
        for x, y, w, h in damage.rects:
            viewer[y : y + h, x : x + w] = renderer.pixels[y : y + h, x : x + w]
        reference.invalidate()
        reference.render()
        assert np.array_equal(renderer.pixels, reference.pixels)
        assert np.array_equal(viewer, reference.pixels)


@pytest.mark.parametrize("seed", range(10))
def test_incremental_render_long_streams(seed: int) -> None:
    """Long random streams keep the viewer's copy equal to a full render."""
    rnd = random.Random(seed)
    test_incremental_render_equals_full_render.hypothesis.inner_test(  # type: ignore[attr-defined]
        [rnd.choice([*PIECES, b""]) for _ in range(400)]
    )


def test_stub_left_of_an_overwritten_wide_character_is_redrawn() -> None:
    """A stub orphaned by a wide character drawn one cell earlier loses the old glyph's half."""
    test_incremental_render_equals_full_render.hypothesis.inner_test(  # type: ignore[attr-defined]
        [b"x"] * 13 + [b"\x1b[H", b"x", b"\x1b[?25l", "\u4e00".encode(), b"\x1b[H", b"",
                       "\u4e00".encode()]
    )


def test_cell_before_a_replaced_stub_is_redrawn_narrow() -> None:
    """A cell drawn two cells wide over a stub is drawn narrow once the stub is replaced."""
    test_incremental_render_equals_full_render.hypothesis.inner_test(  # type: ignore[attr-defined]
        [b"x"] * 10 + [b"\x1b[H", "\u4e00".encode(), b"\x1b[H", b"x", b""] + [b"x"] * 5
    )


class _LyingSource:
    """A screen source whose cursor, damage and rows are off the screen or the wrong size."""

    cols, rows, cursor_visible = 6, 3, True

    def __init__(self) -> None:
        self.cursor = (7, 9998)
        self.damage = Damage(frozenset({-1, 1, 3, 9998}), (1, 9998, 5))
        self.lengths = [2, 6, 40]

    def row(self, y: int) -> list[Char]:
        return [Char("x")] * self.lengths[y % 3]

    def take_damage(self) -> Damage:
        return self.damage


def test_renderer_never_fails_on_what_a_source_says() -> None:
    """A cursor, damaged rows or a scroll off the screen, and rows of the wrong length, are
    drawn as far as they make sense instead of failing the render (and the damage is lost)."""
    source = _LyingSource()
    renderer = Renderer(source)
    renderer.render()
    source.cursor = (2, 1)
    damage = renderer.render()
    assert damage.scroll is None and damage.rects
    x_cell = cell(renderer, 1, 0)
    assert colours(cell(renderer, 0, 0)) == colours(x_cell) != {palette.DEFAULT_BG}
    assert colours(cell(renderer, 5, 0)) == {palette.DEFAULT_BG}


@settings(max_examples=150, deadline=None)
@given(pieces=st.lists(st.sampled_from([*PIECES, b"", b""]), min_size=20, max_size=100),
       answers=st.lists(st.booleans(), min_size=1, max_size=40))
def test_stopped_renders_catch_up_with_a_full_render(pieces: list[bytes],
                                                     answers: list[bool]) -> None:
    """Renders stopped after any row (a time slice over), with output and scrolls coming in
    between, leave rows to draw that later renders draw: once none is left, a viewer applying
    every render's damage matches a full render."""
    terminal = Terminal(8, 5)
    renderer = Renderer(terminal)
    renderer.render()
    viewer = renderer.pixels.copy()
    asked = iter(answers * 200)

    def apply(damage: RenderDamage) -> None:
        if damage.scroll is not None:
            top, bottom, dy = damage.scroll
            viewer[top : bottom - dy] = viewer[top + dy : bottom].copy()
        for x, y, w, h in damage.rects:
            viewer[y : y + h, x : x + w] = renderer.pixels[y : y + h, x : x + w]

    def check() -> None:
        reference = Renderer(terminal)
        reference.render()
        assert np.array_equal(viewer, reference.pixels)
        assert np.array_equal(renderer.pixels, reference.pixels)

    for piece in [*pieces, b""]:
        if piece:
            terminal.feed(piece)
            continue
        apply(renderer.render(stop=lambda: next(asked, True)))
        if not renderer.pending:
            check()
    for _ in range(100):
        if not renderer.pending:
            break
        apply(renderer.render(stop=lambda: True))
    check()


def test_a_stopped_render_draws_the_cursor_rows_and_one_more() -> None:
    """A render stopped at once draws the rows the cursor left and entered, and one more
    (so every render makes progress); the next one goes on from there."""
    terminal = Terminal(10, 4)
    renderer = Renderer(terminal)
    renderer.render()
    terminal.feed(b"a\r\nb\r\nc\r\nd\x1b[2;1H")
    damage = renderer.render(stop=lambda: True)
    assert renderer.pending
    assert rows_of(damage) == {0, 1, 2}  # the cursor was on row 0, now on row 1
    damage = renderer.render(stop=lambda: True)
    assert rows_of(damage) == {3}
    assert not renderer.pending


def rows_of(damage: RenderDamage) -> set[int]:
    return {row for _, y, _, h in damage.rects
            for row in range(y // CELL_HEIGHT, (y + h) // CELL_HEIGHT)}
