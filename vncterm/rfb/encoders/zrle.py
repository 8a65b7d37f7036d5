"""ZRLE encoding: 64x64 tiles, each solid, palette, run-length or raw, in one zlib stream per
connection (RFC 6143 s7.7.6).

Every tile is sent with the subencoding that takes fewest bytes before compression, packed
palettes counted at a quarter of their size since zlib shrinks bit-packed indexes best. The
sizes of all forms are computed for all tiles at once with numpy, so the per-tile Python work
is only the writing of the chosen form. Terminal tiles have two or three colours, so the
packed palette (one bit a pixel) and palette RLE forms are the usual choices.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.encoders._palette import PixelValues, distinct_values, palette_indices
from vncterm.rfb.pixelformat import PixelFormat, pack_pixel_values, to_pixel_values

#: Width and height of a full tile.
TILE_SIZE = 64
#: Most colours a packed-palette tile may have.
MAX_PACKED_PALETTE = 16
#: Most colours a palette-RLE tile may have.
MAX_RLE_PALETTE = 127
#: zlib level used when the connection does not ask for another.
DEFAULT_ZLIB_LEVEL = 6
#: Packed indexes compress about four times better than run lengths (measured on rendered
#: text: 5.1 KB instead of 6.1 KB for a full screen), so their size is weighted by this.
_PACKED_WEIGHT = 0.25
#: Above this many colours in the region, tile palettes are found tile by tile.
_SHARED_PALETTE_LIMIT = 256

_LENGTH = struct.Struct(">I")
_IntArray = NDArray[np.int64]


class Subencoding(IntEnum):
    """A tile's subencoding byte. A packed-palette tile's byte is its colour count (2..16),
    a palette-RLE tile's is `PALETTE_RLE_BASE` plus its colour count (2..127)."""

    RAW = 0
    SOLID = 1
    PLAIN_RLE = 128


#: Added to the colour count to make a palette-RLE tile's subencoding byte.
PALETTE_RLE_BASE = 128


class _Form(IntEnum):
    """The ways a tile can be written, in the order ties are broken."""

    SOLID = 0
    PACKED_PALETTE = 1
    PALETTE_RLE = 2
    PLAIN_RLE = 3
    RAW = 4


def cpixel_bytes(pf: PixelFormat) -> slice:
    """Return which bytes of a wire pixel make up its CPIXEL (RFC 6143 s7.7.6).

    A CPIXEL drops a byte of a 32-bit true-colour pixel of depth 24 or less when every colour
    bit lies in the three least or in the three most significant bytes. When both hold, the
    three bytes that come first on the wire are kept: that is what TigerVNC and libvncclient
    decode.
    """
    size = pf.bytes_per_pixel
    if not (pf.true_colour and pf.bits_per_pixel == 32 and pf.depth <= 24):
        return slice(0, size)
    mask = (
        (pf.red_max << pf.red_shift)
        | (pf.green_max << pf.green_shift)
        | (pf.blue_max << pf.blue_shift)
    )
    in_low = mask < 1 << 24
    in_high = mask & 0xFF == 0
    first_three_fit, last_three_fit = (in_high, in_low) if pf.big_endian else (in_low, in_high)
    if first_three_fit:
        return slice(0, 3)
    if last_three_fit:
        return slice(1, 4)
    return slice(0, size)


def _cpixels(values: PixelValues, pf: PixelFormat) -> NDArray[np.uint8]:
    """The CPIXELs of ``values`` as rows of bytes, ``uint8[n, cpixel size]``."""
    wire = np.frombuffer(pack_pixel_values(values, pf), dtype=np.uint8)
    return wire.reshape(-1, pf.bytes_per_pixel)[:, cpixel_bytes(pf)]


@dataclass(frozen=True, slots=True)
class _Tiles:
    """A region's pixel values reordered tile by tile, each tile in row order."""

    values: PixelValues
    heights: _IntArray
    widths: _IntArray
    #: Tile i is ``values[first[i]:first[i + 1]]``.
    first: _IntArray


