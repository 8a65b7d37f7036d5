"""Shared test helpers: driving an RfbServer with split input, and reference pixel maths."""

from __future__ import annotations

import random
import struct
from collections.abc import Iterable, Sequence

import numpy as np

from vncterm.limits import DEFAULT_LIMITS, Limits
from vncterm.rfb.errors import RemoteProtocolError
from vncterm.rfb.messages import Event
from vncterm.rfb.pixelformat import COLOUR_MAP_RGB8, PixelFormat
from vncterm.rfb.server import CLOSED, NEED_DATA, RfbServer, ServerConfig, State

#: What feeding input ends with: "need-data", "closed" or the RemoteProtocolError reason.
Outcome = tuple[list[Event], str]

CHALLENGE = bytes(range(100, 116))
_PALETTE = np.array(COLOUR_MAP_RGB8, dtype=np.int64)


def fixed_random(size: int) -> bytes:
    """Deterministic stand-in for os.urandom."""
    return CHALLENGE[:size]


def make_server(
    password: bytes | None = None, name: str = "test", limits: Limits = DEFAULT_LIMITS
) -> RfbServer:
    """An initiated server whose greeting has been drained."""
    server = RfbServer(ServerConfig(640, 384, name, password, limits), random_bytes=fixed_random)
    server.initiate()
    assert server.data_to_send() == b"RFB 003.008\n"
    return server


def drain(server: RfbServer) -> tuple[list[Event], str]:
    """Collect events until the server needs data, closes, or raises."""
    events: list[Event] = []
    while True:
        try:
            event = server.next_event()
        except RemoteProtocolError as error:
            return events, error.reason
        if event is NEED_DATA:
            return events, "need-data"
        if event is CLOSED:
            return events, "closed"
        events.append(event)


def feed(server: RfbServer, chunks: Iterable[bytes], eof: bool = False) -> Outcome:
    """Feed chunks one by one, draining after each, and return all events and the outcome.

    Empty chunks are skipped (b"" would mean EOF); EOF is fed last if ``eof`` is true.
    """
    events: list[Event] = []
    outcome = "need-data"
    for chunk in [*(c for c in chunks if c), *([b""] if eof else [])]:
        server.receive_data(chunk)
        new, outcome = drain(server)
        events += new
        if outcome != "need-data":
            break
    return events, outcome


def splits(data: bytes, seed: int) -> list[list[bytes]]:
    """The data whole, byte by byte, and in a few seeded random splits."""
    rng = random.Random(seed)
    ways = [[data], [data[i : i + 1] for i in range(len(data))]]
    for _ in range(5):
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 6))))
        ways.append([data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)])
    return ways


def normal_server(limits: Limits = DEFAULT_LIMITS) -> RfbServer:
    """A server that has completed a 3.8 handshake with security None."""
    server = make_server(limits=limits)
    events, outcome = feed(server, [b"RFB 003.008\n", b"\x01", b"\x01"])
    assert outcome == "need-data" and len(events) == 1
    assert server.state is State.NORMAL
    server.data_to_send()
    return server


def reference_pixel_value(rgb: Sequence[int], pf: PixelFormat) -> int:
    """The pixel value of one colour, computed the slow, obvious way."""
    if not pf.true_colour:
        # Nearest palette entry to the centre of the colour's 5-bit-per-channel bin.
        # Brute force over the palette; argmin breaks ties towards the lowest index.
        centre = np.array([(c >> 3) * 8 + 4 for c in rgb])
        return int((((_PALETTE - centre) ** 2).sum(axis=1)).argmin())
    value = 0
    for c, maximum, shift in zip(
        rgb,
        (pf.red_max, pf.green_max, pf.blue_max),
        (pf.red_shift, pf.green_shift, pf.blue_shift),
        strict=True,
    ):
        value |= ((c * maximum + 127) // 255) << shift
    return value


def read_pixel(data: bytes, offset: int, pf: PixelFormat) -> int:
    """Read one pixel value from wire bytes."""
    size = pf.bits_per_pixel // 8
    return int.from_bytes(data[offset : offset + size], "big" if pf.big_endian else "little")


def key_event(down: bool, keysym: int) -> bytes:
    """Wire bytes of a KeyEvent."""
    return struct.pack(">BBxxI", 4, down, keysym)
