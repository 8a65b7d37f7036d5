"""A minimal RFB 3.8 viewer for the benchmarks (RFC 6143): plain sockets, security None.

It does not draw anything: it only walks each server message far enough to know where it ends
and which rectangles it covers, for Raw, CopyRect, RRE, Hextile, Tight and ZRLE payloads (the
compressed ones are walked, not decoded). That is enough to count frames, bytes and to notice when a
given screen area was updated.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from bench.common import recv_exactly

RAW, COPY_RECT, RRE, HEXTILE, TIGHT, ZRLE = 0, 1, 2, 5, 7, 16
#: Encodings this client can walk.
WALKABLE = {RAW: "raw", COPY_RECT: "copyrect", RRE: "rre", HEXTILE: "hextile", TIGHT: "tight",
            ZRLE: "zrle"}
#: A Tight TPIXEL in our pixel format (32 bpp, depth 24): three bytes.
TIGHT_PIXEL = 3

#: 32 bpp, depth 24, little-endian, true colour, red at bit 16 (what most viewers ask for).
PIXEL_FORMAT = struct.pack(">BBBBHHHBBB3x", 32, 24, 0, 1, 255, 255, 255, 16, 8, 0)
BYTES_PER_PIXEL = 4


@dataclass(frozen=True, slots=True)
class Rect:
    x: int
    y: int
    width: int
    height: int
    encoding: int


@dataclass(frozen=True, slots=True)
class Update:
    rects: tuple[Rect, ...]
    size: int


@dataclass(frozen=True, slots=True)
class Bell:
    pass


def handshake(sock: socket.socket, shared: bool = True) -> tuple[int, int, str]:
    """RFB 3.8, security None, ClientInit; returns width, height and desktop name."""
    version = recv_exactly(sock, 12)
    if not version.startswith(b"RFB 003."):
        raise ConnectionError(f"not an RFB server: {version!r}")
    sock.sendall(b"RFB 003.008\n")
    (count,) = recv_exactly(sock, 1)
    if count == 0:
        (length,) = struct.unpack(">I", recv_exactly(sock, 4))
        raise ConnectionError(f"refused: {recv_exactly(sock, length)!r}")
    types = recv_exactly(sock, count)
    if 1 not in types:
        raise ConnectionError(f"security None not offered: {list(types)}")
    sock.sendall(b"\x01")
    if recv_exactly(sock, 4) != b"\0\0\0\0":
        raise ConnectionError("security handshake failed")
    sock.sendall(b"\x01" if shared else b"\x00")
    width, height = struct.unpack(">HH", recv_exactly(sock, 4))
    recv_exactly(sock, 16)
    (name_length,) = struct.unpack(">I", recv_exactly(sock, 4))
    name = recv_exactly(sock, name_length).decode("utf-8", "replace")
    return width, height, name


def set_pixel_format() -> bytes:
    return b"\x00\x00\x00\x00" + PIXEL_FORMAT


def set_encodings(encodings: list[int]) -> bytes:
    return struct.pack(">BxH", 2, len(encodings)) + struct.pack(f">{len(encodings)}i",
                                                                *encodings)


def update_request(incremental: bool, width: int, height: int) -> bytes:
    return struct.pack(">BBHHHH", 3, int(incremental), 0, 0, width, height)


def key_event(keysym: int, down: bool) -> bytes:
    return struct.pack(">BBxxI", 4, int(down), keysym)


class MessageReader:
    """Splits the server's byte stream into messages; feed bytes, then call `next()`."""

    def __init__(self, bpp: int = BYTES_PER_PIXEL) -> None:
        self.buffer = bytearray()
        self.bpp = bpp
        self.bytes_in = 0

    def feed(self, data: bytes) -> None:
        self.buffer += data
        self.bytes_in += len(data)

    def next(self) -> Update | Bell | None:
        """The next complete message, or None until more bytes arrive."""
        buf = self.buffer
        if not buf:
            return None
        kind = buf[0]
        if kind == 2:
            del buf[:1]
            return Bell()
        if kind == 0:
            parsed = self._update(buf)
            if parsed is None:
                return None
            end, rects = parsed
            del buf[:end]
            return Update(tuple(rects), end)
        if kind == 1:
            if len(buf) < 6:
                return None
            (count,) = struct.unpack_from(">H", buf, 4)
            if len(buf) < 6 + 6 * count:
                return None
            del buf[: 6 + 6 * count]
            return self.next()
        if kind == 3:
            if len(buf) < 8:
                return None
            (length,) = struct.unpack_from(">I", buf, 4)
            if len(buf) < 8 + length:
                return None
            del buf[: 8 + length]
            return self.next()
        raise ConnectionError(f"unknown server message type {kind}")

    def _update(self, buf: bytearray) -> tuple[int, list[Rect]] | None:
        if len(buf) < 4:
            return None
        (count,) = struct.unpack_from(">H", buf, 2)
        pos = 4
        rects = []
        for _ in range(count):
            if len(buf) < pos + 12:
                return None
            x, y, w, h, encoding = struct.unpack_from(">HHHHi", buf, pos)
            pos += 12
            end = self._payload_end(buf, pos, encoding, w, h)
            if end is None:
                return None
            pos = end
            rects.append(Rect(x, y, w, h, encoding))
        return pos, rects

    def _payload_end(self, buf: bytearray, pos: int, encoding: int, w: int,
                     h: int) -> int | None:
        bpp = self.bpp
        size = len(buf)
        if encoding == RAW:
            end = pos + w * h * bpp
        elif encoding == COPY_RECT:
            end = pos + 4
        elif encoding == RRE:
            if size < pos + 4:
                return None
            (subrects,) = struct.unpack_from(">I", buf, pos)
            end = pos + 4 + bpp + subrects * (bpp + 8)
        elif encoding == ZRLE:
            if size < pos + 4:
                return None
            (length,) = struct.unpack_from(">I", buf, pos)
            end = pos + 4 + length
        elif encoding == HEXTILE:
            return _hextile_end(buf, pos, w, h, bpp)
        elif encoding == TIGHT:
            return _tight_end(buf, pos, w, h)
        else:
            raise ConnectionError(f"cannot walk encoding {encoding}")
        return end if end <= size else None


