"""Tight encoding without JPEG: fill, or basic compression with the copy or palette filter
over four zlib streams per connection (the community rfbproto spec, "Tight Encoding").

A rectangle of one colour is a fill; two colours go as a one-bit-per-pixel bitmap on stream
1; up to 256 colours as one palette index byte per pixel on stream 2; anything else as
TPIXELs on stream 0, whichever of the last two is shorter. Terminal text is the bitmap case.
"""

from __future__ import annotations

import zlib
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.encoders._palette import PixelValues, distinct_values, palette_indices
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import PixelFormat, pack_pixel_values, to_pixel_values

#: Widest rectangle a Tight decoder accepts.
MAX_WIDTH = 2048
#: Largest rectangle area (pixels) we encode, so the compressed length always fits the
#: 22 bits of the compact length, even at 4 bytes a pixel with zlib's worst-case growth.
MAX_PIXELS = 1 << 19
#: Most colours the palette filter carries.
MAX_PALETTE = 256
#: Data shorter than this is sent as is, not through zlib.
MIN_TO_COMPRESS = 12
#: Largest value the compact length encoding can carry.
MAX_COMPACT_LENGTH = (1 << 22) - 1
#: zlib level used when the connection does not ask for another.
DEFAULT_ZLIB_LEVEL = 6
#: The decoder keeps this many zlib streams.
STREAM_COUNT = 4


class Compression(IntEnum):
    """The high bits of the compression-control byte; the low four reset streams 0-3."""

    #: Basic compression; bits 4-5 give the stream, bit 6 says a filter id follows.
    BASIC = 0x00
    FILL = 0x80
    JPEG = 0x90


#: Bit of a basic compression-control byte saying that a filter-id byte follows.
EXPLICIT_FILTER = 0x40


class Filter(IntEnum):
    """The filter-id byte of basic compression."""

    COPY = 0
    PALETTE = 1
    GRADIENT = 2


class Stream(IntEnum):
    """Which zlib stream each kind of data goes through, so that each stream sees alike data."""

    COPY = 0
    MONO = 1
    INDEXED = 2


def tpixel_is_rgb(pf: PixelFormat) -> bool:
    """Whether TPIXELs are 3 bytes, red, green, blue: 32-bit true colour, depth 24, 8-bit
    channels. Otherwise a TPIXEL is a PIXEL."""
    return (
        pf.true_colour
        and pf.bits_per_pixel == 32
        and pf.depth == 24
        and (pf.red_max, pf.green_max, pf.blue_max) == (255, 255, 255)
    )


def tpixels(values: PixelValues, pf: PixelFormat) -> bytes:
    """Return the TPIXELs of pixel ``values`` in row order."""
    if not tpixel_is_rgb(pf):
        return pack_pixel_values(values, pf)
    flat = values.ravel()
    rgb = np.empty((flat.size, 3), dtype=np.uint8)
    for column, shift in enumerate((pf.red_shift, pf.green_shift, pf.blue_shift)):
        rgb[:, column] = flat >> shift
    return rgb.tobytes()


def compact_length(length: int) -> bytes:
    """Encode a length in 1 to 3 bytes, 7 bits at a time, low bits first."""
    if not 0 <= length <= MAX_COMPACT_LENGTH:
        raise LocalProtocolError(f"Tight data of {length} bytes is too long")
    out = bytearray([length & 0x7F])
    if length > 0x7F:
        out[0] |= 0x80
        out.append((length >> 7) & 0x7F)
        if length > 0x3FFF:
            out[1] |= 0x80
            out.append(length >> 14)
    return bytes(out)


class TightEncoder:
    """The Tight encoder of one connection: the zlib streams the client mirrors.

    Each compressed block ends with a zlib sync flush; every payload must reach the client, in
    order. A new compression level takes effect by resetting the streams in use.
    """

    def __init__(self, zlib_level: int = DEFAULT_ZLIB_LEVEL) -> None:
        self.zlib_level = zlib_level
        self._streams: list[Any] = [None] * STREAM_COUNT
        self._resets = 0

    def set_compress_level(self, zlib_level: int) -> None:
        """Use ``zlib_level`` from the next rectangle on, resetting the streams used so far."""
        if zlib_level == self.zlib_level:
            return
        self.zlib_level = zlib_level
        for stream, compressor in enumerate(self._streams):
            if compressor is not None:
                self._resets |= 1 << stream
        self._streams = [None] * STREAM_COUNT

    def encode(self, pixels: NDArray[np.uint8], pf: PixelFormat) -> bytes:
        """Return the Tight payload of an RGB ``uint8[h, w, 3]`` region.

        The region must be at most `MAX_WIDTH` wide and `MAX_PIXELS` in area; split larger
        ones into several rectangles.
        """
        height, width = pixels.shape[:2]
        if width > MAX_WIDTH or height * width > MAX_PIXELS:
            raise LocalProtocolError(f"a {width}x{height} Tight rectangle is too large")
        values = to_pixel_values(pixels, pf)
        resets, self._resets = self._resets, 0
        palette = distinct_values(values)
        if len(palette) <= 1:
            fill = palette if len(palette) else np.zeros(1, dtype=values.dtype)
            return bytes([Compression.FILL | resets]) + tpixels(fill, pf)

        tpixel_size = 3 if tpixel_is_rgb(pf) else pf.bytes_per_pixel
        copy_size = height * width * tpixel_size
        index_size = height * (-(-width // 8) if len(palette) == 2 else width)
        if len(palette) > MAX_PALETTE or 2 + len(palette) * tpixel_size + index_size >= copy_size:
            data = pixels.tobytes() if tpixel_is_rgb(pf) else tpixels(values, pf)
            return bytes([Compression.BASIC | Stream.COPY << 4 | resets]) + self._compress(
                Stream.COPY, data
            )

        if len(palette) == 2:
            # The sorted palette's second colour is bit 1.
            stream, data = Stream.MONO, np.packbits(values == palette[1], axis=1).tobytes()
        else:
            indices = palette_indices(palette, values).astype(np.uint8)
            stream, data = Stream.INDEXED, indices.tobytes()
        head = bytes(
            [
                Compression.BASIC | stream << 4 | EXPLICIT_FILTER | resets,
                Filter.PALETTE,
                len(palette) - 1,
            ]
        )
        return head + tpixels(palette, pf) + self._compress(stream, data)

    def _compress(self, stream: Stream, data: bytes) -> bytes:
        if len(data) < MIN_TO_COMPRESS:
            return data
        compressor = self._streams[stream]
        if compressor is None:
            compressor = self._streams[stream] = zlib.compressobj(self.zlib_level)
        compressed: bytes = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        return compact_length(len(compressed)) + compressed
