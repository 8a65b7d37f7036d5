"""Tests of PixelFormat, the colour map and RGB-to-wire conversion."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rfb.helpers import read_pixel, reference_pixel_value
from tests.rfb.strategies import colour_map_formats, images, pixel_formats, true_colour_formats
from vncterm.rfb.pixelformat import (
    COLOUR_MAP,
    COLOUR_MAP_RGB8,
    NATIVE,
    PixelFormat,
    encode_pixel,
    encode_pixels,
    nearest_colour_index,
    to_pixel_values,
)

RGB565 = PixelFormat(16, 16, False, True, 31, 63, 31, 11, 5, 0)
BGR233 = PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6)
COLOUR_MAPPED = PixelFormat(8, 8, False, False, 0, 0, 0, 0, 0, 0)


def test_native_wire_form() -> None:
    """NATIVE packs to the 16 bytes a 32-bit little-endian 0x00RRGGBB server announces."""
    assert NATIVE.pack() == bytes([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0])


@given(pixel_formats)
def test_pack_unpack_round_trip(pf: PixelFormat) -> None:
    """Any valid format survives pack() then unpack() unchanged."""
    assert len(pf.pack()) == 16
    assert PixelFormat.unpack(pf.pack()) == pf


def test_unpack_reads_any_nonzero_flag_as_true_and_ignores_padding() -> None:
    """Flag bytes other than 0/1 mean true, and padding bytes do not matter."""
    data = bytes([16, 16, 7, 200, 0, 31, 0, 63, 0, 31, 11, 5, 0, 9, 9, 9])
    assert PixelFormat.unpack(data) == PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)


def test_unpack_rejects_wrong_length() -> None:
    """A pixel format that is not 16 bytes long is a ValueError."""
    with pytest.raises(ValueError):
        PixelFormat.unpack(bytes(15))


@pytest.mark.parametrize("pf", [NATIVE, RGB565, BGR233, COLOUR_MAPPED])
def test_common_formats_are_valid(pf: PixelFormat) -> None:
    """Formats real viewers ask for pass validation."""
    pf.validate()


@given(pixel_formats)
def test_generated_formats_are_valid(pf: PixelFormat) -> None:
    """Every format the test strategies produce is one the server accepts."""
    pf.validate()


@pytest.mark.parametrize(
    "pf",
    [
        PixelFormat(24, 24, False, True, 255, 255, 255, 16, 8, 0),
        PixelFormat(12, 12, False, True, 15, 15, 15, 8, 4, 0),
        PixelFormat(32, 0, False, True, 255, 255, 255, 16, 8, 0),
        PixelFormat(16, 17, False, True, 31, 63, 31, 11, 5, 0),
        PixelFormat(32, 24, False, True, 0, 255, 255, 16, 8, 0),
        PixelFormat(32, 24, False, True, 254, 255, 255, 16, 8, 0),
        PixelFormat(32, 24, False, True, 255, 255, 255, 25, 8, 0),
        PixelFormat(16, 16, False, True, 31, 63, 31, 12, 5, 0),
        PixelFormat(32, 24, False, True, 255, 255, 255, 4, 8, 0),
        PixelFormat(16, 16, False, False, 0, 0, 0, 0, 0, 0),
    ],
)
def test_invalid_formats_are_rejected(pf: PixelFormat) -> None:
    """Bad bpp, depth, non-2^n-1 maxima, overflowing or overlapping channels, or wide colour
    maps raise ValueError."""
    with pytest.raises(ValueError):
        pf.validate()


def test_colour_map_is_the_xterm_palette() -> None:
    """The colour map holds xterm's 256 colours, in 16-bit form."""
    assert len(COLOUR_MAP) == len(COLOUR_MAP_RGB8) == 256
    assert COLOUR_MAP_RGB8[1] == (205, 0, 0)
    assert COLOUR_MAP_RGB8[16] == (0, 0, 0)
    assert COLOUR_MAP_RGB8[196] == (255, 0, 0)
    assert COLOUR_MAP_RGB8[231] == (255, 255, 255)
    assert COLOUR_MAP_RGB8[232] == (8, 8, 8)
    assert COLOUR_MAP_RGB8[255] == (238, 238, 238)
    assert all(
        big == tuple(c * 257 for c in small)
        for big, small in zip(COLOUR_MAP, COLOUR_MAP_RGB8, strict=True)
    )


