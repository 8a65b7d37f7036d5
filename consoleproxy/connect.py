"""The `CONNECT /console` (and WebSocket `GET`) request preamble: a sans-I/O parser and the
exact reply bytes (RFC 9112 section 3 message syntax, as real console clients use it).

The XenAPI console protocol is "slightly non-standard": the CONNECT target is an origin-form
path with a query (`/console?ref=OpaqueRef:...`), not `host:port`. After the reply the socket
carries the console itself (RFB or text), so the parser never reads past the blank line that
ends the request: those bytes are handed back untouched by :meth:`PreambleParser.trailing_data`.

Usage, h11-style::

    parser = PreambleParser(limits)
    parser.receive_data(data)            # b"" means EOF
    event = parser.next_event()          # Request, NEED_DATA or CLOSED
    console_bytes = parser.trailing_data()

This module imports neither Twisted nor ``socket`` (a test enforces it).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import unquote

from consoleproxy.limits import DEFAULT_LIMITS, Limits

__all__ = [
    "CLOSED",
    "KNOWN_METHODS",
    "NEED_DATA",
    "LocalProtocolError",
    "PreambleParser",
    "RemoteProtocolError",
    "Request",
    "Signal",
    "error_reply",
    "ok_reply",
    "parse_cookies",
    "parse_query",
    "redirect_reply",
]


class RemoteProtocolError(Exception):
    """The client sent something we will not serve: reply with ``status`` and close.

    ``reason`` is short, carries no secrets and is fit for a log line.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class LocalProtocolError(Exception):
    """Our own code misused the parser or a reply builder: a bug, never the peer's fault."""


class Signal(enum.Enum):
    """What :meth:`PreambleParser.next_event` returns when it has no Request to give."""

    #: More bytes are needed before anything can be said.
    NEED_DATA = "NEED_DATA"
    #: The client closed the connection cleanly before sending a single byte.
    CLOSED = "CLOSED"


NEED_DATA: Final = Signal.NEED_DATA
CLOSED: Final = Signal.CLOSED

#: Methods a console client may use: CONNECT (XenCenter, xe, nova, XO legacy) and GET
#: (a WebSocket upgrade, as Xen Orchestra's web client does).
KNOWN_METHODS: Final = frozenset({"CONNECT", "GET"})

#: Reason phrases of every status this module may put in a reply.
REASONS: Final[Mapping[int, str]] = {
    200: "OK",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    426: "Upgrade Required",
    431: "Request Header Fields Too Large",
    500: "Internal Server Error",
    501: "Not Implemented",
    503: "Service Unavailable",
    505: "HTTP Version Not Supported",
}

#: The realm in the challenge of a 401 reply to a console request.
AUTH_REALM: Final = "connect_console"

# RFC 9110 section 5.6.2: token = 1*tchar.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSION = re.compile(rb"HTTP/([0-9])\.([0-9])")
_TEXT_VERSION = re.compile(r"[0-9]\.[0-9]")
# Visible ASCII except space; the target is checked further once decoded.
_TARGET = re.compile(rb"[\x21-\x7e]+")
# Field values: visible characters, obs-text, spaces and tabs; no other controls.
_FIELD_VALUE = re.compile(rb"[\x20-\x7e\x80-\xff\t]*")
_ABSOLUTE_FORM = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^/?#]*")


