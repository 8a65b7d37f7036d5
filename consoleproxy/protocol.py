"""The Twisted adapter of the front door: one :class:`FrontDoorProtocol` per accepted connection
reads a `CONNECT /console` request, a WebSocket `GET /console` upgrade, or any other HTTP
request (XML-RPC `POST`, the viewer pages), answers it, and then hands the connection over to
the console (seed chapter 6, "Retrieving VNC consoles using the API") or to twisted.web.

A WebSocket console gets the same authentication, console lookup and error statuses as
CONNECT, all before the upgrade; after the ``101`` reply its RFB stream travels in binary
messages, framed by :class:`WebSocketBridge` around the very same console protocols.

After a successful request the connection is, depending on the console:

* a new RFB viewer of a text console hosted in this process (no extra hop);
* relayed byte for byte to an RFB (or text) server elsewhere (``tcp:``/``unix:`` backends);
* the raw byte stream of a hosted text console (``vt100`` consoles, as `xe console` reads).

The accepted transport is never swapped: this protocol stays the transport's protocol and
forwards what arrives to the one it delegated to, which writes to the transport directly.
That works the same over TCP, TLS and the fake transports of the tests.

Every attempt ends in exactly one audit line (peer, user, console, status, bytes each way,
duration); session ids and passwords are never logged.

A request with a Basic username and password waits for its password check (off the event
loop, throttled: ``consoleproxy.logins``) with the client paused; console bytes that were
already on their way are kept (at most ``max_bytes_while_authenticating``) and reach the
console first, in order. Authorisation (``consoleproxy.roles``) refuses with 403, as xapi's
RBAC does; the audit line names the user, the console and why.
"""

from __future__ import annotations

import enum
import errno
from collections.abc import Callable, Mapping
from typing import Any
from typing import Protocol as TypingProtocol

from twisted.internet import defer
from twisted.internet.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    TCP6ClientEndpoint,
    UNIXClientEndpoint,
)
from twisted.internet.interfaces import (
    IAddress,
    IConsumer,
    IHalfCloseableProtocol,
    IPushProducer,
    IReactorTime,
    IStreamClientEndpoint,
    ITransport,
)
from twisted.internet.protocol import Factory, Protocol
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web import resource, server
from zope.interface import implementer  # type: ignore[import-untyped, unused-ignore]

from consoleproxy.auth import (
    CONSOLE_ORIGINATOR,
    Authenticated,
    AuthenticationFailed,
    Authorizer,
    Session,
    SessionStore,
)
from consoleproxy.connect import (
    CLOSED,
    NEED_DATA,
    PreambleParser,
    RemoteProtocolError,
    Request,
    error_reply,
    ok_reply,
)
from consoleproxy.keepalive import KeepAliveChannel, KeepAlivePool
from consoleproxy.limits import DEFAULT_LIMITS, Limits
from consoleproxy.logins import PasswordLogins, ThreadPoolRunner, peer_host
from consoleproxy.registry import (
    VM,
    BackendKind,
    BackendSpec,
    Console,
    ConsoleLookupError,
    ConsoleProtocol,
    Registry,
)
from consoleproxy.relay import RelayEnd, hand_off
from consoleproxy.relaythread import RelayThread
from consoleproxy.rfbinput import ViewerInputWatch
from consoleproxy.roles import RoleAuthorizer
from consoleproxy.web import WebRoot, build_site, find_novnc, finish_later
from consoleproxy.websocket import (
    CLOSE_IDLE,
    Closed,
    StreamData,
    UpgradeRefused,
    WebSocketSettings,
    WebSocketStream,
)
from consoleproxy.websocket import NEED_DATA as WS_NEED_DATA
from consoleproxy.xenapi import LoginCall, XenApiDispatcher
from vncterm.transport import no_delay, write_now

__all__ = [
    "ConsoleProxyFactory",
    "FrontDoorProtocol",
    "TextConsole",
    "TextStreamProtocol",
    "WebSocketBridge",
    "XmlRpcResource",
    "default_backend_endpoint",
]

log = Logger()

#: The only path a console request may name.
CONSOLE_PATH = "/console"
#: Paths of the XML-RPC endpoint (the XenAPI binding posts to "/"; some clients to /RPC2).
XMLRPC_PATHS = (b"/", b"/RPC2")
#: Seconds allowed to connect to a console server elsewhere on the host.
BACKEND_CONNECT_TIMEOUT = 10.0
_POST = b"POST "


class TextConsole(TypingProtocol):
    """A text console hosted in this process (a vncterm ``ConsoleSession``), as seen here."""

    #: Callbacks receiving the console's raw output.
    raw_listeners: list[Callable[[bytes], None]]

    @property
    def available(self) -> bool:
        """True while the console is connected (its program runs, its socket is open)."""
        ...

    def type_keys(self, data: bytes) -> None:
        """Write ``data`` to the console."""
        ...

    def viewer_refusal(self, user: str | None) -> str | None:
        """Why one more viewer of ``user`` would be refused now (the console's viewer cap or
        the user's on it), or None."""
        ...

    def new_viewer(self, addr: Any, user: str | None = None) -> Any:
        """A new RFB server protocol showing this console to one viewer, counted for ``user``."""
        ...


