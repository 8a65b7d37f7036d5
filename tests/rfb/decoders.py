"""Small, independent RFB decoders used to check the encoders' output pixel by pixel."""

from __future__ import annotations

import struct
import zlib

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


def _cpixel_size_and_padding(pf: PixelFormat) -> tuple[int, bytes, bytes]:
    """A CPIXEL's size, and the zero bytes that turn it back into a wire pixel (before, after)."""
    size = pf.bits_per_pixel // 8
    if not pf.true_colour or pf.bits_per_pixel != 32 or pf.depth > 24:
        return size, b"", b""
    colour_bits = 0
    for maximum, shift in (
        (pf.red_max, pf.red_shift),
        (pf.green_max, pf.green_shift),
        (pf.blue_max, pf.blue_shift),
    ):
        colour_bits |= maximum << shift
    low_three = colour_bits <= 0xFFFFFF
    high_three = colour_bits % 256 == 0
    # Both TigerVNC and libvncclient try the three bytes that come first on the wire first.
    if pf.big_endian:
        if high_three:
            return 3, b"", b"\x00"
        if low_three:
            return 3, b"\x00", b""
    else:
        if low_three:
            return 3, b"", b"\x00"
        if high_three:
            return 3, b"\x00", b""
    return size, b"", b""


class ZrleDecoder:
    """Decodes the ZRLE rectangles of one connection, which share one zlib stream."""

    def __init__(self) -> None:
        self._inflate = zlib.decompressobj()

    def decode(self, payload: bytes, width: int, height: int, pf: PixelFormat) -> Pixels:
        """Decode one ZRLE payload into rows of pixel values."""
        (length,) = struct.unpack_from(">I", payload)
        assert len(payload) == 4 + length, "length field disagrees with the payload"
        data = self._inflate.decompress(payload[4:])
        assert not self._inflate.unconsumed_tail
        size, before, after = _cpixel_size_and_padding(pf)
        pos = 0

        def cpixel() -> int:
            nonlocal pos
            wire = before + data[pos : pos + size] + after
            pos += size
            assert len(wire) == pf.bits_per_pixel // 8, "data ended inside a pixel"
            return read_pixel(wire, 0, pf)

        def run_length() -> int:
            nonlocal pos
            total = 1
            while True:
                byte = data[pos]
                pos += 1
                total += byte
                if byte != 255:
                    return total

        out = [[-1] * width for _ in range(height)]
        for ty in range(0, height, 64):
            for tx in range(0, width, 64):
                th, tw = min(64, height - ty), min(64, width - tx)
                subencoding = data[pos]
                pos += 1
                tile: list[int] = []
                if subencoding == 0:
                    tile = [cpixel() for _ in range(th * tw)]
                elif subencoding == 1:
                    tile = [cpixel()] * (th * tw)
                elif 2 <= subencoding <= 16:
                    palette = [cpixel() for _ in range(subencoding)]
                    bits = 1 if subencoding == 2 else 2 if subencoding <= 4 else 4
                    for _ in range(th):
                        row_bytes = (tw * bits + 7) // 8
                        bitstring = "".join(f"{b:08b}" for b in data[pos : pos + row_bytes])
                        pos += row_bytes
                        for x in range(tw):
                            index = int(bitstring[x * bits : (x + 1) * bits], 2)
                            tile.append(palette[index])
                elif subencoding == 128:
                    while len(tile) < th * tw:
                        colour = cpixel()
                        tile += [colour] * run_length()
                elif subencoding >= 130:
                    palette = [cpixel() for _ in range(subencoding - 128)]
                    while len(tile) < th * tw:
                        index = data[pos]
                        pos += 1
                        count = run_length() if index & 128 else 1
                        tile += [palette[index & 127]] * count
                else:
                    raise AssertionError(f"unused subencoding {subencoding}")
                assert len(tile) == th * tw, "a run went past the end of its tile"
                for y in range(th):
                    out[ty + y][tx : tx + tw] = tile[y * tw : (y + 1) * tw]
        assert pos == len(data), "trailing bytes after the last tile"
        return out


class TightDecoder:
    """Decodes the Tight rectangles of one connection, which share four zlib streams.

    Only what the server may send is accepted: fill, and basic compression with the copy or
    palette filter (no gradient, no JPEG).
    """

    def __init__(self) -> None:
        self._streams = [zlib.decompressobj() for _ in range(4)]

    def decode(self, payload: bytes, width: int, height: int, pf: PixelFormat) -> Pixels:
        """Decode one Tight payload into rows of pixel values."""
        assert width <= 2048, "Tight rectangles are at most 2048 pixels wide"
        rgb = (
            pf.true_colour
            and pf.bits_per_pixel == 32
            and pf.depth == 24
            and pf.red_max == pf.green_max == pf.blue_max == 255
        )
        tpixel_size = 3 if rgb else pf.bits_per_pixel // 8
        pos = 0

        def take(count: int) -> bytes:
            nonlocal pos
            chunk = payload[pos : pos + count]
            assert len(chunk) == count, "payload ended early"
            pos += count
            return chunk

        def tpixel(chunk: bytes) -> int:
            if not rgb:
                return read_pixel(chunk, 0, pf)
            r, g, b = chunk
            return r << pf.red_shift | g << pf.green_shift | b << pf.blue_shift

        def tpixel_list(data: bytes) -> list[int]:
            return [tpixel(data[i : i + tpixel_size]) for i in range(0, len(data), tpixel_size)]

        def data_block(size: int, stream: int) -> bytes:
            if size < 12:
                return take(size)
            length = 0
            for shift in (0, 7, 14):
                byte = take(1)[0]
                length |= (byte & (0x7F if shift < 14 else 0xFF)) << shift
                if shift < 14 and not byte & 0x80:
                    break
            data = self._streams[stream].decompress(take(length))
            assert len(data) == size, f"stream {stream} gave {len(data)} bytes, not {size}"
            return data

        control = take(1)[0]
        for stream in range(4):
            if control >> stream & 1:
                self._streams[stream] = zlib.decompressobj()
        kind = control >> 4
        if kind == 0x8:
            colour = tpixel(take(tpixel_size))
            flat = [colour] * (width * height)
        else:
            assert kind < 0x8, f"compression type {kind:#x} is not allowed"
            stream = kind & 3
            filter_id = take(1)[0] if kind & 4 else 0
            if filter_id == 0:
                flat = tpixel_list(data_block(width * height * tpixel_size, stream))
            else:
                assert filter_id == 1, f"filter {filter_id} is not allowed"
                count = take(1)[0] + 1
                assert count >= 2, "a palette has at least two colours"
                palette = tpixel_list(take(count * tpixel_size))
                flat = []
                if count == 2:
                    row_bytes = (width + 7) // 8
                    bitmap = data_block(row_bytes * height, stream)
                    for y in range(height):
                        row = bitmap[y * row_bytes : (y + 1) * row_bytes]
                        bits = "".join(f"{b:08b}" for b in row)
                        flat += [palette[int(bit)] for bit in bits[:width]]
                else:
                    flat = [palette[index] for index in data_block(width * height, stream)]
        assert pos == len(payload), "trailing bytes after the rectangle"
        return [flat[y * width : (y + 1) * width] for y in range(height)]