@dataclass(frozen=True, slots=True)
class Request:
    """One parsed request head: the only event the parser produces."""

    #: "CONNECT" or "GET".
    method: str
    #: The request target exactly as sent (decoded as ASCII).
    target: str
    #: The percent-decoded path, e.g. "/console".
    path: str
    #: Percent-decoded query parameters; the first of repeated names wins.
    query: Mapping[str, str]
    #: "1.0" or "1.1".
    http_version: str
    #: Header fields in order, names lower-cased, values stripped (decoded as Latin-1).
    headers: tuple[tuple[str, str], ...]
    #: Cookies from every Cookie header; the first of repeated names wins.
    cookies: Mapping[str, str]

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (any case), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key == wanted:
                return value
        return None

    def header_values(self, name: str) -> tuple[str, ...]:
        """Every value of header ``name`` (any case), in order."""
        wanted = name.lower()
        return tuple(value for key, value in self.headers if key == wanted)

    @property
    def is_websocket_upgrade(self) -> bool:
        """True for a GET asking to upgrade to WebSocket (RFC 6455 section 4.1)."""
        upgrade = {v.strip().lower() for v in ",".join(self.header_values("upgrade")).split(",")}
        connection = {
            v.strip().lower() for v in ",".join(self.header_values("connection")).split(",")
        }
        return self.method == "GET" and "websocket" in upgrade and "upgrade" in connection


class _State(enum.Enum):
    HEAD = "HEAD"
    DONE = "DONE"
    CLOSED = "CLOSED"
    ERROR = "ERROR"


class PreambleParser:
    """Parses one request head from a console client, never consuming a byte beyond it.

    Lines may end in CRLF or a bare LF (some clients). The first event is either a
    :class:`Request` or a :class:`RemoteProtocolError`; after either, the parser is finished.
    """

    def __init__(self, limits: Limits = DEFAULT_LIMITS) -> None:
        self._limits = limits
        self._buffer = bytearray()
        # Where the next line starts and where the search for its end resumes, so feeding a
        # byte at a time stays linear.
        self._line_start = 0
        self._scan_from = 0
        self._request_line: tuple[str, str, str] | None = None
        self._headers: list[tuple[str, str]] = []
        self._eof = False
        self._state = _State.HEAD
        self._head_end = 0
        self._error: RemoteProtocolError | None = None
        #: The client's HTTP version once the request line was read ("1.0", "1.1"), for
        #: error replies; None before that.
        self.http_version: str | None = None

    def receive_data(self, data: bytes) -> None:
        """Add bytes from the client; ``b""`` means the client closed its side."""
        if self._state is _State.DONE:
            raise LocalProtocolError("the request is complete: later bytes belong to the console")
        if self._eof:
            raise LocalProtocolError("receive_data after EOF")
        if not data:
            self._eof = True
            return
        self._buffer += data

    def next_event(self) -> Request | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        """The :class:`Request` once its head is complete, else NEED_DATA (or CLOSED).

        Raises :class:`RemoteProtocolError` on a malformed, oversized or unsupported request
        (and again on every later call).
        """
        if self._error is not None:
            raise self._error
        if self._state is _State.CLOSED:
            return CLOSED
        if self._state is _State.DONE:
            raise LocalProtocolError("the request was already returned")
        try:
            return self._advance()
        except RemoteProtocolError as error:
            self._state = _State.ERROR
            self._error = error
            raise

    def trailing_data(self) -> bytes:
        """Exactly the bytes received after the blank line ending the request head."""
        if self._state is not _State.DONE:
            raise LocalProtocolError("no complete request yet")
        return bytes(self._buffer[self._head_end :])

    def _advance(self) -> Request | Literal[Signal.NEED_DATA, Signal.CLOSED]:
        cap = self._limits.max_request_head_bytes
        while True:
            newline = self._buffer.find(b"\n", self._scan_from)
            if newline < 0:
                self._scan_from = len(self._buffer)
                if len(self._buffer) > cap:
                    raise RemoteProtocolError(431, "request head too large")
                if self._eof:
                    if not self._buffer:
                        self._state = _State.CLOSED
                        return CLOSED
                    raise RemoteProtocolError(400, "connection closed inside the request head")
                return NEED_DATA
            if newline + 1 > cap:
                raise RemoteProtocolError(431, "request head too large")
            line = bytes(self._buffer[self._line_start : newline])
            if line.endswith(b"\r"):
                line = line[:-1]
            self._line_start = self._scan_from = newline + 1
            if line:
                self._take_line(line)
            elif self._request_line is not None:
                self._head_end = newline + 1
                request = _build_request(self._request_line, self._headers)
                self._state = _State.DONE
                return request
            # An empty line before the request line is ignored (RFC 9112 section 2.2).

    def _take_line(self, line: bytes) -> None:
        # Each line is checked as soon as it is complete, so a client sending rubbish is
        # answered at once instead of when its head finally ends.
        if self._request_line is None:
            self.http_version = _request_line_version(line)
            self._request_line = _parse_request_line(line)
            return
        if len(self._headers) >= self._limits.max_header_count:
            raise RemoteProtocolError(431, "too many header fields")
        self._headers.append(_parse_field(line))


