"""The CONNECT/GET preamble parser and the reply builders, fed real client preambles."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from consoleproxy.connect import (
    CLOSED,
    NEED_DATA,
    LocalProtocolError,
    PreambleParser,
    RemoteProtocolError,
    Request,
    error_reply,
    ok_reply,
    redirect_reply,
)
from consoleproxy.limits import Limits

PREAMBLES = Path(__file__).parent.parent / "data" / "preambles"
SESSION = "OpaqueRef:0b7f6c4e-5d1a-4c8e-9f3b-2a6d8e1c7f90"
RFB = "76825670-6b1e-439b-b2c1-eccaa11fbc0f"
VT = "1bc66aa1-80c7-4a57-9e34-3508fc972af0"
VM = "f4029d84-2d86-4d45-b6b1-1fb65d2a9dc3"


def parse_chunks(chunks: list[bytes], limits: Limits | None = None) -> tuple[Request, bytes]:
    """Feed chunks until a Request appears; return it and every byte after its head.

    Chunks after the one completing the request go straight to the console, as the adapter
    will send them.
    """
    parser = PreambleParser(limits or Limits())
    for index, chunk in enumerate(chunks):
        parser.receive_data(chunk)
        event = parser.next_event()
        if isinstance(event, Request):
            return event, parser.trailing_data() + b"".join(chunks[index + 1 :])
        assert event is NEED_DATA
    raise AssertionError("no request")


def parse(data: bytes, limits: Limits | None = None) -> Request:
    """Parse one whole preamble."""
    return parse_chunks([data], limits)[0]


def error_of(data: bytes, limits: Limits | None = None, *, eof: bool = False) -> int:
    """The status of the RemoteProtocolError that ``data`` provokes."""
    parser = PreambleParser(limits or Limits())
    parser.receive_data(data)
    if eof:
        parser.receive_data(b"")
    with pytest.raises(RemoteProtocolError) as caught:
        parser.next_event()
    return caught.value.status


def random_splits(data: bytes, rng: random.Random) -> list[bytes]:
    """``data`` cut at random places."""
    cuts = sorted(rng.sample(range(1, len(data)), k=min(len(data) - 1, rng.randint(1, 8))))
    return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]


FIXTURES = sorted(p.name for p in PREAMBLES.glob("*.bin"))


def test_every_client_preamble_is_present() -> None:
    """The fixtures cover XenCenter, xe, nova, both Xen Orchestra styles and bare LF."""
    assert FIXTURES == [
        "bare-lf.bin",
        "nova.bin",
        "xe-console.bin",
        "xencenter.bin",
        "xo-legacy.bin",
        "xo-websocket.bin",
    ]


@pytest.mark.parametrize("name", FIXTURES)
def test_fixture_parses_the_same_whole_bytewise_and_split(name: str) -> None:
    """Splitting a real preamble anywhere never changes the request or the trailing bytes."""
    data = (PREAMBLES / name).read_bytes() + b"RFB 003.008\n"
    whole, trailing = parse_chunks([data])
    assert trailing == b"RFB 003.008\n"
    assert parse_chunks([data[i : i + 1] for i in range(len(data))]) == (whole, trailing)
    rng = random.Random(name)
    for _ in range(50):
        assert parse_chunks(random_splits(data, rng)) == (whole, trailing)


def test_xencenter_preamble() -> None:
    """XenCenter's HTTP/1.0 CONNECT carries its session in a cookie and a Host header."""
    request = parse((PREAMBLES / "xencenter.bin").read_bytes())
    assert request.method == "CONNECT"
    assert request.path == "/console"
    assert request.query == {"ref": f"OpaqueRef:{RFB}", "uuid": RFB}
    assert request.http_version == "1.0"
    assert request.headers == (("host", "127.0.0.1"), ("cookie", f"session_id={SESSION}"))
    assert request.cookies == {"session_id": SESSION}
    assert request.target == f"/console?ref=OpaqueRef:{RFB}&uuid={RFB}"


