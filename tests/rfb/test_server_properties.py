"""Property tests: any bytes give events or RemoteProtocolError, whatever the split."""

from __future__ import annotations

import itertools
import struct

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.rfb.helpers import CHALLENGE, feed, make_server, normal_server
from vncterm.limits import Limits
from vncterm.rfb.security import expected_response

# Consistent caps: the receive buffer holds the largest message (SetPixelFormat, 20 bytes).
LIMITS = Limits(max_client_cut_text=10, max_encodings=3, max_receive_buffer=20)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
message = st.one_of(
    st.builds(lambda d, k: struct.pack(">BBxxI", 4, d, k), u8, st.integers(0, 2**32 - 1)),
    st.builds(lambda m, x, y: struct.pack(">BBHH", 5, m, x, y), u8, u16, u16),
    st.builds(lambda i, *r: struct.pack(">BBHHHH", 3, i, *r), u8, u16, u16, u16, u16),
    st.lists(st.integers(-(2**31), 2**31 - 1), max_size=5).map(
        lambda n: struct.pack(f">BxH{len(n)}i", 2, len(n), *n)
    ),
    st.binary(max_size=12).map(lambda t: struct.pack(">B3xI", 6, len(t)) + t),
    st.binary(min_size=16, max_size=16).map(lambda p: b"\x00abc" + p),
    st.sampled_from(
        [
            b"\x00\x00\x00\x00\x20\x18\x00\x01\x00\xff\x00\xff\x00\xff\x10\x08\x00\x00\x00\x00",
            b"\x00\x00\x00\x00\x08\x08\x00\x00" + bytes(12),
        ]
    ),
    st.binary(max_size=8),
)
streams = st.lists(message, max_size=12).map(b"".join)


def cut(data: bytes, points: list[int]) -> list[bytes]:
    """Split data at the given (unsorted, possibly repeated) points."""
    edges = sorted({0, len(data), *(p % (len(data) + 1) for p in points)})
    return [data[a:b] for a, b in itertools.pairwise(edges)]


@settings(max_examples=300)
@given(streams, st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_normal_phase_any_bytes_any_split(data: bytes, points: list[int], eof: bool) -> None:
    """After the handshake any bytes give events or a RemoteProtocolError, never another
    exception, and neither depends on how the bytes were split."""
    whole = feed(normal_server(LIMITS), [data], eof=eof)
    assert feed(normal_server(LIMITS), cut(data, points), eof=eof) == whole
    byte_by_byte = [data[i : i + 1] for i in range(len(data))]
    assert feed(normal_server(LIMITS), byte_by_byte, eof=eof) == whole


handshake_prefix = st.sampled_from(
    [
        b"",
        b"RFB 003.008\n",
        b"RFB 003.008\n\x02",
        b"RFB 003.008\n\x02" + expected_response(b"pw", CHALLENGE),
        b"RFB 003.007\n\x02" + expected_response(b"pw", CHALLENGE) + b"\x01",
        b"RFB 003.003\n" + expected_response(b"pw", CHALLENGE) + b"\x00",
        b"RFB 003.003\n" + bytes(16),
    ]
)


@settings(max_examples=200)
@given(handshake_prefix, streams, st.lists(st.integers(0, 10_000), max_size=8), st.booleans())
def test_handshake_any_bytes_any_split(
    prefix: bytes, data: bytes, points: list[int], eof: bool
) -> None:
    """From the first byte, any input gives the same events, outcome and reply bytes
    whatever the split."""
    data = prefix + data

    def run(chunks: list[bytes]) -> tuple[object, bytes]:
        server = make_server(b"pw", limits=LIMITS)
        return feed(server, chunks, eof=eof), server.data_to_send()

    whole = run([data])
    assert run(cut(data, points)) == whole
    assert run([data[i : i + 1] for i in range(len(data))]) == whole
