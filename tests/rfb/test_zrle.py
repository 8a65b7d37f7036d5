"""Tests of the ZRLE encoder: decoded output must equal the source pixels exactly."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rfb.decoders import ZrleDecoder
from tests.rfb.scenes import FORMATS, scenes, two_colour_text
from tests.rfb.strategies import images, pixel_formats
from tests.rfb.test_encoders import expected_pixels, text_like
from vncterm.rfb.encoders import zrle
from vncterm.rfb.encoders.zrle import ZrleEncoder, cpixel_bytes, encode_tiles
from vncterm.rfb.messages import Rectangle, framebuffer_update
from vncterm.rfb.pixelformat import NATIVE, PixelFormat, encode_pixels


def tile_data(payload: bytes) -> bytes:
    """The uncompressed data of a connection's first ZRLE payload."""
    return zlib.decompressobj().decompress(payload[4:])


@settings(max_examples=60, deadline=None)
@given(pixel_formats, st.lists(images(max_side=90), min_size=1, max_size=3))
def test_round_trip(pf: PixelFormat, regions: list[np.ndarray]) -> None:
    """Any region in any pixel format decodes exactly, rectangle after rectangle."""
    encoder, decoder = ZrleEncoder(), ZrleDecoder()
    for rgb in regions:
        height, width = rgb.shape[:2]
        decoded = decoder.decode(encoder.encode(rgb, pf), width, height, pf)
        assert decoded == expected_pixels(rgb, pf)


@pytest.mark.parametrize("pf", FORMATS.values(), ids=FORMATS.keys())
def test_scenes_on_one_connection(pf: PixelFormat) -> None:
    """Text, solid, noisy and many-colour regions sent one after another on one zlib stream
    all decode exactly."""
    encoder, decoder = ZrleEncoder(), ZrleDecoder()
    for name, rgb in scenes().items():
        height, width = rgb.shape[:2]
        decoded = decoder.decode(encoder.encode(rgb, pf), width, height, pf)
        assert decoded == expected_pixels(rgb, pf), name


@pytest.mark.parametrize(
    ("name", "span"),
    [
        ("native", slice(0, 3)),
        ("32-be", slice(1, 4)),
        ("32-le-high-bytes", slice(1, 4)),
        ("32-be-high-bytes", slice(0, 3)),
        ("32-depth-32", slice(0, 4)),
        ("32-straddling", slice(0, 4)),
        ("32-middle-bytes-le", slice(0, 3)),
        ("32-middle-bytes-be", slice(0, 3)),
        ("16-be", slice(0, 2)),
        ("8-colour-map", slice(0, 1)),
    ],
)
def test_cpixel_bytes(name: str, span: slice) -> None:
    """A CPIXEL drops the byte that carries no colour of a 32-bit pixel of depth <= 24, and
    keeps the first three wire bytes when either three would do."""
    assert cpixel_bytes(FORMATS[name]) == span


def test_solid_tile() -> None:
    """A one-colour tile is subencoding 1 and one three-byte CPIXEL."""
    rgb = np.full((64, 64, 3), (1, 2, 3), dtype=np.uint8)
    assert tile_data(ZrleEncoder().encode(rgb, NATIVE)) == b"\x01\x03\x02\x01"


def test_tiles_are_64_square_row_by_row() -> None:
    """A 130x70 region is 3x2 tiles, left to right then top to bottom, edges partial."""
    rgb = np.zeros((70, 130, 3), dtype=np.uint8)
    for index, (top, left) in enumerate((t, x) for t in (0, 64) for x in (0, 64, 128)):
        rgb[top : top + 64, left : left + 64] = index
    data = encode_tiles(rgb, NATIVE)
    assert data == b"".join(bytes([1, i, i, i]) for i in range(6))


def test_two_colour_tile_is_packed_one_bit() -> None:
    """A two-colour tile of scattered pixels is a packed palette, one bit a pixel, each row
    padded to a whole byte."""
    rgb = np.zeros((3, 10, 3), dtype=np.uint8)
    rgb[0, 0] = rgb[1, 9] = rgb[2, 4] = (255, 255, 255)
    rgb[0, 2] = rgb[0, 4] = rgb[0, 6] = rgb[1, 1] = rgb[1, 3] = (255, 255, 255)
    assert encode_tiles(rgb, NATIVE) == (
        b"\x02"
        + b"\x00\x00\x00"
        + b"\xff\xff\xff"
        + bytes([0b10101010, 0, 0b01010000, 0b01000000])
        + bytes([0b00001000, 0])
    )


def test_palette_rle_with_long_run() -> None:
    """Single pixels are a bare palette index; longer runs set the index's top bit and give
    length - 1 as 255s and a remainder."""
    rgb = np.zeros((64, 64, 3), dtype=np.uint8)
    rgb[0, 0:5:2] = (9, 9, 9)
    data = encode_tiles(rgb, NATIVE)
    # After five single pixels, 4091 black ones: length - 1 = 4090 = 16 * 255 + 10.
    assert data == (
        bytes([128 + 2])
        + b"\x00\x00\x00\x09\x09\x09"
        + b"\x01\x00\x01\x00\x01"
        + b"\x80"
        + b"\xff" * 16
        + bytes([10])
    )


def test_noise_tile_is_raw() -> None:
    """A tile of noise is sent as raw CPIXELs."""
    rgb = np.random.default_rng(0).integers(0, 256, (8, 8, 3), dtype=np.uint8)
    cpixels = np.frombuffer(encode_pixels(rgb, NATIVE), dtype=np.uint8).reshape(-1, 4)[:, :3]
    assert encode_tiles(rgb, NATIVE) == b"\x00" + cpixels.tobytes()


