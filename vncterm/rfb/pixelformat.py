"""Pixel formats and RGB-to-wire pixel conversion, with the fixed colour map (RFC 6143 s7.4).

Pixels come from the renderer as numpy ``uint8[h, w, 3]`` RGB arrays. A true-colour channel
value is ``(c * max + 127) // 255`` shifted into place; colour-map formats (8 bits per pixel
only) get indexes into `COLOUR_MAP`, the xterm 256-colour palette, chosen by nearest colour.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

_PIXEL_FORMAT = struct.Struct(">BBBBHHHBBB3x")

#: Bits of each channel kept when looking up the nearest colour-map entry.
COLOUR_MAP_INDEX_BITS = 5


@dataclass(frozen=True, slots=True)
class PixelFormat:
    """The PIXEL_FORMAT structure (RFC 6143 s7.4); a value, validated by `validate`."""

    bits_per_pixel: int
    depth: int
    big_endian: bool
    true_colour: bool
    red_max: int
    green_max: int
    blue_max: int
    red_shift: int
    green_shift: int
    blue_shift: int

    @property
    def bytes_per_pixel(self) -> int:
        """Bytes one pixel takes on the wire."""
        return self.bits_per_pixel // 8

    def pack(self) -> bytes:
        """Return the 16-byte wire form, padding included."""
        return _PIXEL_FORMAT.pack(
            self.bits_per_pixel,
            self.depth,
            int(self.big_endian),
            int(self.true_colour),
            self.red_max,
            self.green_max,
            self.blue_max,
            self.red_shift,
            self.green_shift,
            self.blue_shift,
        )

    @classmethod
    def unpack(cls, data: bytes) -> PixelFormat:
        """Parse the 16-byte wire form; any non-zero flag byte means true (padding is ignored)."""
        if len(data) != _PIXEL_FORMAT.size:
            raise ValueError(f"a pixel format is {_PIXEL_FORMAT.size} bytes, not {len(data)}")
        (
            bpp,
            depth,
            big_endian,
            true_colour,
            red_max,
            green_max,
            blue_max,
            red_shift,
            green_shift,
            blue_shift,
        ) = _PIXEL_FORMAT.unpack(data)
        return cls(
            bpp,
            depth,
            big_endian != 0,
            true_colour != 0,
            red_max,
            green_max,
            blue_max,
            red_shift,
            green_shift,
            blue_shift,
        )

    def validate(self) -> None:
        """Raise ValueError unless this server can produce pixels in this format."""
        bpp = self.bits_per_pixel
        if bpp not in (8, 16, 32):
            raise ValueError(f"bits-per-pixel {bpp} is not 8, 16 or 32")
        if not 1 <= self.depth <= bpp:
            raise ValueError(f"depth {self.depth} is not within 1..{bpp}")
        if not self.true_colour:
            # Only the fixed 256-entry colour map is served, so colour-map pixels are bytes.
            if bpp != 8:
                raise ValueError(f"colour-map formats must have 8 bits per pixel, not {bpp}")
            return
        used = 0
        for name, maximum, shift in (
            ("red", self.red_max, self.red_shift),
            ("green", self.green_max, self.green_shift),
            ("blue", self.blue_max, self.blue_shift),
        ):
            if maximum < 1 or maximum & (maximum + 1):
                raise ValueError(f"{name}-max {maximum} is not 2**n - 1")
            mask = maximum << shift
            if mask >= 1 << bpp:
                raise ValueError(f"{name} (max {maximum}, shift {shift}) overflows {bpp} bits")
            if mask & used:
                raise ValueError(f"{name} overlaps another channel")
            used |= mask


#: The format the server announces in ServerInit: 32-bit little-endian 0x00RRGGBB.
NATIVE = PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0)


def _xterm_palette() -> tuple[tuple[int, int, int], ...]:
    ansi = (
        (0, 0, 0),
        (205, 0, 0),
        (0, 205, 0),
        (205, 205, 0),
        (0, 0, 238),
        (205, 0, 205),
        (0, 205, 205),
        (229, 229, 229),
        (127, 127, 127),
        (255, 0, 0),
        (0, 255, 0),
        (255, 255, 0),
        (92, 92, 255),
        (255, 0, 255),
        (0, 255, 255),
        (255, 255, 255),
    )
    levels = (0, 95, 135, 175, 215, 255)
    cube = tuple((r, g, b) for r in levels for g in levels for b in levels)
    greys = tuple((v, v, v) for v in range(8, 248, 10))
    return ansi + cube + greys


#: The fixed colour map as 8-bit (r, g, b): xterm's 16 ANSI colours, 6x6x6 cube, 24 greys.
COLOUR_MAP_RGB8: tuple[tuple[int, int, int], ...] = _xterm_palette()
#: The fixed colour map as sent in SetColourMapEntries: 16-bit (r, g, b) per entry.
COLOUR_MAP: tuple[tuple[int, int, int], ...] = tuple(
    (r * 257, g * 257, b * 257) for r, g, b in COLOUR_MAP_RGB8
)


@functools.cache
def nearest_colour_table() -> NDArray[np.uint8]:
    """Return the colour-map index nearest each 15-bit colour ``r5 << 10 | g5 << 5 | b5``.

    Each 5-bit bin is represented by its centre; ties go to the lowest index.
    """
    palette = np.array(COLOUR_MAP_RGB8, dtype=np.int64)  # (256, 3)
    palette_norms = (palette**2).sum(axis=1)
    step = 1 << (8 - COLOUR_MAP_INDEX_BITS)
    centres = np.arange(1 << COLOUR_MAP_INDEX_BITS, dtype=np.int64) * step + step // 2
    g, b = np.meshgrid(centres, centres, indexing="ij")
    table = np.empty(1 << (3 * COLOUR_MAP_INDEX_BITS), dtype=np.uint8)
    plane = 1 << (2 * COLOUR_MAP_INDEX_BITS)
    for i, r in enumerate(centres):
        colours = np.stack([np.full(g.size, r), g.ravel(), b.ravel()], axis=1)
        # |c - p|^2 minus the |c|^2 term, which is the same for every p.
        distance = palette_norms[None, :] - 2 * colours @ palette.T
        table[i * plane : (i + 1) * plane] = distance.argmin(axis=1)
    table.flags.writeable = False
    return table


def nearest_colour_index(rgb: tuple[int, int, int]) -> int:
    """Return the `COLOUR_MAP` index nearest the 8-bit colour ``rgb``."""
    drop = 8 - COLOUR_MAP_INDEX_BITS
    r, g, b = (c >> drop for c in rgb)
    key = (r << (2 * COLOUR_MAP_INDEX_BITS)) | (g << COLOUR_MAP_INDEX_BITS) | b
    return int(nearest_colour_table()[key])


_VALUE_DTYPES: dict[int, type[np.unsignedinteger[Any]]] = {
    8: np.uint8,
    16: np.uint16,
    32: np.uint32,
}


def _value_dtype(pf: PixelFormat) -> type[np.unsignedinteger[Any]]:
    return _VALUE_DTYPES[pf.bits_per_pixel]


#: Pixel values as a numpy array of the narrowest unsigned type that holds them.
PixelValues = NDArray[np.unsignedinteger[Any]]


@functools.lru_cache(maxsize=64)
def _channel_tables(pf: PixelFormat) -> tuple[PixelValues, PixelValues, PixelValues]:
    """Per-channel tables: 8-bit value -> its bits of the pixel value (or colour-map key).

    The tables have the pixel's own width (colour-map keys need 16 bits) so that the three
    lookups move as few bytes as possible.
    """
    c = np.arange(256, dtype=np.uint32)
    if pf.true_colour:
        dtype: type[np.unsignedinteger[Any]] = _value_dtype(pf)
        pairs = (
            (pf.red_max, pf.red_shift),
            (pf.green_max, pf.green_shift),
            (pf.blue_max, pf.blue_shift),
        )
        tables = [(((c * m + 127) // 255) << s).astype(dtype) for m, s in pairs]
    else:
        drop = 8 - COLOUR_MAP_INDEX_BITS
        tables = [
            ((c >> drop) << (shift * COLOUR_MAP_INDEX_BITS)).astype(np.uint16)
            for shift in (2, 1, 0)
        ]
    for table in tables:
        table.flags.writeable = False
    return tables[0], tables[1], tables[2]


def _byte_placement(pf: PixelFormat) -> tuple[int, int, int] | None:
    """Byte offsets of r, g, b when each channel is one whole byte of a 32-bit pixel."""
    if not pf.true_colour or pf.bits_per_pixel != 32:
        return None
    shifts = (pf.red_shift, pf.green_shift, pf.blue_shift)
    if (pf.red_max, pf.green_max, pf.blue_max) != (255, 255, 255):
        return None
    if any(s % 8 for s in shifts):
        return None
    r, g, b = (3 - s // 8 if pf.big_endian else s // 8 for s in shifts)
    return r, g, b


@functools.lru_cache(maxsize=64)
def _whole_byte_shifts(pf: PixelFormat) -> tuple[int, int, int] | None:
    """The r, g, b shifts when each channel is one whole byte of a 32-bit true-colour value."""
    shifts = (pf.red_shift, pf.green_shift, pf.blue_shift)
    if (
        not pf.true_colour
        or pf.bits_per_pixel != 32
        or (pf.red_max, pf.green_max, pf.blue_max) != (255, 255, 255)
        or any(s % 8 or s > 24 for s in shifts)
        or len(set(shifts)) != 3
    ):
        return None
    return shifts


def _check_rgb(rgb: NDArray[np.uint8]) -> None:
    if rgb.dtype != np.uint8 or rgb.ndim != 3 or rgb.shape[2] != 3:
        raise ValueError(f"pixels must be uint8[h, w, 3], not {rgb.dtype}{list(rgb.shape)}")


def to_pixel_values(rgb: NDArray[np.uint8], pf: PixelFormat) -> PixelValues:
    """Return the pixel value (or colour-map index) of each RGB pixel, shaped ``[h, w]``."""
    _check_rgb(rgb)
    shifts = _whole_byte_shifts(pf)
    if shifts is not None:
        # Each channel is a whole byte of the value: place the bytes and read them back as
        # little-endian 32-bit numbers (several times faster than three table lookups).
        out = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
        for channel, shift in enumerate(shifts):
            out[..., shift // 8] = rgb[..., channel]
        values: PixelValues = out.view("<u4")[..., 0]
        return values
    red, green, blue = _channel_tables(pf)
    values = red[rgb[..., 0]]
    values |= green[rgb[..., 1]]
    values |= blue[rgb[..., 2]]
    if not pf.true_colour:
        return nearest_colour_table()[values]
    return values


def pack_pixel_values(values: NDArray[np.integer[Any]], pf: PixelFormat) -> bytes:
    """Serialise pixel values in row order, each in ``pf``'s size and byte order."""
    dtype = np.dtype(_value_dtype(pf)).newbyteorder(">" if pf.big_endian else "<")
    return values.astype(dtype, copy=False).tobytes()


