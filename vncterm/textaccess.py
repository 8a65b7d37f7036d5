"""Text access: the console's screen as text, JSON and PNG over a small local HTTP interface.

Meant for automation (tests that wait for a prompt, monitoring) and for screen readers, which
cannot read a VNC framebuffer. Serve it on a loopback or UNIX socket endpoint only: it has no
authentication, and the screen may show secrets. Every resource is read-only (GET and HEAD).

========================  ==========================================================
``GET /``                 this list, as text
``GET /screen.txt``       the screen: one line per row, trailing spaces stripped
                          (a wide character appears once; ``text/plain; charset=utf-8``)
``GET /screen.json``      ``{"cols", "rows", "cursor": {"x", "y", "visible"}, "title",
                          "name", "lines"}`` (``lines`` as in ``screen.txt``; ``x``, ``y``
                          count from 0)
``GET /screen.png``       the framebuffer as a PNG image, exactly as viewers see it
``GET /scrollback.txt``   lines that scrolled off the top, oldest first, one per line
                          (the screen is not included: fetch ``screen.txt`` after it);
                          404 if this console keeps no scrollback
========================  ==========================================================

Examples::

    curl -s http://127.0.0.1:5980/screen.txt
    curl -s --unix-socket /run/vncterm-text.sock http://localhost/screen.json

Requests whose ``Host`` header names anything but an IP address or ``localhost`` are refused
with 421: a web page cannot read the screen through a DNS name rebound to 127.0.0.1.

Where it listens is checked twice: the endpoint string as Twisted's own parser reads it
(`is_local_endpoint`: of two ``interface=`` the last is the one bound), and the address the
listening port actually has (`is_local_address`), which also covers sockets passed in by
systemd (``systemd:domain=INET:index=0``), known only once adopted.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from twisted.internet.address import IPv4Address, IPv6Address, UNIXAddress
from twisted.internet.endpoints import _parse as parse_endpoint
from twisted.logger import Logger
from twisted.web.iweb import IRequest
from twisted.web.resource import IResource, Resource
from twisted.web.server import Site

from vncterm.render.framebuffer import Renderer, snapshot_png
from vncterm.terminal import Terminal
from vncterm.view import ViewerView

__all__ = [
    "ScreenSource",
    "is_local_address",
    "is_local_endpoint",
    "make_text_site",
    "may_listen_on",
    "screen_lines",
    "scrollback_lines",
]

log = Logger()

#: Host names accepted besides IP address literals (which cannot be rebound).
LOCAL_HOST_NAMES = frozenset({"localhost"})

_TEXT = b"text/plain; charset=utf-8"
_JSON = b"application/json"
_PNG = b"image/png"

INDEX = """\
vncterm text access (read-only)

GET /screen.txt      the screen, one line per row, trailing spaces stripped
GET /screen.json     {"cols", "rows", "cursor": {"x", "y", "visible"}, "title", "name", "lines"}
GET /screen.png      the screen as a PNG image
GET /scrollback.txt  lines that scrolled off the top, oldest first
"""


class ScreenSource(Protocol):
    """What text access reads (a `vncterm.session.ConsoleSession` fits)."""

    @property
    def name(self) -> str:
        """The console's name (the desktop name viewers see)."""

    @property
    def terminal(self) -> Terminal:
        """The emulated screen."""



#: Endpoint kinds whose address is known only once listening (`is_local_address` decides).
CHECKED_WHEN_LISTENING = frozenset({"systemd"})


def _endpoint_kind(description: str) -> tuple[str, dict[str, str]]:
    """The endpoint's kind and its keyword arguments, read by the parser `serverFromString`
    itself uses (escapes, and a repeated key: the last wins), so both agree on every string."""
    try:
        args, kwargs = parse_endpoint(description)
    except Exception:  # not an endpoint string at all: nothing is local about it
        return "", {}
    return (str(args[0]).strip().lower() if args else ""), kwargs


def is_local_endpoint(description: str) -> bool:
    """Whether a server endpoint string only accepts local clients: a UNIX socket, or TCP bound
    to a loopback address (``tcp:5980:interface=127.0.0.1``, ``tcp6:5980:interface=\\:\\:1``).

    ``tcp:5980:interface=127.0.0.1:interface=0.0.0.0`` is not: Twisted binds the last one.
    """
    kind, kwargs = _endpoint_kind(description)
    if kind == "unix":
        return True
    if kind not in ("tcp", "tcp6"):
        return False
    host = kwargs.get("interface", "").strip("[] ").lower()
    if not host:
        return False  # no interface: every address
    return host == "localhost" or _is_loopback(host)


def may_listen_on(description: str) -> bool:
    """Whether the text interface may try to listen on `description`: a local endpoint, or one
    whose address only the listening port can tell (then `is_local_address` must say yes)."""
    return is_local_endpoint(description) or (
        _endpoint_kind(description)[0] in CHECKED_WHEN_LISTENING)


def is_local_address(address: object) -> bool:
    """Whether a listening port's address (``port.getHost()``) only accepts local clients: a
    UNIX socket, or a loopback IPv4/IPv6 address."""
    if isinstance(address, UNIXAddress):
        return True
    if isinstance(address, IPv4Address | IPv6Address):
        return _is_loopback(address.host)
    return False