def test_xe_console_preamble() -> None:
    """`xe console` puts the session in the query and sends content-length: 0."""
    request = parse((PREAMBLES / "xe-console.bin").read_bytes())
    assert request.query == {"ref": f"OpaqueRef:{VT}", "session_id": SESSION}
    assert request.headers == (("content-length", "0"),)
    assert request.cookies == {}


def test_nova_preamble() -> None:
    """nova sends HTTP/1.1 with no headers at all, naming the VM rather than a console."""
    request = parse((PREAMBLES / "nova.bin").read_bytes())
    assert request.http_version == "1.1"
    assert request.headers == ()
    assert request.query == {"ref": f"OpaqueRef:{VM}", "session_id": SESSION}


def test_xo_legacy_preamble() -> None:
    """Xen Orchestra's legacy proxy names the console by uuid and sends a session cookie."""
    request = parse((PREAMBLES / "xo-legacy.bin").read_bytes())
    assert request.query == {"uuid": RFB}
    assert request.cookies == {"session_id": SESSION}
    assert not request.is_websocket_upgrade


def test_xo_websocket_preamble() -> None:
    """Xen Orchestra's web client sends a WebSocket GET asking for the binary subprotocol."""
    request = parse((PREAMBLES / "xo-websocket.bin").read_bytes())
    assert request.method == "GET"
    assert request.is_websocket_upgrade
    assert request.header("Sec-WebSocket-Protocol") == "binary"
    assert request.header("sec-websocket-key") == "dGhlIHNhbXBsZSBub25jZQ=="
    assert request.header_values("upgrade") == ("websocket",)
    assert request.header("x-missing") is None


def test_bare_lf_preamble() -> None:
    """Bare LF line ends are accepted like CRLF."""
    request = parse((PREAMBLES / "bare-lf.bin").read_bytes())
    assert request.query == {"uuid": VT, "session_id": SESSION}


def test_console_bytes_after_the_blank_line_are_never_consumed() -> None:
    """Bytes in the same packet after the head, even blank lines, are returned untouched."""
    data = b"CONNECT /console?uuid=x HTTP/1.0\r\n\r\n\r\n\nGET / HTTP/1.1\r\n\r\n"
    request, trailing = parse_chunks([data])
    assert request.query == {"uuid": "x"}
    assert trailing == b"\r\n\nGET / HTTP/1.1\r\n\r\n"


def test_trailing_data_is_stable() -> None:
    """trailing_data may be read more than once and gives the same bytes."""
    parser = PreambleParser()
    parser.receive_data(b"CONNECT /c HTTP/1.0\n\nxyz")
    assert isinstance(parser.next_event(), Request)
    assert parser.trailing_data() == parser.trailing_data() == b"xyz"


def test_feeding_after_the_request_is_a_local_error() -> None:
    """Once the request is out, later bytes belong to the console, not to the parser."""
    parser = PreambleParser()
    parser.receive_data(b"CONNECT /c HTTP/1.0\r\n\r\n")
    assert isinstance(parser.next_event(), Request)
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"more")
    with pytest.raises(LocalProtocolError):
        parser.next_event()


def test_trailing_data_before_the_request_is_a_local_error() -> None:
    """Asking for trailing bytes before the head is complete is a bug in the caller."""
    parser = PreambleParser()
    with pytest.raises(LocalProtocolError):
        parser.trailing_data()


def test_need_data_until_the_blank_line() -> None:
    """A head without its blank line yet asks for more data."""
    parser = PreambleParser()
    parser.receive_data(b"CONNECT /console HTTP/1.0\r\nHost: x\r\n")
    assert parser.next_event() is NEED_DATA
    assert parser.http_version == "1.0"


def test_clean_close_before_any_byte() -> None:
    """A client closing without sending anything gives CLOSED, not an error."""
    parser = PreambleParser()
    parser.receive_data(b"")
    assert parser.next_event() is CLOSED
    assert parser.next_event() is CLOSED


def test_close_inside_the_head_is_400() -> None:
    """A client closing in the middle of its head is a malformed request."""
    assert error_of(b"CONNECT /console HTTP/1.0\r\nHost:", eof=True) == 400


