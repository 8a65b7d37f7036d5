"""Golden screens: captures of real programs replayed into Terminal agree with tmux's screens.

Each ``tests/data/<name>.raw`` was recorded from a real program in an 80x24 pty by
``tests/data/capture.py``; the expected screens (``<name>[.<mark>].screen.txt`` and the
``capture-pane -e`` form ``.screen.ansi``) and tmux's cursor and alternate-screen flag
(``captures.json``) come from replaying the same bytes into tmux, an independent emulator.

Where tmux and we legitimately differ, the comparison leaves that out:

* cursor column after writing the last column (pending wrap): tmux reports ``x == 80``, our
  `Terminal.cursor` clamps to the last column by design, so the column is compared clamped;
* the title: tmux's pane title defaults to the host name, ours to ``""``; none of these
  programs sets a title, so it is not compared;
* attributes of blank cells past the last character tmux prints (``capture-pane`` trims
  trailing blanks even with ``-e``), the foreground of blank cells (invisible; tmux erases with
  the background only, keeping the foreground default), and SGR 2 (dim), which Char lacks.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest
from wcwidth import wcwidth

from vncterm.terminal import Terminal

DATA = Path(__file__).parent.parent / "data"
MANIFEST: dict[str, dict[str, object]] = json.loads(
    (DATA / "captures.json").read_text(encoding="utf-8")
)
COLUMNS, ROWS = 80, 24


@dataclass(frozen=True)
class Golden:
    """One expected screen: a capture cut at ``end`` bytes, and what tmux showed there."""

    name: str
    mark: str | None
    end: int
    cursor: tuple[int, int]
    alternate: bool

    @property
    def id(self) -> str:
        return self.name if self.mark is None else f"{self.name}.{self.mark}"

    @property
    def data(self) -> bytes:
        return raw(self.name)[: self.end]

    @property
    def text(self) -> list[str]:
        lines = (DATA / f"{self.id}.screen.txt").read_text(encoding="utf-8").split("\n")
        return lines[:ROWS]

    @property
    def ansi(self) -> list[str]:
        lines = (DATA / f"{self.id}.screen.ansi").read_text(encoding="utf-8").split("\n")
        return lines[:ROWS]


_RAW: dict[str, bytes] = {}


def raw(name: str) -> bytes:
    if name not in _RAW:
        _RAW[name] = (DATA / f"{name}.raw").read_bytes()
    return _RAW[name]


def goldens() -> list[Golden]:
    found = []
    for name, entry in MANIFEST.items():
        marks = entry["marks"]
        screens = entry["tmux"]
        assert isinstance(marks, dict) and isinstance(screens, dict)
        for mark, end in [*marks.items(), (None, len(raw(name)))]:
            tmux = screens[mark or "end"]
            found.append(
                Golden(name, mark, end, (tmux["cursor"][0], tmux["cursor"][1]), tmux["alternate"])
            )
    return found


GOLDENS = goldens()
BY_ID = {golden.id: golden for golden in GOLDENS}


def fed(data: bytes, chunks: random.Random | None = None) -> Terminal:
    terminal = Terminal(COLUMNS, ROWS)
    if chunks is None:
        terminal.feed(data)
        return terminal
    offset = 0
    while offset < len(data):
        size = chunks.choice([1, 2, 3, 5, 17, 100, 4096])
        terminal.feed(data[offset : offset + size])
        offset += size
    return terminal


def stripped(terminal: Terminal) -> list[str]:
    return [line.rstrip() for line in terminal.text()]


# -- tmux's capture-pane -e output, read back into cells -------------------------------------

_BASE = ("black", "red", "green", "brown", "blue", "magenta", "cyan", "white")
_CUBE = (0, 95, 135, 175, 215, 255)
_TOKEN = re.compile(r"\x1b\[([0-9;:]*)m|([\x0e\x0f])|(.)", re.DOTALL)


def palette_name(index: int) -> str:
    """Our name for xterm colour ``index``: the 16 names, else six hex digits."""
    if index < 8:
        return _BASE[index]
    if index < 16:
        return "bright" + _BASE[index - 8]
    if index < 232:
        index -= 16
        red, green, blue = _CUBE[index // 36], _CUBE[index // 6 % 6], _CUBE[index % 6]
    else:
        red = green = blue = 8 + 10 * (index - 232)
    return f"{red:02x}{green:02x}{blue:02x}"


@dataclass(frozen=True)
class Cell:
    """A cell as tmux printed it: the attributes Char also has."""

    data: str
    fg: str = "default"
    bg: str = "default"
    bold: bool = False
    italics: bool = False
    underscore: bool = False
    strikethrough: bool = False
    reverse: bool = False


def apply_sgr(cell: Cell, parameters: str) -> Cell:
    """The attributes after an SGR as tmux writes them (always ``;`` separated)."""
    codes = [int(code) if code else 0 for code in parameters.replace(":", ";").split(";")]
    attrs = cell.__dict__.copy()
    flags = {1: "bold", 3: "italics", 4: "underscore", 7: "reverse", 9: "strikethrough"}
    offs = {22: "bold", 23: "italics", 24: "underscore", 27: "reverse", 29: "strikethrough"}
    while codes:
        code = codes.pop(0)
        if code == 0:
            attrs = Cell(cell.data).__dict__.copy()
        elif code in flags:
            attrs[flags[code]] = True
        elif code in offs:
            attrs[offs[code]] = False
        elif 30 <= code <= 37 or 40 <= code <= 47:
            attrs["fg" if code < 40 else "bg"] = _BASE[code % 10]
        elif 90 <= code <= 97 or 100 <= code <= 107:
            attrs["fg" if code < 100 else "bg"] = "bright" + _BASE[code % 10]
        elif code in (39, 49):
            attrs["fg" if code == 39 else "bg"] = "default"
        elif code in (38, 48) and codes:
            key = "fg" if code == 38 else "bg"
            kind = codes.pop(0)
            if kind == 5 and codes:
                attrs[key] = palette_name(codes.pop(0))
            elif kind == 2 and len(codes) >= 3:
                attrs[key] = "".join(f"{codes.pop(0):02x}" for _ in range(3))
    return Cell(**attrs)


def tmux_cells(ansi: list[str]) -> list[list[Cell]]:
    """The cells of ``capture-pane -e`` rows, wide characters followed by an empty cell.

    tmux writes only attribute changes, carried from one row to the next. Line-drawing cells
    keep tmux's ASCII letter (between SO and SI): only their attributes are used here, the
    characters are compared through the ``.screen.txt`` files.
    """
    pen = Cell(" ")
    rows = []
    for line in ansi:
        cells, pen = tmux_row(line, pen)
        rows.append(cells)
    return rows


def tmux_row(line: str, pen: Cell) -> tuple[list[Cell], Cell]:
    cells: list[Cell] = []
    for match in _TOKEN.finditer(line):
        sgr, shift, char = match.groups()
        if sgr is not None:
            pen = apply_sgr(pen, sgr)
        elif shift is None:
            if cells and unicodedata.combining(char):
                last = cells[-1]
                cells[-1] = Cell(**{**last.__dict__, "data": last.data + char})
                continue
            cells.append(Cell(**{**pen.__dict__, "data": char}))
            if wcwidth(char) == 2:
                cells.append(Cell(**{**pen.__dict__, "data": ""}))
    return cells, pen


# -- whole screens ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(MANIFEST))
def test_manifest_describes_the_committed_capture(name: str) -> None:
    """captures.json (marks, tmux state) was made from exactly the committed .raw bytes."""
    data = raw(name)
    assert MANIFEST[name]["bytes"] == len(data) <= 200_000
    assert MANIFEST[name]["sha256"] == hashlib.sha256(data).hexdigest()


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda golden: golden.id)
def test_screen_text_matches_tmux(golden: Golden) -> None:
    """The capture (or its prefix up to a mark) draws the same text as tmux does."""
    assert stripped(fed(golden.data)) == golden.text


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda golden: golden.id)
def test_random_chunks_change_nothing(golden: Golden) -> None:
    """Feeding the capture in random chunks gives the same cells, cursor and replies."""
    whole = fed(golden.data)
    split = fed(golden.data, random.Random(golden.id))
    assert split.lines == whole.lines
    assert split.cursor == whole.cursor
    assert split.take_replies() == whole.take_replies()
    assert stripped(split) == golden.text


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda golden: golden.id)
def test_cursor_and_alternate_screen_match_tmux(golden: Golden) -> None:
    """The cursor (column clamped, see the module docstring) and screen buffer agree with tmux."""
    terminal = fed(golden.data)
    x, y = golden.cursor
    assert terminal.cursor == (min(x, COLUMNS - 1), y)
    assert terminal.alternate_screen == golden.alternate


@pytest.mark.parametrize("golden", GOLDENS, ids=lambda golden: golden.id)
def test_attributes_match_tmux(golden: Golden) -> None:
    """Colours, bold, underline, italics and reverse of every cell tmux prints agree."""
    terminal = fed(golden.data)
    mismatches = []
    for y, cells in enumerate(tmux_cells(golden.ansi)):
        row = terminal.row(y)
        for x, expected in enumerate(cells):
            actual = row[x]
            fields = ["bg", "reverse"]
            if actual.data.strip():
                fields += ["fg", "bold", "italics", "underscore", "strikethrough"]
            for name in fields:
                if getattr(actual, name) != getattr(expected, name):
                    mismatches.append((x, y, actual.data, name, getattr(expected, name)))
    assert mismatches == []


# -- what the captures are for ----------------------------------------------------------------


def screen_of(golden_id: str) -> Terminal:
    return fed(BY_ID[golden_id].data)


def test_attribute_comparison_sees_colours() -> None:
    """The tmux attribute files hold colours at all (else the attribute test proves nothing)."""
    for golden_id in ["vim.open", "dialog-menu.open", "less.search", "top.running"]:
        cells = [cell for row in tmux_cells(BY_ID[golden_id].ansi) for cell in row]
        assert any(cell != Cell(cell.data) for cell in cells), golden_id


def test_vim_syntax_colours() -> None:
    """vim's syntax highlighting reaches the cells: 16-colour and 256-colour keywords."""
    terminal = screen_of("vim.open")
    assert stripped(terminal)[2].startswith("import os")
    assert terminal.row(2)[0].fg == "magenta"  # PreProc, ESC[35m
    assert stripped(terminal)[9].startswith("class Point")
    assert terminal.row(9)[0].fg == "af5f00"  # Statement, ESC[38;5;130m
    assert terminal.row(9)[6].fg == "cyan"  # Identifier
    assert terminal.row(2)[7].fg == "default"
    assert terminal.alternate_screen


