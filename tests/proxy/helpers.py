"""Shared fixtures of the consoleproxy adapter tests: a small configuration, fake transports,
a fake console source and a fake client endpoint."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from twisted.internet import defer
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport

from consoleproxy.auth import SessionStore, hash_password
from consoleproxy.logins import CheckRunner, PasswordLogins, RunNow
from consoleproxy.protocol import ConsoleProxyFactory, FrontDoorProtocol
from consoleproxy.registry import Config, Registry, parse_config
from consoleproxy.service import HostedTextConsole
from vncterm.backends.memory import MemorySource

PASSWORD = "secret"
#: A cheap hash, so tests that log in stay fast.
PASSWORD_HASH = hash_password(PASSWORD, n=16)

GUEST_VM = "11111111-1111-4111-8111-111111111111"
RFB_TEXT = "22222222-2222-4222-8222-222222222222"
VT100_TEXT = "33333333-3333-4333-8333-333333333333"
HVM_VM = "44444444-4444-4444-8444-444444444444"
RFB_RELAY = "55555555-5555-4555-8555-555555555555"
HALTED_VM = "66666666-6666-4666-8666-666666666666"
HALTED_CONSOLE = "77777777-7777-4777-8777-777777777777"
TEXT_BACKEND = "command:/bin/true"

CONFIG_TEXT = f"""
[host]
uuid = "99999999-9999-4999-8999-999999999999"
name_label = "testhost"
address = "127.0.0.1"

[[users]]
name = "root"
password_hash = "{PASSWORD_HASH}"

[[vms]]
uuid = "{GUEST_VM}"
name_label = "guest"
  [[vms.consoles]]
  uuid = "{RFB_TEXT}"
  protocol = "rfb"
  backend = "{TEXT_BACKEND}"
  [[vms.consoles]]
  uuid = "{VT100_TEXT}"
  protocol = "vt100"
  backend = "{TEXT_BACKEND}"

[[vms]]
uuid = "{HVM_VM}"
name_label = "hvm"
  [[vms.consoles]]
  uuid = "{RFB_RELAY}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5901"

[[vms]]
uuid = "{HALTED_VM}"
name_label = "halted"
power_state = "Halted"
  [[vms.consoles]]
  uuid = "{HALTED_CONSOLE}"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5902"
"""


class RecordingTransport(StringTransport):
    """A StringTransport that also keeps each write separately and can half-close."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.writes: list[bytes] = []
        self.write_closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(data)
        super().write(data)

    def loseWriteConnection(self) -> None:
        self.write_closed = True


class FakeEndpoint:
    """A client endpoint whose connection attempts the test completes or fails by hand."""

    def __init__(self) -> None:
        self.attempts: list[tuple[Any, defer.Deferred[Any]]] = []

    def connect(self, factory: Any) -> defer.Deferred[Any]:
        attempt: defer.Deferred[Any] = defer.Deferred()
        self.attempts.append((factory, attempt))
        return attempt

    def succeed(self, index: int = -1) -> tuple[Protocol, RecordingTransport]:
        factory, attempt = self.attempts[index]
        protocol = factory.buildProtocol(None)
        transport = RecordingTransport()
        protocol.makeConnection(transport)
        attempt.callback(protocol)
        return protocol, transport


class Harness:
    """A factory over the test configuration with an in-memory clock and console."""

    def __init__(self, *, config: Config | None = None, connected: bool = True,
                 runner: CheckRunner | None = None, **factory_options: Any) -> None:
        self.clock = MemoryReactorClock()
        self.config = config or parse_config(CONFIG_TEXT)
        self.registry = Registry(self.config)
        self.sessions = SessionStore(self.config.limits, self.clock.seconds,
                                     users=self.config.users)
        self.source = MemorySource(connected=connected)
        self.console = HostedTextConsole(self.clock, self.source, name="guest", stay=True)
        self.console.start()
        self.endpoint = FakeEndpoint()
        # Password checks run at once on this thread unless a test holds them.
        self.logins = PasswordLogins(self.clock, self.sessions, self.config.limits,
                                     runner or RunNow())
        self.factory = ConsoleProxyFactory(
            self.clock, self.registry, self.sessions,
            text_consoles={TEXT_BACKEND: self.console},
            backend_endpoint=lambda backend: self.endpoint,
            logins=self.logins,
            **factory_options,
        )

    def login(self) -> str:
        return self.sessions.login("root", PASSWORD)

    def connect(self) -> tuple[FrontDoorProtocol, RecordingTransport]:
        protocol = self.factory.buildProtocol(None)
        transport = RecordingTransport()
        protocol.makeConnection(transport)
        return protocol, transport


def with_limits(config: Config, **limits: Any) -> Config:
    """``config`` with some limits changed."""
    return replace(config, limits=replace(config.limits, **limits))
