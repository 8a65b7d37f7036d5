"""Fast paths: whole-run drawing, batched scrolling and direct CSI dispatch change nothing."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vncterm.terminal import Char, Terminal
from vncterm.terminal.screen import Screen
from vncterm.terminal.scrollback import compact, compact_text
from vncterm.terminal.stream import Stream

DATA = Path(__file__).parent.parent / "data"
BOOT = (DATA / "linux-boot-busybox-serial.raw").read_bytes()


def one_by_one(cols: int, rows: int, scrollback_lines: int = 50) -> Terminal:
    """A terminal in the reference configuration: every character goes through pyte's parser
    and plain text is drawn one run at a time (non-ASCII text is always drawn one by one, by
    our own `draw_text`: it keeps text after zero-width characters, which pyte's draw drops)."""
    return Terminal(cols, rows, scrollback_lines=scrollback_lines, fast_paths=False)


def state(terminal: Terminal) -> tuple[object, ...]:
    return (
        terminal.lines,
        terminal.cursor,
        list(terminal.scrollback),
        terminal.scrollback.total,
        terminal.take_replies(),
        terminal._screen.last_char,
        terminal._screen.cursor.attrs,
        terminal._stream._taking_plain_text,
    )


TEXT = st.text(st.sampled_from("ab yz~0"), min_size=1, max_size=30).map(str.encode)
PIECES = st.one_of(
    TEXT,
    st.sampled_from(
        [b"\r\n", b"\n", b"\r", b"\t", b"\x08", b"\x0b", b"\x07", b"\r\n\r\n", b"x\r\ny\r\n",
         b"\x1b[m", b"\x1b[1;31m", b"\x1b[0;44m", b"\x1b[7m", b"\x1b[38;5;208m", b"\x1b[38:5:1m",
         b"\x1b[H", b"\x1b[3;4H", b"\x1b[9;1H", b"\x1b[K", b"\x1b[1K", b"\x1b[2J", b"\x1b[J",
         b"\x1b[2;4r", b"\x1b[1;3r", b"\x1b[r", b"\x1b[S", b"\x1b[2T", b"\x1b[L", b"\x1b[2M",
         b"\x1b[P", b"\x1b[2@", b"\x1b[3X", b"\x1b[4h", b"\x1b[4l", b"\x1b[20h", b"\x1b[20l",
         b"\x1b[?7l", b"\x1b[?7h", b"\x1b[?6h", b"\x1b[?6l", b"\x1b[?5h", b"\x1b[?5l",
         b"\x1b[?1049h", b"\x1b[?1049l", b"\x1b(0", b"\x1b(B", b"\x0e", b"\x0f", b"\x1b7",
         b"\x1b8", b"\x1bM", b"\x1bD", b"\x1bE", b"\x1bc", b"\x1b[6n", b"\x1b[?6n", b"\x1b[c",
         b"\x1b[3b", b"\x1b[5C", b"\x1b[2D", b"\x1b[Z", b"\x1b[2I", b"\x1b[99999999999m",
         b"\x1b[", b"\x1b[1", b";2", b"m", b"\x1b]0;t\x07", b"\x1bP+q\x1b\\",
         "\u4e00".encode(), "e\u0301".encode(), b"\xc3\xa9", b"\x01", b"\x9b1m", b"\x1b[>c",
         "\u25cf \u4e8c\u0301a\u200bb".encode(), "\u0301".encode(), "\u00e9\u4e00x".encode()]
    ),
)
TAKE = b""


def compare(pieces: list[bytes], cols: int, rows: int, splits: random.Random | None) -> None:
    fast, slow = Terminal(cols, rows, scrollback_lines=50), one_by_one(cols, rows)
    for piece in [*pieces, TAKE]:
        if piece == TAKE:
            assert fast.take_damage() == slow.take_damage()
            assert state(fast) == state(slow)
            continue
        slow.feed(piece)
        if splits is None:
            fast.feed(piece)
        else:
            offset = 0
            while offset < len(piece):
                step = splits.randint(1, 9)
                fast.feed(piece[offset : offset + step])
                offset += step


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.one_of(PIECES, st.just(TAKE)), max_size=60),
    st.integers(3, 12),
    st.integers(2, 6),
)
def test_fast_paths_match_one_by_one(pieces: list[bytes], cols: int, rows: int) -> None:
    """Screen, cursor, scrollback, replies and damage equal those of pyte's per-character path."""
    compare(pieces, cols, rows, None)


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.one_of(PIECES, st.just(TAKE)), max_size=60),
    st.integers(3, 12),
    st.integers(2, 6),
    st.randoms(use_true_random=False),
)
def test_fast_paths_match_one_by_one_in_random_splits(
    pieces: list[bytes], cols: int, rows: int, splits: random.Random
) -> None:
    """Fed in random splits (whole runs and sequences cut anywhere), the result is the same."""
    joined = [b"".join(pieces[i : i + 4]) for i in range(0, len(pieces), 4)]
    compare(joined, cols, rows, splits)