def encode_pixels(rgb: NDArray[np.uint8], pf: PixelFormat) -> bytes:
    """Return the wire bytes of an RGB ``uint8[h, w, 3]`` array in pixel format ``pf``."""
    _check_rgb(rgb)
    placement = _byte_placement(pf)
    if placement is not None:
        out = np.zeros((*rgb.shape[:2], 4), dtype=np.uint8)
        for channel, offset in enumerate(placement):
            out[..., offset] = rgb[..., channel]
        return out.tobytes()
    return pack_pixel_values(to_pixel_values(rgb, pf), pf)


def pixel_value(rgb: tuple[int, int, int], pf: PixelFormat) -> int:
    """Return the pixel value (or colour-map index) of one 8-bit RGB colour."""
    if not pf.true_colour:
        return nearest_colour_index(rgb)
    r, g, b = rgb
    return (
        ((r * pf.red_max + 127) // 255) << pf.red_shift
        | ((g * pf.green_max + 127) // 255) << pf.green_shift
        | ((b * pf.blue_max + 127) // 255) << pf.blue_shift
    )


def pack_pixel_value(value: int, pf: PixelFormat) -> bytes:
    """Serialise one pixel value in ``pf``'s size and byte order."""
    return value.to_bytes(pf.bytes_per_pixel, "big" if pf.big_endian else "little")


def encode_pixel(rgb: tuple[int, int, int], pf: PixelFormat) -> bytes:
    """Return the wire bytes of one 8-bit RGB colour in pixel format ``pf``."""
    return pack_pixel_value(pixel_value(rgb, pf), pf)
