"""Pixel formats and RGB scenes shared by the ZRLE and Tight tests."""

from __future__ import annotations

import numpy as np

from tests.rfb.test_encoders import text_like
from vncterm.rfb.pixelformat import NATIVE, PixelFormat

#: Formats covering byte orders, pixel sizes, colour maps and the CPIXEL/TPIXEL edge cases.
FORMATS = {
    "native": NATIVE,
    "32-be": PixelFormat(32, 24, True, True, 255, 255, 255, 16, 8, 0),
    "32-le-high-bytes": PixelFormat(32, 24, False, True, 255, 255, 255, 24, 16, 8),
    "32-be-high-bytes": PixelFormat(32, 24, True, True, 255, 255, 255, 24, 16, 8),
    "32-depth-32": PixelFormat(32, 32, False, True, 255, 255, 255, 16, 8, 0),
    "32-straddling": PixelFormat(32, 24, False, True, 255, 255, 255, 20, 12, 4),
    "32-middle-bytes-le": PixelFormat(32, 16, False, True, 31, 63, 31, 19, 13, 8),
    "32-middle-bytes-be": PixelFormat(32, 16, True, True, 31, 63, 31, 19, 13, 8),
    "32-bgr-le": PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16),
    "16-le": PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0),
    "16-be": PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0),
    "8-bgr233": PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6),
    "8-colour-map": PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0),
}


def two_colour_text(seed: int, height: int = 80, width: int = 136) -> np.ndarray:
    """Light grey glyph-like noise on black, in 8x16 cells, like a plain console."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    ink = rng.random((height, width)) < 0.25
    ink[:, ::8] = False
    ink[rng.random(height) < 0.3] = False
    image[ink] = (229, 229, 229)
    return image


def scenes() -> dict[str, np.ndarray]:
    """Named regions: text, solid, noise, long runs, many colours, odd sizes."""
    rng = np.random.default_rng(7)
    long_runs = np.zeros((130, 200, 3), dtype=np.uint8)
    long_runs[5, 7] = (255, 0, 0)
    long_runs[100:, 150:] = (0, 0, 255)
    ramp = np.zeros((40, 150, 3), dtype=np.uint8)
    ramp[..., 0] = np.arange(150, dtype=np.uint8)[None, :] // 2
    ramp[..., 2] = np.arange(40, dtype=np.uint8)[:, None] * 3
    few = rng.integers(0, 256, (20, 3), dtype=np.uint8)
    return {
        "text-2": two_colour_text(1),
        "text-coloured": text_like(2, 80, 136),
        "solid": np.full((70, 90, 3), (12, 34, 56), dtype=np.uint8),
        "noise": rng.integers(0, 256, (66, 70, 3), dtype=np.uint8),
        "long-runs": long_runs,
        "ramp": ramp,
        "twenty-colours": few[rng.integers(0, 20, (50, 67))],
        "one-pixel": np.full((1, 1, 3), 200, dtype=np.uint8),
        "thin": two_colour_text(3, 1, 300),
        "text-2-again": two_colour_text(1),
    }
