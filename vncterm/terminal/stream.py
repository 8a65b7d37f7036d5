"""The stream: pyte's ByteStream that never raises, with fast paths, and the control strings
and sequence details pyte's parser drops (OSC, DCS/SOS/PM/APC, intermediates, private markers,
``:`` sub-parameters).

pyte parses one character at a time through a generator; console output is mostly plain
ASCII lines and simple CSIs, so `Stream.feed_text` hands runs of text and line controls to
`Screen.draw_plain` whole and dispatches complete simple CSIs itself. Everything else still
takes pyte's parser. `ReferenceStream` takes it for everything: the fast paths are tested
against it (tests/terminal/test_fast_paths.py): same cells, cursor, scrollback, replies and
damage.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable

import pyte
from pyte.control import CSI_C1, ESC, OSC_C1

from vncterm.terminal.cells import BoundedCache
from vncterm.terminal.escape import (
    CBT,
    CHT,
    DECKPAM,
    DECKPNM,
    DECSTR,
    HPA,
    INTERMEDIATES,
    REP,
    SCORC,
    SCOSC,
    SD,
    STRING_OPENERS,
    SU,
)
from vncterm.terminal.screen import Screen

__all__ = ["ReferenceStream", "Stream"]

#: Characters _send_to_parser looks at before the parser; anything else goes straight through.
_WATCHED = frozenset(
    {ESC, CSI_C1, OSC_C1, "[", "]", ";", ":", "<", "=", ">", "?", "\\"}
    | STRING_OPENERS
    | INTERMEDIATES
)

#: A run `Screen.draw_plain` takes in one call: printable ASCII, CR, LF, HT and BS (bounded,
#: so that one huge feed does not become millions of line strings at once; a feed's text is a
#: chunk of at most a few KiB anyway, so one step of `Stream.feed_text` stays within a few
#: milliseconds even where the run is drawn a character at a time).
_PLAIN_RUN = re.compile(r"[\x20-\x7e\r\n\t\x08]{1,8192}")
#: A complete CSI of digits and semicolons (after an optional ``?``) with a letter as final
#: byte: dispatched by `Stream` itself instead of one character at a time through pyte's parser.
_SIMPLE_CSI = re.compile(r"\x1b\[(\??)([0-9;]*)([@A-Za-z`])")
#: Steps of `Stream.feed_text` (a run of text, a sequence, a character of one) between two
#: questions to its ``stop``: each step's work is bounded, so this bounds the overrun.
_STOP_EVERY = 16
#: Most characters of non-ASCII text drawn in one step (one at a time, about a microsecond
#: each); also the characters `ReferenceStream` takes between two questions to ``stop``.
_TEXT_STEP = 256

#: Most parameter strings whose parse is remembered.
_MAX_CSI_PARAMETERS = 4096
#: Longest parameter string whose parse is kept for reuse (programs repeat short ones).
_MAX_CACHED_PARAMETERS_LENGTH = 64

_csi_parameters: BoundedCache[str, tuple[int, ...]] = BoundedCache(_MAX_CSI_PARAMETERS)


def _parameter(value: str) -> int:
    if len(value) < 5:
        return int(value or 0)
    # Past four digits every value is 9999: no int() of a long digit string (quadratic).
    value = value.lstrip("0")
    return 9999 if len(value) > 4 else int(value or 0)


def _parse_parameters(parameters: str, limit: int) -> tuple[int, ...]:
    """What pyte's parser makes of a CSI's digits and semicolons (``""`` is one 0), each
    at most 9999; parameters past the first ``limit`` are ignored (as in xterm)."""
    values = _csi_parameters.get(parameters)
    if values is None:
        values = tuple(map(_parameter, parameters.split(";", limit)[:limit]))
        if len(parameters) <= _MAX_CACHED_PARAMETERS_LENGTH and len(values) < limit:
            # Only whole parses are kept, so another terminal's limit is still honoured.
            _csi_parameters.remember(parameters, values)
        return values
    return values[:limit] if len(values) > limit else values


class Stream(pyte.ByteStream):
    """pyte's ByteStream that never raises and tells the screen what pyte's parser drops.

    pyte's ``use_utf8`` is kept False so that the parser honours G0/G1 designation and
    SI/SO (xterm does in UTF-8 too); decoding uses our own ``decode_utf8`` flag instead.
    """

    escape = {
        **pyte.Stream.escape,
        DECKPAM: "set_application_keypad",
        DECKPNM: "reset_application_keypad",
    }
    csi = {
        **pyte.Stream.csi,
        SU: "scroll_up",
        SD: "scroll_down",
        HPA: "cursor_to_column",
        REP: "repeat_character",
        DECSTR: "soft_reset",
        SCOSC: "save_cursor_position",
        SCORC: "restore_cursor_position",
        CHT: "tab_forward",
        CBT: "tab_backward",
    }

    def __init__(self, screen: Screen) -> None:
        self.screen = screen
        self.limits = screen.limits
        self.decode_utf8 = True
        self._after_escape = False
        self._in_csi = False
        self._in_string = False
        #: Text decoded but not yet taken: a feed stopped before its end (see `feed_text`).
        self.held = ""
        #: The OSC string being read (None when not in one); see `_osc_char`.
        self._osc: list[str] | None = None
        self._osc_escape = False
        super().__init__(screen)
        self.use_utf8 = False
        self.utf8_decoder = codecs.getincrementaldecoder("utf-8")("replace")

    #: CSI final byte -> the `Screen` function it calls (filled in below the class).
    csi_functions: dict[str, Callable[..., None]] = {}

    def feed(  # type: ignore[override]
        self, data: bytes, stop: Callable[[], bool] | None = None
    ) -> None:
        text = self.utf8_decoder.decode(data) if self.decode_utf8 else data.decode("latin-1")
        if self.held:
            text = self.held + text
            self.held = ""
        if text:
            self.feed_text(text, stop)

    def feed_text(self, data: str, stop: Callable[[], bool] | None = None) -> None:
        """pyte's `Stream.feed` with fast paths; the parser still sees every other character.

        In the ground state (pyte's "taking plain text"), runs of printable ASCII with
        CR/LF/HT/BS go to the screen in one call, and complete CSIs made of digits and
        semicolons are dispatched here: both exactly as the parser would, character by
        character, but without a generator step per character.

        ``stop`` is asked every `_STOP_EVERY` steps; once it says True, the text not yet
        taken is kept in ``held`` for the next feed.
        """
        screen = self.screen
        send = self._send_to_parser
        draw = screen.draw
        draw_plain = screen.draw_plain
        match_plain = _PLAIN_RUN.match
        match_text = self._text_pattern.match
        match_csi = _SIMPLE_CSI.match
        functions = self.csi_functions
        debug = Screen.debug
        most = self.limits.max_csi_parameters
        taking = self._taking_plain_text
        offset = 0
        length = len(data)
        steps = 0
        while offset < length:
            if stop is not None:
                steps += 1
                if steps == _STOP_EVERY:
                    steps = 0
                    if stop():
                        self.held = data[offset:]
                        break
            if not taking:
                taking = send(data[offset])
                offset += 1
                continue
            if data[offset] == ESC:
                match = match_csi(data, offset)
                if match is None:
                    taking = send(ESC)
                    offset += 1
                    continue
                offset = match.end()
                marker, parameters, final = match.groups()
                # What _watched and the parser would have recorded on the way.
                self._after_escape = False
                self._in_csi = True
                screen.csi_marker = marker
                screen.csi_intermediates = ""
                screen.csi_separators = parameters.count(";")
                if screen.csi_colons:
                    screen.csi_colons = []
                function = functions.get(final, debug)
                try:
                    if marker:
                        function(screen, *_parse_parameters(parameters, most), private=True)
                    else:
                        function(screen, *_parse_parameters(parameters, most))
                except Exception:
                    # As in _send_to_parser: drop the sequence, carry on.
                    self._initialize_parser()
                    self._in_csi = False
                continue
            match = match_plain(data, offset)
            if match is not None:
                end = match.end()
                draw_plain(data[offset:end])
                offset = end
                continue
            match = match_text(data, offset)
            if match is not None:
                # A step's work stays small (see _STOP_EVERY), however long the text.
                end = min(match.end(), offset + _TEXT_STEP)
                draw(data[offset:end])
                offset = end
                continue
            taking = send(data[offset])
            offset += 1
        self._taking_plain_text = taking

    def select_other_charset(self, code: str) -> None:
        if code == "@":
            self.decode_utf8 = False
            self.utf8_decoder.reset()
        elif code in ("G", "8"):
            self.decode_utf8 = True

    def _send_to_parser(self, char: str) -> bool | None:
        if self._osc is not None:
            return self._osc_char(char)
        if self._in_string:
            return self._string_char(char)
        if char in _WATCHED:
            if self._watched(char):
                return None  # consumed here, invisible to pyte's parser
            if self._in_csi and char == ":":
                char = ";"
        try:
            return self._parser.send(char)  # type: ignore[union-attr]
        except Exception:
            # A handler or the parser failed (e.g. int() of a non-ASCII digit): drop the
            # sequence and carry on with the next character.
            self._initialize_parser()
            self._in_csi = False
            return True

    def _watched(self, char: str) -> bool:
        """Track the sequence being parsed; True when ``char`` must not reach pyte's parser."""
        screen = self.screen
        if char == ESC:
            self._after_escape = True
            self._in_csi = False
            return False
        if char == CSI_C1:
            self._after_escape = False
            self._start_csi()
            return False
        if char == OSC_C1:
            self._after_escape = False
            self._in_csi = False
            self._start_osc()
            return True
        if self._after_escape:
            self._after_escape = False
            if char == "[":
                self._start_csi()
            elif char == "]":
                self._start_osc()
                return True
            elif char in STRING_OPENERS:
                self._in_string = True
                self._initialize_parser()
                return True
            return False
        if not self._in_csi:
            return False
        if char == ";" or char == ":":
            if char == ":":
                screen.csi_colons.append(screen.csi_separators)
            screen.csi_separators += 1
            return False
        if char in "<=>":
            screen.csi_marker = char
            return True
        if char == "?":
            screen.csi_marker = "?"
            return False
        if char in INTERMEDIATES:
            screen.csi_intermediates += char
            return True
        return False

    def _start_csi(self) -> None:
        self._in_csi = True
        screen = self.screen
        screen.csi_marker = ""
        screen.csi_intermediates = ""
        screen.csi_separators = 0
        if screen.csi_colons:
            screen.csi_colons = []

    def _start_osc(self) -> None:
        # OSC is read here rather than by pyte, whose parser takes the first character after
        # ``ESC ]`` as the command even when it is the terminator, and then swallows all
        # output up to some later terminator.
        self._initialize_parser()
        self._osc = []
        self._osc_escape = False

    def _osc_char(self, char: str) -> bool | None:
        """Inside OSC: collect up to BEL or ST; CAN/SUB abandon it, another ESC starts over."""
        osc = self._osc
        assert osc is not None
        if self._osc_escape:
            self._osc_escape = False
            if char == "\\":
                return self._end_osc(osc)
            # An escape sequence instead of ST: the OSC is abandoned (as in xterm) and the
            # new sequence is parsed.
            self._osc = None
            self._send_to_parser(ESC)
            return self._send_to_parser(char)
        if char in "\x07\x9c":
            return self._end_osc(osc)
        if char == ESC:
            self._osc_escape = True
            return None
        if char in "\x18\x1a":
            self._osc = None
            return True
        if len(osc) < self.limits.max_osc_length:
            osc.append(char)
        return None

    def _end_osc(self, osc: list[str]) -> bool:
        self._osc = None
        command, _, value = "".join(osc).partition(";")
        if command in ("0", "2"):
            self.screen.set_title(value)
        if command in ("0", "1"):
            self.screen.set_icon_name(value)
        return True

    def _string_char(self, char: str) -> bool | None:
        """Inside DCS/SOS/PM/APC: swallow everything up to ST (``ESC \\``). CAN and SUB
        abandon the string, and so does an escape sequence other than ST, which is then
        parsed (the VT500 parser, xterm and VTE: a stray DCS must not swallow the rest of the
        console's output)."""
        if self._after_escape:
            self._after_escape = False
            self._in_string = False
            if char == "\\":
                return True
            self._send_to_parser(ESC)
            return self._send_to_parser(char)
        if char == ESC:
            self._after_escape = True
        elif char in "\x18\x1a\x9c":
            self._in_string = False
            return True
        return None


class ReferenceStream(Stream):
    """The stream without its fast paths: every character through pyte's parser, as pyte's
    own `Stream.feed` does it (`Terminal(fast_paths=False)`, the reference of the fast paths'
    differential tests)."""

    def feed_text(self, data: str, stop: Callable[[], bool] | None = None) -> None:
        """pyte's `Stream.feed`; with ``stop``, asked after every `_TEXT_STEP` characters."""
        if stop is None:
            pyte.Stream.feed(self, data)
            return
        for offset in range(0, len(data), _TEXT_STEP):
            if offset and stop():
                self.held = data[offset:]
                return
            pyte.Stream.feed(self, data[offset : offset + _TEXT_STEP])


def _check_handlers() -> None:
    """Every name in the stream's tables must exist on the screen (pyte checks it too)."""
    for table in (Stream.escape, Stream.csi):
        for name in table.values():
            assert callable(getattr(Screen, name)), name


_check_handlers()
Stream.csi_functions = {final: getattr(Screen, name) for final, name in Stream.csi.items()}
