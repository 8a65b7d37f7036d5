"""Escape sequences pyte 0.8.2 lacks: CSI and ESC finals, control strings and private modes.

Named and documented as `pyte.escape`, `pyte.control` and `pyte.modes` name theirs (ECMA-48,
xterm's ctlseqs); private modes are shifted left by 5 as pyte shifts them, so that they are
what ``Screen.mode`` holds.
"""

from __future__ import annotations

__all__ = [
    "ALTERNATE_SCREEN_1049",
    "ALTERNATE_SCREEN_MODES",
    "BRACKETED_PASTE",
    "CBT",
    "CHT",
    "DECCKM",
    "DECKPAM",
    "DECKPNM",
    "DECSTR",
    "HPA",
    "INTERMEDIATES",
    "MOUSE_SGR",
    "MOUSE_TRACKING",
    "REP",
    "SCORC",
    "SCOSC",
    "SD",
    "STRING_OPENERS",
    "SU",
    "private_mode",
]

# -- CSI finals ----------------------------------------------------------------------------

#: *Scroll up* (``CSI n S``): the scroll region's rows move up ``n``, blanks come in below.
SU = "S"

#: *Scroll down* (``CSI n T``): the scroll region's rows move down ``n``, blanks come in above.
SD = "T"

#: *Character position absolute* (``CSI n`` and a grave accent): to column ``n`` (pyte has
#: HPA as ``'``, which stays).
HPA = "`"

#: *Repeat* (``CSI n b``): the last graphic character drawn, ``n`` more times.
REP = "b"

#: *Soft terminal reset* (``CSI ! p``): modes, margins and rendition back to defaults.
DECSTR = "p"

#: *Save cursor* (``CSI s``, SCO): as DECSC.
SCOSC = "s"

#: *Restore cursor* (``CSI u``, SCO): as DECRC.
SCORC = "u"

#: *Cursor forward tabulation* (``CSI n I``): ``n`` tab stops forward.
CHT = "I"

#: *Cursor backward tabulation* (``CSI n Z``): ``n`` tab stops back.
CBT = "Z"

# -- ESC finals ----------------------------------------------------------------------------

#: *Application keypad* (``ESC =``): the keypad sends ``ESC O`` sequences.
DECKPAM = "="

#: *Normal keypad* (``ESC >``): the keypad sends what its keys show.
DECKPNM = ">"

# -- control strings and intermediates -----------------------------------------------------

#: Finals after ESC that open a control string nobody here interprets: *device control
#: string* (DCS, ``P``), *start of string* (SOS, ``X``), *privacy message* (PM, ``^``) and
#: *application program command* (APC, ``_``); each runs to ST.
STRING_OPENERS = frozenset("PX^_")

#: Intermediate bytes (ECMA-48 5.4): between a sequence's parameters and its final byte.
#: pyte's parser would take them for final bytes.
INTERMEDIATES = frozenset(" !\"#%&'()*+,-./")

# -- private modes (``CSI ? n h`` / ``CSI ? n l``) -----------------------------------------

#: pyte keeps private mode ``n`` as ``n << 5`` in ``Screen.mode``.
_PRIVATE_SHIFT = 5


def private_mode(number: int) -> int:
    """The ``Screen.mode`` member of private mode ``number`` (pyte's convention)."""
    return number << _PRIVATE_SHIFT


#: *Application cursor keys* (DECCKM, ``?1``): cursor keys send ``ESC O x``, not ``ESC [ x``.
DECCKM = private_mode(1)

#: *Alternate screen* (``?47``): switch screens, nothing saved or cleared.
ALTERNATE_SCREEN_47 = private_mode(47)

#: *Alternate screen* (``?1047``): as 47 (xterm clears it on leaving; programs clear it
#: themselves).
ALTERNATE_SCREEN_1047 = private_mode(1047)

#: *Alternate screen with saved cursor* (``?1049``): the cursor is saved on entering and
#: restored on leaving.
ALTERNATE_SCREEN_1049 = private_mode(1049)

#: Every mode that switches to the alternate screen.
ALTERNATE_SCREEN_MODES = frozenset(
    {ALTERNATE_SCREEN_47, ALTERNATE_SCREEN_1047, ALTERNATE_SCREEN_1049}
)

#: *Bracketed paste* (``?2004``): pastes come wrapped in ``ESC [ 200 ~`` / ``ESC [ 201 ~``.
BRACKETED_PASTE = private_mode(2004)

#: *SGR mouse reports* (``?1006``): ``CSI < b ; x ; y M/m`` instead of X10's bytes.
MOUSE_SGR = private_mode(1006)

#: Mouse tracking, the widest first (as xterm reports when several are set): any motion
#: (``?1003``), motion with a button held (``?1002``), presses and releases (``?1000``),
#: X10 presses only (``?9``); each as (its number, its ``Screen.mode`` member).
MOUSE_TRACKING = tuple((number, private_mode(number)) for number in (1003, 1002, 1000, 9))