SETUPS = [b"", b"\x1b[99;1H", b"x\x1b[99;1H", b"\x1b[2;4r\x1b[4;1H", b"\x1b[1;3r\x1b[3;1H",
          b"\x1b[2;5r\x1b[9;1H", b"\x1b[31m", b"\x1b[?1049h", b"\x1b[20h", b"\x1b[?7l",
          b"\x1b[4h", b"\x1b[3;1H", b"ab", b"\x1b[3g", b"\x1b[3G\x1bH\x1b[1G", b"\x1b[44m"]
# Mostly lines that can be scrolled through in bulk, now and then one that cannot.
LINE = st.one_of(
    st.sampled_from(["", "y", "ab", "abc", "z" * 12, "xy\r"]),
    st.sampled_from(["", "y", "ab", "abc", "z" * 12, "xy\r"]),
    st.sampled_from(["0123456789abcdef", "a\rb", "\r", "\x1b[32mg"]),
    # Tabs: expanded to spaces on fresh rows when the stops are the default ones; one that
    # starts past the last stop (narrow screens) stops at the last column instead.
    st.sampled_from(["a\tb", "\t", "\ty\t", "abcdefghi\tj", "z" * 9 + "\t", "\t\t\tx"]),
)
SEPARATOR = st.sampled_from(["\r\n", "\r\n", "\r\n", "\r\n", "\n", "\r\r\n"])


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from(SETUPS),
    st.lists(st.tuples(LINE, SEPARATOR), min_size=1, max_size=40),
    st.integers(3, 12),
    st.integers(2, 12),
    st.sampled_from([0, 5, 50]),
    st.booleans(),
)
def test_runs_of_whole_lines_match_one_by_one(
    setup: bytes, lines: list[tuple[str, str]], cols: int, rows: int, kept: int, tab: bool
) -> None:
    """Many lines in one write (scrolled through in bulk) give what one by one gives: in a
    region or not, kept in the scrollback or not, with short, empty, full, wrapping and
    tabbed lines (default or changed tab stops, default or coloured rendition)."""
    text = "".join(line + separator for line, separator in lines).encode()
    if tab:
        text += b"\t"
    fast = Terminal(cols, rows, scrollback_lines=kept)
    slow = one_by_one(cols, rows, scrollback_lines=kept)
    for terminal in (fast, slow):
        terminal.feed(setup)
        terminal.feed(text)
        terminal.feed(b"tail")
    assert fast.take_damage() == slow.take_damage()
    assert state(fast) == state(slow)


@pytest.mark.parametrize("cols", [16, 80])
@pytest.mark.parametrize("setup", [b"", b"\x1b[2;20r\x1b[20;1H", b"\x1b[3g\x1b[5G\x1bH\x1b[1G"])
@pytest.mark.parametrize("ending", ["\t", "\tz", "\t\t"])
def test_tabbed_lines_in_bulk_match_one_by_one(cols: int, setup: bytes, ending: str) -> None:
    """`cat -n`-like lines (tabs on fresh rows, turned into spaces in bulk) give what one by
    one gives, a tab past the last stop included, and REP repeats the last drawn character,
    never a tab."""
    last_stop = (cols - 1) // 8 * 8
    lines = [f"{n:6d}\ty" for n in range(40)]
    lines += ["x" * last_stop + "\tw", "x" * (last_stop - 1) + "\tv", "a" + ending]
    text = ("\r\n".join(lines) + "\r\n" + "\r\n".join(lines[-3:]) + "\x1b[3b").encode()
    fast = Terminal(cols, 24, scrollback_lines=50)
    slow = one_by_one(cols, 24)
    for terminal in (fast, slow):
        terminal.feed(setup)
        terminal.feed(text)
    assert fast.take_damage() == slow.take_damage()
    assert state(fast) == state(slow)