def test_receive_after_eof_is_a_local_error() -> None:
    """Feeding bytes after EOF is a bug in the caller."""
    parser = PreambleParser()
    parser.receive_data(b"")
    with pytest.raises(LocalProtocolError):
        parser.receive_data(b"x")


def test_leading_empty_lines_are_ignored() -> None:
    """Empty lines before the request line are skipped (RFC 9112 section 2.2)."""
    assert parse(b"\r\n\nCONNECT /c HTTP/1.1\r\n\r\n").path == "/c"


def test_percent_decoding_and_first_value_wins() -> None:
    """Query values are percent-decoded and the first of a repeated name wins."""
    request = parse(
        b"CONNECT /con%73ole?session_id=OpaqueRef%3Aabc&ref=a&ref=b&flag&=x&plus=a+b HTTP/1.0"
        b"\r\n\r\n"
    )
    assert request.path == "/console"
    assert request.query == {
        "session_id": "OpaqueRef:abc",
        "ref": "a",
        "flag": "",
        "": "x",
        "plus": "a+b",
    }


def test_absolute_form_target_is_accepted() -> None:
    """An absolute-form target is reduced to its path and query (RFC 9112 section 3.2.2)."""
    request = parse(b"GET https://host:443/console?uuid=u#frag HTTP/1.1\r\n\r\n")
    assert (request.path, request.query) == ("/console", {"uuid": "u"})


def test_cookies_in_any_position_and_across_headers() -> None:
    """session_id is found among other cookies, quoted or not, in any Cookie header."""
    request = parse(
        b'CONNECT /c HTTP/1.0\r\nCookie: a=1; junk; b="2"\r\n'
        b"Cookie: session_id=OpaqueRef:s; a=ignored\r\n\r\n"
    )
    assert request.cookies == {"a": "1", "b": "2", "session_id": "OpaqueRef:s"}


def test_header_values_are_trimmed_and_names_lowered() -> None:
    """Header names are lower-cased and optional whitespace around values is dropped."""
    request = parse(b"CONNECT /c HTTP/1.1\r\nHOST: \t h \t\r\nX-Empty:\r\n\r\n")
    assert request.headers == (("host", "h"), ("x-empty", ""))


def test_a_real_sized_cookie_header_fits() -> None:
    """A 16 KiB Cookie header, as browsers with many cookies send, is accepted."""
    cookie = "; ".join(f"c{i}={'v' * 150}" for i in range(100)) + f"; session_id={SESSION}"
    assert len(cookie) > 15_000
    request = parse(f"GET /console HTTP/1.1\r\nCookie: {cookie}\r\n\r\n".encode())
    assert request.cookies["session_id"] == SESSION


@pytest.mark.parametrize(
    ("data", "status"),
    [
        (b"CONNECT /console\r\n\r\n", 400),
        (b"CONNECT  /console HTTP/1.0\r\n\r\n", 400),
        (b"CONNECT /console HTTP/1.0 extra\r\n\r\n", 400),
        (b"CONNECT /console HTTP/1\r\n\r\n", 400),
        (b"CONNECT /console http/1.0\r\n\r\n", 400),
        (b"CONNECT /console HTTP/2.0\r\n\r\n", 505),
        (b"C@NNECT /console HTTP/1.0\r\n\r\n", 400),
        (b"POST /console HTTP/1.0\r\n\r\n", 501),
        (b"connect /console HTTP/1.0\r\n\r\n", 501),
        (b"CONNECT host:443 HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT /con\x01sole HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT /c?ref=%ff HTTP/1.1\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nHost : x\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nNoColon\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nA: b\r\n folded\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nA: b\x00c\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nA: b\rc\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello", 400),
        (b"CONNECT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n", 400),
        (b"CONNECT /c HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET /console HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nhost: a\r\n\r\n", 400),
    ],
)
def test_malformed_requests(data: bytes, status: int) -> None:
    """Each malformed or unsupported request gets the right status."""
    assert error_of(data) == status


def test_bad_request_line_is_rejected_before_the_head_ends() -> None:
    """Rubbish on the first line is answered at once, without waiting for the blank line."""
    assert error_of(b"POST /x HTTP/1.1\r\n") == 501


