"""Bytes and time each encoder takes for a full 80x24 text screen and for one changed line.

The screen is the BusyBox boot capture rendered by vncterm's own terminal and renderer; the
changed line is the prompt line after typing a command on it, encoded on the same connection
(so ZRLE and Tight have already sent the full screen) and on a fresh one.

    .venv/bin/python bench/encoders_size.py
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from vncterm.render.framebuffer import Renderer
from vncterm.rfb.constants import Encoding
from vncterm.rfb.encoders import EncoderState
from vncterm.rfb.pixelformat import NATIVE, PixelFormat
from vncterm.terminal import Terminal

CAPTURE = Path(__file__).parent.parent / "tests/data/linux-boot-busybox-serial.raw"
ENCODINGS = (Encoding.RAW, Encoding.HEXTILE, Encoding.ZRLE, Encoding.TIGHT)
FORMATS = {
    "32bpp": NATIVE,
    "16bpp": PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0),
    "8bpp-cmap": PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0),
}
REPEATS = 30


def screens() -> tuple[np.ndarray, np.ndarray]:
    """The boot screen (640x384) and the 640x16 line that changes when a command is typed."""
    terminal = Terminal(80, 24)
    terminal.feed(CAPTURE.read_bytes())
    renderer = Renderer(terminal)
    renderer.render()
    full = renderer.pixels.copy()
    terminal.feed(b"cat /proc/cpuinfo | grep -i 'model name'")
    damage = renderer.render()
    rows = {y for _, y, _, _ in damage.rects}
    assert len(rows) == 1, damage
    (top,) = rows
    return full, renderer.pixels[top : top + 16].copy()


def median_ms(state: EncoderState, encoding: Encoding, rgb: np.ndarray, pf: PixelFormat) -> float:
    """Median time of encoding ``rgb`` repeatedly on one connection."""
    encode = state.encoder(encoding)
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        encode(rgb, pf)
        times.append(time.perf_counter() - start)
    return float(np.median(times)) * 1000


def main() -> None:
    full, line = screens()
    print("full screen 640x384, changed line 640x16; payload bytes (no 12-byte rectangle header);")
    print("'line B' follows the full screen on one connection; times are medians")
    print(
        f"{'format':10} {'encoding':8} {'full B':>8} {'full ms':>8} "
        f"{'line B':>7} {'line B (fresh)':>14} {'line ms':>8}"
    )
    for name, pf in FORMATS.items():
        for encoding in ENCODINGS:
            state = EncoderState()
            encode = state.encoder(encoding)
            full_bytes = len(encode(full, pf))
            line_bytes = len(encode(line, pf))
            fresh_bytes = len(EncoderState().encoder(encoding)(line, pf))
            full_ms = median_ms(EncoderState(), encoding, full, pf)
            line_ms = median_ms(EncoderState(), encoding, line, pf)
            print(
                f"{name:10} {encoding.name:8} {full_bytes:8} {full_ms:8.2f} "
                f"{line_bytes:7} {fresh_bytes:14} {line_ms:8.2f}"
            )


if __name__ == "__main__":
    main()
