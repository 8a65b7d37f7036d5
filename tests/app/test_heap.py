"""Full garbage collections stay short: scrollback lines are untracked tuples, and what the
process built at start-up is exempt from collection (vncterm.heap)."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest

from vncterm import heap
from vncterm.terminal import Terminal


@pytest.fixture
def unfrozen() -> Iterator[None]:
    yield
    gc.unfreeze()


def coloured_lines(count: int, tag: int = 0) -> bytes:
    return b"".join(b"\x1b[32m%7d\x1b[0m  line %d\r\n" % (n, tag) for n in range(count))


def test_stored_lines_are_left_alone_by_the_collector() -> None:
    """Lines in the scrollback, plain and coloured, stop being tracked after collections, so
    a full collection does not visit them one by one."""
    terminal = Terminal(40, 5)
    terminal.feed(coloured_lines(50) + b"plain\r\n" * 10)
    # A collection untracks a tuple once what it holds is untracked: nested runs may take a
    # collection a level.
    for _ in range(5):
        gc.collect()
    stored = list(terminal.scrollback.packed())
    assert len(stored) > 50
    assert not any(gc.is_tracked(line) for line in stored)


def test_settle_exempts_what_exists_and_collects_what_comes_later(unfrozen: None) -> None:
    """After settle, a console's scrollback container is no longer walked by collections;
    objects made later still are (and their garbage is collected)."""
    terminal = Terminal(40, 5)
    container = terminal.scrollback._lines
    heap.settle()
    assert gc.get_freeze_count() > 0
    assert not any(item is container for item in gc.get_objects())
    terminal.feed(coloured_lines(20))
    later = [object()]
    later.append(later)  # a reference cycle made after settle
    assert any(item is later for item in gc.get_objects())
    del later
    assert gc.collect() > 0
