"""The browser side of the front door: the viewer pages, login and logout with a session cookie,
a small JSON API the pages use, noVNC's files, and the XenAPI XML-RPC endpoint, as one
twisted.web resource tree served on the same listeners as `CONNECT /console`.

Routes::

    GET  /                    the console list (a login form when not logged in)
    GET  /console.html        one console in noVNC (?ref=... or ?uuid=...)
    GET  /static/...          this package's own page scripts and styles
    GET  /novnc/...           noVNC, from where it was installed (see find_novnc)
    POST /login               form fields username, password: sets the session_id cookie
    POST /logout              ends the cookie's session
    GET  /api/consoles        {"user": ..., "consoles": [...]} or 401: the RFB consoles the
                              user may see, each saying whether they may open it
    GET  /api/console?ref=    whether a console would open now: {"status", "reason", ...}
    POST / and /RPC2          XenAPI XML-RPC

The WebSocket itself (`GET /console`) never reaches this tree: the front door upgrades it.
The login form's password is checked off the event loop and throttled like every other login
(``consoleproxy.logins``): the answer comes later (NOT_DONE_YET), as does /api/console's.

The session cookie is ``session_id`` (as XenCenter and Xen Orchestra send it), HttpOnly,
SameSite=Strict (so another site can neither read it nor make a browser send it), and Secure
on TLS listeners. noVNC is never copied into this repository: it is served from an npm
install (``npm ci`` puts ``@novnc/novnc`` in ``node_modules``) or Debian's ``novnc`` package.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from twisted.internet import defer
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import pages, resource, server

from consoleproxy.auth import AuthenticationFailed, Session, SessionStore
from consoleproxy.connect import Request, parse_cookies, parse_query
from consoleproxy.logins import PasswordLogins, peer_host
from consoleproxy.registry import VM, Console, ConsoleProtocol, Registry

__all__ = [
    "NOVNC_ENV",
    "ConsoleAccess",
    "WebRoot",
    "find_novnc",
    "finish_later",
    "novnc_candidates",
    "request_from_web",
    "session_cookie",
]

log = Logger()

#: Environment variable naming noVNC's directory (the one holding ``core/rfb.js``).
NOVNC_ENV: Final = "CONSOLEPROXY_NOVNC_DIR"
#: The cookie holding the browser's session.
SESSION_COOKIE: Final = "session_id"
STATIC_DIR: Final = Path(__file__).with_name("static")
#: Most bytes of a login form.
MAX_FORM_BYTES: Final = 8192
_NOVNC_MISSING: Final = (
    "noVNC is not installed. Install it with `npm ci` in the consoleproxy source tree "
    "(npm package @novnc/novnc) or `apt-get install novnc`, or name its directory with "
    f"[proxy] novnc_dir or ${NOVNC_ENV}."
)
_PAGE_HEADERS: Final = (
    (b"Content-Security-Policy",
     b"default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: blob:; "
     b"style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; "
     b"form-action 'self'"),
    (b"X-Content-Type-Options", b"nosniff"),
    (b"Referrer-Policy", b"same-origin"),
)


def novnc_candidates(configured: str | os.PathLike[str] | None = None) -> list[Path]:
    """Where noVNC is looked for, in order: the configured directory, $CONSOLEPROXY_NOVNC_DIR,
    ``node_modules`` of the source tree and of the working directory, Debian's novnc."""
    candidates: list[Path] = []
    if configured:
        candidates.append(Path(configured))
    if os.environ.get(NOVNC_ENV):
        candidates.append(Path(os.environ[NOVNC_ENV]))
    tree = Path(__file__).resolve().parents[1]
    candidates += [
        tree / "node_modules" / "@novnc" / "novnc",
        Path.cwd() / "node_modules" / "@novnc" / "novnc",
        Path("/usr/share/novnc"),
    ]
    return candidates


def find_novnc(configured: str | os.PathLike[str] | None = None) -> Path | None:
    """The first candidate directory holding ``core/rfb.js``, or None.

    A configured directory that does not hold noVNC is not skipped silently: it is logged.
    """
    for index, candidate in enumerate(novnc_candidates(configured)):
        if (candidate / "core" / "rfb.js").is_file():
            return candidate
        if index == 0 and configured:
            log.warn("no noVNC (core/rfb.js) in the configured {path}", path=str(candidate))
    return None


