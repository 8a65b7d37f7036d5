"""RRE encoding: a background and solid subrectangles over it (RFC 6143 s7.7.3)."""

from __future__ import annotations

import struct

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.encoders._subrects import tiled_subrects
from vncterm.rfb.pixelformat import (
    PixelFormat,
    pack_pixel_value,
    pack_pixel_values,
    to_pixel_values,
)

_COUNT = struct.Struct(">I")
_GEOMETRY = np.dtype(">u2")


def encode(pixels: NDArray[np.uint8], pf: PixelFormat) -> bytes:
    """Return the RRE payload of an RGB ``uint8[h, w, 3]`` region."""
    values = to_pixel_values(pixels, pf)
    if values.size == 0:
        # RRE has to name a background pixel; an empty region has none, so send zero.
        return _COUNT.pack(0) + pack_pixel_value(0, pf)
    # One tile as large as the region.
    rects = tiled_subrects(values, max(values.shape))
    count = len(rects.x)
    geometry = np.stack((rects.x, rects.y, rects.width, rects.height), axis=1).astype(_GEOMETRY)
    pixel_bytes = np.frombuffer(pack_pixel_values(rects.colour, pf), dtype=np.uint8)
    body = np.hstack(
        (pixel_bytes.reshape(count, pf.bytes_per_pixel), geometry.view(np.uint8).reshape(count, 8))
    )
    return _COUNT.pack(count) + pack_pixel_value(int(rects.background[0]), pf) + body.tobytes()
