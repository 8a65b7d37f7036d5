"""Tests of the encoders: decoded output must equal the source pixels exactly."""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings

from tests.rfb.decoders import Pixels, decode_hextile, decode_raw, decode_rre
from tests.rfb.helpers import reference_pixel_value
from tests.rfb.strategies import images, pixel_formats
from vncterm.rfb.constants import Encoding
from vncterm.rfb.encoders import ENCODERS, choose_encoding, hextile, raw, rre
from vncterm.rfb.encoders.copyrect import copy_rect
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import NATIVE, PixelFormat

RGB565_BE = PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)
COLOUR_MAPPED = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)


@functools.cache
def _reference(rgb: tuple[int, int, int], pf: PixelFormat) -> int:
    return reference_pixel_value(rgb, pf)


def expected_pixels(rgb: np.ndarray, pf: PixelFormat) -> Pixels:
    """The reference pixel values of an image, row by row."""
    return [[_reference(tuple(p), pf) for p in row] for row in rgb.tolist()]


def text_like(seed: int, height: int = 48, width: int = 72) -> np.ndarray:
    """An image like a terminal: 8x16 cells of two-colour glyphs, some with other colours."""
    rng = np.random.default_rng(seed)
    image = np.zeros((height, width, 3), dtype=np.uint8)
    colours = rng.integers(0, 256, (6, 3), dtype=np.uint8)
    for y in range(0, height, 16):
        for x in range(0, width, 8):
            cell = image[y : y + 16, x : x + 8]
            cell[:] = colours[rng.integers(0, 2)]
            glyph = rng.random(cell.shape[:2]) < 0.3
            cell[glyph] = colours[rng.integers(2, 6)]
    return image


@settings(max_examples=100)
@given(pixel_formats, images(max_side=10))
def test_raw_round_trip(pf: PixelFormat, rgb: np.ndarray) -> None:
    """Raw decodes to exactly the reference pixels."""
    height, width = rgb.shape[:2]
    assert decode_raw(raw.encode(rgb, pf), width, height, pf) == expected_pixels(rgb, pf)


@settings(max_examples=150, deadline=None)
@given(pixel_formats, images(max_side=40))
def test_hextile_round_trip(pf: PixelFormat, rgb: np.ndarray) -> None:
    """Hextile decodes to exactly the reference pixels, including partial edge tiles."""
    height, width = rgb.shape[:2]
    assert decode_hextile(hextile.encode(rgb, pf), width, height, pf) == expected_pixels(rgb, pf)


@pytest.mark.parametrize("pf", [NATIVE, RGB565_BE, COLOUR_MAPPED])
@pytest.mark.parametrize("seed", range(4))
def test_hextile_text_like(pf: PixelFormat, seed: int) -> None:
    """Terminal-like images (solid, two-colour and many-colour tiles) round-trip exactly,
    and never cost more than Raw plus the one mask byte per tile."""
    rgb = text_like(seed)
    data = hextile.encode(rgb, pf)
    assert decode_hextile(data, 72, 48, pf) == expected_pixels(rgb, pf)
    assert len(data) <= len(raw.encode(rgb, pf)) + 3 * 5


def test_hextile_two_colour_text_is_small() -> None:
    """Two-colour text in 32-bit pixels takes well under half the bytes of Raw."""
    rgb = text_like(0)
    rgb[(rgb != rgb[0, 0]).any(axis=2)] = (255, 255, 255)
    rgb[(rgb == rgb[0, 0]).all(axis=2)] = (0, 0, 0)
    data = hextile.encode(rgb, NATIVE)
    assert decode_hextile(data, 72, 48, NATIVE) == expected_pixels(rgb, NATIVE)
    assert len(data) < len(raw.encode(rgb, NATIVE)) / 2


def test_hextile_solid_tiles_reuse_background() -> None:
    """A solid image sends the background once, then one zero byte per tile."""
    rgb = np.full((32, 40, 3), (1, 2, 3), dtype=np.uint8)
    assert hextile.encode(rgb, NATIVE) == b"\x02\x03\x02\x01\x00" + b"\x00" * 5


def test_hextile_single_foreground_pixel() -> None:
    """One odd pixel in a tile is a one-subrectangle tile, not raw."""
    rgb = np.zeros((16, 16, 3), dtype=np.uint8)
    rgb[3, 5] = (255, 255, 255)
    assert hextile.encode(rgb, NATIVE) == (
        bytes([2 | 4 | 8]) + bytes(4) + b"\xff\xff\xff\x00" + b"\x01" + bytes([0x53, 0x00])
    )


def test_hextile_noise_falls_back_to_raw() -> None:
    """A tile of noise is sent raw, since that is shortest."""
    rgb = np.random.default_rng(0).integers(0, 256, (16, 16, 3), dtype=np.uint8)
    assert hextile.encode(rgb, NATIVE) == b"\x01" + raw.encode(rgb, NATIVE)


@settings(max_examples=100, deadline=None)
@given(pixel_formats, images(max_side=24))
def test_rre_round_trip(pf: PixelFormat, rgb: np.ndarray) -> None:
    """RRE decodes to exactly the reference pixels."""
    height, width = rgb.shape[:2]
    assert decode_rre(rre.encode(rgb, pf), width, height, pf) == expected_pixels(rgb, pf)


@pytest.mark.parametrize("encoder", list(ENCODERS.values()))
def test_empty_region(encoder: object) -> None:
    """A zero-sized region encodes without error."""
    assert callable(encoder)
    assert isinstance(encoder(np.zeros((0, 5, 3), dtype=np.uint8), NATIVE), bytes)


def test_copy_rect_payload() -> None:
    """CopyRect's payload is the source position, two big-endian u16s."""
    assert copy_rect(3, 258) == b"\x00\x03\x01\x02"
    with pytest.raises(LocalProtocolError):
        copy_rect(-1, 0)


@pytest.mark.parametrize(
    ("client", "chosen"),
    [
        ([], Encoding.RAW),
        ([Encoding.TIGHT, Encoding.ZRLE, Encoding.HEXTILE, Encoding.RAW], Encoding.TIGHT),
        ([Encoding.ZLIB, Encoding.ZRLE, Encoding.TIGHT], Encoding.ZRLE),
        ([Encoding.CURSOR, -32, Encoding.RRE, Encoding.HEXTILE], Encoding.RRE),
        ([Encoding.DESKTOP_SIZE, 0x574D5669], Encoding.RAW),
        ([Encoding.COPY_RECT, Encoding.RAW, Encoding.HEXTILE], Encoding.RAW),
    ],
)
def test_choose_encoding(client: list[int], chosen: Encoding) -> None:
    """The client's first listed pixel encoding that we have wins; Raw is the fallback."""
    assert choose_encoding(client) is chosen


def test_registry() -> None:
    """The registry holds the pixel encoders, keyed by Encoding."""
    assert ENCODERS[Encoding.RAW] is raw.encode
    assert ENCODERS[Encoding.HEXTILE] is hextile.encode
    assert ENCODERS[Encoding.RRE] is rre.encode