def _request_line_version(line: bytes) -> str | None:
    """The HTTP version of a request line if it names one we could answer in."""
    _, _, version = line.rpartition(b" ")
    match = _VERSION.fullmatch(version)
    if match is None or match.group(1) != b"1":
        return None
    return version[5:].decode("ascii")


def _build_request(request_line: tuple[str, str, str], headers: list[tuple[str, str]]) -> Request:
    method, target, version = request_line
    if sum(name == "host" for name, _ in headers) > 1:
        # RFC 9112 section 3.2: which one would be meant? (A missing Host is tolerated: nova
        # sends HTTP/1.1 with no header at all.)
        raise RemoteProtocolError(400, "more than one Host header")
    for name, value in headers:
        if name == "content-length" and value != "0":
            raise RemoteProtocolError(400, "a console request carries no body")
        if name == "transfer-encoding":
            raise RemoteProtocolError(400, "a console request carries no body")
    path, query = _parse_target(target)
    cookies = parse_cookies(value for name, value in headers if name == "cookie")
    return Request(
        method=method,
        target=target,
        path=path,
        query=query,
        http_version=version,
        headers=tuple(headers),
        cookies=cookies,
    )


def _parse_request_line(line: bytes) -> tuple[str, str, str]:
    parts = line.split(b" ")
    if len(parts) != 3:
        raise RemoteProtocolError(400, "malformed request line")
    method, target, version = parts
    if _TOKEN.fullmatch(method) is None:
        raise RemoteProtocolError(400, "malformed method")
    match = _VERSION.fullmatch(version)
    if match is None:
        raise RemoteProtocolError(400, "malformed HTTP version")
    if match.group(1) != b"1":
        raise RemoteProtocolError(505, "only HTTP/1.x is supported")
    if _TARGET.fullmatch(target) is None:
        raise RemoteProtocolError(400, "malformed request target")
    method_text = method.decode("ascii")
    if method_text not in KNOWN_METHODS:
        raise RemoteProtocolError(501, "method not implemented")
    return method_text, target.decode("ascii"), version[5:].decode("ascii")


def _parse_field(line: bytes) -> tuple[str, str]:
    if line[:1] in (b" ", b"\t"):
        raise RemoteProtocolError(400, "folded header lines are not accepted")
    name, colon, value = line.partition(b":")
    if not colon or _TOKEN.fullmatch(name) is None:
        # Also rejects whitespace before the colon (RFC 9112 section 5.1).
        raise RemoteProtocolError(400, "malformed header field")
    value = value.strip(b" \t")
    if _FIELD_VALUE.fullmatch(value) is None:
        raise RemoteProtocolError(400, "control character in a header value")
    return name.decode("ascii").lower(), value.decode("latin-1")


def _parse_target(target: str) -> tuple[str, dict[str, str]]:
    if not target.startswith("/"):
        absolute = _ABSOLUTE_FORM.match(target)
        if absolute is None:
            # Authority-form ("host:443") asks us to be a proxy, which we are not.
            raise RemoteProtocolError(400, "the request target must be a path")
        target = target[absolute.end() :] or "/"
        if not target.startswith(("/", "?")):
            raise RemoteProtocolError(400, "malformed request target")
    target, _, _fragment = target.partition("#")
    raw_path, _, raw_query = target.partition("?")
    try:
        path = unquote(raw_path or "/", errors="strict")
        query = parse_query(raw_query)
    except UnicodeDecodeError:
        raise RemoteProtocolError(400, "request target is not UTF-8") from None
    return path, query


