"""Framebuffer encoders, one module per RFB encoding, collected in a registry (RFC 6143 s7.7).

Every pixel encoder has the signature of `Encoder`: it takes the region to send as RGB
``uint8[h, w, 3]`` and the client's pixel format, and returns the rectangle's payload
(without the 12-byte rectangle header). CopyRect is not a pixel encoder: see
`vncterm.rfb.encoders.copyrect.copy_rect`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from numpy.typing import NDArray

from vncterm.rfb.constants import Encoding
from vncterm.rfb.encoders import hextile, raw, rre
from vncterm.rfb.pixelformat import PixelFormat

#: A pixel encoder: RGB region and pixel format in, rectangle payload out.
Encoder = Callable[[NDArray[np.uint8], PixelFormat], bytes]

#: The pixel encodings this server can send, keyed by encoding number.
ENCODERS: dict[Encoding, Encoder] = {
    Encoding.RAW: raw.encode,
    Encoding.HEXTILE: hextile.encode,
    Encoding.RRE: rre.encode,
}


def choose_encoding(client_encodings: Sequence[int]) -> Encoding:
    """Return the client's most preferred pixel encoding that we have; Raw otherwise.

    Raw is always allowed, whether the client lists it or not (RFC 6143 s7.7.1).
    """
    for number in client_encodings:
        if number in ENCODERS:
            return Encoding(number)
    return Encoding.RAW
