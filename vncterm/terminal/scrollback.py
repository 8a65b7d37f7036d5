"""Scrollback: lines that scrolled off the top of the main screen, kept compactly.

pyte's HistoryScreen keeps every cell as its own object and is slow; here a line is stored as
its text plus runs of identical attributes (a typical console line has one to three runs), so
10,000 lines of 80 columns cost about a megabyte rather than a hundred.

A stored line is a plain tuple (:data:`PackedLine`) of strings, integers and tuples, not an
object of a class: CPython's garbage collector stops tracking such tuples after a collection
or two, so they are not collection work of their own (10,000 lines as objects made a full
collection of a vncterm process take about 15 ms). The container that holds them is frozen out
of collections at start-up (vncterm.heap). :class:`CompactLine` is the same line with names,
made when asked for.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from itertools import compress, islice
from operator import itemgetter, ne

from pyte.screens import Char

#: Lines kept by default (issue: "at least 10,000 lines by default").
DEFAULT_SCROLLBACK_LINES = 10_000

#: Attributes of a cell without its character: Char's fields after `data`.
Attributes = tuple[object, ...]
#: ``(start column, attributes)`` pairs in column order; the first starts at 0.
Runs = tuple[tuple[int, Attributes], ...]
#: Cells holding more than one code point (a base and combining marks), by column.
Clusters = tuple[tuple[int, str], ...]
#: A stored line: (text, runs, clusters), the fields of `CompactLine`, in an exact tuple.
PackedLine = tuple[str, Runs, Clusters]

#: A blank cell in the default rendition (the emulator's default cell is this object).
BLANK = Char(" ", "default", "default", reverse=False)
_BLANK = BLANK
_DEFAULT_ATTRIBUTES: Attributes = tuple(_BLANK)[1:]

_data_of = itemgetter(0)
_attributes_of = itemgetter(slice(1, None))


@dataclass(frozen=True, slots=True)
class CompactLine:
    """One line: its text (one character per column, padded) and attribute runs."""

    text: str
    runs: Runs
    clusters: Clusters = ()

    def cells(self, columns: int) -> list[Char]:
        """The line as `columns` cells (cut or padded with default blanks)."""
        text = self.text[:columns].ljust(columns)
        cells: list[Char] = []
        runs = self.runs
        for index, (start, attributes) in enumerate(runs):
            if start >= columns:
                break
            end = runs[index + 1][0] if index + 1 < len(runs) else columns
            end = min(end, columns)
            cells.extend(Char(ch, *attributes) for ch in text[start:end])  # type: ignore[arg-type]
        if len(cells) < columns:
            cells.extend(Char(ch) for ch in text[len(cells) : columns])
        for x, cell in enumerate(cells):
            if cell.data == _WIDE_TAIL:
                cells[x] = cell._replace(data="")
        for x, cluster in self.clusters:
            if x < columns:
                cells[x] = cells[x]._replace(data=cluster)
        return cells


#: Stands for the empty right half of a wide character, so the text has one code point per column.
_WIDE_TAIL = "\0"

#: The runs of a line drawn entirely with default attributes.
_DEFAULT_RUNS: Runs = ((0, _DEFAULT_ATTRIBUTES),)

EMPTY_LINE: PackedLine = ("", _DEFAULT_RUNS, ())

#: Most lines `compact_text` keeps for sharing (a flood repeats the same few lines).
_MAX_SHARED_LINES = 512

_shared_lines: dict[tuple[str, Attributes, int], PackedLine] = {}


def compact(line: Mapping[int, Char] | None, columns: int) -> PackedLine:
    """Pack a pyte buffer line (a sparse column -> Char mapping); cost grows with the cells
    actually drawn, not with the width, since this runs for every line of a flood.

    A row whose default cell is not a plain blank (erased in a background colour, or filled
    by DECALN) shows that cell wherever nothing is stored: those columns are filled in."""
    default = getattr(line, "default", _BLANK)
    if line is not None and default is not _BLANK and default != _BLANK:
        if not line and len(default.data) == 1:
            return compact_text(default.data * columns, default[1:], columns)
        line = {x: line.get(x, default) for x in range(columns)}
    if not line:
        return EMPTY_LINE
    count = len(line)
    # Columns are never negative: count distinct ones up to count - 1 are 0..count-1.
    if count <= columns and max(line) == count - 1:
        # Cells 0..count-1 all drawn (the usual case): transpose them in C instead of
        # walking them one by one.
        cells = list(map(line.__getitem__, range(count)))
        first = cells[0]
        last = cells[-1]
        if len(first.data) == 1 and (last is first or last.data == ""):
            # One cell throughout, or one wide character and its stub (a repeated
            # character): no per-cell work at all.
            if last is first and cells.count(first) == count:
                return compact_text(first.data * count, first[1:], columns)
            stub = cells[1]
            if (stub.data == "" and stub[1:] == first[1:] and count % 2 == 0
                    and cells[0::2].count(first) == cells[1::2].count(stub) == count // 2):
                return compact_text((first.data + _WIDE_TAIL) * (count // 2), first[1:],
                                    columns)
        packed = _compact_contiguous(cells, columns)
        if packed is not None:
            return packed
    chars: list[str] = []
    clusters: list[tuple[int, str]] = []
    runs: list[tuple[int, Attributes]] = [(0, _DEFAULT_ATTRIBUTES)]
    current = _DEFAULT_ATTRIBUTES
    length = 0  # columns emitted so far
    for x in sorted(line):
        if x >= columns:
            break
        if x > length:
            # A gap of never-drawn (default) cells.
            if current != _DEFAULT_ATTRIBUTES:
                runs.append((length, _DEFAULT_ATTRIBUTES))
                current = _DEFAULT_ATTRIBUTES
            chars.append(" " * (x - length))
            length = x
        cell = line[x]
        attributes = cell[1:]
        if attributes != current:
            if runs[-1][0] == x:
                runs[-1] = (x, attributes)
            else:
                runs.append((x, attributes))
            current = attributes
        data = cell.data
        if len(data) != 1:
            if data:
                clusters.append((x, data))
                data = data[0]
            else:
                data = _WIDE_TAIL
        chars.append(data)
        length += 1
    return _finish("".join(chars), runs, current, tuple(clusters), columns)


def _compact_contiguous(cells: list[Char], columns: int) -> PackedLine | None:
    """`compact` of cells drawn from column 0 without gaps, or None if a cell holds other
    than exactly one code point (a wide character's stub, combining marks)."""
    data = list(map(_data_of, cells))
    text = "".join(data)
    count = len(cells)
    if len(text) != count or "" in data:
        return None
    # Each cell's attributes as a tuple; equal neighbours mostly share their fields, so
    # comparing them is cheap, and runs start where they differ.
    attributes = list(map(_attributes_of, cells))
    first = attributes[0]
    starts = list(compress(range(1, count), map(ne, islice(attributes, 1, None), attributes)))
    if not starts:
        return compact_text(text, first, columns)
    runs: list[tuple[int, Attributes]] = [(0, first)]
    runs.extend([(x, attributes[x]) for x in starts])
    return _finish(text, runs, runs[-1][1], (), columns)


def _finish(
    text: str,
    runs: list[tuple[int, Attributes]],
    current: Attributes,
    clusters: Clusters,
    columns: int,
) -> PackedLine:
    if len(runs) == 1 and runs[0][1] == _DEFAULT_ATTRIBUTES:
        text = text.rstrip(" ")  # default blanks are what padding restores
    elif current != _DEFAULT_ATTRIBUTES and len(text) < columns:
        runs.append((len(text), _DEFAULT_ATTRIBUTES))
    return (text, tuple(runs), clusters)


def compact_text(text: str, attributes: Attributes, columns: int) -> PackedLine:
    """`compact` of a blank line on which ``text`` (one code point per cell, at most
    ``columns``) was drawn from column 0 with ``attributes`` (a `Char`'s fields after `data`).

    Lines are immutable, so equal ones are shared: a flood of one line costs one line.
    """
    if not text:
        return EMPTY_LINE
    key = (text, attributes, columns)
    line = _shared_lines.get(key)
    if line is None:
        if attributes == _DEFAULT_ATTRIBUTES:
            line = (text.rstrip(" "), _DEFAULT_RUNS, ())
        elif len(text) < columns:
            line = (text, ((0, attributes), (len(text), _DEFAULT_ATTRIBUTES)), ())
        else:
            line = (text, ((0, attributes),), ())
        if len(_shared_lines) >= _MAX_SHARED_LINES:
            _shared_lines.clear()
        _shared_lines[key] = line
    return line


class Scrollback:
    """A bounded list of lines, oldest first; the oldest are dropped past `capacity`."""

    def __init__(self, capacity: int = DEFAULT_SCROLLBACK_LINES) -> None:
        if capacity < 0:
            raise ValueError("scrollback capacity must not be negative")
        self.capacity = capacity
        self._lines: deque[PackedLine] = deque(maxlen=capacity or None)
        #: Lines ever added: lets a viewer keep its place while new lines arrive.
        self.total = 0

    def __len__(self) -> int:
        return len(self._lines)

    def __iter__(self) -> Iterator[CompactLine]:
        return (CompactLine(*line) for line in self._lines)

    def packed(self) -> Iterator[PackedLine]:
        """The stored lines themselves, oldest first (equal lines are often one object)."""
        return iter(self._lines)

    def append(self, line: PackedLine) -> None:
        if self.capacity:
            self._lines.append(line)
            self.total += 1

    def extend(self, lines: list[PackedLine]) -> None:
        if self.capacity:
            self._lines.extend(lines)
            self.total += len(lines)

    def line(self, back: int) -> CompactLine:
        """The line `back` lines above the screen (1 is the most recent)."""
        return CompactLine(*self._lines[-back])

    def text(self) -> list[str]:
        """Every stored line as text, oldest first, trailing spaces removed."""
        return [line[0].replace(_WIDE_TAIL, "").rstrip() for line in self._lines]
