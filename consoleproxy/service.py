"""The consoleproxy service: builds the registry, sessions, hosted text consoles and listeners
from a :class:`~consoleproxy.registry.Config`.

Listeners are Twisted endpoint strings. ``ssl:`` endpoints are served by wrapping the
equivalent ``tcp:`` endpoint in TLS whose options :mod:`consoleproxy.tls` builds (versions,
ciphers, ALPN); with no ``privateKey=`` in the endpoint and no certificate in the
configuration, a self-signed certificate is made once under the state directory and reused on
every later start.

The ``[proxy]`` table of the configuration (all keys optional)::

    listen = ["tcp:8080:interface=127.0.0.1", "ssl:8443:interface=127.0.0.1"]
    certificate = "/etc/consoleproxy/cert.pem"   # PEM; may also hold the key
    private_key = "/etc/consoleproxy/key.pem"
    tls_minimum = "1.2"                           # "1.0" | "1.1" | "1.2" | "1.3"
    max_sessions_per_console = 4                  # 503 beyond it; unlimited when absent
    columns = 80                                  # size of hosted text consoles
    rows = 24
    novnc_dir = "/usr/share/novnc"                # noVNC for the viewer pages (default: searched)
    websocket_ping_interval = 30                  # seconds of client silence before a Ping
    websocket_idle_timeout = 900                  # close after this long without input (off)
    websocket_allowed_origins = ["https://xo.example.com"]  # other pages that may open consoles
    user = "consoleproxy"                         # drop root to this user once listening
    console_user = "nobody"                       # command: consoles run as (vncterm.sandbox)
    console_sandbox = "auto"                      # "auto" | "required" | "off" (bubblewrap)

    [proxy.console_limits]                        # vncterm.limits.ConsoleLimits
    max_processes = 4096                          # of the console user, host-wide
    max_open_files = 1024
    max_address_space = 4294967296                # bytes per process
    max_cpu_seconds = 3600                        # per process (default: unlimited)
    max_tmp_bytes = 67108864                      # the sandbox's /tmp and /var/tmp, each

``command:`` consoles are launched through :class:`vncterm.sandbox.Confinement`: as the
console user, in a bubblewrap sandbox that hides the state directory and the configuration,
with resource limits.
"""

from __future__ import annotations

import os
import re
import resource
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, Final

from twisted.internet import defer
from twisted.internet.endpoints import (
    UNIXClientEndpoint,
    serverFromString,
)
from twisted.logger import Logger
from twisted.protocols.tls import TLSMemoryBIOFactory

from consoleproxy.auth import SessionStore
from consoleproxy.limits import Limits
from consoleproxy.locations import Listener, planned_listeners
from consoleproxy.protocol import ConsoleProxyFactory, TextConsole
from consoleproxy.registry import BackendKind, BackendSpec, Config, ConfigError, Registry
from consoleproxy.relaythread import RelayThread
from consoleproxy.tls import (
    TLS_VERSIONS,
    ServerTLS,
    certificate_options,
    ensure_certificate,
    split_tls_endpoint,
)
from consoleproxy.websocket import WebSocketSettings
from vncterm.backends.base import ConsoleSource
from vncterm.backends.command import CommandSource
from vncterm.backends.launch import Launcher
from vncterm.backends.ptydevice import PtyDeviceSource
from vncterm.backends.stream import StreamSource
from vncterm.feedscheduler import FeedScheduler
from vncterm.limits import DEFAULT_CONSOLE_LIMITS, DEFAULT_LIMITS, ConsoleLimits
from vncterm.privileges import python_paths
from vncterm.protocol import RfbViewerFactory
from vncterm.sandbox import Confinement, ConfinementPolicy, SandboxMode
from vncterm.session import ConsoleSession
from vncterm.terminal.emulator import TERM_NAME