def parse_query(raw_query: str) -> dict[str, str]:
    """Percent-decode ``a=1&b=2``; the first value of a repeated name wins.

    ``+`` is kept as is: console references never contain spaces, and a session id that
    happened to contain ``+`` must survive. Raises UnicodeDecodeError on invalid UTF-8.
    """
    query: dict[str, str] = {}
    for item in raw_query.split("&"):
        if not item:
            continue
        raw_name, _, raw_value = item.partition("=")
        name = unquote(raw_name, errors="strict")
        value = unquote(raw_value, errors="strict")
        query.setdefault(name, value)
    return query


def parse_cookies(header_values: Iterable[str]) -> dict[str, str]:
    """Cookies from Cookie header values (RFC 6265 section 5.4); the first of a name wins.

    Pieces without ``=`` are ignored rather than rejected: one odd cookie set by some other
    application on the same host must not lock a browser out of its console.
    """
    cookies: dict[str, str] = {}
    for header in header_values:
        for piece in header.split(";"):
            name, equals, value = piece.strip().partition("=")
            name = name.strip()
            if not equals or not name:
                continue
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] == '"':
                value = value[1:-1]
            cookies.setdefault(name, value)
    return cookies


# -- replies ------------------------------------------------------------------------------

_OK_REPLY: Final = (
    b"HTTP/1.1 200 OK\r\nConnection: keep-alive\r\nCache-Control: no-cache, no-store\r\n\r\n"
)


def ok_reply() -> bytes:
    """The complete 200 reply to a console CONNECT, as xapi sends it; write it in one go.

    It always says HTTP/1.1, whatever the request said, exactly like xapi: clients check
    only for "200".
    """
    return _OK_REPLY


def error_reply(
    status: int,
    http_version: str | None = None,
    *,
    headers: Iterable[tuple[str, str]] = (),
) -> bytes:
    """A complete error reply with no body; the caller closes the connection after it.

    The status line echoes the request's HTTP version ("1.0" when unknown). A 401 carries
    ``WWW-Authenticate: Basic realm="connect_console"``. Exact shape::

        HTTP/1.0 404 Not Found\\r\\n
        Connection: close\\r\\n
        Cache-Control: no-cache, no-store\\r\\n
        [WWW-Authenticate: ...\\r\\n] [extra headers\\r\\n]
        Content-Length: 0\\r\\n
        \\r\\n
    """
    if status < 300 or status == 302:
        raise LocalProtocolError(f"{status} is not an error status")
    extra = list(headers)
    if status == 401:
        extra.insert(0, ("WWW-Authenticate", f'Basic realm="{AUTH_REALM}"'))
    return _reply(status, http_version, extra)


def redirect_reply(location: str, http_version: str | None = None) -> bytes:
    """A complete 302 reply sending the client to ``location`` (a console on another host)."""
    return _reply(302, http_version, [("Location", location)])


def _reply(status: int, http_version: str | None, headers: list[tuple[str, str]]) -> bytes:
    reason = REASONS.get(status)
    if reason is None:
        raise LocalProtocolError(f"no reason phrase known for status {status}")
    version = http_version or "1.0"
    if _TEXT_VERSION.fullmatch(version) is None:
        raise LocalProtocolError(f"malformed HTTP version {version!r}")
    lines = [
        f"HTTP/{version} {status} {reason}",
        "Connection: close",
        "Cache-Control: no-cache, no-store",
    ]
    for name, value in headers:
        if _TOKEN.fullmatch(name.encode("latin-1", "replace")) is None:
            raise LocalProtocolError(f"malformed header name {name!r}")
        if any(c in value for c in "\r\n\0"):
            raise LocalProtocolError(f"header {name} would split the reply")
        lines.append(f"{name}: {value}")
    lines.append("Content-Length: 0")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
