"""Tests of the RFB protocol numbers."""

from __future__ import annotations

from vncterm.rfb.constants import (
    TIGHT_COMPRESS_LEVELS,
    TIGHT_QUALITY_LEVELS,
    ClientMessageType,
    Encoding,
    as_encoding,
)


def test_extended_clipboard_is_signed() -> None:
    """0xC0A1E5CE is stored as the signed 32-bit number clients send."""
    assert Encoding.EXTENDED_CLIPBOARD == 0xC0A1E5CE - (1 << 32)


def test_tight_level_ranges() -> None:
    """Tight quality levels are -32..-23 and compression levels -256..-247."""
    assert list(TIGHT_QUALITY_LEVELS) == list(range(-32, -22))
    assert list(TIGHT_COMPRESS_LEVELS) == list(range(-256, -246))


def test_as_encoding() -> None:
    """Known numbers become members; unknown numbers stay ints."""
    assert as_encoding(5) is Encoding.HEXTILE
    assert type(as_encoding(-30)) is int


def test_client_message_numbers() -> None:
    """Client message types have RFC 6143's numbers (1 is unused), plus rfbproto's
    SetDesktopSize (251)."""
    assert [int(t) for t in ClientMessageType] == [0, 2, 3, 4, 5, 6, 251]