__all__ = [
    "DEFAULT_LISTEN",
    "ConsoleProxy",
    "HostedTextConsole",
    "ProxySettings",
    "default_state_dir",
    "parse_proxy_settings",
]

log = Logger()

#: Listeners when neither the command line nor the configuration names any.
DEFAULT_LISTEN: Final = ("tcp:8080:interface=127.0.0.1", "ssl:8443:interface=127.0.0.1")

@dataclass(frozen=True, slots=True)
class ProxySettings:
    """The ``[proxy]`` table, checked."""

    listen: tuple[str, ...] = DEFAULT_LISTEN
    certificate: str | None = None
    private_key: str | None = None
    tls_minimum: str = "1.2"
    max_sessions_per_console: int | None = None
    columns: int = 80
    rows: int = 24
    novnc_dir: str | None = None
    websocket_ping_interval: float = 30.0
    websocket_idle_timeout: float | None = None
    #: Origins besides the listener's own whose pages may open WebSocket consoles.
    websocket_allowed_origins: frozenset[str] = frozenset()
    #: Relay plain TCP tunnels on a thread of their own (consoleproxy.relaythread).
    relay_thread: bool = True
    #: Drop root to this user once listening (``--user`` wins).
    user: str | None = None
    #: Who ``command:`` consoles run as (vncterm.sandbox: default nobody under root).
    console_user: str | None = None
    console_sandbox: SandboxMode = SandboxMode.AUTO
    console_limits: ConsoleLimits = DEFAULT_CONSOLE_LIMITS


