"""The costliest console output known for the emulator: what its fuzz harness starts from,
what the bench measures (ms per 4 KiB) and what the hostile test guest prints.

Each entry is a short sequence that a guest repeats to fill its output; every one of them once
cost far more than its size (a REP after a combining mark: seconds for 11 bytes; DECALN:
minutes per 4 KiB at 500x200). Data only: `bench/hostile_console.py` is the guest program.
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["WORST", "fill", "full_screen", "stream"]

#: name -> a sequence repeated to fill a chunk; the screen starts full of text (`full_screen`).
WORST: dict[str, bytes] = {
    # REP (CSI b) repeats the last character: after a combining mark each repeat once grew
    # one cell's text (quadratic), after a wide or plain character it drew whole screens.
    "rep-after-mark": b"e\xcc\x81\x1b[10000b",
    "rep-wide": "\u4e00".encode() + b"\x1b[65535b",
    "rep-plain": b"e\x1b[65535b",
    # DECALN fills every cell; alternating with a character defeats "already filled".
    "decaln": b"\x1b#8",
    "char-decaln": b"x\x1b#8",
    # Reverse video once rewrote every cell twice per toggle.
    "reverse-video": b"\x1b[?5h\x1b[?5l",
    # Erasing the screen in a background colour writes every cell (alternating colours).
    "erase-in-colour": b"\x1b[41m\x1b[2J\x1b[42m\x1b[2J",
    # One scroll of the whole screen per two or three bytes.
    "index": b"\x1bD",
    "char-index": b"x\x1bD",
    "reverse-index": b"\x1b[H\x1bM",
    "next-line": b"\x1bE",
    "scroll-up": b"\x1b[S",
    "scroll-down": b"\x1b[T",
    "scroll-up-many": b"\x1b[9999S",
    "cursor-up-line-feed": b"\x1b[A\n",
    # Tabs with huge counts (each was a loop, each step a sort of the tab stops).
    "tab": b"\t",
    "tab-forward": b"\x1b[9999I",
    "tab-backward": b"\x1b[9999Z",
    # Inserting and deleting characters in a full row.
    "insert-mode": b"\x1b[4hX",
    "insert-characters": b"\x1b[9999@",
    "delete-characters": b"\x1b[9999P",
    "erase-characters": b"\x1b[1;2H\x1b[9999X",
    # Marks piled up on one cell.
    "combining-pile": b"\xcc\x81",
    # Control strings: long ones, and many short titles.
    "long-osc": b"\x1b]0;" + b"t" * 8192,
    "short-osc": b"\x1b]0;t\x07",
    "long-dcs": b"\x1bP" + b"q" * 8192,
    # Parameter lists far past what any sequence takes.
    "many-parameters": b"\x1b[" + b"1;" * 2000 + b"m",
    "many-modes": b"\x1b[?" + b"5;" * 2000 + b"h",
    # Saved cursors that nothing restores (pyte kept every one).
    "save-cursor": b"\x1b7",
    "alternate-screen": b"\x1b[?1049h\x1b[?1049l",
    # Origin mode then a huge row: once left the cursor below the screen (render failed).
    "origin-mode-row": b"\x1b[?6h\x1b[99999999d",
    # Queries whose replies go back to the guest.
    "queries": b"\x1b[6n\x1b[c",
    "reset": b"\x1bc",
}


def fill(sequence: bytes, size: int = 4096) -> bytes:
    """``sequence`` repeated, cut to ``size`` bytes (a chunk as a guest's read gives it)."""
    return (sequence * (size // len(sequence) + 1))[:size]


def full_screen(columns: int, rows: int) -> bytes:
    """Output that leaves every row full of text, the cursor on the last one: the state in
    which most of the above cost the most."""
    return b"\x1b[H" + (b"x" * columns + b"\r\n") * (rows - 1) + b"x" * (columns - 1)


def stream(size: int = 4096) -> Iterator[bytes]:
    """Chunks of each worst input in turn, forever."""
    while True:
        for sequence in WORST.values():
            yield fill(sequence, size)