def _tile_major(values: PixelValues, tile_size: int) -> _Tiles:
    height, width = values.shape
    full_columns, rest = divmod(width, tile_size)
    pieces = []
    heights: list[int] = []
    widths: list[int] = []
    for top in range(0, height, tile_size):
        band = values[top : top + tile_size]
        band_height = band.shape[0]
        if full_columns:
            body = band[:, : full_columns * tile_size]
            pieces.append(body.reshape(band_height, full_columns, tile_size).swapaxes(0, 1).ravel())
            heights += [band_height] * full_columns
            widths += [tile_size] * full_columns
        if rest:
            pieces.append(band[:, full_columns * tile_size :].ravel())
            heights.append(band_height)
            widths.append(rest)
    tile_heights = np.array(heights, dtype=np.int64)
    tile_widths = np.array(widths, dtype=np.int64)
    first = np.zeros(len(heights) + 1, dtype=np.int64)
    np.cumsum(tile_heights * tile_widths, out=first[1:])
    return _Tiles(np.concatenate(pieces), tile_heights, tile_widths, first)


@dataclass(frozen=True, slots=True)
class _Runs:
    """Runs of one value in tile order; every tile starts a run, so runs never cross tiles."""

    #: Offset of each run's first pixel.
    first: _IntArray
    lengths: _IntArray
    tile: _IntArray
    #: Runs of tile i are ``before[i]:before[i + 1]``.
    before: _IntArray


def _runs(tiles: _Tiles) -> _Runs:
    flat = tiles.values
    start = np.ones(len(flat), dtype=bool)
    np.not_equal(flat[1:], flat[:-1], out=start[1:])
    start[tiles.first[:-1]] = True
    first = np.flatnonzero(start)
    lengths = np.diff(first, append=len(flat))
    before = np.searchsorted(first, tiles.first)
    tile = np.repeat(np.arange(len(tiles.heights), dtype=np.int64), np.diff(before))
    return _Runs(first, lengths, tile, before)


@dataclass(frozen=True, slots=True)
class _TilePalettes:
    """Each tile's sorted distinct values, and each run's index in its tile's palette."""

    colour_count: _IntArray
    #: Palette of tile i is ``colours[first[i]:first[i + 1]]``.
    colours: PixelValues
    first: _IntArray
    #: Per run; only meaningful in tiles of at most MAX_RLE_PALETTE colours.
    run_indices: NDArray[np.intp]


def _tile_palettes(tiles: _Tiles, runs: _Runs) -> _TilePalettes:
    values = tiles.values
    tile_count = len(tiles.heights)
    run_values = values[runs.first]
    shared = distinct_values(run_values)
    if len(shared) <= _SHARED_PALETTE_LIMIT:
        # Few colours overall: which colours each tile uses is one bincount over the runs.
        keys = runs.tile * len(shared) + palette_indices(shared, run_values)
        used = np.bincount(keys, minlength=tile_count * len(shared)).reshape(tile_count, -1) > 0
        colour_count = used.sum(axis=1)
        run_indices = (np.cumsum(used, axis=1) - 1).ravel()[keys]
        colours = np.broadcast_to(shared, used.shape)[used]
    else:
        palettes = []
        run_indices = np.zeros(len(runs.first), dtype=np.intp)
        for tile in range(tile_count):
            tile_runs = slice(runs.before[tile], runs.before[tile + 1])
            palette = distinct_values(run_values[tile_runs])
            if len(palette) <= MAX_RLE_PALETTE:
                run_indices[tile_runs] = palette_indices(palette, run_values[tile_runs])
            palettes.append(palette)
        colour_count = np.array([len(p) for p in palettes], dtype=np.int64)
        colours = np.concatenate(palettes)
    first = np.zeros(tile_count + 1, dtype=np.int64)
    np.cumsum(colour_count, out=first[1:])
    return _TilePalettes(colour_count, colours, first, run_indices)