def _is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.partition("%")[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def screen_lines(terminal: Terminal) -> list[str]:
    """The screen, one string per row, trailing spaces stripped."""
    return [line.rstrip(" ") for line in terminal.text()]


def scrollback_lines(source: ScreenSource) -> list[str] | None:
    """The scrollback, oldest line first, or None when neither session nor terminal keeps one.

    Looks for ``scrollback_text()`` on the session, then on its terminal; it may return a list
    of lines or one string.
    """
    for owner in (source, source.terminal):
        method: Callable[[], str | Iterable[str]] | None = getattr(owner, "scrollback_text", None)
        if callable(method):
            result = method()
            lines = result.split("\n") if isinstance(result, str) else list(result)
            return [line.rstrip(" ") for line in lines]
    return None


def _as_text(lines: list[str]) -> bytes:
    return "".join(line + "\n" for line in lines).encode("utf-8", "replace")


def _host_allowed(request: IRequest, extra_hosts: frozenset[str]) -> bool:
    header = request.getHeader(b"host")
    if header is None:
        return True  # HTTP/1.0 without Host: not a browser
    host = header.decode("latin-1").strip().lower()
    if host.startswith("["):
        host = host[1:].partition("]")[0]
    elif host.count(":") == 1:
        host = host.partition(":")[0]
    if host in LOCAL_HOST_NAMES or host.endswith(".localhost") or host in extra_hosts:
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class _Page(Resource):
    """One read-only document: ``produce()`` gives its content type and body."""

    isLeaf = True

    def __init__(
        self, produce: Callable[[], tuple[bytes, bytes] | None], extra_hosts: frozenset[str],
        missing: str = "not found",
    ) -> None:
        super().__init__()
        self._produce = produce
        self._extra_hosts = extra_hosts
        self._missing = missing

    def render(self, request: IRequest) -> bytes:
        request.setHeader(b"cache-control", b"no-store")
        request.setHeader(b"x-content-type-options", b"nosniff")
        if request.method not in (b"GET", b"HEAD"):
            request.setHeader(b"allow", b"GET, HEAD")
            body = _error(request, 405, "this interface is read-only: use GET or HEAD")
        elif not _host_allowed(request, self._extra_hosts):
            body = _error(request, 421, "this interface only answers requests for a local "
                          "address (Host must be an IP address or localhost)")
        elif request.postpath:
            body = _error(request, 404, "not found: see / for the list of resources")
        else:
            body = self._document(request)
        if request.method == b"HEAD":
            # Twisted would send the length of an empty body; HEAD must give GET's length.
            request.setHeader(b"content-length", b"%d" % len(body))
            return b""
        return body

    def _document(self, request: IRequest) -> bytes:
        produced = self._produce()
        if produced is None:
            return _error(request, 404, self._missing)
        content_type, body = produced
        request.setHeader(b"content-type", content_type)
        return body


def _error(request: IRequest, code: int, message: str) -> bytes:
    request.setResponseCode(code)
    request.setHeader(b"content-type", _TEXT)
    return (message + "\n").encode()


class _Root(Resource):
    """``/`` lists the resources; unknown names get a plain-text 404."""

    def __init__(self, extra_hosts: frozenset[str]) -> None:
        super().__init__()
        self._extra_hosts = extra_hosts

    def getChild(self, path: bytes, request: IRequest) -> IResource:
        if path == b"":
            return _Page(lambda: (_TEXT, INDEX.encode()), self._extra_hosts)
        return _Page(lambda: None, self._extra_hosts,
                     f"not found: {path.decode('utf-8', 'replace')!r}; see / for the list")


class _TextSite(Site):
    """A `Site` whose requests go to the debug log, not the access log: pollers are frequent."""

    def log(self, request: Any) -> None:
        log.debug("text access {method} {uri} -> {code}",
                  method=request.method.decode("latin-1"), uri=request.uri.decode("latin-1"),
                  code=request.code)


def make_text_site(
    session: ScreenSource,
    *,
    reactor: Any = None,
    extra_hosts: Iterable[str] = (),
) -> Site:
    """The text access interface for ``session``, to listen on with any server endpoint.

    ``reactor`` drives the site's timeouts (default: the global reactor, for the command line
    only). ``extra_hosts`` are further host names accepted in the ``Host`` header.
    """
    hosts = frozenset(host.lower() for host in extra_hosts)

    def screen_txt() -> tuple[bytes, bytes]:
        return _TEXT, _as_text(screen_lines(session.terminal))

    def screen_json() -> tuple[bytes, bytes]:
        terminal = session.terminal
        x, y = terminal.cursor
        document = {
            "cols": terminal.cols,
            "rows": terminal.rows,
            "cursor": {"x": x, "y": y, "visible": terminal.cursor_visible},
            "title": terminal.title,
            "name": session.name,
            "lines": screen_lines(terminal),
        }
        return _JSON, json.dumps(document, ensure_ascii=False).encode() + b"\n"

    def screen_png() -> tuple[bytes, bytes]:
        # A throwaway renderer of a live view: it draws every row without taking the terminal's
        # damage from the viewers' framebuffer, and an idle console keeps no pixels afterwards.
        renderer = Renderer(ViewerView(session.terminal))
        renderer.render()
        return _PNG, snapshot_png(renderer)

    def scrollback_txt() -> tuple[bytes, bytes] | None:
        lines = scrollback_lines(session)
        return None if lines is None else (_TEXT, _as_text(lines))

    root = _Root(hosts)
    root.putChild(b"screen.txt", _Page(screen_txt, hosts))
    root.putChild(b"screen.json", _Page(screen_json, hosts))
    root.putChild(b"screen.png", _Page(screen_png, hosts))
    root.putChild(b"scrollback.txt", _Page(
        scrollback_txt, hosts, "this console keeps no scrollback"))
    site = _TextSite(root, reactor=reactor)
    site.noisy = False
    return site