def test_oversized_head_is_431() -> None:
    """A head longer than the cap is refused with 431, even before any newline."""
    limits = Limits(max_request_head_bytes=64)
    assert error_of(b"CONNECT /" + b"a" * 100, limits) == 431
    assert error_of(b"CONNECT /c HTTP/1.0\r\nA: " + b"b" * 60 + b"\r\n\r\n", limits) == 431
    # Exactly at the cap is fine, and console bytes after it do not count.
    head = b"CONNECT /c HTTP/1.0\r\nA: " + b"b" * 36 + b"\r\n\r\n"
    assert len(head) == 64
    assert parse_chunks([head + b"x" * 100], limits)[1] == b"x" * 100


def test_too_many_headers_is_431() -> None:
    """More header fields than the cap is refused with 431; exactly the cap is fine."""
    limits = Limits(max_header_count=3)
    three = b"CONNECT /c HTTP/1.0\r\n" + b"A: 1\r\n" * 3
    assert len(parse(three + b"\r\n", limits).headers) == 3
    assert error_of(three + b"A: 1\r\n\r\n", limits) == 431


def test_errors_repeat_and_remember_the_version() -> None:
    """After an error every later call raises it again; the version seen is kept for the reply."""
    parser = PreambleParser()
    parser.receive_data(b"CONNECT /c HTTP/1.1\r\nbad header\r\n\r\n")
    for _ in range(2):
        with pytest.raises(RemoteProtocolError) as caught:
            parser.next_event()
        assert caught.value.status == 400
    assert parser.http_version == "1.1"
    assert str(caught.value).startswith("400 ")


def test_ok_reply_is_exactly_what_xapi_sends() -> None:
    """The 200 reply is byte-exact, since clients wait for it before the console starts."""
    assert ok_reply() == (
        b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nCache-Control: no-cache, no-store\r\n\r\n"
    )


def test_error_reply_echoes_the_version_and_closes() -> None:
    """An error reply echoes the request's version, says Connection: close and has no body."""
    assert error_reply(404, "1.1") == (
        b"HTTP/1.1 404 Not Found\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n"
        b"Content-Length: 0\r\n\r\n"
    )
    assert error_reply(500, None).startswith(b"HTTP/1.0 500 Internal Server Error\r\n")


def test_401_carries_the_basic_challenge() -> None:
    """A 401 asks for Basic credentials in the connect_console realm."""
    assert error_reply(401, "1.0") == (
        b"HTTP/1.0 401 Unauthorized\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n"
        b'WWW-Authenticate: Basic realm="connect_console"\r\nContent-Length: 0\r\n\r\n'
    )


def test_error_reply_extra_headers() -> None:
    """Extra headers go in as given, before Content-Length."""
    reply = error_reply(503, "1.1", headers=[("Retry-After", "5")])
    assert b"\r\nRetry-After: 5\r\nContent-Length: 0\r\n\r\n" in reply


def test_redirect_reply() -> None:
    """A 302 points the client at the console's real location."""
    assert redirect_reply("https://10.0.0.2/console?ref=OpaqueRef:x", "1.0") == (
        b"HTTP/1.0 302 Found\r\nConnection: close\r\nCache-Control: no-cache, no-store\r\n"
        b"Location: https://10.0.0.2/console?ref=OpaqueRef:x\r\nContent-Length: 0\r\n\r\n"
    )


@pytest.mark.parametrize(
    "call",
    [
        lambda: error_reply(200, "1.0"),
        lambda: error_reply(499, "1.0"),
        lambda: error_reply(400, "HTTP/1.0"),
        lambda: error_reply(400, "1.0", headers=[("X", "a\r\nSet-Cookie: evil")]),
        lambda: error_reply(400, "1.0", headers=[("Bad Name", "a")]),
        lambda: redirect_reply("https://x/\r\nX: y", "1.1"),
    ],
)
def test_reply_misuse_is_a_local_error(call: object) -> None:
    """Reply builders refuse non-error statuses, odd versions and header injection."""
    with pytest.raises(LocalProtocolError):
        call()  # type: ignore[operator]
