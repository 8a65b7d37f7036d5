"""CopyRect encoding: copy a rectangle the client already has (RFC 6143 s7.7.2)."""

from __future__ import annotations

import struct

from vncterm.rfb.errors import LocalProtocolError

_SOURCE = struct.Struct(">HH")


def copy_rect(src_x: int, src_y: int) -> bytes:
    """Return the CopyRect payload: the top-left corner of the source rectangle."""
    try:
        return _SOURCE.pack(src_x, src_y)
    except struct.error as error:
        raise LocalProtocolError(f"CopyRect source ({src_x}, {src_y}) out of range") from error