class ConsoleAccess(Protocol):
    """What the pages need from the front door (the factory implements it)."""

    registry: Registry
    sessions: SessionStore
    logins: PasswordLogins

    def console_status(self, request: Request, peer: str) -> defer.Deferred[tuple[int, str]]:
        """The status a console request would get now (200 when it would open), and why."""
        ...

    def may_open(self, session: Session, console: Console) -> bool:
        """Whether ``session`` may open ``console``."""
        ...

    def may_see(self, session: Session, vm: VM) -> bool:
        """Whether ``session`` may see ``vm`` and its consoles."""
        ...

    def console_available(self, console: Console) -> bool:
        """Whether the console's source is there now (always True for relayed ones)."""
        ...

    @property
    def idle_timeout(self) -> float | None:
        """The WebSocket idle timeout, for the page to explain a close."""
        ...


def request_from_web(request: server.Request) -> Request:
    """The front door's view of a twisted.web request (for the same authentication rules)."""
    uri = request.uri.decode("ascii", "replace")
    _, _, raw_query = uri.partition("?")
    headers: list[tuple[str, str]] = []
    for name, values in request.requestHeaders.getAllRawHeaders():
        for value in values:
            headers.append((name.decode("latin-1").lower(), value.decode("latin-1")))
    try:
        query = parse_query(raw_query)
    except UnicodeDecodeError:
        query = {}
    return Request(
        method=request.method.decode("ascii", "replace"),
        target=uri,
        path=request.path.decode("ascii", "replace"),
        query=query,
        http_version="1.1",
        headers=tuple(headers),
        cookies=parse_cookies(value for name, value in headers if name == "cookie"),
    )


def session_cookie(value: str, *, secure: bool, max_age: int | None = None) -> bytes:
    """A Set-Cookie value for the session: HttpOnly, SameSite=Strict, Secure on TLS."""
    parts = [f"{SESSION_COOKIE}={value}", "Path=/", "HttpOnly", "SameSite=Strict"]
    if max_age is not None:
        parts.append(f"Max-Age={max_age}")
    if secure:
        parts.append("Secure")
    return "; ".join(parts).encode("latin-1")


def _json(request: server.Request, status: int, body: object) -> bytes:
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    request.setHeader(b"Cache-Control", b"no-store")
    return json.dumps(body).encode("utf-8")


def _redirect(request: server.Request, location: str) -> bytes:
    request.setResponseCode(303)
    request.setHeader(b"Location", location.encode("ascii"))
    request.setHeader(b"Cache-Control", b"no-store")
    return b""


def _same_origin(request: server.Request) -> bool:
    """False for a form posted from another origin (a browser always sends Origin on POST)."""
    origin = request.getHeader(b"origin")
    if origin is None or origin == b"null":
        return origin is None
    host = request.getHeader(b"host") or b""
    return origin.split(b"://", 1)[-1].rstrip(b"/") == host


class _PageResource(resource.Resource):
    """One HTML page of ours, with the page security headers."""

    isLeaf = True

    def __init__(self, path: Path) -> None:
        super().__init__()
        self._path = path

    def render_GET(self, request: server.Request) -> bytes:
        for name, value in _PAGE_HEADERS:
            request.setHeader(name, value)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-cache")
        return self._path.read_bytes()


class _Missing(resource.Resource):
    """What /novnc/ answers when noVNC is not installed: 404 with the way to install it."""

    isLeaf = True

    def render_GET(self, request: server.Request) -> bytes:
        request.setResponseCode(404)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return _NOVNC_MISSING.encode("utf-8")


#: Content types of the files served from a directory; any other suffix is not served.
CONTENT_TYPES: Final = {
    ".js": b"text/javascript; charset=utf-8",
    ".mjs": b"text/javascript; charset=utf-8",
    ".css": b"text/css; charset=utf-8",
    ".html": b"text/html; charset=utf-8",
    ".svg": b"image/svg+xml",
    ".png": b"image/png",
    ".ico": b"image/x-icon",
    ".wasm": b"application/wasm",
}
#: Largest file served from a directory (noVNC's largest module is about 100 KiB).
MAX_FILE_BYTES: Final = 4 * 1024 * 1024


