"""Per-viewer damage and scroll bookkeeping (vncterm.updates), without any I/O."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vncterm.rfb.constants import Encoding
from vncterm.rfb.pixelformat import NATIVE
from vncterm.updates import (
    CellRect,
    CellScroll,
    ViewerUpdates,
    damage_rectangles,
    merge_for_compression,
)

COLS, ROWS, CW, CH = 10, 6, 1, 1


def _identity(region: np.ndarray, _pf: object) -> bytes:
    return region.tobytes()


def _apply(viewer: np.ndarray, truth: np.ndarray, updates: ViewerUpdates) -> int:
    """Apply one update to the viewer's picture the way a client does; return rectangles."""
    rects = updates.take_update(truth, NATIVE, _identity)
    if rects is None:
        return 0
    for rect in rects:
        if rect.encoding == Encoding.COPY_RECT:
            sx = int.from_bytes(rect.payload[:2], "big")
            sy = int.from_bytes(rect.payload[2:], "big")
            viewer[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = viewer[
                sy : sy + rect.height, sx : sx + rect.width
            ].copy()
        else:
            data = np.frombuffer(rect.payload, dtype=np.uint8).reshape(rect.height, rect.width, 3)
            viewer[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = data
    return len(rects)


operations = st.lists(
    st.one_of(
        st.tuples(st.just("scroll"), st.integers(0, ROWS - 1), st.integers(1, ROWS),
                  st.integers(-3, 3).filter(bool)),
        st.tuples(st.just("draw"), st.integers(0, COLS - 1), st.integers(0, ROWS - 1),
                  st.integers(1, 255)),
        st.tuples(st.just("flush"), st.booleans(), st.just(0), st.just(0)),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None)
@given(operations, st.booleans(), st.sampled_from([Encoding.RAW, Encoding.ZRLE]))
def test_viewer_converges_to_screen(
    ops: list[tuple[str, int, int, int]], copyrect: bool, encoding: Encoding
) -> None:
    """Whatever scrolls (up, or down as a view moving towards history), changes and partial
    flushes happen, the viewer ends up with the screen (with ZRLE chosen, damage is merged into
    fewer rectangles; the payload here is raw)."""
    rng = np.random.default_rng(1)
    truth = rng.integers(0, 255, size=(ROWS, COLS, 3), dtype=np.uint8)
    viewer = np.zeros_like(truth)
    updates = ViewerUpdates(COLS, ROWS, CW, CH)
    updates.set_encodings([Encoding.COPY_RECT, encoding] if copyrect else [encoding])
    updates.request(False, 0, 0, COLS, ROWS)
    _apply(viewer, truth, updates)
    assert (viewer == truth).all()
    for op, a, b, c in ops:
        if op == "scroll":
            top, bottom = min(a, b), max(a, b)
            if bottom - top < 1:
                continue
            count = min(abs(c), bottom - top)
            if c > 0:
                truth[top : bottom - count] = truth[top + count : bottom].copy()
                exposed = bottom - count
            else:
                truth[top + count : bottom] = truth[top : bottom - count].copy()
                exposed = top
            truth[exposed : exposed + count] = rng.integers(0, 255, size=(count, COLS, 3))
            updates.scroll(CellScroll(top, bottom, count if c > 0 else -count))
            updates.damage_cells(CellRect(0, exposed, COLS, count))
        elif op == "draw":
            truth[b, a] = c
            updates.damage_cells(CellRect(a, b, 1, 1))
        else:
            updates.request(True, 0, 0, COLS, ROWS)
            if a:
                _apply(viewer, truth, updates)
    updates.request(True, 0, 0, COLS, ROWS)
    _apply(viewer, truth, updates)
    assert (viewer == truth).all()


def test_incremental_request_waits_for_damage() -> None:
    """An incremental request with nothing changed sends nothing until something changes."""
    updates = ViewerUpdates(COLS, ROWS, CW, CH)
    pixels = np.zeros((ROWS, COLS, 3), dtype=np.uint8)
    updates.request(False, 0, 0, COLS, ROWS)
    assert updates.take_update(pixels, NATIVE, _identity)
    updates.request(True, 0, 0, COLS, ROWS)
    assert updates.take_update(pixels, NATIVE, _identity) is None
    updates.damage_cells(CellRect(2, 3, 1, 1))
    rects = updates.take_update(pixels, NATIVE, _identity)
    assert rects is not None and [(r.x, r.y, r.width, r.height) for r in rects] == [(2, 3, 1, 1)]


def test_non_incremental_request_answered_without_changes() -> None:
    """A non-incremental request is answered at once even when nothing changed."""
    updates = ViewerUpdates(COLS, ROWS, CW, CH)
    pixels = np.zeros((ROWS, COLS, 3), dtype=np.uint8)
    updates.request(False, 0, 0, COLS, ROWS)
    updates.take_update(pixels, NATIVE, _identity)
    updates.request(False, 0, 0, 4, 2)
    rects = updates.take_update(pixels, NATIVE, _identity)
    assert rects is not None and [(r.x, r.y, r.width, r.height) for r in rects] == [(0, 0, 4, 2)]


def test_scroll_goes_out_as_one_copyrect() -> None:
    """Repeated scrolls of one region become a single CopyRect plus the exposed rows."""
    updates = ViewerUpdates(COLS, ROWS, CW, CH)
    updates.set_encodings([Encoding.COPY_RECT, Encoding.RAW])
    pixels = np.zeros((ROWS, COLS, 3), dtype=np.uint8)
    updates.request(False, 0, 0, COLS, ROWS)
    updates.take_update(pixels, NATIVE, _identity)
    for _ in range(2):
        updates.scroll(CellScroll(0, ROWS, 1))
    updates.request(True, 0, 0, COLS, ROWS)
    rects = updates.take_update(pixels, NATIVE, _identity)
    assert rects is not None
    assert rects[0].encoding == Encoding.COPY_RECT
    assert (rects[0].y, rects[0].height) == (0, ROWS - 2)
    assert [(r.y, r.height) for r in rects[1:]] == [(ROWS - 2, 2)]


def test_scroll_down_goes_out_as_one_copyrect() -> None:
    """A region moved down (a view scrolled towards history) is one CopyRect to the lower rows
    plus the rows exposed at the top."""
    updates = ViewerUpdates(COLS, ROWS, CW, CH)
    updates.set_encodings([Encoding.COPY_RECT, Encoding.RAW])
    pixels = np.zeros((ROWS, COLS, 3), dtype=np.uint8)
    updates.request(False, 0, 0, COLS, ROWS)
    updates.take_update(pixels, NATIVE, _identity)
    updates.scroll(CellScroll(0, ROWS, -1))
    updates.scroll(CellScroll(0, ROWS, -2))
    updates.request(True, 0, 0, COLS, ROWS)
    rects = updates.take_update(pixels, NATIVE, _identity)
    assert rects is not None
    assert rects[0].encoding == Encoding.COPY_RECT
    assert (rects[0].y, rects[0].height, rects[0].payload) == (3, ROWS - 3, b"\0\0\0\0")
    assert [(r.y, r.height) for r in rects[1:]] == [(0, 3)]


def test_damage_rectangles_merge_equal_spans() -> None:
    """Rows with the same damaged column span merge into one rectangle."""
    mask = np.zeros((4, 8), dtype=bool)
    mask[0:2, 2:5] = True
    mask[3, 1] = True
    assert damage_rectangles(mask) == [CellRect(2, 0, 3, 2), CellRect(1, 3, 1, 1)]


def test_ragged_lines_become_one_rectangle_for_compressing_encodings() -> None:
    """A full screen of lines of different lengths: one rectangle per line apart, their
    bounding box (at most twice the cells) merged."""
    rows = [CellRect(0, y, 40 + (y * 7) % 40, 1) for y in range(24)]
    assert merge_for_compression(rows) == [CellRect(0, 0, 79, 24)]


def test_few_or_far_apart_rectangles_stay_apart() -> None:
    line_and_cursor = [CellRect(0, 3, 1, 1), CellRect(0, 22, 80, 2)]
    assert merge_for_compression(line_and_cursor) == line_and_cursor
    corners = [CellRect(0, 0, 2, 1), CellRect(78, 1, 2, 1), CellRect(0, 22, 2, 1),
               CellRect(78, 23, 2, 1)]
    assert merge_for_compression(corners) == corners


def test_zrle_update_of_a_ragged_screen_is_one_rectangle() -> None:
    updates = ViewerUpdates(80, 24, 8, 16)
    updates.set_encodings([Encoding.ZRLE])
    pixels = np.zeros((384, 640, 3), dtype=np.uint8)
    updates.request(False, 0, 0, 640, 384)
    assert updates.take_update(pixels, NATIVE)  # the first, whole screen
    for y in range(24):
        updates.damage_cells(CellRect(0, y, 30 + y, 1))
    updates.request(True, 0, 0, 640, 384)
    rects = updates.take_update(pixels, NATIVE)
    assert rects is not None
    assert [(r.x, r.y, r.width, r.height) for r in rects] == [(0, 0, 53 * 8, 384)]


BIG_COLS, BIG_ROWS = 100, 50


def _apply_stopped(viewer: np.ndarray, truth: np.ndarray, updates: ViewerUpdates,
                   stop: object) -> int:
    rects = updates.take_update(truth, NATIVE, _identity, stop=stop)  # type: ignore[arg-type]
    for rect in rects or []:
        if rect.encoding == Encoding.COPY_RECT:
            sx = int.from_bytes(rect.payload[:2], "big")
            sy = int.from_bytes(rect.payload[2:], "big")
            viewer[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = viewer[
                sy : sy + rect.height, sx : sx + rect.width
            ].copy()
        else:
            data = np.frombuffer(rect.payload, dtype=np.uint8).reshape(rect.height, rect.width, 3)
            viewer[rect.y : rect.y + rect.height, rect.x : rect.x + rect.width] = data
    return len(rects or [])


def test_an_update_stopped_early_sends_the_rest_on_the_next_request() -> None:
    """A whole large screen with a slice that is over at once goes out a band of rows per
    update (never less), and the viewer has all of it after enough requests."""
    rng = np.random.default_rng(2)
    truth = rng.integers(0, 255, size=(BIG_ROWS, BIG_COLS, 3), dtype=np.uint8)
    viewer = np.zeros_like(truth)
    updates = ViewerUpdates(BIG_COLS, BIG_ROWS, CW, CH)
    updates.request(False, 0, 0, BIG_COLS, BIG_ROWS)
    counts = []
    for _ in range(10):
        counts.append(_apply_stopped(viewer, truth, updates, lambda: True))
        updates.request(True, 0, 0, BIG_COLS, BIG_ROWS)
    # Bands of 10 rows of 100 cells, until the last 2000 cells, which go uncut.
    assert counts[:4] == [1] * 4 and sum(counts) == 4
    assert (viewer == truth).all()


@settings(max_examples=150, deadline=None)
@given(operations, st.lists(st.booleans(), min_size=1, max_size=20),
       st.sampled_from([Encoding.RAW, Encoding.ZRLE]))
def test_viewer_converges_with_updates_stopped_anywhere(
    ops: list[tuple[str, int, int, int]], answers: list[bool], encoding: Encoding
) -> None:
    """Updates stopped after any band, with scrolls (either way) and changes in between,
    still bring the viewer to the screen once it keeps asking."""
    rng = np.random.default_rng(3)
    truth = rng.integers(0, 255, size=(BIG_ROWS, BIG_COLS, 3), dtype=np.uint8)
    viewer = np.zeros_like(truth)
    updates = ViewerUpdates(BIG_COLS, BIG_ROWS, CW, CH)
    updates.set_encodings([Encoding.COPY_RECT, encoding])
    asked = iter(answers * 100)
    updates.request(False, 0, 0, BIG_COLS, BIG_ROWS)
    for op, a, b, c in ops:
        if op == "scroll":
            top, bottom = min(a, b) * 8, max(a, b) * 8
            if bottom - top < 1:
                continue
            count = min(abs(c) * 7, bottom - top)
            if c > 0:
                truth[top : bottom - count] = truth[top + count : bottom].copy()
                exposed = bottom - count
            else:
                truth[top + count : bottom] = truth[top : bottom - count].copy()
                exposed = top
            truth[exposed : exposed + count] = rng.integers(0, 255, size=(count, BIG_COLS, 3))
            updates.scroll(CellScroll(top, bottom, count if c > 0 else -count))
            updates.damage_cells(CellRect(0, exposed, BIG_COLS, count))
        elif op == "draw":
            truth[b * 8 : b * 8 + 8, a * 10 : a * 10 + 90] = c
            updates.damage_cells(CellRect(a * 10, b * 8, 90, 8))
        elif a:
            _apply_stopped(viewer, truth, updates, lambda: next(asked, True))
            updates.request(True, 0, 0, BIG_COLS, BIG_ROWS)
    for _ in range(20):
        _apply_stopped(viewer, truth, updates, lambda: next(asked, True))
        updates.request(True, 0, 0, BIG_COLS, BIG_ROWS)
    assert (viewer == truth).all()
