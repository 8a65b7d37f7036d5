"""Small, independent RFB decoders used to check the encoders' output pixel by pixel."""

from __future__ import annotations

import struct

from tests.rfb.helpers import read_pixel
from vncterm.rfb.pixelformat import PixelFormat

Pixels = list[list[int]]


def decode_raw(data: bytes, width: int, height: int, pf: PixelFormat) -> Pixels:
    """Decode a Raw payload into rows of pixel values."""
    size = pf.bits_per_pixel // 8
    assert len(data) == width * height * size
    return [
        [read_pixel(data, (y * width + x) * size, pf) for x in range(width)] for y in range(height)
    ]


def decode_hextile(data: bytes, width: int, height: int, pf: PixelFormat) -> Pixels:
    """Decode a Hextile payload, refusing to reuse colours a decoder may not carry over."""
    size = pf.bits_per_pixel // 8
    out = [[-1] * width for _ in range(height)]
    pos = 0
    bg: int | None = None
    fg: int | None = None
    for ty in range(0, height, 16):
        for tx in range(0, width, 16):
            th, tw = min(16, height - ty), min(16, width - tx)
            mask = data[pos]
            pos += 1
            if mask & 1:
                for y in range(th):
                    for x in range(tw):
                        out[ty + y][tx + x] = read_pixel(data, pos, pf)
                        pos += size
                bg = fg = None
                continue
            if mask & 2:
                bg = read_pixel(data, pos, pf)
                pos += size
            assert bg is not None, "background used but never specified"
            for y in range(th):
                for x in range(tw):
                    out[ty + y][tx + x] = bg
            if mask & 4:
                fg = read_pixel(data, pos, pf)
                pos += size
            if mask & 8:
                count = data[pos]
                pos += 1
                for _ in range(count):
                    if mask & 16:
                        colour = read_pixel(data, pos, pf)
                        pos += size
                    else:
                        assert fg is not None, "foreground used but never specified"
                        colour = fg
                    xy, wh = data[pos], data[pos + 1]
                    pos += 2
                    sx, sy, sw, sh = xy >> 4, xy & 15, (wh >> 4) + 1, (wh & 15) + 1
                    assert sx + sw <= tw and sy + sh <= th, "subrectangle outside its tile"
                    for y in range(sy, sy + sh):
                        for x in range(sx, sx + sw):
                            out[ty + y][tx + x] = colour
            if mask & 16:
                fg = None
    assert pos == len(data), "trailing bytes after the last tile"
    return out


def decode_rre(data: bytes, width: int, height: int, pf: PixelFormat) -> Pixels:
    """Decode an RRE payload into rows of pixel values."""
    size = pf.bits_per_pixel // 8
    (count,) = struct.unpack_from(">I", data)
    bg = read_pixel(data, 4, pf)
    out = [[bg] * width for _ in range(height)]
    pos = 4 + size
    for _ in range(count):
        colour = read_pixel(data, pos, pf)
        x0, y0, w, h = struct.unpack_from(">HHHH", data, pos + size)
        pos += size + 8
        assert x0 + w <= width and y0 + h <= height
        for y in range(y0, y0 + h):
            for x in range(x0, x0 + w):
                out[y][x] = colour
    assert pos == len(data)
    return out