class _Files(resource.Resource):
    """Regular files under one directory, by suffix; no listings, no dot-files, no escape
    from the directory (symbolic links included: the resolved path must stay inside)."""

    isLeaf = True

    def __init__(self, root: Path) -> None:
        super().__init__()
        self._root = root.resolve()

    def render_GET(self, request: server.Request) -> bytes:
        segments = [segment.decode("utf-8", "replace") for segment in request.postpath or ()]
        if not segments or any(s in ("", ".", "..") or s.startswith(".") or "/" in s
                               or "\\" in s or "\0" in s for s in segments):
            return _not_found(request)
        path = self._root.joinpath(*segments)
        content_type = CONTENT_TYPES.get(path.suffix.lower())
        try:
            resolved = path.resolve()
            inside = resolved.is_relative_to(self._root)
            if content_type is None or not inside or not resolved.is_file():
                return _not_found(request)
            if resolved.stat().st_size > MAX_FILE_BYTES:
                return _not_found(request)
            body = resolved.read_bytes()
        except OSError:
            return _not_found(request)
        request.setHeader(b"Content-Type", content_type)
        request.setHeader(b"X-Content-Type-Options", b"nosniff")
        request.setHeader(b"Cache-Control", b"no-cache")
        return body


def _not_found(request: server.Request) -> bytes:
    request.setResponseCode(404)
    request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
    return b"not found\n"


class WebRoot(resource.Resource):
    """The root of the tree: dispatches on the first path segment."""

    def __init__(self, access: ConsoleAccess, xmlrpc: resource.Resource, *,
                 novnc_dir: Path | None) -> None:
        super().__init__()
        self._access = access
        self._xmlrpc = xmlrpc
        self.novnc_dir = novnc_dir
        self._index = _PageResource(STATIC_DIR / "index.html")
        self._console = _PageResource(STATIC_DIR / "console.html")
        self._static = _Files(STATIC_DIR)
        self._novnc: resource.Resource = (
            _Files(novnc_dir) if novnc_dir is not None else _Missing()
        )

    def getChild(self, path: bytes, request: server.Request) -> resource.IResource:
        if path == b"" and not request.postpath:
            return self._index if request.method != b"POST" else self._xmlrpc
        if path == b"RPC2":
            return self._xmlrpc
        if path == b"console.html":
            return self._console
        if path == b"static":
            return self._static
        if path == b"novnc":
            return self._novnc
        if path == b"login":
            return _Login(self._access)
        if path == b"logout":
            return _Logout(self._access)
        if path == b"api":
            return _Api(self._access, self.novnc_dir is not None)
        if path == b"console":
            return _NotHere()
        return pages.notFound("Not found", "No such page.")

    def render_GET(self, request: server.Request) -> bytes:
        return self._index.render_GET(request)


class _NotHere(resource.Resource):
    """A WebSocket console request that arrived on an HTTP keep-alive connection."""

    isLeaf = True

    def render(self, request: server.Request) -> bytes:
        request.setResponseCode(400)
        request.setHeader(b"Connection", b"close")
        return b"open /console on a new connection\n"


class _Login(resource.Resource):
    isLeaf = True

    def __init__(self, access: ConsoleAccess) -> None:
        super().__init__()
        self._access = access

    def render_POST(self, request: server.Request) -> bytes | int:
        if not _same_origin(request):
            request.setResponseCode(403)
            return b"cross-origin login refused\n"
        assert request.content is not None
        body = request.content.read(MAX_FORM_BYTES + 1)
        if len(body) > MAX_FORM_BYTES:
            request.setResponseCode(413)
            return b""
        try:
            form = parse_query(body.decode("ascii").replace("+", " "))
        except (UnicodeDecodeError, UnicodeEncodeError):
            form = {}
        username = form.get("username", "")
        next_page = form.get("next", "/")
        if not next_page.startswith("/") or next_page.startswith("//"):
            next_page = "/"
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)
        logging_in = self._access.logins.login(
            username, form.get("password", ""), peer=peer_host(request.getClientAddress()),
            originator="consoleproxy web", channel="web")

        def logged_in(ref: str) -> None:
            if gone:
                self._access.sessions.logout(ref)
                return
            log.info("web login of user {user}", user=username)
            request.setHeader(b"Set-Cookie", session_cookie(ref, secure=request.isSecure()))
            finish_later(request, _redirect(request, next_page))

        def refused(failure: Failure) -> None:
            failure.trap(AuthenticationFailed)
            if not gone:
                finish_later(request, _redirect(
                    request, "/?" + urlencode({"login": "failed", "next": next_page})))

        logging_in.addCallbacks(logged_in, refused)
        logging_in.addErrback(lambda failure: log.failure("answering a web login", failure))
        return server.NOT_DONE_YET


