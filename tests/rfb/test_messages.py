"""Tests of the server message builders and the client message values."""

from __future__ import annotations

import numpy as np
import pytest

from vncterm.rfb.constants import Encoding, ExtendedDesktopSizeReason, ExtendedDesktopSizeStatus
from vncterm.rfb.errors import LocalProtocolError
from vncterm.rfb.messages import (
    ClientCutText,
    Rectangle,
    Screen,
    bell,
    cursor_rectangle,
    desktop_name_rectangle,
    desktop_size_rectangle,
    extended_desktop_size_rectangle,
    framebuffer_update,
    last_rect_rectangle,
    server_cut_text,
    set_colour_map_entries,
)
from vncterm.rfb.pixelformat import NATIVE, PixelFormat


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


def test_desktop_name_rectangle() -> None:
    """DesktopName is an empty rectangle whose payload is the UTF-8 name after its length."""
    assert desktop_name_rectangle("tty é") == Rectangle(
        0, 0, 0, 0, Encoding.DESKTOP_NAME, b"\x00\x00\x00\x06tty \xc3\xa9"
    )


def test_extended_desktop_size_rectangle_one_screen() -> None:
    """ExtendedDesktopSize carries reason, status and size in the header and, by default,
    one screen with id 0 covering the framebuffer."""
    assert extended_desktop_size_rectangle(640, 384) == Rectangle(
        0,
        0,
        640,
        384,
        Encoding.EXTENDED_DESKTOP_SIZE,
        bytes.fromhex("01 000000" + "00000000 0000 0000 0280 0180 00000000"),
    )


def test_extended_desktop_size_rectangle_reply() -> None:
    """The reply to a client's resize request names the reason, status and given screens."""
    rect = extended_desktop_size_rectangle(
        800,
        600,
        ExtendedDesktopSizeReason.THIS_CLIENT,
        ExtendedDesktopSizeStatus.RESIZE_PROHIBITED,
        [Screen(7, 0, 0, 400, 600, 0), Screen(8, 400, 0, 400, 600, 1)],
    )
    assert (rect.x, rect.y, rect.width, rect.height) == (1, 1, 800, 600)
    assert rect.payload == bytes.fromhex(
        "02 000000"
        + "00000007 0000 0000 0190 0258 00000000"
        + "00000008 0190 0000 0190 0258 00000001"
    )


def test_last_rect_rectangle() -> None:
    """LastRect is an empty rectangle with no payload."""
    assert last_rect_rectangle() == Rectangle(0, 0, 0, 0, Encoding.LAST_RECT)
    assert framebuffer_update([last_rect_rectangle()])[4:] == bytes(8) + b"\xff\xff\xff\x20"


def test_cursor_rectangle() -> None:
    """Cursor puts the hotspot in x and y, then the pixels in the client's format, then the
    mask one bit a pixel, most significant first, rows padded to bytes."""
    pixels = np.zeros((2, 9, 3), dtype=np.uint8)
    pixels[0, 0] = (255, 0, 0)
    mask = np.zeros((2, 9), dtype=bool)
    mask[0, 0] = mask[1, 8] = mask[1, 1] = True
    rgb565_be = PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0)
    rect = cursor_rectangle(1, 1, pixels, mask, rgb565_be)
    assert (rect.x, rect.y, rect.width, rect.height, rect.encoding) == (1, 1, 9, 2, -239)
    assert rect.payload == b"\xf8\x00" + bytes(2 * 17) + bytes([0x80, 0, 0x40, 0x80])


def test_cursor_rectangle_checks_its_arguments() -> None:
    """A mask of the wrong shape or a hotspot outside the cursor is our bug."""
    pixels = np.zeros((4, 4, 3), dtype=np.uint8)
    with pytest.raises(LocalProtocolError):
        cursor_rectangle(0, 0, pixels, np.zeros((4, 5), dtype=bool), NATIVE)
    with pytest.raises(LocalProtocolError):
        cursor_rectangle(4, 0, pixels, np.zeros((4, 4), dtype=bool), NATIVE)