def fit_connection_cap(limits: Limits, *, reserved: int) -> Limits:
    """Raise the file-descriptor limit as far as allowed and keep `max_connections` under it.

    A relayed tunnel holds two descriptors (client and console server), so the cap must leave
    room for twice as many plus `reserved` (listeners, consoles, logs): then a client past the
    cap gets a clean 503 instead of the process failing to accept or connect.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            soft = wanted
        except (OSError, ValueError) as error:
            log.warn("cannot raise the file-descriptor limit: {error}", error=error)
    fits = max(1, (soft - reserved) // 2)
    if limits.max_connections > fits:
        log.warn("max_connections {wanted} needs {need} file descriptors but the limit is "
                 "{soft}: capping at {fits}", wanted=limits.max_connections,
                 need=2 * limits.max_connections + reserved, soft=soft, fits=fits)
        return replace(limits, max_connections=fits)
    return limits


def parse_proxy_settings(table: Mapping[str, Any]) -> ProxySettings:
    """Check the ``[proxy]`` table; raises ConfigError naming the bad key."""
    known = {"listen", "certificate", "private_key", "tls_minimum", "max_sessions_per_console",
             "columns", "rows", "novnc_dir", "websocket_ping_interval",
             "websocket_idle_timeout", "websocket_allowed_origins", "relay_thread", "user",
             "console_user", "console_sandbox", "console_limits"}
    for name in table:
        if name not in known:
            raise ConfigError(f"proxy.{name}", f"unknown key; expected one of "
                              f"{', '.join(sorted(known))}")
    values: dict[str, Any] = {}
    if "listen" in table:
        listen = table["listen"]
        if not isinstance(listen, list) or not listen or not all(
            isinstance(item, str) and item for item in listen
        ):
            raise ConfigError("proxy.listen", "must be a non-empty array of endpoint strings")
        values["listen"] = tuple(listen)
    if "websocket_allowed_origins" in table:
        origins = table["websocket_allowed_origins"]
        if not isinstance(origins, list) or not all(
            isinstance(item, str) and re.fullmatch(r"https?://[^/\s]+", item) for item in origins
        ):
            raise ConfigError("proxy.websocket_allowed_origins",
                              'must be an array of origins like "https://xo.example.com"')
        values["websocket_allowed_origins"] = frozenset(origins)
    for name in ("websocket_ping_interval", "websocket_idle_timeout"):
        if name in table:
            value = table[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ConfigError(f"proxy.{name}", "must be a positive number of seconds")
            values[name] = float(value)
    for name in ("certificate", "private_key", "novnc_dir"):
        if name in table:
            if not isinstance(table[name], str) or not table[name]:
                raise ConfigError(f"proxy.{name}", "must be a file path")
            values[name] = table[name]
    for name in ("user", "console_user"):
        if name in table:
            if not isinstance(table[name], str) or not table[name]:
                raise ConfigError(f"proxy.{name}", "must be a user name")
            values[name] = table[name]
    if "console_sandbox" in table:
        try:
            values["console_sandbox"] = SandboxMode(table["console_sandbox"])
        except ValueError:
            raise ConfigError("proxy.console_sandbox", 'must be "auto", "required" or "off"') \
                from None
    if "console_limits" in table:
        values["console_limits"] = _console_limits(table["console_limits"])
    if "relay_thread" in table:
        if not isinstance(table["relay_thread"], bool):
            raise ConfigError("proxy.relay_thread", "must be true or false")
        values["relay_thread"] = table["relay_thread"]
    if "tls_minimum" in table:
        if table["tls_minimum"] not in TLS_VERSIONS:
            raise ConfigError("proxy.tls_minimum", 'must be "1.0", "1.1", "1.2" or "1.3"')
        values["tls_minimum"] = table["tls_minimum"]
    for name, low, high in (("max_sessions_per_console", 1, 1 << 20), ("columns", 10, 500),
                            ("rows", 2, 200)):
        if name in table:
            value = table[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ConfigError(f"proxy.{name}", f"must be an integer from {low} to {high}")
            values[name] = value
    if ("certificate" in values) != ("private_key" in values) and "certificate" not in values:
        raise ConfigError("proxy.private_key", "needs proxy.certificate too")
    return ProxySettings(**values)


def _console_limits(raw: Any) -> ConsoleLimits:
    if not isinstance(raw, Mapping):
        raise ConfigError("proxy.console_limits", "must be a table")
    known = {field.name for field in fields(ConsoleLimits)}
    for name, value in raw.items():
        if name not in known:
            raise ConfigError(f"proxy.console_limits.{name}", f"unknown limit; expected one of "
                              f"{', '.join(sorted(known))}")
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise ConfigError(f"proxy.console_limits.{name}", "must be a positive integer")
    return ConsoleLimits(**raw)


def console_confinement(settings: ProxySettings, hidden: Sequence[str | Path]) -> Confinement:
    """How ``command:`` consoles run: the settings' user, sandbox and limits; ``hidden`` (the
    state directory, the configuration) out of the sandbox's sight."""
    return Confinement(ConfinementPolicy(
        user=settings.console_user,
        sandbox=settings.console_sandbox,
        limits=settings.console_limits,
        hidden=tuple(str(path) for path in hidden),
        visible=python_paths(("vncterm", "consoleproxy")),
    ))


def default_state_dir() -> Path:
    """Where generated state (the self-signed certificate) lives: XDG_STATE_HOME/consoleproxy."""
    base = os.environ.get("XDG_STATE_HOME") or os.path.join(
        os.path.expanduser("~"), ".local", "state"
    )
    return Path(base) / "consoleproxy"


# -- hosted text consoles --------------------------------------------------------------------


class HostedTextConsole(ConsoleSession):
    """A vncterm console session that knows whether its console is connected right now."""

    def __init__(self, reactor: Any, source: ConsoleSource, **kwargs: Any) -> None:
        super().__init__(reactor, source, **kwargs)
        self._available = False
        # The front door writes one audit line per connection; the viewer adds none.
        self._viewers = RfbViewerFactory(self, log_connections=False)

    @property
    def available(self) -> bool:
        """True while the console's program runs or its device or socket is open."""
        return self._available

    def console_connected(self, description: str) -> None:
        self._available = True
        super().console_connected(description)

    def console_disconnected(self, reason: str, *, final: bool) -> None:
        self._available = False
        super().console_disconnected(reason, final=final)

    def new_viewer(self, addr: Any, user: str | None = None) -> Any:
        """A new RFB server protocol for one viewer of this console, counted for ``user``
        (vncterm.limits: max_viewers_per_user)."""
        viewer = self._viewers.buildProtocol(addr)
        viewer.user = user
        return viewer