def default_backend_endpoint(reactor: Any, backend: BackendSpec) -> Any:
    """The client endpoint reaching a ``tcp:`` or ``unix:`` console server."""
    timeout = BACKEND_CONNECT_TIMEOUT
    if backend.kind is BackendKind.UNIX:
        return UNIXClientEndpoint(reactor, backend.path, timeout=timeout)
    if backend.kind is not BackendKind.TCP:
        raise ValueError(f"{backend.spec} is not a relayed backend")
    import ipaddress

    try:
        address = ipaddress.ip_address(backend.host)
    except ValueError:
        return HostnameEndpoint(reactor, backend.host, backend.port, timeout=timeout)
    if address.version == 6:
        return TCP6ClientEndpoint(reactor, backend.host, backend.port, timeout=timeout)
    return TCP4ClientEndpoint(reactor, backend.host, backend.port, timeout=timeout)


# -- XML-RPC -------------------------------------------------------------------------------


class _CappedRequest(server.Request):
    """A twisted.web request whose body may not exceed the XML-RPC cap."""

    max_body = DEFAULT_LIMITS.max_xmlrpc_body_bytes

    def gotLength(self, length: int | None) -> None:
        self._body_bytes = 0
        if length is not None and length > self.max_body:
            self._refuse()
        super().gotLength(length if length is None or length <= self.max_body else 0)

    def handleContentChunk(self, data: bytes) -> None:
        self._body_bytes += len(data)
        if self._body_bytes > self.max_body:
            self._refuse()
            return
        super().handleContentChunk(data)

    def _refuse(self) -> None:
        transport: Any = self.channel.transport if self.channel is not None else None
        if transport is not None and not getattr(self, "_refused", False):
            self._refused = True
            transport.write(_TOO_LARGE)
            transport.loseConnection()


_TOO_LARGE = (
    b"HTTP/1.1 413 Content Too Large\r\nConnection: close\r\n"
    b"Cache-Control: no-cache, no-store\r\nContent-Length: 0\r\n\r\n"
)


class XmlRpcResource(resource.Resource):
    """The XenAPI XML-RPC endpoint: every POST body goes to the dispatcher; a login is
    answered later, once its password is checked off the event loop."""

    isLeaf = True

    def __init__(self, dispatcher: XenApiDispatcher, logins: PasswordLogins) -> None:
        super().__init__()
        self._dispatcher = dispatcher
        self._logins = logins

    def render_POST(self, request: server.Request) -> bytes | int:
        if request.path not in XMLRPC_PATHS:
            request.setResponseCode(404)
            return b""
        assert request.content is not None
        body = request.content.read()
        reply = self._dispatcher.handle(body)
        request.setHeader(b"Content-Type", b"text/xml")
        if isinstance(reply, LoginCall):
            self._login(request, reply)
            return server.NOT_DONE_YET
        return reply

    def _login(self, request: server.Request, call: LoginCall) -> None:
        gone: list[Failure] = []
        request.notifyFinish().addErrback(gone.append)
        logging_in = self._logins.login(
            call.username, call.password, peer=peer_host(request.getClientAddress()),
            originator=call.originator, channel="xmlrpc",
        )

        def answer(outcome: str | AuthenticationFailed) -> None:
            if gone:
                # The client left before the answer: nobody holds this session's ref.
                if isinstance(outcome, str):
                    self._logins.sessions.logout(outcome)
                return
            finish_later(request, self._dispatcher.login_reply(outcome))

        def refused(failure: Failure) -> None:
            failure.trap(AuthenticationFailed)
            assert isinstance(failure.value, AuthenticationFailed)
            answer(failure.value)

        logging_in.addCallbacks(answer, refused)
        logging_in.addErrback(lambda failure: log.failure("answering a login", failure))


def _web_site(root: resource.Resource, reactor: IReactorTime, limits: Limits,
              pool: KeepAlivePool) -> server.Site:
    request_class = type(
        "CappedRequest", (_CappedRequest,), {"max_body": limits.max_xmlrpc_body_bytes}
    )
    site = build_site(root, request_class, reactor, limits.xmlrpc_deadline)
    # HTTP/1.1 only (ALPN never selects h2), with keep-alive kept as xapi keeps it.
    site.protocol = lambda: KeepAliveChannel(pool, limits)  # type: ignore[assignment, return-value]
    return site


# -- the raw stream of a text console ----------------------------------------------------------


@implementer(IHalfCloseableProtocol, IPushProducer)
class TextStreamProtocol(Protocol):
    """A client attached to the raw byte stream of a hosted text console, both ways.

    The console is shared (other viewers watch the same console), so a slow client cannot
    pause it: while the client's transport is full, at most ``high_water`` more bytes are
    queued for it, and a client that falls further behind is disconnected.
    """

    def __init__(self, console: TextConsole, high_water: int) -> None:
        self._console = console
        self._high_water = high_water
        self._paused = False
        self._queued_while_paused = 0
        self.bytes_sent = 0
        self._closed = False

    @property
    def _tr(self) -> Any:
        return self.transport

    def connectionMade(self) -> None:
        assert self.transport is not None
        self._tr.registerProducer(self, True)
        self._console.raw_listeners.append(self._console_output)

    def _console_output(self, data: bytes) -> None:
        if self._closed or self.transport is None:
            return
        if self._paused:
            self._queued_while_paused += len(data)
            if self._queued_while_paused > self._high_water:
                log.warn("text console client too slow: disconnected")
                self._detach()
                self._tr.abortConnection()
                return
        self.bytes_sent += len(data)
        self._tr.write(data)

    def dataReceived(self, data: bytes) -> None:
        if not self._closed:
            self._console.type_keys(data)

    def readConnectionLost(self) -> None:
        if self.transport is not None:
            self._tr.loseConnection()

    def writeConnectionLost(self) -> None:
        """Nothing to do: the console keeps running."""

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._detach()

    def _detach(self) -> None:
        if self._closed:
            return
        self._closed = True
        if self._console_output in self._console.raw_listeners:
            self._console.raw_listeners.remove(self._console_output)

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        self._queued_while_paused = 0

    def stopProducing(self) -> None:
        self._detach()


