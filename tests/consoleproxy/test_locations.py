"""Console locations name a listener that exists (TLS first), unless [host] says otherwise."""

from __future__ import annotations

import pytest

from consoleproxy.locations import Listener, location_base, planned_listeners
from consoleproxy.registry import ConfigError, Registry, parse_config

HOST = "3c7b1b4b-80be-41b2-bd79-f645e19e47e1"
CONSOLE = "00000000-0000-0000-0000-000000000002"
CONFIG = f"""
[host]
uuid = "{HOST}"
name_label = "h"
address = "127.0.0.1"
{{host_extra}}
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "v"
  [[vms.consoles]]
  uuid = "{CONSOLE}"
  protocol = "rfb"
  backend = "serial-unix:/run/ttyS0"
"""


def location(listeners: list[Listener], host_extra: str = "") -> str:
    registry = Registry(parse_config(CONFIG.format(host_extra=host_extra)), listeners)
    return registry.location(registry.consoles[0])


@pytest.mark.parametrize(
    ("listeners", "expected"),
    [
        # --listen tcp:0 only: the bound plain port, over http (nothing serves TLS).
        ([Listener(False, 41234)], "http://127.0.0.1:41234/"),
        # The demo's defaults: the TLS listener wins.
        ([Listener(False, 8080), Listener(True, 8443)], "https://127.0.0.1:8443/"),
        ([Listener(True, 8443), Listener(True, 9443)], "https://127.0.0.1:8443/"),
        # Default ports are left out, as in xapi's locations.
        ([Listener(True, 443)], "https://127.0.0.1/"),
        ([Listener(False, 80)], "http://127.0.0.1/"),
        # Nothing known: xapi's form.
        ([], "https://127.0.0.1/"),
    ],
)
def test_location_names_a_bound_listener(listeners: list[Listener], expected: str) -> None:
    """The scheme is https when a TLS listener exists, else http, with that listener's port."""
    assert location(listeners) == f"{expected}console?ref=OpaqueRef:{CONSOLE}"


def test_host_settings_override_the_listeners() -> None:
    """[host] location_port and location_scheme win (a port forward, a TLS terminator)."""
    plain = [Listener(False, 8080)]
    assert location(plain, "location_port = 9000").startswith("http://127.0.0.1:9000/")
    assert location(plain, 'location_scheme = "https"').startswith("https://127.0.0.1/")
    assert location(plain, 'location_scheme = "https"\nlocation_port = 8443').startswith(
        "https://127.0.0.1:8443/")
    assert location([Listener(True, 8443)], 'location_scheme = "http"').startswith(
        "http://127.0.0.1/")


def test_location_scheme_is_checked() -> None:
    """A location_scheme other than https or http is a configuration error naming the key."""
    with pytest.raises(ConfigError) as caught:
        parse_config(CONFIG.format(host_extra='location_scheme = "ftp"'))
    assert caught.value.key == "host.location_scheme"


def test_registry_follows_the_listeners_it_is_told_about() -> None:
    """Once listeners are bound, locations name their ports (tcp:0 becomes the real port)."""
    registry = Registry(parse_config(CONFIG.format(host_extra="")),
                        planned_listeners(["tcp:0:interface=127.0.0.1"]))
    assert registry.location(registry.consoles[0]).startswith("http://127.0.0.1/")
    registry.listening_on([Listener(False, 50123)])
    assert registry.location(registry.consoles[0]).startswith("http://127.0.0.1:50123/")


def test_ipv6_addresses_are_bracketed_before_the_port() -> None:
    """An IPv6 host address is bracketed, then the port follows."""
    base = location_base("fe80::1", [Listener(True, 8443)])
    assert base.url("OpaqueRef:x") == "https://[fe80::1]:8443/console?ref=OpaqueRef:x"


@pytest.mark.parametrize(
    ("descriptions", "expected"),
    [
        (["tcp:8080:interface=127.0.0.1", "ssl:8443:interface=127.0.0.1"],
         (Listener(False, 8080), Listener(True, 8443))),
        (["tcp:port=8081", "tcp6:8082:interface=\\:\\:1"],
         (Listener(False, 8081), Listener(False, 8082))),
        (["ssl:443:privateKey=/etc/k.pem:certKey=/etc/c.pem"], (Listener(True, 443),)),
        (["tcp:0:interface=127.0.0.1"], (Listener(False, None),)),
        (["unix:/run/cp.sock", "systemd:domain=INET:index=0"], ()),
        (["tcp:notaport"], (Listener(False, None),)),
    ],
)
def test_planned_listeners_read_endpoint_strings(descriptions: list[str],
                                                 expected: tuple[Listener, ...]) -> None:
    """console-list learns TLS and ports from the configured endpoint strings, binding nothing."""
    assert planned_listeners(descriptions) == expected