def test_vim_wide_characters_take_two_cells() -> None:
    """The inserted CJK text occupies two cells per character, as tmux shows it."""
    line = stripped(screen_of("vim.edited"))[22]
    assert line.endswith("print('d\u00e9j\u00e0 vu \u4e2d\u6587')")
    row = screen_of("vim.edited").row(22)
    start = [cell.data for cell in row].index("\u4e2d")
    assert [cell.data for cell in row[start : start + 4]] == ["\u4e2d", "", "\u6587", ""]


def test_vim_quit_restores_the_main_screen() -> None:
    """After :q! the alternate screen is gone and the (empty) main screen is back."""
    terminal = fed(raw("vim"))
    assert not terminal.alternate_screen
    assert stripped(terminal) == [""] * ROWS


def test_dialog_box_uses_line_drawing() -> None:
    """dialog draws its box with ESC ( 0 line drawing, shown as Unicode box characters."""
    terminal = screen_of("dialog-menu.open")
    text = stripped(terminal)
    assert text[4][14] == "\u250c" and text[4][63] == "\u2510"
    assert text[16][14] == "\u251c" and text[18][14] == "\u2514"
    assert set(text[6][17:61]) == {"\u2500"}
    assert (terminal.row(4)[14].fg, terminal.row(4)[14].bg) == ("white", "white")
    assert terminal.row(4)[14].bold