@pytest.mark.parametrize("kept", [0, 50])
@pytest.mark.parametrize("setup", [b"", b"\x1b[3;10r"])
@pytest.mark.parametrize("count", [4, 7, 8, 9, 30])
def test_a_run_of_lines_shorter_or_longer_than_the_region(
    kept: int, setup: bytes, count: int
) -> None:
    """A bulk run of fewer lines than the region is tall keeps the rows above; a longer one
    pushes them all out (and, at the top of the screen, into the scrollback)."""
    fast = Terminal(10, 10, scrollback_lines=kept)
    slow = one_by_one(10, 10, scrollback_lines=kept)
    for terminal in (fast, slow):
        terminal.feed(setup + b"".join(b"L%d\r\n" % i for i in range(12)))
        terminal.feed(b"".join(b"n%d\r\n" % i for i in range(count)))
        terminal.feed(b"tail")
    assert fast.take_damage() == slow.take_damage()
    assert state(fast) == state(slow)


@pytest.mark.parametrize("chunk", [1, 7, 4096, len(BOOT)])
def test_boot_capture_matches_one_by_one(chunk: int) -> None:
    """The boot capture gives the same screen, scrollback and replies as the exact path."""
    fast, slow = Terminal(80, 24), one_by_one(80, 24, scrollback_lines=10_000)
    for offset in range(0, len(BOOT), chunk):
        fast.feed(BOOT[offset : offset + chunk])
    slow.feed(BOOT)
    assert state(fast) == state(slow)


def test_flood_shares_cells_and_scrollback_lines() -> None:
    """Cells of one rendition are shared objects, and a flood of one line is one stored line."""
    terminal = Terminal(10, 3)
    terminal.feed(b"\x1b[32my\r\n" * 100)
    lines = list(terminal.scrollback.packed())
    assert len(lines) == 98
    assert all(line is lines[0] for line in lines)
    other = Terminal(10, 3)
    other.feed(b"\x1b[32myy")
    assert other.row(0)[0] is other.row(0)[1] is terminal.row(0)[0]


@settings(max_examples=300, deadline=None)
@given(st.text(st.sampled_from("ab \u00e9"), max_size=12), st.booleans(), st.integers(1, 12))
def test_compact_text_equals_compact(text: str, coloured: bool, columns: int) -> None:
    """compact_text gives what compact gives for the same text drawn on a blank row."""
    text = text[:columns]
    attrs = Char(" ", fg="red" if coloured else "default")
    line = {x: attrs._replace(data=ch) for x, ch in enumerate(text)}
    assert compact_text(text, tuple(attrs)[1:], columns) == compact(line, columns)


def test_the_reference_configuration_takes_no_fast_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """``fast_paths=False`` sends every character through pyte's parser and draws plain text
    one run at a time: the fast stream and the bulk drawing are never called."""
    taken: list[str] = []
    monkeypatch.setattr(Stream, "feed_text", lambda *_: taken.append("feed_text"))
    monkeypatch.setattr(Screen, "draw_plain", lambda *_: taken.append("draw_plain"))
    reference = Terminal(80, 24, fast_paths=False)
    reference.feed(BOOT)
    assert taken == []
    assert reference.text() != Terminal(80, 24).text()
    Terminal(80, 24).feed(b"x")
    assert taken == ["feed_text"]


def test_the_reference_configuration_stops_and_resumes() -> None:
    """A stopped feed in the reference configuration keeps the rest and, resumed, gives the
    screen of feeding everything at once."""
    whole = one_by_one(80, 24)
    whole.feed(BOOT)
    sliced = one_by_one(80, 24)
    sliced.feed(BOOT, stop=lambda: True)
    assert sliced.backlog
    for _ in range(len(BOOT)):
        if not sliced.backlog:
            break
        sliced.resume(stop=lambda: True)
    assert state(sliced) == state(whole)