def _hextile_end(buf: bytearray, pos: int, w: int, h: int, bpp: int) -> int | None:
    size = len(buf)
    for ty in range(0, h, 16):
        th = min(16, h - ty)
        for tx in range(0, w, 16):
            tw = min(16, w - tx)
            if pos >= size:
                return None
            mask = buf[pos]
            pos += 1
            if mask & 1:
                pos += tw * th * bpp
                continue
            if mask & 2:
                pos += bpp
            if mask & 4:
                pos += bpp
            if mask & 8:
                if pos >= size:
                    return None
                count = buf[pos]
                pos += 1
                pos += count * ((bpp if mask & 16 else 0) + 2)
    return pos if pos <= size else None


def _compact_length(buf: bytearray, pos: int) -> tuple[int, int] | None:
    """Tight's 1-3 byte length: (length, position after it)."""
    length = 0
    for index in range(3):
        if pos + index >= len(buf):
            return None
        byte = buf[pos + index]
        length |= (byte & (0x7F if index < 2 else 0xFF)) << (7 * index)
        if index == 2 or not byte & 0x80:
            return length, pos + index + 1
    return None


def _tight_end(buf: bytearray, pos: int, w: int, h: int) -> int | None:
    size = len(buf)
    if pos >= size:
        return None
    control = buf[pos] >> 4
    pos += 1
    if control == 0x8:  # fill
        end = pos + TIGHT_PIXEL
        return end if end <= size else None
    if control in (0x9, 0xA):  # JPEG, PNG: a compact length and the data
        parsed = _compact_length(buf, pos)
        if parsed is None:
            return None
        length, pos = parsed
        return pos + length if pos + length <= size else None
    if control > 0x7:
        raise ConnectionError(f"bad Tight compression control {control:#x}")
    data_size = w * h * TIGHT_PIXEL
    if control & 0x4:  # a filter id follows
        if pos >= size:
            return None
        filter_id = buf[pos]
        pos += 1
        if filter_id == 1:  # palette
            if pos >= size:
                return None
            colours = buf[pos] + 1
            pos += 1 + colours * TIGHT_PIXEL
            data_size = (w + 7) // 8 * h if colours == 2 else w * h
    if data_size < 12:
        end = pos + data_size
        return end if end <= size else None
    parsed = _compact_length(buf, pos)
    if parsed is None:
        return None
    length, pos = parsed
    return pos + length if pos + length <= size else None


def connect_viewer(port: int, encodings: list[int], timeout: float = 10.0
                   ) -> tuple[socket.socket, int, int]:
    """A viewer attached to the RFB server on ``port``, having asked for a full update."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    width, height, _name = handshake(sock)
    sock.sendall(set_pixel_format() + set_encodings(encodings)
                 + update_request(False, width, height))
    return sock, width, height