def test_dialog_menu_highlights_the_choice() -> None:
    """The selected item (cherry, two down) is drawn in the highlight colours."""
    terminal = screen_of("dialog-menu.open")
    assert "cherry" in stripped(terminal)[9]
    cell = terminal.row(9)[stripped(terminal)[9].index("cherry")]
    assert cell.bg == "blue"


def test_whiptail_box_is_unicode() -> None:
    """newt draws the box with UTF-8 box characters, not a charset switch."""
    text = stripped(screen_of("whiptail-checklist.open"))
    assert text[4].lstrip().startswith("\u250c")
    assert "\u2524 Packages \u251c" in text[4]
    assert "[*] less" in text[8]


def test_less_search_match_is_reverse_video() -> None:
    """less marks the search match 'needle' in standout (reverse video)."""
    terminal = screen_of("less.search")
    text = stripped(terminal)
    column = text[0].index("needle")
    assert all(cell.reverse for cell in terminal.row(0)[column : column + 6])
    assert not terminal.row(0)[column - 2].reverse


def test_less_wraps_long_lines() -> None:
    """A line longer than 80 columns continues on the next row."""
    text = stripped(screen_of("less.bottom"))
    assert len(text[21]) == COLUMNS
    assert text[22].endswith("long line end")
    assert text[23] == "(END)"


