"""Properties of the preamble parser over arbitrary and generated input."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from consoleproxy.connect import (
    CLOSED,
    NEED_DATA,
    PreambleParser,
    RemoteProtocolError,
    Request,
)
from consoleproxy.limits import Limits

LIMITS = Limits(max_request_head_bytes=512, max_header_count=8)

Outcome = tuple[str, object]


def outcome(chunks: list[bytes], *, eof: bool) -> Outcome:
    """What the parser makes of ``chunks``: a request with its trailing bytes, or a status."""
    parser = PreambleParser(LIMITS)
    try:
        for index, chunk in enumerate(chunks):
            parser.receive_data(chunk)
            event = parser.next_event()
            if isinstance(event, Request):
                return ("request", (event, parser.trailing_data() + b"".join(chunks[index + 1 :])))
            assert event is NEED_DATA
        if eof:
            parser.receive_data(b"")
            event = parser.next_event()
            assert event is CLOSED
            return ("closed", None)
        return ("need", None)
    except RemoteProtocolError as error:
        assert error.status in {400, 431, 501, 505}
        return ("error", error.status)


def split(data: bytes, cuts: list[int]) -> list[bytes]:
    """``data`` cut at the given offsets (no empty pieces: b"" would mean EOF)."""
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    return [piece for piece in pieces if piece]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=700), st.lists(st.integers(min_value=0), max_size=6), st.booleans())
def test_any_bytes_give_events_or_remote_errors(data: bytes, cuts: list[int], eof: bool) -> None:
    """Any bytes give a Request, NEED_DATA/CLOSED or a RemoteProtocolError, nothing else."""
    outcome(split(data, cuts), eof=eof)


_token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz-", min_size=1, max_size=12)
_value = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=30)
_query_part = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789%:=&-", max_size=40)


@st.composite
def preambles(draw: st.DrawFn) -> bytes:
    """Plausible request heads (mostly valid) followed by console bytes."""
    method = draw(st.sampled_from(["CONNECT", "GET", "POST"]))
    version = draw(st.sampled_from(["1.0", "1.1", "2.0"]))
    eol = draw(st.sampled_from(["\r\n", "\n"]))
    headers = draw(st.lists(st.tuples(_token, _value), max_size=10))
    lines = [f"{method} /console?{draw(_query_part)} HTTP/{version}"]
    lines += [f"{name}: {value}" for name, value in headers]
    head = eol.join(lines) + eol + eol
    return head.encode("latin-1") + draw(st.binary(max_size=20))


@settings(max_examples=300, deadline=None)
@given(preambles(), st.lists(st.integers(min_value=0), max_size=8), st.booleans())
def test_splitting_never_changes_the_outcome(data: bytes, cuts: list[int], eof: bool) -> None:
    """Feeding a preamble whole, byte by byte or in random pieces gives the same result."""
    whole = outcome([data], eof=eof)
    assert outcome(split(data, cuts), eof=eof) == whole
    assert outcome([data[i : i + 1] for i in range(len(data))], eof=eof) == whole
