"""Least privilege in the front door (consoleproxy.privileges and the [proxy] keys): the demo
kept off the network, users checked before anything opens, consoles started in order."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock

from consoleproxy import privileges
from consoleproxy.registry import ConfigError, parse_config
from consoleproxy.service import ConsoleProxy, Listening, parse_proxy_settings
from tests.proxy.helpers import CONFIG_TEXT
from vncterm.limits import ConsoleLimits
from vncterm.sandbox import Confinement, ConfinementPolicy, SandboxMode

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def listening(host: str, port: int | None = 8080) -> Listening:
    return Listening(f"tcp:{port}", False, host, port, None)


def test_only_loopback_and_unix_listeners_count_as_local() -> None:
    """Listeners on any or a routable address are exposed; loopback (v4, v6, v4-mapped) and
    UNIX sockets are not."""
    local = [listening("127.0.0.1"), listening("127.8.9.10"), listening("::1"),
             listening("::ffff:127.0.0.1"), listening("/run/cp.sock", None)]
    assert privileges.exposed_listeners(local) == []
    exposed = [listening("0.0.0.0"), listening("::", 8443), listening("192.0.2.7"),
               listening("fe80::1%eth0")]
    assert privileges.exposed_listeners(exposed) == [
        "0.0.0.0:8080", "[::]:8443", "192.0.2.7:8080", "[fe80::1%eth0]:8080"]


@dataclass
class FakeProxy:
    """What settle() uses of a ConsoleProxy: listeners, console starts, the confinement."""

    listening: list[Listening]
    starts: list[bool] = field(default_factory=list)
    confinement: Any = None

    def start_consoles(self, *, commands: bool = True) -> None:
        self.starts.append(commands)


class SettledConfinement:
    def __init__(self) -> None:
        self.settled = 0

    def settle(self) -> Any:
        from vncterm.privileges import lookup_account
        from vncterm.sandbox import Plan, Tools

        self.settled += 1
        nobody = lookup_account("nobody")
        return Plan(nobody, nobody, Tools(None, None, None), None, False, False)


def test_demo_on_an_exposed_listener_is_refused_unless_allowed() -> None:
    """The demo (public credentials) refuses a listener other hosts reach, saying where and
    how to allow it, and starts no console; the flag or a real configuration allows it."""
    proxy: Any = FakeProxy([listening("127.0.0.1"), listening("0.0.0.0", 8443)],
                           confinement=SettledConfinement())
    with pytest.raises(privileges.DemoExposed, match=r"0\.0\.0\.0:8443.*--allow-demo-on-network"):
        privileges.settle(proxy, None, demo=True, allow_demo_on_network=False)
    assert proxy.starts == [] and proxy.confinement.settled == 0
    privileges.settle(proxy, None, demo=True, allow_demo_on_network=True)
    assert proxy.starts == [False, True]
    configured: Any = FakeProxy([listening("0.0.0.0")], confinement=SettledConfinement())
    privileges.settle(configured, None, demo=False, allow_demo_on_network=False)
    assert configured.starts == [False, True]


def test_devices_open_before_commands_start_and_commands_after_the_confinement_settled() -> None:
    """pty and serial consoles open first (before root is dropped), command consoles only
    once the launcher has decided how they run."""
    order: list[str] = []

    class Ordered(SettledConfinement):
        def settle(self) -> Any:
            order.append("settle")
            return super().settle()

    class OrderedProxy(FakeProxy):
        def start_consoles(self, *, commands: bool = True) -> None:
            order.append("commands" if commands else "devices")

    proxy: Any = OrderedProxy([listening("127.0.0.1")], confinement=Ordered())
    privileges.settle(proxy, None, demo=True, allow_demo_on_network=False)
    assert order == ["devices", "settle", "commands"]


def test_an_unknown_user_is_refused_before_anything_opens() -> None:
    """--user naming no user is an error naming it; so is an unknown console user."""
    settings = parse_proxy_settings({})
    with pytest.raises(privileges.PrivilegeError, match="no-such-user-x"):
        privileges.prepare(settings, "no-such-user-x")
    with pytest.raises(privileges.PrivilegeError, match="no-such-user-y"):
        privileges.prepare(parse_proxy_settings({"user": "no-such-user-y"}), None)
    if os.geteuid() == 0:
        with pytest.raises(privileges.ConfinementError, match="no-such-user-z"):
            privileges.prepare(parse_proxy_settings({"console_user": "no-such-user-z"}), None)


@needs_root
def test_console_user_must_be_startable_by_the_dropped_proxy() -> None:
    """A proxy dropping to one user cannot start consoles as another: refused up front."""
    settings = parse_proxy_settings({"console_user": "daemon"})
    with pytest.raises(privileges.ConfinementError, match="only root can start programs"):
        privileges.prepare(settings, "nobody")
    account = privileges.prepare(parse_proxy_settings({"console_user": "nobody"}), "nobody")
    assert account is not None and account.name == "nobody"
    assert privileges.prepare(parse_proxy_settings({}), None) is None


def test_privilege_keys_of_the_proxy_table_are_checked() -> None:
    """user, console_user, console_sandbox and console_limits are read and checked by name."""
    settings = parse_proxy_settings({
        "user": "consoleproxy", "console_user": "nobody", "console_sandbox": "required",
        "console_limits": {"max_processes": 64, "max_cpu_seconds": 600}})
    assert settings.user == "consoleproxy" and settings.console_user == "nobody"
    assert settings.console_sandbox is SandboxMode.REQUIRED
    assert settings.console_limits == ConsoleLimits(max_processes=64, max_cpu_seconds=600)
    assert parse_proxy_settings({}).console_sandbox is SandboxMode.AUTO
    for table, key in (({"user": ""}, "proxy.user"), ({"console_user": 3}, "proxy.console_user"),
                       ({"console_sandbox": "maybe"}, "proxy.console_sandbox"),
                       ({"console_limits": {"max_files": 3}}, "proxy.console_limits.max_files"),
                       ({"console_limits": {"max_processes": 0}},
                        "proxy.console_limits.max_processes"),
                       ({"console_limits": 5}, "proxy.console_limits")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_proxy_settings(table)


def test_command_consoles_are_confined_and_never_see_the_state_or_configuration(
        tmp_path: Path) -> None:
    """The proxy's command consoles get its confinement, which hides the state directory and
    the configuration file; start_consoles starts each console once."""
    config_file = tmp_path / "proxy.toml"
    config_file.write_text(CONFIG_TEXT)
    proxy = ConsoleProxy(MemoryReactorClock(), parse_config(CONFIG_TEXT),
                         state_dir=tmp_path / "state", hidden=[config_file])
    assert isinstance(proxy.confinement, Confinement)
    policy: ConfinementPolicy = proxy.confinement.policy
    assert str(tmp_path / "state") in policy.hidden and str(config_file) in policy.hidden
    source: Any = next(iter(proxy.text_consoles.values())).source
    assert source._launcher is proxy.confinement
    started: list[str] = []
    for spec, console in proxy.text_consoles.items():
        console.start = lambda spec=spec: started.append(spec)  # type: ignore[method-assign]
    proxy.start_consoles(commands=False)
    assert started == []
    proxy.start_consoles()
    proxy.start_consoles()
    assert started == list(proxy.text_consoles)


def test_tls_keys_are_hidden_from_console_programs(tmp_path: Path) -> None:
    """Certificate and key files, from the configuration or from an ssl: endpoint, join the
    paths console programs never see."""
    from consoleproxy.tls import ensure_certificate

    cert, key = ensure_certificate(tmp_path / "made", "127.0.0.1", "h")
    text = CONFIG_TEXT.replace('address = "127.0.0.1"', 'address = "127.0.0.1"\n[proxy]\n'
                               f'certificate = "{cert}"\nprivate_key = "{key}"', 1)
    proxy = ConsoleProxy(MemoryReactorClock(), parse_config(text), state_dir=tmp_path / "state")
    assert {str(cert), str(key)} <= set(proxy.confinement.policy.hidden)
    other_cert, other_key = ensure_certificate(tmp_path / "other", "127.0.0.1", "h")
    plain = ConsoleProxy(MemoryReactorClock(), parse_config(CONFIG_TEXT),
                         state_dir=tmp_path / "state")
    plain.listen([f"ssl:0:interface=127.0.0.1:privateKey={other_key}:certKey={other_cert}"])
    assert {str(other_cert), str(other_key)} <= set(plain.confinement.policy.hidden)
