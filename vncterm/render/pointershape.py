"""The mouse pointer's shape for viewers that draw it themselves (the Cursor pseudo-encoding).

Over text a terminal shows an I-beam, as xterm does: white with a black outline, so that it
stands out on dark and light backgrounds alike. A viewer that asks for the Cursor
pseudo-encoding gets it once (and again after a change of pixel format) and then moves it
locally, with no round trip; the others draw their own default pointer.
"""

from __future__ import annotations

import functools

import numpy as np
from numpy.typing import NDArray

#: Size of the pointer image, in pixels (one text cell is 8 x 16).
WIDTH, HEIGHT = 7, 16
#: The pixel of the image that is the pointer's position: the middle of the stem.
HOTSPOT = (3, 8)


@functools.cache
def i_beam() -> tuple[NDArray[np.uint8], NDArray[np.bool_]]:
    """The I-beam as RGB ``uint8[HEIGHT, WIDTH, 3]`` and its opaque pixels ``bool[HEIGHT,
    WIDTH]`` (read-only arrays, shared)."""
    beam = np.zeros((HEIGHT, WIDTH), dtype=bool)
    beam[1, 1:6] = True  # top bar
    beam[HEIGHT - 2, 1:6] = True  # bottom bar
    beam[2 : HEIGHT - 2, 3] = True  # stem
    # The outline: every pixel next to the beam (8 neighbours) that is not the beam itself.
    padded = np.pad(beam, 1)
    around = np.zeros_like(beam)
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            around |= padded[1 + dy : 1 + dy + HEIGHT, 1 + dx : 1 + dx + WIDTH]
    outline = around & ~beam
    pixels = np.zeros((HEIGHT, WIDTH, 3), dtype=np.uint8)
    pixels[beam] = 255
    mask = beam | outline
    pixels.flags.writeable = False
    mask.flags.writeable = False
    return pixels, mask
