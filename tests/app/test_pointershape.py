"""The pointer's shape for viewers that draw it themselves (Cursor pseudo-encoding)."""

from __future__ import annotations

import struct

import numpy as np
from twisted.internet.testing import MemoryReactorClock

from tests.app.test_session import HEIGHT, WIDTH, connect, request, set_encodings
from vncterm.backends.memory import MemorySource
from vncterm.render import pointershape
from vncterm.session import ConsoleSession

CURSOR, RAW = -239, 0


def pseudo_rectangles(data: bytes, bytes_per_pixel: int) -> list[tuple[int, int, int, int, bytes]]:
    """(x, y, width, height, payload) of the Cursor rectangles in one FramebufferUpdate whose
    other rectangles are Raw."""
    assert data[0] == 0
    (count,) = struct.unpack_from("!H", data, 2)
    offset, found = 4, []
    for _ in range(count):
        x, y, w, h, encoding = struct.unpack_from("!HHHHi", data, offset)
        offset += 12
        size = w * h * bytes_per_pixel
        if encoding == CURSOR:
            size += -(-w // 8) * h
            found.append((x, y, w, h, data[offset : offset + size]))
        offset += size
    assert offset == len(data)
    return found


def session() -> ConsoleSession:
    s = ConsoleSession(MemoryReactorClock(), MemorySource(), name="pointer")
    s.start()
    return s


def test_the_i_beam_is_outlined_and_hot_in_its_stem() -> None:
    pixels, mask = pointershape.i_beam()
    x, y = pointershape.HOTSPOT
    assert mask[y, x] and pixels[y, x].tolist() == [255, 255, 255]
    assert mask[y, x - 1] and pixels[y, x - 1].tolist() == [0, 0, 0]  # the outline
    assert not mask[y, 0]  # transparent beside it
    assert pixels.shape == (pointershape.HEIGHT, pointershape.WIDTH, 3)


def test_a_viewer_that_asks_gets_the_shape_once() -> None:
    protocol, transport = connect(session())
    set_encodings(protocol, RAW, CURSOR)
    request(protocol, False)
    (shape,) = pseudo_rectangles(transport.value(), 4)
    x, y, w, h, payload = shape
    assert (x, y) == pointershape.HOTSPOT
    assert (w, h) == (pointershape.WIDTH, pointershape.HEIGHT)
    pixels, mask = pointershape.i_beam()
    colours = np.frombuffer(payload[: w * h * 4], dtype=np.uint8).reshape(h, w, 4)
    assert (colours[..., 2] == pixels[..., 0]).all()  # native format: B, G, R, X
    bits = np.unpackbits(np.frombuffer(payload[w * h * 4 :], dtype=np.uint8).reshape(h, -1),
                         axis=1)[:, :w]
    assert (bits.astype(bool) == mask).all()
    transport.clear()
    request(protocol, False)
    assert pseudo_rectangles(transport.value(), 4) == []


def test_again_in_a_new_pixel_format() -> None:
    protocol, transport = connect(session())
    set_encodings(protocol, RAW, CURSOR)
    request(protocol, False)
    rgb565 = struct.pack("!BBBBHHHBBBxxx", 16, 16, 0, 1, 31, 63, 31, 11, 5, 0)
    protocol.dataReceived(b"\x00\x00\x00\x00" + rgb565)
    transport.clear()
    request(protocol, False)
    (shape,) = pseudo_rectangles(transport.value(), 2)
    assert len(shape[4]) == pointershape.WIDTH * pointershape.HEIGHT * 2 + pointershape.HEIGHT


def test_a_viewer_that_does_not_ask_draws_its_own() -> None:
    protocol, transport = connect(session())
    set_encodings(protocol, RAW)
    request(protocol, False)
    assert pseudo_rectangles(transport.value(), 4) == []
    assert transport.value()[:4] == b"\x00\x00\x00\x01"
    assert len(transport.value()) == 4 + 12 + WIDTH * HEIGHT * 4