def console_source(reactor: Any, backend: BackendSpec, columns: int, rows: int,
                   launcher: Launcher | None = None) -> ConsoleSource:
    """The vncterm console source for a text backend (``launcher`` starts command ones)."""
    kind = backend.kind
    if kind is BackendKind.COMMAND:
        # A console program that ends is started again, as a guest reboots.
        return CommandSource(reactor, backend.argv, columns=columns, rows=rows, term=TERM_NAME,
                             respawn=True, launcher=launcher)
    if kind is BackendKind.PTY:
        return PtyDeviceSource(reactor, backend.path)
    if kind is BackendKind.SERIAL_TCP:
        endpoint = serverless_tcp_endpoint(reactor, backend.host, backend.port)
        return StreamSource(reactor, endpoint, f"{backend.host}:{backend.port}")
    if kind is BackendKind.SERIAL_UNIX:
        return StreamSource(reactor, UNIXClientEndpoint(reactor, backend.path),
                            os.path.basename(backend.path))
    raise ValueError(f"{backend.spec} is not a text console source")


def serverless_tcp_endpoint(reactor: Any, host: str, port: int) -> Any:
    """A TCP client endpoint for ``host:port`` (IPv4, IPv6 or a name)."""
    from consoleproxy.protocol import default_backend_endpoint
    from consoleproxy.registry import parse_backend

    bracketed = f"[{host}]" if ":" in host else host
    return default_backend_endpoint(reactor, parse_backend(f"tcp:{bracketed}:{port}"))


# -- the service ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listening:
    """One open listener: the endpoint string it came from, TLS or not, and its address."""

    description: str
    tls: bool
    host: str
    port: int | None
    port_object: Any


