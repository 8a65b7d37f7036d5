"""Tests of the per-connection encoder state, the registries and rectangle splitting."""

from __future__ import annotations

import numpy as np
import pytest

from tests.rfb.decoders import TightDecoder, decode_raw
from tests.rfb.scenes import two_colour_text
from tests.rfb.test_encoders import expected_pixels
from vncterm.rfb.constants import TIGHT_COMPRESS_LEVEL_0, Encoding
from vncterm.rfb.encoders import (
    ENCODERS,
    STATEFUL_ENCODERS,
    SUPPORTED_ENCODINGS,
    EncoderState,
    encode_rectangles,
    raw,
    tight,
    zlib_level,
)
from vncterm.rfb.encoders.tight import TightEncoder
from vncterm.rfb.encoders.zrle import ZrleEncoder
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.pixelformat import NATIVE


def test_registries() -> None:
    """ZRLE and Tight are stateful encoders; together with Raw, Hextile and RRE they are
    everything we can send."""
    assert STATEFUL_ENCODERS == {Encoding.ZRLE: ZrleEncoder, Encoding.TIGHT: TightEncoder}
    assert SUPPORTED_ENCODINGS == {
        Encoding.RAW,
        Encoding.HEXTILE,
        Encoding.RRE,
        Encoding.ZRLE,
        Encoding.TIGHT,
    }


def test_stateless_encoders_are_the_plain_functions() -> None:
    """For Raw, Hextile and RRE a connection gets the registry's functions."""
    state = EncoderState()
    for encoding, function in ENCODERS.items():
        assert state.encoder(encoding) is function


def test_stateful_encoders_last_the_connection() -> None:
    """Each connection has its own ZRLE and Tight encoder, made once and kept."""
    one, other = EncoderState(), EncoderState()
    for encoding in (Encoding.ZRLE, Encoding.TIGHT):
        encoder = one.encoder(encoding)
        assert encoder.__self__ is one.encoder(int(encoding)).__self__  # type: ignore[attr-defined]
        assert encoder.__self__ is not other.encoder(encoding).__self__  # type: ignore[attr-defined]


def test_not_a_pixel_encoding_is_local_error() -> None:
    """Asking for an encoder we do not have (or a pseudo-encoding) is our bug."""
    with pytest.raises(LocalProtocolError):
        EncoderState().encoder(Encoding.CURSOR)
    with pytest.raises(LocalProtocolError):
        EncoderState().encoder(Encoding.COPY_RECT)


@pytest.mark.parametrize(
    ("client", "level"),
    [
        ([], None),
        ([Encoding.TIGHT, TIGHT_COMPRESS_LEVEL_0 + 9], 9),
        ([TIGHT_COMPRESS_LEVEL_0 + 2, TIGHT_COMPRESS_LEVEL_0 + 7], 2),
        ([TIGHT_COMPRESS_LEVEL_0], 1),
        ([-32, -23, Encoding.ZRLE], None),
    ],
)
def test_zlib_level(client: list[int], level: int | None) -> None:
    """The first compression-level pseudo-encoding gives the zlib level; 0 becomes 1."""
    assert zlib_level(client) == level


def test_new_level_reaches_tight_and_resets_its_streams() -> None:
    """A SetEncodings with a new compression level reaches the connection's Tight encoder,
    which resets its streams on the next rectangle; the client keeps up."""
    state = EncoderState()
    state.set_encodings([Encoding.TIGHT, TIGHT_COMPRESS_LEVEL_0 + 1])
    assert state.zlib_level == 1
    encode, decoder = state.encoder(Encoding.TIGHT), TightDecoder()
    rgb = two_colour_text(1)
    decoder.decode(encode(rgb, NATIVE), 136, 80, NATIVE)
    state.set_encodings([Encoding.TIGHT])
    assert state.zlib_level == 1
    state.set_encodings([Encoding.TIGHT, TIGHT_COMPRESS_LEVEL_0 + 9])
    payload = encode(rgb, NATIVE)
    assert payload[0] == 0x50 | 0b0010
    assert decoder.decode(payload, 136, 80, NATIVE) == expected_pixels(rgb, NATIVE)


def test_state_makes_encoders_at_its_current_level() -> None:
    """Encoders made after a level was chosen start at that level."""
    state = EncoderState()
    state.set_encodings([TIGHT_COMPRESS_LEVEL_0 + 3])
    zrle_encoder = state.encoder(Encoding.ZRLE).__self__  # type: ignore[attr-defined]
    assert zrle_encoder.zlib_level == 3


def test_tight_rectangles_are_split_to_2048_wide() -> None:
    """A region wider than Tight allows becomes several rectangles side by side, each
    decoding to its part."""
    rgb = np.zeros((3, 5000, 3), dtype=np.uint8)
    rgb[:, ::7] = (200, 100, 0)
    decoder = TightDecoder()
    rects = encode_rectangles(
        Encoding.TIGHT, EncoderState().encoder(Encoding.TIGHT), 10, 20, rgb, NATIVE
    )
    assert [(r.x, r.y, r.width, r.height) for r in rects] == [
        (10, 20, 2048, 3),
        (2058, 20, 2048, 3),
        (4106, 20, 904, 3),
    ]
    for rect in rects:
        part = rgb[:, rect.x - 10 : rect.x - 10 + rect.width]
        decoded = decoder.decode(rect.payload, rect.width, rect.height, NATIVE)
        assert decoded == expected_pixels(part, NATIVE)


def test_tight_rectangles_are_split_to_the_area_cap() -> None:
    """A region over Tight's area cap becomes bands of whole rows."""
    rgb = np.zeros((tight.MAX_PIXELS // 2000 + 5, 2000, 3), dtype=np.uint8)
    rects = encode_rectangles(Encoding.TIGHT, TightEncoder().encode, 0, 0, rgb, NATIVE)
    assert [(r.y, r.height) for r in rects] == [(0, 262), (262, 5)]


def test_other_encodings_are_one_rectangle() -> None:
    """Encodings without limits send the region as one rectangle."""
    rgb = np.zeros((4, 3000, 3), dtype=np.uint8)
    (rect,) = encode_rectangles(Encoding.RAW, raw.encode, 1, 2, rgb, NATIVE)
    assert (rect.x, rect.y, rect.width, rect.height, rect.encoding) == (1, 2, 3000, 4, 0)
    assert decode_raw(rect.payload, 3000, 4, NATIVE) == expected_pixels(rgb, NATIVE)


@pytest.mark.parametrize("encoding", sorted(SUPPORTED_ENCODINGS))
def test_empty_region(encoding: Encoding) -> None:
    """Every encoder takes a zero-sized region, as one rectangle."""
    empty = np.zeros((0, 5, 3), dtype=np.uint8)
    (rect,) = encode_rectangles(encoding, EncoderState().encoder(encoding), 0, 0, empty, NATIVE)
    assert rect.width == 5 and rect.height == 0 and isinstance(rect.payload, bytes)
