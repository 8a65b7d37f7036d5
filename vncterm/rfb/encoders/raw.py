"""Raw encoding: every pixel of the rectangle in row order (RFC 6143 s7.7.1)."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.pixelformat import PixelFormat, encode_pixels


def encode(pixels: NDArray[np.uint8], pf: PixelFormat) -> bytes:
    """Return the Raw payload of an RGB ``uint8[h, w, 3]`` region."""
    return encode_pixels(pixels, pf)