def test_top_column_header_is_reverse_video() -> None:
    """top draws the process column header in reverse video across the row."""
    terminal = screen_of("top.running")
    text = stripped(terminal)
    header = next(y for y, line in enumerate(text) if line.lstrip().startswith("PID USER"))
    assert all(cell.reverse for cell in terminal.row(header)[:COLUMNS])


def test_ash_colours_and_wide_characters() -> None:
    """printf's SGR colours and CJK output appear as written in BusyBox ash."""
    terminal = screen_of("busybox-ash.shell")
    text = stripped(terminal)
    y = text.index("green blue bg")
    assert (terminal.row(y)[0].fg, terminal.row(y)[0].bold) == ("green", True)
    assert terminal.row(y)[6].bg == "blue"
    assert text[22] == "\u4e2d\u6587 wide"


def test_ash_cursor_position_queries_are_answered() -> None:
    """Each ESC[6n ash sends after its prompt gets a report of the column after '~ # '."""
    data = raw("busybox-ash")
    replies = fed(data).take_replies()
    reports = re.findall(rb"\x1b\[(\d+);(\d+)R", replies)
    assert len(reports) == data.count(b"\x1b[6n") > 5
    assert {column for _, column in reports} == {b"5"}


def test_xterm_1049_reset_restores_the_cursor_minimal() -> None:
    """A stray CSI ? 1049 l restores the cursor saved by the last 1049 h, as in xterm and tmux."""
    terminal = fed(b"\x1b[5;5H\x1b[?1049h\x1b[?1049l\x1b[10;10H\x1b[?1049l")
    assert terminal.cursor == (4, 4)


def test_systemd_status_colours() -> None:
    """systemd's boot status marks are coloured: OK green, FAILED bold red, unit names bold."""
    terminal = fed(raw("systemd-boot-serial"))
    text = stripped(terminal)
    failed = text.index("[FAILED] Failed to start haproxy.service - HAProxy Load Balancer.")
    assert {(cell.fg, cell.bold) for cell in terminal.row(failed)[1:7]} == {("red", True)}
    ok = text.index("[  OK  ] Started dbus.service - D-Bus System Message Bus.")
    assert {cell.fg for cell in terminal.row(ok)[1:7]} == {"green"}
    assert terminal.row(ok)[17].bold and not terminal.row(ok)[30].bold
    assert text[22].startswith("vm login: ")


def test_systemd_spinner_frames_reuse_one_line() -> None:
    """The "A start job is running" spinner redraws one line (ESC M, CR, EL) per frame, so once
    the job is done no frame is left on the screen or in the scrollback (as in tmux's history)."""
    terminal = Terminal(COLUMNS, ROWS, scrollback_lines=1000)
    data = raw("systemd-boot-serial")
    terminal.feed(data)
    history = [*terminal.scrollback_text(), *stripped(terminal)]
    frames = data.count(b"start running")
    spinner_lines = [line for line in history if "start running" in line]
    assert frames > 50
    assert spinner_lines == []