class _Logout(resource.Resource):
    isLeaf = True

    def __init__(self, access: ConsoleAccess) -> None:
        super().__init__()
        self._access = access

    def render_POST(self, request: server.Request) -> bytes:
        if not _same_origin(request):
            request.setResponseCode(403)
            return b"cross-origin logout refused\n"
        ref = request_from_web(request).cookies.get(SESSION_COOKIE)
        if ref:
            self._access.sessions.logout(ref)
        request.setHeader(b"Set-Cookie", session_cookie("", secure=request.isSecure(),
                                                        max_age=0))
        return _redirect(request, "/")


class _Api(resource.Resource):
    isLeaf = True

    def __init__(self, access: ConsoleAccess, have_novnc: bool) -> None:
        super().__init__()
        self._access = access
        self._have_novnc = have_novnc

    def render_GET(self, request: server.Request) -> bytes | int:
        front = request_from_web(request)
        name = request.postpath[0] if request.postpath else b""
        if name == b"consoles":
            return self._consoles(request, front)
        if name == b"console":
            gone: list[Failure] = []
            request.notifyFinish().addErrback(gone.append)
            checking = self._access.console_status(front, peer_host(request.getClientAddress()))

            def answer(outcome: tuple[int, str]) -> None:
                if not gone:
                    status, reason = outcome
                    finish_later(request, _json(request, 200, {
                        "status": status,
                        "reason": reason,
                        "idle_timeout": self._access.idle_timeout,
                        "expired": status == 401 and _had_session(front),
                    }))

            checking.addCallback(answer)
            checking.addErrback(lambda failure: log.failure("answering /api/console", failure))
            return server.NOT_DONE_YET
        return _json(request, 404, {"error": "no such API"})

    def _session(self, front: Request) -> Session | None:
        ref = front.cookies.get(SESSION_COOKIE)
        return self._access.sessions.validate(ref) if ref else None

    def _consoles(self, request: server.Request, front: Request) -> bytes:
        info = {"novnc": self._have_novnc,
                "novnc_missing": None if self._have_novnc else _NOVNC_MISSING}
        session = self._session(front)
        if session is None:
            return _json(request, 401, {"error": "not logged in",
                                        "expired": _had_session(front), **info})
        registry = self._access.registry
        listed = []
        for console in _visible(registry, session, self._access, registry.consoles):
            vm = registry.vm_by_uuid(console.vm_uuid)
            listed.append({
                "ref": console.ref,
                "uuid": console.uuid,
                "vm": vm.name_label if vm is not None else "",
                "vm_uuid": console.vm_uuid,
                "available": self._access.console_available(console),
                "openable": self._access.may_open(session, console),
                "location": registry.location(console),
            })
        return _json(request, 200, {"user": session.username, "consoles": listed, **info})


def _had_session(front: Request) -> bool:
    """Whether the browser sent a session cookie (then a 401 means it expired or ended; with
    none, it is a first visit)."""
    return bool(front.cookies.get(SESSION_COOKIE))


def _visible(registry: Registry, session: Session, access: ConsoleAccess,
             consoles: Iterable[Console]) -> Sequence[Console]:
    """RFB consoles of VMs running here that ``session`` may see (vt100 ones are not RFB)."""
    out = []
    for console in consoles:
        if console.protocol is not ConsoleProtocol.RFB:
            continue
        vm = registry.vm_by_uuid(console.vm_uuid)
        if vm is None or not registry.is_running_here(vm):
            continue
        if access.may_see(session, vm):
            out.append(console)
    return out


def finish_later(request: server.Request, body: bytes) -> None:
    """Send a body that was answered later (NOT_DONE_YET), with its length (not chunked)."""
    request.setHeader(b"Content-Length", b"%d" % len(body))
    request.write(body)
    request.finish()


def build_site(root: resource.Resource, request_class: Callable[..., server.Request],
               reactor: Any, timeout: float) -> server.Site:
    """The twisted.web Site over ``root`` (no tracebacks shown to clients)."""
    site = server.Site(root, requestFactory=request_class, reactor=reactor, timeout=timeout)
    site.displayTracebacks = False
    return site
