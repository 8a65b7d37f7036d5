"""Tests of the server message builders and the client message values."""

from __future__ import annotations

import pytest

from vncterm.rfb.constants import Encoding
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    Rectangle,
    bell,
    desktop_size_rectangle,
    framebuffer_update,
    server_cut_text,
    set_colour_map_entries,
)


def test_framebuffer_update_bytes() -> None:
    """A FramebufferUpdate is type 0, padding, count, then header and payload per rectangle."""
    rects = [
        Rectangle(1, 2, 3, 4, Encoding.RAW, b"abc"),
        Rectangle(0, 0, 800, 600, Encoding.DESKTOP_SIZE),
    ]
    assert framebuffer_update(rects) == (
        b"\x00\x00\x00\x02"
        + b"\x00\x01\x00\x02\x00\x03\x00\x04\x00\x00\x00\x00abc"
        + b"\x00\x00\x00\x00\x03\x20\x02\x58\xff\xff\xff\x21"
    )


def test_desktop_size_rectangle() -> None:
    """The DesktopSize pseudo-rectangle carries the new size and no payload."""
    assert desktop_size_rectangle(800, 600) == Rectangle(0, 0, 800, 600, Encoding.DESKTOP_SIZE)


def test_out_of_range_rectangle_is_local_error() -> None:
    """A rectangle field that does not fit the wire format is our bug, not a crash."""
    with pytest.raises(LocalProtocolError):
        framebuffer_update([Rectangle(70000, 0, 1, 1, Encoding.RAW)])


def test_set_colour_map_entries_bytes() -> None:
    """SetColourMapEntries is type 1, padding, first, count, then 16-bit r, g, b."""
    assert set_colour_map_entries(5, [(1, 2, 3), (0xFFFF, 0, 0x8000)]) == bytes.fromhex(
        "01 00 0005 0002 0001 0002 0003 ffff 0000 8000"
    )


def test_set_colour_map_entries_rejects_overflow() -> None:
    """Colours past index 65535 are a LocalProtocolError."""
    with pytest.raises(LocalProtocolError):
        set_colour_map_entries(65535, [(0, 0, 0), (0, 0, 0)])


def test_bell_bytes() -> None:
    """Bell is the single byte 2."""
    assert bell() == b"\x02"


def test_server_cut_text_bytes() -> None:
    """ServerCutText is type 3, three padding bytes, length and the Latin-1 text."""
    assert server_cut_text(b"h\xe9") == b"\x03\x00\x00\x00\x00\x00\x00\x02h\xe9"


def test_client_cut_text_decodes_latin1() -> None:
    """ClientCutText keeps raw bytes and decodes them as Latin-1 on request."""
    assert ClientCutText(b"caf\xe9").latin1 == "café"