def test_nearest_colour_keeps_pure_colours() -> None:
    """Black, white and the primaries map to palette entries of exactly that colour."""
    for rgb in [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255)]:
        assert COLOUR_MAP_RGB8[nearest_colour_index(rgb)] == rgb


def test_native_bytes_are_bgrx() -> None:
    """NATIVE pixels are B, G, R, 0 in memory order."""
    rgb = np.array([[[1, 2, 3], [250, 128, 0]]], dtype=np.uint8)
    assert encode_pixels(rgb, NATIVE) == bytes([3, 2, 1, 0, 0, 128, 250, 0])


def _reference_bytes(rgb: np.ndarray, pf: PixelFormat) -> bytes:
    size = pf.bits_per_pixel // 8
    order: Literal["big", "little"] = "big" if pf.big_endian else "little"
    return b"".join(
        reference_pixel_value(pixel, pf).to_bytes(size, order)
        for row in rgb.tolist()
        for pixel in row
    )


@settings(max_examples=300)
@given(true_colour_formats(), images())
def test_true_colour_matches_reference(pf: PixelFormat, rgb: np.ndarray) -> None:
    """encode_pixels agrees with the per-pixel formula for any valid true-colour format."""
    assert encode_pixels(rgb, pf) == _reference_bytes(rgb, pf)


@settings(max_examples=50)
@given(colour_map_formats(), images())
def test_colour_map_matches_reference(pf: PixelFormat, rgb: np.ndarray) -> None:
    """Colour-map formats get the nearest palette index of each pixel's colour bin."""
    assert encode_pixels(rgb, pf) == _reference_bytes(rgb, pf)


@given(pixel_formats, st.tuples(*[st.integers(0, 255)] * 3))
def test_single_pixel_matches_reference(pf: PixelFormat, rgb: tuple[int, int, int]) -> None:
    """encode_pixel gives the same bytes as the array conversion of a 1x1 image."""
    expected = reference_pixel_value(rgb, pf)
    data = encode_pixel(rgb, pf)
    assert read_pixel(data, 0, pf) == expected
    assert data == encode_pixels(np.array([[rgb]], dtype=np.uint8), pf)


@given(pixel_formats, images(max_side=12))
def test_views_convert_like_copies(pf: PixelFormat, rgb: np.ndarray) -> None:
    """A strided sub-region of a framebuffer converts exactly like a contiguous copy."""
    view = rgb[1:, ::2]
    assert encode_pixels(view, pf) == encode_pixels(view.copy(), pf)
    assert np.array_equal(to_pixel_values(view, pf), to_pixel_values(view.copy(), pf))


WHOLE_BYTE_FORMATS = [
    PixelFormat(32, 24, big_endian, True, 255, 255, 255, *shifts)
    for shifts in [(16, 8, 0), (0, 8, 16), (24, 16, 8), (8, 16, 24), (0, 16, 24), (24, 0, 8)]
    for big_endian in (False, True)
]


@pytest.mark.parametrize("pf", WHOLE_BYTE_FORMATS, ids=str)
@settings(max_examples=20)
@given(images(max_side=12))
def test_whole_byte_formats_match_reference(pf: PixelFormat, rgb: np.ndarray) -> None:
    """32-bit formats whose channels are whole bytes (converted by placing bytes) give the
    values and bytes of the per-pixel formula, from views as from copies."""
    expected = [reference_pixel_value(tuple(pixel), pf) for row in rgb.tolist() for pixel in row]
    assert to_pixel_values(rgb, pf).ravel().tolist() == expected
    assert encode_pixels(rgb, pf) == _reference_bytes(rgb, pf)
    view = rgb[:, ::-1]
    assert np.array_equal(to_pixel_values(view, pf), to_pixel_values(view.copy(), pf))


def test_rejects_non_rgb_arrays() -> None:
    """Pixels that are not uint8[h, w, 3] are a ValueError, not garbage output."""
    with pytest.raises(ValueError):
        encode_pixels(np.zeros((2, 2, 4), dtype=np.uint8), NATIVE)
    with pytest.raises(ValueError):
        encode_pixels(np.zeros((2, 2, 3), dtype=np.uint16), NATIVE)