def _run_length_bytes(
    heads: NDArray[np.uint8], lengths: _IntArray, with_length: NDArray[np.bool_]
) -> tuple[NDArray[np.uint8], _IntArray]:
    """Write runs: each its head bytes, then (where ``with_length``) its length as 255s and a
    last byte summing to length - 1. Returns the bytes and each run's end offset."""
    length_bytes = np.where(with_length, (lengths - 1) // 255 + 1, 0)
    sizes = heads.shape[1] + length_bytes
    ends = np.cumsum(sizes)
    out = np.full(int(ends[-1]) if len(ends) else 0, 255, dtype=np.uint8)
    starts = ends - sizes
    for column in range(heads.shape[1]):
        out[starts + column] = heads[:, column]
    out[ends[with_length] - 1] = (lengths[with_length] - 1) % 255
    return out, ends


def _packed_rows(indices: NDArray[np.intp], height: int, width: int, bits: int) -> bytes:
    """Palette indexes ``bits`` wide, most significant first, each row padded to a byte."""
    grid = indices.reshape(height, width).astype(np.uint8)
    if bits == 1:
        return np.packbits(grid, axis=1).tobytes()
    per_byte = 8 // bits
    padded_width = -(-width // per_byte) * per_byte
    if padded_width != width:
        grid = np.pad(grid, ((0, 0), (0, padded_width - width)))
    shifts = np.arange(8 - bits, -1, -bits, dtype=np.uint8)
    groups = grid.reshape(height, padded_width // per_byte, per_byte) << shifts
    return np.bitwise_or.reduce(groups, axis=2).tobytes()


def _index_bits(colour_count: _IntArray) -> _IntArray:
    """Bits a packed-palette index takes: 1 for 2 colours, 2 for up to 4, 4 for up to 16."""
    return np.where(colour_count <= 2, 1, np.where(colour_count <= 4, 2, 4))


def encode_tiles(pixels: NDArray[np.uint8], pf: PixelFormat, tile_size: int = TILE_SIZE) -> bytes:
    """Return the uncompressed ZRLE data of an RGB ``uint8[h, w, 3]`` region: its tiles left
    to right, top to bottom, each in the subencoding likely smallest once compressed.

    ``tile_size`` is 64 for ZRLE; 16 would give TRLE's tiling (RFC 6143 s7.7.5).
    """
    values = to_pixel_values(pixels, pf)
    if values.size == 0:
        return b""
    tiles = _tile_major(values, tile_size)
    tile_count = len(tiles.heights)
    pixel_counts = np.diff(tiles.first)
    runs = _runs(tiles)
    palettes = _tile_palettes(tiles, runs)
    flat = tiles.values
    run_length_bytes = (runs.lengths - 1) // 255 + 1
    run_count = np.diff(runs.before)
    length_bytes = np.bincount(runs.tile, weights=run_length_bytes, minlength=tile_count)
    long_run_bytes = np.bincount(
        runs.tile, weights=run_length_bytes * (runs.lengths > 1), minlength=tile_count
    )

    # Bytes each form takes after the subencoding byte; impossible forms cost infinity.
    span = cpixel_bytes(pf)
    cpixel_size = span.stop - span.start
    n = palettes.colour_count
    palette_size = n * cpixel_size
    index_bits = _index_bits(n)
    row_bytes = -(-tiles.widths * index_bits // 8)
    costs = np.full((len(_Form), tile_count), np.inf)
    costs[_Form.SOLID] = np.where(n == 1, cpixel_size, np.inf)
    palette_ok = n >= 2
    costs[_Form.PACKED_PALETTE] = _PACKED_WEIGHT * np.where(
        palette_ok & (n <= MAX_PACKED_PALETTE), palette_size + tiles.heights * row_bytes, np.inf
    )
    costs[_Form.PALETTE_RLE] = np.where(
        palette_ok & (n <= MAX_RLE_PALETTE), palette_size + run_count + long_run_bytes, np.inf
    )
    costs[_Form.PLAIN_RLE] = run_count * cpixel_size + length_bytes
    costs[_Form.RAW] = pixel_counts * cpixel_size
    forms = costs.argmin(axis=0)

    # The run-length forms of all tiles that use them, written at once and sliced per tile.
    rle: dict[int, tuple[NDArray[np.uint8], _IntArray]] = {}
    run_form = forms[runs.tile]
    for form in (_Form.PLAIN_RLE, _Form.PALETTE_RLE):
        chosen = run_form == form
        if not chosen.any():
            continue
        lengths = runs.lengths[chosen]
        if form == _Form.PLAIN_RLE:
            heads = _cpixels(flat[runs.first[chosen]], pf)
            written, ends = _run_length_bytes(heads, lengths, np.ones(len(lengths), dtype=bool))
        else:
            long_runs = lengths > 1
            index = palettes.run_indices[chosen].astype(np.uint8)
            index[long_runs] |= 0x80
            written, ends = _run_length_bytes(index[:, None], lengths, long_runs)
        # Runs are in tile order, so a tile's bytes run from its first run to its last.
        run_offsets = np.concatenate(([0], ends))
        runs_before = np.zeros(tile_count + 1, dtype=np.int64)
        np.cumsum(np.bincount(runs.tile[chosen], minlength=tile_count), out=runs_before[1:])
        rle[form] = (written, run_offsets[runs_before])

    palette_cpixels = _cpixels(palettes.colours, pf)
    out = bytearray()
    for tile, form in enumerate(forms.tolist()):
        colours = palette_cpixels[palettes.first[tile] : palettes.first[tile + 1]]
        count = len(colours)
        start, end = tiles.first[tile], tiles.first[tile + 1]
        if form == _Form.SOLID:
            out.append(Subencoding.SOLID)
            out += colours.tobytes()
        elif form == _Form.PACKED_PALETTE:
            out.append(count)
            out += colours.tobytes()
            height, width = int(tiles.heights[tile]), int(tiles.widths[tile])
            palette = palettes.colours[palettes.first[tile] : palettes.first[tile + 1]]
            indices = palette_indices(palette, flat[start:end])
            out += _packed_rows(indices, height, width, int(index_bits[tile]))
        elif form == _Form.RAW:
            out.append(Subencoding.RAW)
            out += _cpixels(flat[start:end], pf).tobytes()
        else:
            written, tile_end = rle[form]
            if form == _Form.PALETTE_RLE:
                out.append(PALETTE_RLE_BASE + count)
                out += colours.tobytes()
            else:
                out.append(Subencoding.PLAIN_RLE)
            out += written[tile_end[tile] : tile_end[tile + 1]].tobytes()
    return bytes(out)


class ZrleEncoder:
    """The ZRLE encoder of one connection: its zlib stream spans every ZRLE rectangle sent.

    Each payload ends with a zlib sync flush so that the client can draw it at once; every
    payload must reach the client, in order, or its decompressor loses its place.
    """

    def __init__(self, zlib_level: int = DEFAULT_ZLIB_LEVEL) -> None:
        self._stream: Any = zlib.compressobj(zlib_level)
        self.zlib_level = zlib_level

    def set_compress_level(self, zlib_level: int) -> None:
        """Ignored: a ZRLE stream cannot be reset, so it keeps the level it was made with."""

    def encode(self, pixels: NDArray[np.uint8], pf: PixelFormat) -> bytes:
        """Return the ZRLE payload of an RGB ``uint8[h, w, 3]`` region: length and zlib data."""
        data = encode_tiles(pixels, pf)
        compressed = self._stream.compress(data) + self._stream.flush(zlib.Z_SYNC_FLUSH)
        return _LENGTH.pack(len(compressed)) + compressed
