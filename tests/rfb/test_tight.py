"""Tests of the Tight encoder: decoded output must equal the source pixels exactly."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rfb.decoders import TightDecoder
from tests.rfb.scenes import FORMATS, scenes, two_colour_text
from tests.rfb.strategies import images, pixel_formats
from tests.rfb.test_encoders import expected_pixels
from vncterm.rfb.encoders import tight
from vncterm.rfb.encoders.tight import TightEncoder, compact_length, tpixel_is_rgb
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import NATIVE, PixelFormat

RGB565 = FORMATS["16-le"]


def split_compact(data: bytes) -> tuple[int, bytes]:
    """A compact length at the start of ``data``, and the bytes after it."""
    length = data[0] & 0x7F
    if data[0] & 0x80:
        length |= (data[1] & 0x7F) << 7
        if data[1] & 0x80:
            return length | data[2] << 14, data[3:]
        return length, data[2:]
    return length, data[1:]


@settings(max_examples=80, deadline=None)
@given(pixel_formats, st.lists(images(max_side=60), min_size=1, max_size=4))
def test_round_trip(pf: PixelFormat, regions: list[np.ndarray]) -> None:
    """Any region in any pixel format decodes exactly, rectangle after rectangle."""
    encoder, decoder = TightEncoder(), TightDecoder()
    for rgb in regions:
        height, width = rgb.shape[:2]
        decoded = decoder.decode(encoder.encode(rgb, pf), width, height, pf)
        assert decoded == expected_pixels(rgb, pf)


@pytest.mark.parametrize("pf", FORMATS.values(), ids=FORMATS.keys())
def test_scenes_on_one_connection(pf: PixelFormat) -> None:
    """Text, solid, noisy and many-colour regions sent one after another on the same four
    zlib streams all decode exactly."""
    encoder, decoder = TightEncoder(), TightDecoder()
    for name, rgb in scenes().items():
        height, width = rgb.shape[:2]
        decoded = decoder.decode(encoder.encode(rgb, pf), width, height, pf)
        assert decoded == expected_pixels(rgb, pf), name


@pytest.mark.parametrize(
    ("name", "rgb"),
    [
        ("native", True),
        ("32-be", True),
        ("32-be-high-bytes", True),
        ("32-bgr-le", True),
        ("32-depth-32", False),
        ("32-middle-bytes-le", False),
        ("16-le", False),
        ("8-bgr233", False),
        ("8-colour-map", False),
    ],
)
def test_tpixel_is_rgb(name: str, rgb: bool) -> None:
    """TPIXELs are three bytes only for 32-bit true colour of depth 24 with 8-bit channels."""
    assert tpixel_is_rgb(FORMATS[name]) is rgb


def test_fill() -> None:
    """A one-colour region is a fill: control byte 0x80 and one TPIXEL, red first."""
    rgb = np.full((30, 40, 3), (1, 2, 3), dtype=np.uint8)
    assert TightEncoder().encode(rgb, NATIVE) == b"\x80\x01\x02\x03"
    assert TightEncoder().encode(rgb, FORMATS["32-be"]) == b"\x80\x01\x02\x03"
    rgb565 = np.full((2, 2, 3), (255, 128, 8), dtype=np.uint8)
    assert TightEncoder().encode(rgb565, RGB565) == b"\x80\x01\xfc"


def test_two_colours_small_bitmap_is_not_compressed() -> None:
    """Two colours are a palette filter on stream 1 with a one-bit bitmap, rows padded to
    bytes; fewer than 12 data bytes are sent as they are."""
    rgb = np.zeros((3, 10, 3), dtype=np.uint8)
    rgb[0, 0] = rgb[1, 9] = rgb[2, 4] = (255, 255, 255)
    assert TightEncoder().encode(rgb, NATIVE) == (
        bytes([0x50, 1, 1]) + b"\x00\x00\x00\xff\xff\xff" + bytes([0x80, 0, 0, 0x40, 0x08, 0])
    )


def test_two_colour_text_is_compressed_on_stream_1() -> None:
    """A larger two-colour region is a compact length and zlib data on stream 1."""
    rgb = two_colour_text(1)
    payload = TightEncoder().encode(rgb, NATIVE)
    assert payload[:3] == bytes([0x50, 1, 1])
    length, compressed = split_compact(payload[3 + 6 :])
    bitmap = zlib.decompressobj().decompress(compressed)
    assert len(compressed) == length and len(bitmap) == 80 * 136 // 8


def test_indexed_palette_on_stream_2() -> None:
    """Three to 256 colours are a palette filter on stream 2 with one index byte a pixel."""
    rgb = scenes()["twenty-colours"]
    payload = TightEncoder().encode(rgb, NATIVE)
    assert payload[:3] == bytes([0x60, 1, 19])


def test_many_colours_use_copy_filter_on_stream_0() -> None:
    """Over 256 colours are TPIXELs on stream 0, with the copy filter left implicit."""
    rgb = scenes()["noise"]
    payload = TightEncoder().encode(rgb, NATIVE)
    assert payload[0] == 0x00
    length, compressed = split_compact(payload[1:])
    assert len(compressed) == length
    assert zlib.decompressobj().decompress(compressed) == rgb.tobytes()


@pytest.mark.parametrize(
    ("length", "encoded"),
    [
        (0, b"\x00"),
        (127, b"\x7f"),
        (128, b"\x80\x01"),
        (16383, b"\xff\x7f"),
        (16384, b"\x80\x80\x01"),
        (4194303, b"\xff\xff\xff"),
    ],
)
def test_compact_length(length: int, encoded: bytes) -> None:
    """Lengths take 1-3 bytes, 7 bits at a time low first, the third byte all 8 bits."""
    assert compact_length(length) == encoded


def test_compact_length_overflow_is_local_error() -> None:
    """A length beyond 22 bits is our bug."""
    with pytest.raises(LocalProtocolError):
        compact_length(1 << 22)


def test_streams_span_rectangles() -> None:
    """Rectangles share the zlib streams: a repeat costs far less the second time, and only
    a decoder that saw the first can read it."""
    rgb = two_colour_text(2, 64, 256)
    encoder, decoder = TightEncoder(), TightDecoder()
    first, second = encoder.encode(rgb, NATIVE), encoder.encode(rgb, NATIVE)
    assert len(second) < len(first) / 4
    assert decoder.decode(first, 256, 64, NATIVE) == decoder.decode(second, 256, 64, NATIVE)
    with pytest.raises(zlib.error):
        TightDecoder().decode(second, 256, 64, NATIVE)


def test_new_level_resets_streams_in_use() -> None:
    """A new compression level resets, on the next rectangle, exactly the streams used so far,
    and the client then decodes with fresh streams."""
    encoder, decoder = TightEncoder(zlib_level=1), TightDecoder()
    regions = [two_colour_text(1), scenes()["noise"], scenes()["solid"], two_colour_text(2)]
    for rgb in regions[:2]:
        decoder.decode(encoder.encode(rgb, NATIVE), rgb.shape[1], rgb.shape[0], NATIVE)
    encoder.set_compress_level(1)
    encoder.set_compress_level(9)
    payloads = [encoder.encode(rgb, NATIVE) for rgb in regions[2:]]
    assert payloads[0][0] == 0x80 | 0b0011
    assert payloads[1][0] == 0x50
    for rgb, payload in zip(regions[2:], payloads, strict=True):
        decoded = decoder.decode(payload, rgb.shape[1], rgb.shape[0], NATIVE)
        assert decoded == expected_pixels(rgb, NATIVE)


def test_too_large_is_local_error() -> None:
    """Rectangles wider than 2048 pixels, or over the area cap, are refused: split them."""
    with pytest.raises(LocalProtocolError):
        TightEncoder().encode(np.zeros((1, tight.MAX_WIDTH + 1, 3), np.uint8), NATIVE)
    with pytest.raises(LocalProtocolError):
        TightEncoder().encode(np.zeros((tight.MAX_PIXELS // 1024 + 1, 1024, 3), np.uint8), NATIVE)


def test_empty_region() -> None:
    """A zero-sized region is a fill, which every decoder accepts."""
    payload = TightEncoder().encode(np.zeros((0, 3, 3), np.uint8), NATIVE)
    assert payload == b"\x80\x00\x00\x00"
