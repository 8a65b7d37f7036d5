"""Framebuffer encoders, one module per RFB encoding, collected in registries (RFC 6143 s7.7).

Every pixel encoder has the signature of `Encoder`: it takes the region to send as RGB
``uint8[h, w, 3]`` and the client's pixel format, and returns the rectangle's payload
(without the 12-byte rectangle header). CopyRect is not a pixel encoder: see
`vncterm.rfb.encoders.copyrect.copy_rect`.

Raw, Hextile and RRE are plain functions (`ENCODERS`). ZRLE and Tight keep zlib streams that
span every rectangle of a connection, so each connection owns one `EncoderState`, which makes
their encoders (`STATEFUL_ENCODERS`) on first use and hands out bound methods::

    state = EncoderState()                     # one per connection
    state.set_encodings(client_encodings)      # on every SetEncodings (compression level)
    encode = state.encoder(choose_encoding(client_encodings))
    rects = encode_rectangles(encoding, encode, x, y, region, pixel_format)

Every payload a stateful encoder returns must be sent, in the order made.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.constants import TIGHT_COMPRESS_LEVEL_0, TIGHT_COMPRESS_LEVELS, Encoding
from vncterm.rfb.encoders import hextile, raw, rre, tight, zrle
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.messages import Rectangle
from vncterm.rfb.pixelformat import PixelFormat

#: A pixel encoder: RGB region and pixel format in, rectangle payload out.
Encoder = Callable[[NDArray[np.uint8], PixelFormat], bytes]


class StatefulEncoder(Protocol):
    """An encoder whose output depends on what it sent before on the same connection."""

    def encode(self, pixels: NDArray[np.uint8], pf: PixelFormat, /) -> bytes:
        """Return the payload of the region; it must be sent, after those made before it."""
        ...

    def set_compress_level(self, zlib_level: int, /) -> None:
        """Use ``zlib_level`` (1-9) from now on, where the encoding can."""
        ...


#: The stateless pixel encodings, keyed by encoding number.
ENCODERS: dict[Encoding, Encoder] = {
    Encoding.RAW: raw.encode,
    Encoding.HEXTILE: hextile.encode,
    Encoding.RRE: rre.encode,
}

#: The pixel encodings with per-connection state: a factory taking the zlib level.
STATEFUL_ENCODERS: dict[Encoding, Callable[[int], StatefulEncoder]] = {
    Encoding.ZRLE: zrle.ZrleEncoder,
    Encoding.TIGHT: tight.TightEncoder,
}

#: Every pixel encoding this server can send.
SUPPORTED_ENCODINGS: frozenset[Encoding] = frozenset(ENCODERS) | frozenset(STATEFUL_ENCODERS)

#: zlib level when the client sends no Tight compression-level pseudo-encoding.
DEFAULT_ZLIB_LEVEL = 6

#: Widest and largest (in pixels) rectangle of each encoding that limits them.
RECTANGLE_LIMITS: dict[Encoding, tuple[int, int]] = {
    Encoding.TIGHT: (tight.MAX_WIDTH, tight.MAX_PIXELS),
}


def choose_encoding(client_encodings: Sequence[int]) -> Encoding:
    """Return the client's most preferred pixel encoding that we have; Raw otherwise.

    Raw is always allowed, whether the client lists it or not (RFC 6143 s7.7.1).
    """
    for number in client_encodings:
        if number in SUPPORTED_ENCODINGS:
            return Encoding(number)
    return Encoding.RAW


def zlib_level(client_encodings: Sequence[int]) -> int | None:
    """Return the zlib level (1-9) of the client's first Tight compression-level
    pseudo-encoding, or None if it lists none.

    Level 0 asks for the least CPU; zlib's level 0 would store without compressing, which
    only costs bandwidth, so it becomes level 1.
    """
    for number in client_encodings:
        if number in TIGHT_COMPRESS_LEVELS:
            return max(1, number - TIGHT_COMPRESS_LEVEL_0)
    return None


class EncoderState:
    """The encoders of one connection: the stateless functions and, made on first use, one
    instance of each stateful encoder, so their zlib streams last as long as the connection."""

    def __init__(self, zlib_level: int = DEFAULT_ZLIB_LEVEL) -> None:
        self.zlib_level = zlib_level
        self._stateful: dict[Encoding, StatefulEncoder] = {}

    def set_encodings(self, client_encodings: Sequence[int]) -> None:
        """Take the compression level from a SetEncodings; keep the current one if none."""
        level = zlib_level(client_encodings)
        if level is None or level == self.zlib_level:
            return
        self.zlib_level = level
        for encoder in self._stateful.values():
            encoder.set_compress_level(level)

    def encoder(self, encoding: int) -> Encoder:
        """Return this connection's encoder for ``encoding`` (a pixel encoding we support)."""
        if encoding in ENCODERS:
            return ENCODERS[Encoding(encoding)]
        if encoding not in STATEFUL_ENCODERS:
            raise LocalProtocolError(f"no pixel encoder for encoding {encoding}")
        key = Encoding(encoding)
        instance = self._stateful.get(key)
        if instance is None:
            instance = self._stateful[key] = STATEFUL_ENCODERS[key](self.zlib_level)
        return instance.encode


def encode_rectangles(
    encoding: int,
    encode: Encoder,
    x: int,
    y: int,
    pixels: NDArray[np.uint8],
    pf: PixelFormat,
) -> list[Rectangle]:
    """Encode the region whose top-left corner is at (x, y): one rectangle, or several where
    `RECTANGLE_LIMITS` caps the encoding's rectangles."""
    height, width = pixels.shape[:2]
    max_width, max_pixels = RECTANGLE_LIMITS.get(Encoding(encoding), (width, width * height))
    max_width = max(1, min(width, max_width))
    max_height = max(1, max_pixels // max_width)
    rects = []
    for top in range(0, height, max_height) if height else [0]:
        for left in range(0, width, max_width) if width else [0]:
            part = pixels[top : top + max_height, left : left + max_width]
            part_height, part_width = part.shape[:2]
            rects.append(
                Rectangle(x + left, y + top, part_width, part_height, encoding, encode(part, pf))
            )
    return rects