# -- RFB over WebSocket ----------------------------------------------------------------------


@implementer(ITransport, IConsumer, IPushProducer)
class _FramedTransport:
    """The transport a console protocol sees behind a WebSocket: its writes become binary
    messages; producers, pausing and addresses are the real transport's."""

    def __init__(self, bridge: WebSocketBridge) -> None:
        self._bridge = bridge

    @property
    def _real(self) -> Any:
        return self._bridge.transport

    @property
    def disconnecting(self) -> bool:
        return bool(getattr(self._real, "disconnecting", False)) or self._bridge.closing

    def write(self, data: bytes) -> None:
        self._bridge.send(data)

    def writeSequence(self, data: Any) -> None:
        self._bridge.send(b"".join(data))

    def loseConnection(self) -> None:
        self._bridge.close()

    def abortConnection(self) -> None:
        self._real.abortConnection()

    def getPeer(self) -> Any:
        return self._real.getPeer()

    def getHost(self) -> Any:
        return self._real.getHost()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._real.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        self._real.unregisterProducer()

    def pauseProducing(self) -> None:
        self._real.pauseProducing()

    def resumeProducing(self) -> None:
        self._real.resumeProducing()

    def stopProducing(self) -> None:
        self._real.stopProducing()


class WebSocketBridge(Protocol):
    """Carries a console protocol's byte stream over an accepted WebSocket.

    Sends a Ping when the client has been silent for ``ping_interval`` and drops a client
    silent for twice that; with an ``idle_timeout``, closes (code 4000) a connection whose
    viewer gave no real input (keys, pointer, clipboard) for that long.
    """

    def __init__(self, stream: WebSocketStream, inner: Any, reactor: IReactorTime,
                 settings: WebSocketSettings) -> None:
        self._stream = stream
        self._inner = inner
        self._reactor = reactor
        self._settings = settings
        self._watch = ViewerInputWatch()
        self._timer: Any = None
        self._last_heard = 0.0
        self._last_input = 0.0
        self._ping_outstanding = False
        self.closing = False
        self._lost = False
        #: Bytes written to the client (the 101 reply and frames).
        self.bytes_out = 0

    @property
    def _tr(self) -> Any:
        return self.transport

    def connectionMade(self) -> None:
        self._stream.accept()
        self._flush()
        self._last_heard = self._last_input = self._reactor.seconds()
        self._schedule()
        self._inner.makeConnection(_FramedTransport(self))

    def dataReceived(self, data: bytes) -> None:
        if self.closing or self._lost:
            return
        self._last_heard = self._reactor.seconds()
        self._ping_outstanding = False
        self._stream.receive_data(data)
        while True:
            event = self._stream.next_event()
            if event is WS_NEED_DATA:
                break
            if isinstance(event, StreamData):
                if self._watch.feed(event.data):
                    self._last_input = self._last_heard
                self._inner.dataReceived(event.data)
                if self.closing or self._lost:
                    break
            elif isinstance(event, Closed):
                self._flush()
                if not event.by_peer:
                    log.info("websocket client broke the protocol: {code} {reason}",
                             code=event.code, reason=event.reason)
                self.closing = True
                self._tr.loseConnection()
                break
            # PongReceived: the client is alive; that is all it says.
        self._flush()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._lost:
            return
        self._lost = True
        self._cancel_timer()
        self._inner.connectionLost(reason)

    # -- to the client ---------------------------------------------------------------------

    def _flush(self) -> None:
        data = self._stream.data_to_send()
        if data and self.transport is not None and not self._lost:
            self.bytes_out += len(data)
            self._tr.write(data)

    def send(self, data: bytes) -> None:
        """One binary message of console bytes."""
        if not self.closing and not self._lost:
            self._stream.send_data(data)
            self._flush()

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Send a Close frame and drop the connection (the console side ended it)."""
        if self.closing or self._lost:
            return
        self.closing = True
        self._cancel_timer()
        self._stream.close(code, reason)
        self._flush()
        self._tr.loseConnection()

    # -- keep-alive and idle timeout -------------------------------------------------------

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _schedule(self) -> None:
        now = self._reactor.seconds()
        delay = self._settings.ping_interval - (now - self._last_heard)
        if delay <= 0:
            delay = self._settings.ping_interval
        idle = self._settings.idle_timeout
        if idle is not None:
            delay = min(delay, max(idle - (now - self._last_input), 0.0))
        self._timer = self._reactor.callLater(delay, self._tick)

    def _tick(self) -> None:
        self._timer = None
        if self.closing or self._lost:
            return
        now = self._reactor.seconds()
        idle = self._settings.idle_timeout
        if idle is not None and now - self._last_input >= idle:
            log.info("websocket console closed after {idle} s without viewer input", idle=idle)
            self.close(CLOSE_IDLE, "idle timeout")
            return
        if now - self._last_heard >= self._settings.ping_interval:
            if self._ping_outstanding:
                log.info("websocket client silent after a ping: dropped")
                self._lost_silently()
                return
            self._ping_outstanding = True
            self._last_heard = now
            self._stream.ping(b"keep-alive")
            self._flush()
        self._schedule()

    def _lost_silently(self) -> None:
        self.closing = True
        self._tr.abortConnection()


# -- the front door ------------------------------------------------------------------------


class _State(enum.Enum):
    #: Sniffing the first bytes: a console request, or a POST for twisted.web?
    SNIFFING = "SNIFFING"
    #: Reading the console request head.
    PREAMBLE = "PREAMBLE"
    #: Waiting for a Basic password's check; the client is paused.
    AUTHENTICATING = "AUTHENTICATING"
    #: Connecting to the console's server elsewhere; the client is paused.
    CONNECTING = "CONNECTING"
    #: The connection belongs to a console or to twisted.web (XML-RPC, pages).
    DELEGATED = "DELEGATED"
    #: An error reply was written; the connection is closing.
    REFUSED = "REFUSED"
    #: The connection is gone.
    CLOSED = "CLOSED"


@implementer(IHalfCloseableProtocol)
class FrontDoorProtocol(Protocol):
    """One client connection: request, reply, then console or XML-RPC."""

    factory: ConsoleProxyFactory

    # Slots, because thousands of idle tunnels each keep one: past about 30 attributes an
    # instance's __dict__ stops sharing its keys (CPython) and costs over a kilobyte more.
    __slots__ = (
        "_auth", "_bytes_in", "_bytes_out", "_claimed", "_connecting", "_console", "_deadline",
        "_delegate", "_early", "_early_eof", "_held", "_held_bytes", "_http_version", "_kind",
        "_limits", "_opened", "_over_cap", "_parser", "_paused_for_auth", "_peer", "_raw",
        "_reason", "_reply_bytes", "_sniffed", "_state", "_status", "_user", "_websocket",
    )

    def __init__(self, factory: ConsoleProxyFactory) -> None:
        self.factory = factory
        self._limits = factory.limits
        # Dropped once the request is answered: an idle tunnel keeps only what it needs.
        self._parser: PreambleParser | None = PreambleParser(factory.limits)
        self._http_version: str | None = None
        self._state = _State.SNIFFING
        self._sniffed = bytearray()
        self._delegate: Any = None
        self._deadline: Any = None
        self._peer = "?"
        self._opened = 0.0
        self._over_cap = False
        self._bytes_in = 0
        self._reply_bytes = 0
        self._kind = "console"
        self._auth: Authenticated | None = None
        self._user = "-"
        self._console: Console | None = None
        self._claimed = False
        self._status = 0
        self._reason = "no request"
        self._connecting: defer.Deferred[Any] | None = None
        self._early: list[bytes] = []
        self._early_eof = False
        #: Console bytes that arrived while the password was being checked.
        self._held: list[bytes] = []
        self._held_bytes = 0
        self._paused_for_auth = False
        self._bytes_out: Callable[[], int] = lambda: 0
        #: The request head as received, for handing a page request to twisted.web.
        self._raw = bytearray()
        self._websocket: WebSocketStream | None = None

    @property
    def _tr(self) -> Any:
        return self.transport

    # -- lifetime --------------------------------------------------------------------------

    def connectionMade(self) -> None:
        assert self.transport is not None
        self._peer = _describe(self._tr.getPeer())
        self._opened = self.factory.reactor.seconds()
        no_delay(self._tr)
        self._over_cap = not self.factory.connection_opened()
        self._deadline = self.factory.reactor.callLater(
            self._limits.request_deadline, self._timed_out
        )

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._state is _State.CLOSED:
            return
        was = self._state
        self._state = _State.CLOSED
        self._cancel_deadline()
        if self._connecting is not None:
            connecting, self._connecting = self._connecting, None
            connecting.cancel()
        delegate = self._delegate
        if delegate is not None:
            delegate.connectionLost(reason)
        if self._auth is not None and self._auth.ephemeral:
            self.factory.sessions.logout(self._auth.session.ref)
        if self._claimed and self._console is not None:
            self.factory.console_released(self._console)
        self.factory.connection_closed()
        if was is _State.SNIFFING and not self._bytes_in:
            self._reason = "closed without a request"
        self._audit(reason)

    def _audit(self, reason: Failure) -> None:
        duration = self.factory.reactor.seconds() - self._opened
        bytes_out = self._reply_bytes + self._bytes_out()
        if self._kind == "http":
            # Pages and XML-RPC: a browser opens many of these; the console audit is the record.
            log.debug(
                "http connection from {peer} closed: {bytes_in} bytes in, "
                "{duration:.3f} s",
                peer=self._peer,
                bytes_in=self._bytes_in,
                duration=duration,
            )
            return
        console = self._console.ref if self._console is not None else "-"
        log.info(
            "console request from {peer}: user {user}, console {console}, {status} {reason}; "
            "{bytes_in} bytes in, {bytes_out} bytes out, {duration:.3f} s, {ended}",
            peer=self._peer,
            user=self._user,
            console=console,
            status=self._status or "-",
            reason=self._reason,
            bytes_in=self._bytes_in,
            bytes_out=bytes_out,
            duration=duration,
            ended=reason.getErrorMessage(),
        )

    def _cancel_deadline(self) -> None:
        if self._deadline is not None and self._deadline.active():
            self._deadline.cancel()
        self._deadline = None

    def _timed_out(self) -> None:
        self._deadline = None
        if self._state in (_State.SNIFFING, _State.PREAMBLE):
            self._refuse(408, "request not complete in time")

    # -- bytes in --------------------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        self._bytes_in += len(data)
        state = self._state
        if state is _State.DELEGATED:
            if not self.transport.disconnecting:  # type: ignore[union-attr]
                self._delegate.dataReceived(data)
        elif state is _State.CONNECTING:
            self._early.append(data)
        elif state is _State.AUTHENTICATING:
            self._hold(data)
        elif state is _State.SNIFFING:
            self._guarded(self._sniff, data)
        elif state is _State.PREAMBLE:
            self._guarded(self._feed_parser, data)
        # REFUSED or CLOSED: whatever else the client sends is dropped.

    def _guarded(self, step: Callable[[bytes], None], data: bytes) -> None:
        """Run one step of answering the request; a bug in it is logged whole and answered
        with 500 on this connection only (before the reply; after it, the connection closes)."""
        try:
            step(data)
        except Exception:
            log.failure("internal error answering {peer}", peer=self._peer)
            if self._state in (_State.SNIFFING, _State.PREAMBLE, _State.AUTHENTICATING):
                self._refuse(500, "internal error")
            elif self.transport is not None:
                self._tr.loseConnection()

    def readConnectionLost(self) -> None:
        state = self._state
        if state is _State.DELEGATED:
            half_closeable: Any = IHalfCloseableProtocol(self._delegate, None)
            if half_closeable is not None:
                half_closeable.readConnectionLost()
            elif self.transport is not None:
                self._tr.loseConnection()
        elif state in (_State.CONNECTING, _State.AUTHENTICATING):
            self._early_eof = True
        elif state is _State.SNIFFING:
            self._state = _State.PREAMBLE
            self._feed_parser(bytes(self._sniffed), eof=True)
        elif state is _State.PREAMBLE:
            self._feed_parser(b"", eof=True)

    def writeConnectionLost(self) -> None:
        half_closeable: Any = IHalfCloseableProtocol(self._delegate, None)
        if half_closeable is not None:
            half_closeable.writeConnectionLost()

    def _sniff(self, data: bytes) -> None:
        self._sniffed += data
        head = bytes(self._sniffed[: len(_POST) + 2 * 64]).lstrip(b"\r\n")
        undecided = len(head) < len(_POST) and _POST.startswith(head)
        if undecided and len(self._sniffed) <= 64:
            return
        sniffed = bytes(self._sniffed)
        self._sniffed = bytearray()
        if head.startswith(_POST):
            self._to_web(sniffed)
        else:
            self._state = _State.PREAMBLE
            self._feed_parser(sniffed)

    def _feed_parser(self, data: bytes, *, eof: bool = False) -> None:
        parser = self._parser
        if parser is None:
            return
        try:
            if data:
                self._raw += data
                parser.receive_data(data)
            if eof:
                parser.receive_data(b"")
            event = parser.next_event()
        except RemoteProtocolError as error:
            self._http_version = parser.http_version
            self._refuse(error.status, error.reason)
            return
        if event is NEED_DATA:
            return
        if event is CLOSED:
            self._state = _State.REFUSED
            self._reason = "closed without a request"
            if self.transport is not None:
                self._tr.loseConnection()
            return
        self._cancel_deadline()
        self._http_version = event.http_version
        self._parser = None
        self._answer(event, parser.trailing_data())
        # The request's bytes were only kept for a hand-off to twisted.web: an idle tunnel
        # should not carry them (cookies can be kilobytes).
        self._raw = bytearray()

    # -- answers ---------------------------------------------------------------------------

    def _refuse(self, status: int, reason: str,
                headers: tuple[tuple[str, str], ...] = ()) -> None:
        """Write the error reply and close: some clients never look at the status."""
        self._cancel_deadline()
        self._status, self._reason = status, reason
        self._state = _State.REFUSED
        version = self._http_version
        if version is None and self._parser is not None:
            version = self._parser.http_version
        reply = error_reply(status, version, headers=headers)
        self._reply_bytes += len(reply)
        if self.transport is not None:
            self._tr.write(reply)
            self._tr.loseConnection()

    def _answer(self, request: Request, trailing: bytes) -> None:
        factory = self.factory
        if self._over_cap:
            self._refuse(503, "too many connections")
            return
        if request.method == "GET" and request.path != CONSOLE_PATH:
            self._to_web(bytes(self._raw))
            return
        if request.path != CONSOLE_PATH:
            self._refuse(403, "not a console path")
            return
        if request.method == "GET":
            try:
                self._websocket = WebSocketStream(
                    request, allowed_origins=factory.websocket.allowed_origins)
            except UpgradeRefused as refused:
                self._refuse(refused.status, refused.reason, refused.headers)
                return
            request = without_cross_origin_cookies(request)
        self._state = _State.AUTHENTICATING
        self._held_bytes = len(trailing)
        checking = factory.check_access(request, peer_host(self._tr.getPeer()))
        checking.addCallbacks(self._access_granted, self._access_refused,
                              callbackArgs=(trailing,))
        checking.addErrback(self._access_broken)
        if self._state is _State.AUTHENTICATING:
            # A password is being checked: read nothing more until it is (what is already on
            # its way is held, capped).
            self._paused_for_auth = True
            self._tr.pauseProducing()

    def _hold(self, data: bytes) -> None:
        self._held_bytes += len(data)
        if self._held_bytes > self._limits.max_bytes_while_authenticating:
            self._held = []
            self._refuse(400, "too many console bytes before the reply")
            return
        self._held.append(data)

    def _access_refused(self, failure: Failure) -> None:
        failure.trap(ConsoleRefused)
        refused = failure.value
        assert isinstance(refused, ConsoleRefused)
        if self._state is not _State.AUTHENTICATING:
            if refused.auth is not None and refused.auth.ephemeral:
                self.factory.sessions.logout(refused.auth.session.ref)
            return
        self._auth = refused.auth
        if refused.user:
            self._user = refused.user
        self._console = refused.console
        self._refuse(refused.status, refused.reason)

    def _access_broken(self, failure: Failure) -> None:
        log.failure("internal error answering {peer}", failure, peer=self._peer)
        if self._state is _State.AUTHENTICATING:
            self._refuse(500, "internal error")
        elif self._state is not _State.CLOSED and self.transport is not None:
            self._tr.loseConnection()

    def _access_granted(self, access: tuple[Authenticated, Console], trailing: bytes) -> None:
        auth, console = access
        if self._state is not _State.AUTHENTICATING:
            # The client left while its password was checked.
            if auth.ephemeral:
                self.factory.sessions.logout(auth.session.ref)
            return
        factory = self.factory
        self._state = _State.PREAMBLE
        if self._held:
            trailing += b"".join(self._held)
            self._held = []
        if self._paused_for_auth:
            self._paused_for_auth = False
            self._tr.resumeProducing()
        self._auth = auth
        self._user = self._auth.session.username
        self._console = console
        if not factory.console_claimed(console):
            self._refuse(503, "console session limit reached")
            return
        self._claimed = True
        backend = console.backend
        if backend.is_text_source:
            hosted = factory.text_consoles.get(backend.spec)
            if hosted is None or not hosted.available:
                self._refuse(404, "console not available")
                return
            if console.protocol is ConsoleProtocol.RFB:
                # The hosted session counts its viewers per user: refuse here, with a status,
                # rather than after the 200.
                refusal = hosted.viewer_refusal(self._user)
                if refusal is not None:
                    self._refuse(503, refusal)
                    return
                viewer = hosted.new_viewer(self._tr.getPeer(), user=self._user)
                self._delegate_to(viewer, trailing, lambda: getattr(viewer, "bytes_sent", 0))
            else:
                stream = TextStreamProtocol(hosted, self._limits.relay_high_water)
                self._delegate_to(stream, trailing, lambda: stream.bytes_sent)
            if self._early_eof and self._state is _State.DELEGATED:
                # The client's input ended while its password was checked.
                self.readConnectionLost()
            return
        self._connect_backend(backend, trailing)

    def _succeed(self) -> None:
        self._status, self._reason = 200, "OK"
        reply = ok_reply()
        self._reply_bytes += len(reply)
        assert self.transport is not None
        # One write, before any console byte: clients read the reply up to the blank line.
        # Sent at once (not a reactor turn later), so the console's first bytes can follow it
        # straight away too.
        write_now(self._tr, reply)

    def _delegate_to(
        self, protocol: Any, trailing: bytes, bytes_out: Callable[[], int]
    ) -> None:
        if self._websocket is not None:
            # The 101 reply is written by the bridge, before any console byte.
            bridge = WebSocketBridge(self._websocket, protocol, self.factory.reactor,
                                     self.factory.websocket)
            self._status, self._reason = 101, "WebSocket"
            self._state = _State.DELEGATED
            self._delegate = bridge
            self._bytes_out = lambda: bridge.bytes_out
            bridge.makeConnection(self.transport)
            if trailing and self._state is _State.DELEGATED:
                bridge.dataReceived(trailing)
            return
        self._succeed()
        self._state = _State.DELEGATED
        self._delegate = protocol
        self._bytes_out = bytes_out
        protocol.makeConnection(self.transport)
        if trailing and self._state is _State.DELEGATED:
            protocol.dataReceived(trailing)

    def _connect_backend(self, backend: BackendSpec, trailing: bytes) -> None:
        assert self.transport is not None
        self._state = _State.CONNECTING
        if trailing:
            self._early.append(trailing)
        # Nothing more is read until the console's server is there to take it.
        self._tr.pauseProducing()
        try:
            endpoint = self.factory.backend_endpoint(backend)
        except Exception as error:  # a backend we cannot even describe an endpoint for
            self._refuse(404, f"console server unreachable: {error}")
            return
        server_end = RelayEnd()
        # A quiet one-shot factory: the audit line is the log of this connection.
        connecting = endpoint.connect(_QuietFactory(server_end))
        self._connecting = connecting
        connecting.addCallbacks(self._backend_connected, self._backend_failed)

    def _backend_connected(self, server_end: RelayEnd) -> None:
        self._connecting = None
        if self._state is not _State.CONNECTING:
            server_transport: Any = server_end.transport
            if server_transport is not None:
                server_transport.loseConnection()
            return
        early, self._early = b"".join(self._early), []
        if self._websocket is not None:
            # Early bytes are still WebSocket frames: they go through the bridge.
            client_end = RelayEnd()
            self._delegate_to(client_end, early, lambda: server_end.bytes_read)
        else:
            client_end = RelayEnd(early=early)
            self._delegate_to(client_end, b"", lambda: server_end.bytes_read)
        assert self.transport is not None
        self._tr.resumeProducing()
        client_end.join(server_end)
        if self._early_eof:
            client_end.readConnectionLost()
        elif self.factory.relays is not None and self._websocket is None:
            hand_off(self.factory.relays, client_end, server_end, self._count_in)

    def _count_in(self, count: int) -> None:
        """Bytes the relay thread read from this client (for the audit line)."""
        self._bytes_in += count

    def _backend_failed(self, failure: Failure) -> None:
        self._connecting = None
        if self._state is not _State.CONNECTING:
            return  # the client left first and the attempt was cancelled
        assert self.transport is not None
        self._tr.resumeProducing()
        if _out_of_descriptors(failure):
            # The process, not the console, is out of room: tell the client to come back.
            self._refuse(503, "out of file descriptors")
            return
        self._refuse(404, f"console server unreachable: {failure.getErrorMessage()}")

    def _to_web(self, sniffed: bytes) -> None:
        """Hand the connection, from its first byte, to twisted.web (XML-RPC and pages)."""
        self._kind = "http"
        self._cancel_deadline()
        if self._over_cap:
            self._state = _State.REFUSED
            reply = error_reply(503, "1.1")
            assert self.transport is not None
            self._tr.write(reply)
            self._tr.loseConnection()
            return
        assert self.transport is not None
        channel = self.factory.web_site.buildProtocol(self._tr.getPeer())
        assert channel is not None
        self._state = _State.DELEGATED
        self._delegate = channel
        channel.makeConnection(self.transport)
        channel.dataReceived(sniffed)


class ConsoleProxyFactory(Factory):
    """Builds a :class:`FrontDoorProtocol` per connection and holds what they share."""

    protocol = FrontDoorProtocol  # type: ignore[assignment]
    #: One audit line per connection is enough; no "starting factory" lines.
    noisy = False

    def __init__(
        self,
        reactor: Any,
        registry: Registry,
        sessions: SessionStore,
        *,
        text_consoles: Mapping[str, TextConsole] | None = None,
        authorizer: Authorizer | None = None,
        backend_endpoint: Callable[[BackendSpec], IStreamClientEndpoint] | None = None,
        limits: Limits | None = None,
        max_sessions_per_console: int | None = None,
        websocket: WebSocketSettings | None = None,
        novnc_dir: str | None = None,
        relays: RelayThread | None = None,
        logins: PasswordLogins | None = None,
    ) -> None:
        """``text_consoles`` maps a text backend's spec string to the console hosting it.

        ``novnc_dir`` names noVNC's directory for the viewer pages; when None it is searched
        for (see :func:`consoleproxy.web.find_novnc`). ``relays``, when given, relays plain
        TCP tunnels off the reactor once they are joined. ``logins`` checks passwords (by
        default in a thread pool of the reactor's; stop it with :meth:`stop`). The default
        ``authorizer`` applies xapi's roles (``consoleproxy.roles``).
        """
        self.reactor = reactor
        self.relays = relays
        self.registry = registry
        self.sessions = sessions
        self.limits = limits if limits is not None else registry.config.limits
        self.text_consoles: Mapping[str, TextConsole] = text_consoles or {}
        self.authorizer: Authorizer = authorizer or RoleAuthorizer(registry)
        self.backend_endpoint: Callable[[BackendSpec], IStreamClientEndpoint] = (
            backend_endpoint or (lambda backend: default_backend_endpoint(reactor, backend))
        )
        self.max_sessions_per_console = max_sessions_per_console
        self.websocket = websocket or WebSocketSettings()
        self.logins = logins or PasswordLogins(
            reactor, sessions, self.limits,
            ThreadPoolRunner(reactor, self.limits.password_check_threads),
        )
        self.dispatcher = XenApiDispatcher(registry, sessions, self.limits,
                                           authorizer=self.authorizer)
        self.novnc_dir = find_novnc(novnc_dir)
        if self.novnc_dir is None:
            log.warn("noVNC not found: the browser console page cannot start "
                     "(npm ci, or apt-get install novnc)")
        self.web_root = WebRoot(self, XmlRpcResource(self.dispatcher, self.logins),
                                novnc_dir=self.novnc_dir)
        #: twisted.web over the same listeners: XML-RPC and the viewer pages.
        #: Idle keep-alive web connections: closed first when the connection cap is reached.
        self.keepalive = KeepAlivePool()
        self.web_site = _web_site(self.web_root, reactor, self.limits, self.keepalive)
        self.xmlrpc_site = self.web_site
        #: Client connections open now (console and XML-RPC alike).
        self.open_connections = 0
        self._per_console: dict[str, int] = {}

    def buildProtocol(self, addr: IAddress | None) -> FrontDoorProtocol:  # type: ignore[override]
        return FrontDoorProtocol(self)

    def stop(self) -> None:
        """Release the password-check threads (at shutdown)."""
        self.logins.stop()

    def connection_opened(self) -> bool:
        """Count a new connection; False when it is beyond the connection cap and no idle
        keep-alive connection could be closed to make room for it."""
        self.open_connections += 1
        if self.open_connections <= self.limits.max_connections:
            return True
        return self.keepalive.close_longest_idle()

    def connection_closed(self) -> None:
        self.open_connections -= 1

    def console_claimed(self, console: Console) -> bool:
        """Count a session on ``console``; False (and not counted) at its configured limit."""
        count = self._per_console.get(console.uuid, 0)
        limit = self.max_sessions_per_console
        if limit is not None and count >= limit:
            return False
        self._per_console[console.uuid] = count + 1
        return True

    def console_released(self, console: Console) -> None:
        count = self._per_console.get(console.uuid, 0) - 1
        if count > 0:
            self._per_console[console.uuid] = count
        else:
            self._per_console.pop(console.uuid, None)

    def sessions_on(self, console: Console) -> int:
        """How many clients are connected to ``console`` now."""
        return self._per_console.get(console.uuid, 0)

    # -- console access, shared by CONNECT, WebSocket and the pages ------------------------

    def check_access(
        self, request: Request, peer: str
    ) -> defer.Deferred[tuple[Authenticated, Console]]:
        """Authenticate ``request`` (a Basic password is checked off the event loop, which
        is the only case that does not fire at once), look its console up and authorise;
        fails with ConsoleRefused."""
        try:
            found = self.sessions.resolve_request(request)
        except AuthenticationFailed as failure:
            return defer.fail(ConsoleRefused(401, failure.reason, user=failure.username))
        if isinstance(found, Authenticated):
            return defer.execute(self._authorise, found, request)
        username, password = found
        logging_in = self.logins.login(username, password, peer=peer,
                                       originator=CONSOLE_ORIGINATOR, channel="console")

        def refused(failure: Failure) -> Failure:
            failure.trap(AuthenticationFailed)
            assert isinstance(failure.value, AuthenticationFailed)
            raise ConsoleRefused(401, failure.value.reason, user=username)

        logging_in.addErrback(refused)
        return logging_in.addCallback(
            lambda ref: self._authorise(self.sessions.ephemeral(ref), request)
        )

    def _authorise(self, auth: Authenticated, request: Request) -> tuple[Authenticated, Console]:
        session = auth.session
        try:
            console = self.registry.lookup(request.query)
        except ConsoleLookupError as error:
            raise ConsoleRefused(error.status, error.reason, auth=auth,
                                 user=session.username) from None
        refusal = self.authorizer.refusal(session, console)
        if refusal is not None:
            raise ConsoleRefused(403, f"not allowed: {refusal}", auth=auth,
                                 user=session.username, console=console)
        return auth, console

    def console_available(self, console: Console) -> bool:
        """False when a hosted text console's source is gone (a console request gets 404)."""
        if not console.backend.is_text_source:
            return True
        hosted = self.text_consoles.get(console.backend.spec)
        return hosted is not None and hosted.available

    def may_open(self, session: Session, console: Console) -> bool:
        return self.authorizer.refusal(session, console) is None

    def may_see(self, session: Session, vm: VM) -> bool:
        return self.authorizer.may_see(session, vm)

    @property
    def idle_timeout(self) -> float | None:
        return self.websocket.idle_timeout

    def console_status(self, request: Request, peer: str) -> defer.Deferred[tuple[int, str]]:
        """The status a console request would get now, without opening anything."""
        checking = self.check_access(request, peer)

        def allowed(access: tuple[Authenticated, Console]) -> tuple[int, str]:
            auth, console = access
            if auth.ephemeral:
                self.sessions.logout(auth.session.ref)
            limit = self.max_sessions_per_console
            if limit is not None and self.sessions_on(console) >= limit:
                return 503, "console session limit reached"
            if not self.console_available(console):
                return 404, "console not available"
            return 200, "OK"

        def refused(failure: Failure) -> tuple[int, str]:
            failure.trap(ConsoleRefused)
            refusal = failure.value
            assert isinstance(refusal, ConsoleRefused)
            if refusal.auth is not None and refusal.auth.ephemeral:
                self.sessions.logout(refusal.auth.session.ref)
            return refusal.status, refusal.reason

        return checking.addCallbacks(allowed, refused)


class ConsoleRefused(Exception):
    """A console request is refused with ``status``; what was learnt on the way is kept."""

    def __init__(self, status: int, reason: str, *, auth: Authenticated | None = None,
                 user: str = "", console: Console | None = None) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason
        self.auth = auth
        self.user = user
        self.console = console


def without_cross_origin_cookies(request: Request) -> Request:
    """``request`` without its cookies when a browser sent it from another origin.

    SameSite=Strict already keeps browsers from sending the session cookie cross-site; this
    also covers same-site pages of other origins (another port). A session in the query is
    kept: whoever put it there holds the secret.
    """
    origin = request.header("origin")
    if origin is None:
        return request
    host = request.header("host") or ""
    if origin != "null" and origin.split("://", 1)[-1].rstrip("/") == host:
        return request
    if not request.cookies:
        return request
    from dataclasses import replace

    return replace(request, cookies={})


def _describe(address: object) -> str:
    host = getattr(address, "host", None)
    port = getattr(address, "port", None)
    if host is not None:
        return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
    name = getattr(address, "name", None)
    return str(name or address)


class _QuietFactory(Factory):
    """Gives one prepared protocol to one outgoing connection, without factory log lines."""

    noisy = False

    def __init__(self, protocol: Protocol) -> None:
        self._protocol = protocol

    def buildProtocol(self, addr: IAddress | None) -> Protocol:
        return self._protocol


def _out_of_descriptors(failure: Failure) -> bool:
    """Whether a failed connect was the process hitting its file-descriptor limit."""
    value = failure.value
    if isinstance(value, OSError) and value.errno in (errno.EMFILE, errno.ENFILE):
        return True
    # Twisted reports socket() failing as a ConnectBindError/ConnectError carrying the text.
    return "Too many open files" in str(value)