class ConsoleProxy:
    """Everything one consoleproxy process serves."""

    def __init__(
        self,
        reactor: Any,
        config: Config,
        *,
        state_dir: Path | None = None,
        settings: ProxySettings | None = None,
        confinement: Confinement | None = None,
        hidden: Sequence[str | Path] = (),
    ) -> None:
        self.reactor = reactor
        self.config = config
        self.settings = settings or parse_proxy_settings(config.proxy)
        self.state_dir = state_dir or default_state_dir()
        # Console programs never see the state directory (the TLS key) or ``hidden`` (the
        # configuration, with its password hashes).
        self.confinement = confinement or console_confinement(
            self.settings, [self.state_dir, *hidden])
        self.confinement.hide(*(path for path in (self.settings.certificate,
                                                  self.settings.private_key) if path))
        self._started: set[str] = set()
        self._commands: set[str] = set()
        # Until listen() binds, locations name the listeners the settings would open.
        self.registry = Registry(config, planned_listeners(self.settings.listen))
        self.sessions = SessionStore(config.limits, reactor.seconds, users=config.users)
        self.text_consoles: dict[str, HostedTextConsole] = {}
        # One scheduler for every hosted console: they take turns at the emulator, so a
        # hostile guest slows only its own console.
        self.feed_scheduler = FeedScheduler(reactor,
                                            turn_seconds=DEFAULT_LIMITS.feed_turn_seconds)
        for console in config.consoles:
            backend = console.backend
            if backend.is_text_source and backend.spec not in self.text_consoles:
                source = console_source(reactor, backend, self.settings.columns,
                                        self.settings.rows, self.confinement)
                if backend.kind is BackendKind.COMMAND:
                    self._commands.add(backend.spec)
                vm = self.registry.vm_by_uuid(console.vm_uuid)
                name = vm.name_label if vm is not None else backend.spec
                self.text_consoles[backend.spec] = HostedTextConsole(
                    reactor, source, columns=self.settings.columns, rows=self.settings.rows,
                    name=name, stay=True, scheduler=self.feed_scheduler,
                )
        consoles: dict[str, TextConsole] = dict(self.text_consoles)
        self.relays = (RelayThread(lambda call: reactor.callFromThread(call))
                       if self.settings.relay_thread else None)
        self.factory = ConsoleProxyFactory(
            reactor,
            self.registry,
            self.sessions,
            text_consoles=consoles,
            limits=fit_connection_cap(config.limits, reserved=64 + 4 * len(consoles)),
            max_sessions_per_console=self.settings.max_sessions_per_console,
            websocket=WebSocketSettings(
                ping_interval=self.settings.websocket_ping_interval,
                idle_timeout=self.settings.websocket_idle_timeout,
                allowed_origins=self.settings.websocket_allowed_origins,
            ),
            novnc_dir=self.settings.novnc_dir,
            relays=self.relays,
        )
        self.listening: list[Listening] = []

    def start_consoles(self, *, commands: bool = True) -> None:
        """Start the hosted text consoles not started yet, so output is consumed with nobody
        watching; ``commands=False`` leaves ``command:`` ones for later (after dropping root,
        while devices are opened before)."""
        for spec, console in self.text_consoles.items():
            if spec in self._started:
                continue
            if not commands and spec in self._commands:
                continue
            self._started.add(spec)
            console.start()

    def tls_options(self) -> ServerTLS:
        """TLS options from the configured certificate, or a generated self-signed one."""
        settings = self.settings
        if settings.certificate is not None:
            return certificate_options(settings.certificate, settings.private_key,
                                       settings.tls_minimum)
        cert, key = ensure_certificate(self.state_dir, self.config.host.address,
                                       self.config.host.name_label)
        return certificate_options(cert, key, settings.tls_minimum)

    @defer.inlineCallbacks
    def listen(self, descriptions: Sequence[str] | None = None) -> Any:
        """Open every listener (the settings' when ``descriptions`` is None); all or none."""
        opened: list[Listening] = []
        try:
            for description in descriptions or self.settings.listen:
                split = split_tls_endpoint(description)
                factory: Any = self.factory
                if split is not None:
                    tcp_description, parameters = split
                    if "privateKey" in parameters:
                        self.confinement.hide(parameters["privateKey"],
                                              parameters.get("certKey", parameters["privateKey"]))
                        options = certificate_options(
                            parameters.get("certKey", parameters["privateKey"]),
                            parameters["privateKey"], self.settings.tls_minimum)
                    else:
                        options = self.tls_options()
                    factory = TLSMemoryBIOFactory(options, False, self.factory)
                    factory.noisy = False
                    endpoint = serverFromString(self.reactor, tcp_description)
                else:
                    endpoint = serverFromString(self.reactor, description)
                port = yield endpoint.listen(factory)
                address = port.getHost()
                opened.append(Listening(
                    description, split is not None, str(getattr(address, "host", "")
                                                        or getattr(address, "name", "")),
                    getattr(address, "port", None), port,
                ))
        except BaseException:
            for listening in opened:
                yield listening.port_object.stopListening()
            raise
        self.listening.extend(opened)
        # Locations name a listener that exists, with the port it was given.
        self.registry.listening_on([Listener(item.tls, item.port) for item in self.listening
                                    if item.port is not None])
        return opened

    @defer.inlineCallbacks
    def stop(self) -> Any:
        """Stop listening, the password-check threads and every hosted console."""
        listening, self.listening = self.listening, []
        for item in listening:
            yield item.port_object.stopListening()
        if self.relays is not None:
            self.relays.stop()
        self.factory.stop()
        for console in self.text_consoles.values():
            console.stop()
        self.confinement.close()
