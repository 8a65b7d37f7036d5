"""Shared cells and the bounded caches behind them."""

from __future__ import annotations

import pytest
from pyte.screens import Char

from vncterm.terminal.cells import (
    DEFAULT_CELL,
    MAX_CELLS_PER_RENDITION,
    BoundedCache,
    blank_for,
    cells_for,
    reversed_cell,
)


def test_a_full_cache_starts_again_empty() -> None:
    """A cache never holds more than its limit: the entry past it finds the cache emptied."""
    cache: BoundedCache[int, str] = BoundedCache(3)
    for key in range(3):
        assert cache.remember(key, str(key)) == str(key)
    assert dict(cache) == {0: "0", 1: "1", 2: "2"}
    cache.remember(3, "3")
    assert dict(cache) == {3: "3"}


def test_a_cache_with_make_makes_and_remembers_missing_values() -> None:
    """With ``make`` a missing key's value is made once and kept; without it, KeyError."""
    made: list[int] = []

    def make(key: int) -> int:
        made.append(key)
        return key * 2

    cache = BoundedCache(2, make)
    assert (cache[4], cache[4], cache[5], cache[6]) == (8, 8, 10, 12)
    assert made == [4, 5, 6]
    assert dict(cache) == {6: 12}
    with pytest.raises(KeyError):
        BoundedCache(2)[1]


def test_cells_of_a_rendition_are_shared_and_bounded() -> None:
    """One cell object per character and rendition, and never more cached than the cap."""
    attrs = Char(" ", "red")
    cells = cells_for(attrs)
    assert cells is cells_for(attrs)
    assert cells["x"] is cells["x"] == attrs._replace(data="x")
    for code in range(MAX_CELLS_PER_RENDITION + 10):
        assert cells[chr(0x4E00 + code)].data == chr(0x4E00 + code)
    assert len(cells) <= MAX_CELLS_PER_RENDITION


def test_blanks_and_reverse_video() -> None:
    """A blank keeps only the colours (the default one is the default cell itself), and
    reverse video flips ``reverse`` alone."""
    assert blank_for(DEFAULT_CELL._replace(bold=True)) is DEFAULT_CELL
    assert blank_for(Char("x", "red", "blue", bold=True)) == Char(" ", "red", "blue")
    assert reversed_cell(Char("x", "red")) == Char("x", "red", reverse=True)
    assert reversed_cell(reversed_cell(Char("x", "red"))) == Char("x", "red")