def test_many_colours_use_palette_rle() -> None:
    """Up to 127 colours in long runs take the palette-RLE form."""
    rng = np.random.default_rng(1)
    colours = rng.integers(0, 256, (100, 3), dtype=np.uint8)
    order = np.concatenate([rng.permutation(100), rng.permutation(100)])
    rgb = np.repeat(colours[order], 21, axis=0)[:4096].reshape(64, 64, 3)
    assert encode_tiles(rgb, NATIVE)[0] == 128 + 100


def test_text_tiles_choose_palette_forms() -> None:
    """Tiles of two-colour text never fall back to raw or plain RLE."""
    rgb = two_colour_text(5, 128, 256)
    data = encode_tiles(rgb, NATIVE)
    assert data[0] in (2, 130)


def test_stream_spans_rectangles() -> None:
    """Rectangles share one zlib stream: a repeat of a region costs far less the second
    time, and only a decoder that saw the first can read it."""
    rgb = two_colour_text(2, 64, 256)
    encoder, decoder = ZrleEncoder(), ZrleDecoder()
    first, second = encoder.encode(rgb, NATIVE), encoder.encode(rgb, NATIVE)
    assert len(second) < len(first) / 4
    assert decoder.decode(first, 256, 64, NATIVE) == decoder.decode(second, 256, 64, NATIVE)
    with pytest.raises(zlib.error):
        ZrleDecoder().decode(second, 256, 64, NATIVE)


def test_compress_level_change_keeps_the_stream() -> None:
    """A new compression level leaves a ZRLE stream as it is (it cannot be reset)."""
    encoder, decoder = ZrleEncoder(zlib_level=1), ZrleDecoder()
    rgb = two_colour_text(3)
    decoder.decode(encoder.encode(rgb, NATIVE), 136, 80, NATIVE)
    encoder.set_compress_level(9)
    assert decoder.decode(encoder.encode(rgb, NATIVE), 136, 80, NATIVE) == expected_pixels(
        rgb, NATIVE
    )


def test_empty_region() -> None:
    """A zero-sized region has no tiles but still a well-formed zlib block."""
    encoder = ZrleEncoder()
    assert (
        ZrleDecoder().decode(encoder.encode(np.zeros((0, 4, 3), np.uint8), NATIVE), 4, 0, NATIVE)
        == []
    )


def test_many_colour_tiles_are_found_tile_by_tile() -> None:
    """Over 256 colours in a region, palettes are still found per tile (and decode)."""
    rng = np.random.default_rng(4)
    rgb = rng.integers(0, 256, (64, 192, 3), dtype=np.uint8)
    rgb[:, 64:128] = rgb[0, 64]
    rgb[:, 128:] = (rng.random((64, 64)) < 0.5)[..., None] * np.uint8(200)
    data = encode_tiles(rgb, NATIVE)
    assert data[0] == 0
    assert data[1 + 64 * 64 * 3] == 1
    assert data[1 + 64 * 64 * 3 + 4] in (2, 130)
    encoder = ZrleEncoder()
    assert ZrleDecoder().decode(encoder.encode(rgb, NATIVE), 192, 64, NATIVE) == expected_pixels(
        rgb, NATIVE
    )
    assert zrle.MAX_RLE_PALETTE == 127


# -- vncdotool's decoder -----------------------------------------------------------------------

#: vncdotool's default pixel format: 32 bits, depth 24, red in the lowest byte.
VNCDOTOOL_FORMAT = PixelFormat(32, 24, False, True, 255, 255, 255, 0, 8, 16)


def vncdotool_canvas(messages: bytes, width: int, height: int) -> np.ndarray:
    """Feed server messages to vncdotool's RFBClient and return what it drew (RGB)."""
    from vncdotool import rfb

    client = rfb.RFBClient()
    canvas = np.zeros((height, width, 3), dtype=np.uint8)

    def update(x: int, y: int, w: int, h: int, data: bytes) -> None:
        canvas[y : y + h, x : x + w] = np.frombuffer(data, np.uint8).reshape(h, w, 4)[..., :3]

    def fill(x: int, y: int, w: int, h: int, colour: bytes) -> None:
        canvas[y : y + h, x : x + w] = np.frombuffer(colour, np.uint8)[:3]

    client.updateRectangle = update
    client.fillRectangle = fill
    client._handler = client._handleExpected
    client.expect(client._handleConnection, 1)
    client.dataReceived(messages)
    assert not client._packet, "vncdotool left bytes unread"
    return canvas


def test_vncdotool_decodes_our_zrle() -> None:
    """vncdotool's ZRLE decoder (written by others) draws exactly our pixels, over several
    updates on one stream. Its packed-palette reader ignores row padding, so widths here are
    multiples of 8, as every vncterm region is."""
    rgb = np.concatenate(
        [two_colour_text(11, 96, 200), text_like(3, 48, 200), scenes()["long-runs"]]
    )
    height, width = rgb.shape[:2]
    rgb[-30:, -60:] = np.random.default_rng(2).integers(0, 256, (30, 60, 3), dtype=np.uint8)
    encoder = ZrleEncoder()
    updates = [
        framebuffer_update(
            [Rectangle(0, 0, width, height, 16, encoder.encode(rgb, VNCDOTOOL_FORMAT))]
        ),
        framebuffer_update(
            [
                Rectangle(8, 16, 64, 32, 16, encoder.encode(rgb[16:48, 8:72], VNCDOTOOL_FORMAT)),
                Rectangle(0, 0, 200, 16, 16, encoder.encode(rgb[:16], VNCDOTOOL_FORMAT)),
            ]
        ),
    ]
    canvas = vncdotool_canvas(b"".join(updates), width, height)
    assert np.array_equal(canvas, rgb)
