"""The TOML configuration, console lookups from request queries, and location URLs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from consoleproxy.auth import verify_password
from consoleproxy.locations import Listener
from consoleproxy.registry import (
    BackendKind,
    ConfigError,
    ConsoleLookupError,
    ConsoleNotFound,
    ConsoleProtocol,
    NotRunningHere,
    PowerState,
    Registry,
    load_config,
    parse_backend,
    parse_config,
)

SAMPLE = Path(__file__).parent.parent.parent / "samples" / "consoleproxy.toml"
HOST = "3c7b1b4b-80be-41b2-bd79-f645e19e47e1"
DEMO_VM = "f4029d84-2d86-4d45-b6b1-1fb65d2a9dc3"
DEMO_RFB = "76825670-6b1e-439b-b2c1-eccaa11fbc0f"
DEMO_VT100 = "1bc66aa1-80c7-4a57-9e34-3508fc972af0"
DOM0 = "75f68bd1-26b2-46ef-a943-90c1e2d39122"
DOM0_RFB = "abfd2401-6db1-4023-84c3-d1c406713188"
NO_VNC_VM = "fd8b34a7-9cc0-4d45-8655-9a7666376e3f"
NO_VNC_RFB = "874952d1-1967-4542-9cad-09d49dfb4c5f"
NO_VNC_VT100 = "753f9951-8e1d-452e-8ca9-9a892e8ca3d6"
HVM_RFB = "4ff1f703-c446-4fbc-af40-eef2302dfddc"
HALTED_VM = "16098c9c-974a-43fd-b8a0-abf144d2de04"

MINIMAL = f"""
[host]
uuid = "{HOST}"
name_label = "h"
address = "192.168.0.1"
"""


@pytest.fixture(scope="module")
def registry() -> Registry:
    """The registry of the sample configuration, listening as `serve` does by default."""
    return Registry(load_config(SAMPLE), [Listener(False, 8080), Listener(True, 8443)])


def config_error(text: str) -> ConfigError:
    """The ConfigError that ``text`` provokes."""
    with pytest.raises(ConfigError) as caught:
        parse_config(text)
    return caught.value


def test_sample_loads(registry: Registry) -> None:
    """The documented sample is valid and describes host, users, VMs and consoles."""
    config = registry.config
    assert config.host.uuid == HOST
    assert [(u.name, u.role.value) for u in config.users] == [
        ("root", "pool-admin"), ("alice", "vm-operator")]
    assert verify_password("demo", config.users[0].password_hash)
    assert registry.vms[3].users == {"alice"} and registry.vms[0].users is None
    assert [vm.name_label for vm in registry.vms] == [
        "demo",
        "Control domain on host: xenhost1",
        "no-vnc",
        "hvm-guest",
        "halted",
    ]
    assert config.limits.max_sessions == 200
    assert config.limits.request_deadline == 10.0
    assert dict(config.proxy) == {}


def test_sample_demo_vm(registry: Registry) -> None:
    """The demo VM runs here with an RFB and a vt100 console over the sample guest script."""
    vm = registry.vm_by_uuid(DEMO_VM)
    assert vm is not None
    assert (vm.power_state, vm.resident_on, vm.is_control_domain) == (
        PowerState.RUNNING,
        HOST,
        False,
    )
    assert vm.domid == 1
    consoles = registry.consoles_of(vm)
    assert [(c.uuid, c.protocol) for c in consoles] == [
        (DEMO_RFB, ConsoleProtocol.RFB),
        (DEMO_VT100, ConsoleProtocol.VT100),
    ]
    assert consoles[0].backend.kind is BackendKind.COMMAND
    assert consoles[0].backend.argv == ("/bin/sh", "samples/guest-console.sh")
    assert (SAMPLE.parent / "guest-console.sh").name == "guest-console.sh"


def test_sample_control_domain(registry: Registry) -> None:
    """The control domain is found, has domid 0 and the host console."""
    dom0 = registry.control_domain()
    assert dom0 is not None and dom0.uuid == DOM0 and dom0.domid == 0
    assert [c.uuid for c in registry.consoles_of(dom0)] == [DOM0_RFB]


def test_disable_pv_vnc_leaves_only_the_vt100_console(registry: Registry) -> None:
    """A VM with disable_pv_vnc=1 has no RFB text console, only its vt100 one."""
    vm = registry.vm_by_uuid(NO_VNC_VM)
    assert vm is not None
    assert [c.uuid for c in registry.consoles_of(vm)] == [NO_VNC_VT100]
    assert registry.console_by_uuid(NO_VNC_RFB) is None
    assert [c.uuid for c in registry.config.suppressed_consoles] == [NO_VNC_RFB]
    with pytest.raises(ConsoleNotFound):
        registry.lookup({"ref": f"OpaqueRef:{NO_VNC_VM}"})


def test_disable_pv_vnc_keeps_a_relayed_vnc_server() -> None:
    """disable_pv_vnc drops only text rendered by vncterm, not a guest's own VNC server."""
    config = parse_config(
        MINIMAL
        + """
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "v"
other_config = { disable_pv_vnc = "true" }
  [[vms.consoles]]
  uuid = "00000000-0000-0000-0000-000000000002"
  protocol = "rfb"
  backend = "tcp:127.0.0.1:5900"
"""
    )
    assert len(config.consoles) == 1
    assert config.suppressed_consoles == ()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"ref": f"OpaqueRef:{DEMO_RFB}"}, DEMO_RFB),
        ({"ref": f"OpaqueRef:{DEMO_VT100}"}, DEMO_VT100),
        ({"ref": f"OpaqueRef:{DEMO_VM}"}, DEMO_RFB),
        ({"uuid": DEMO_VT100}, DEMO_VT100),
        ({"uuid": DEMO_VM.upper()}, DEMO_RFB),
        ({"uuid": DEMO_VT100, "ref": f"OpaqueRef:{DEMO_RFB}"}, DEMO_VT100),
        ({"ref": f"OpaqueRef:{DOM0}"}, DOM0_RFB),
        ({"uuid": HVM_RFB, "session_id": "x"}, HVM_RFB),
    ],
)
def test_lookup(registry: Registry, query: dict[str, str], expected: str) -> None:
    """ref= and uuid= name a console or a VM (its first RFB console); uuid= wins."""
    assert registry.lookup(query).uuid == expected


@pytest.mark.parametrize(
    ("query", "error", "status"),
    [
        ({"ref": "OpaqueRef:00000000-0000-0000-0000-000000000000"}, ConsoleNotFound, 500),
        ({"ref": DEMO_RFB}, ConsoleNotFound, 500),
        ({"uuid": "not-a-uuid"}, ConsoleNotFound, 500),
        ({"uuid": HOST}, ConsoleNotFound, 500),
        ({"uuid": "", "ref": f"OpaqueRef:{DEMO_RFB}"}, ConsoleNotFound, 500),
        ({"ref": f"OpaqueRef:{HALTED_VM}"}, ConsoleNotFound, 500),
        ({}, ConsoleNotFound, 400),
    ],
)
def test_lookup_failures(
    registry: Registry, query: dict[str, str], error: type[ConsoleLookupError], status: int
) -> None:
    """Unknown refs and uuids fail with 500 (400 if none is given)."""
    with pytest.raises(error) as caught:
        registry.lookup(query)
    assert isinstance(caught.value, LookupError)
    assert caught.value.status == status


def test_vm_not_running_here_is_500() -> None:
    """A console whose VM is halted or resident on another host cannot be opened."""
    config = parse_config(
        MINIMAL
        + """
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "paused"
power_state = "Paused"
  [[vms.consoles]]
  uuid = "00000000-0000-0000-0000-000000000002"
  protocol = "vt100"
  backend = "pty:/dev/pts/3"
[[vms]]
uuid = "00000000-0000-0000-0000-000000000003"
name_label = "elsewhere"
resident_on = "00000000-0000-0000-0000-0000000000ff"
  [[vms.consoles]]
  uuid = "00000000-0000-0000-0000-000000000004"
  protocol = "rfb"
  backend = "unix:/run/vnc.sock"
"""
    )
    registry = Registry(config)
    for uuid in ("00000000-0000-0000-0000-000000000002", "00000000-0000-0000-0000-000000000004"):
        with pytest.raises(NotRunningHere) as caught:
            registry.lookup({"uuid": uuid})
        assert caught.value.status == 500


def test_location_is_exact(registry: Registry) -> None:
    """Locations are https://<address>:<TLS listener's port>/console?ref=OpaqueRef:<uuid>."""
    console = registry.console_by_uuid(DEMO_RFB)
    assert console is not None
    assert registry.location(console) == f"https://127.0.0.1:8443/console?ref=OpaqueRef:{DEMO_RFB}"


@pytest.mark.parametrize(
    ("address", "prefix"),
    [
        ("192.168.0.1", "https://192.168.0.1/"),
        ("fe80:0:0::1", "https://[fe80::1]/"),
        ("xenhost1.example.com", "https://xenhost1.example.com/"),
    ],
)
def test_location_address_forms(address: str, prefix: str) -> None:
    """IPv4, IPv6 (bracketed, normalised) and host names all make valid locations."""
    text = (
        MINIMAL.replace("192.168.0.1", address)
        + """
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "v"
  [[vms.consoles]]
  uuid = "00000000-0000-0000-0000-000000000002"
  protocol = "rfb"
  backend = "serial-unix:/run/ttyS0"
"""
    )
    registry = Registry(parse_config(text))
    assert registry.location(registry.consoles[0]) == (
        prefix + "console?ref=OpaqueRef:00000000-0000-0000-0000-000000000002"
    )


def test_refs_and_lookups_by_ref(registry: Registry) -> None:
    """Refs are OpaqueRef:<uuid>, and lookups by ref find only objects of the right class."""
    console = registry.console_by_ref(f"OpaqueRef:{DEMO_RFB}")
    assert console is not None and console.ref == f"OpaqueRef:{DEMO_RFB}"
    assert registry.vm_by_ref(f"OpaqueRef:{DEMO_RFB}") is None
    assert registry.vm_by_ref(DEMO_VM) is None
    assert registry.config.host.ref == f"OpaqueRef:{HOST}"
    assert [vm.uuid for vm in registry.vms_by_name_label("demo")] == [DEMO_VM]
    assert registry.vms_by_name_label("nope") == ()
    hash(console)  # records can key dictionaries


@pytest.mark.parametrize(
    ("spec", "fields"),
    [
        ("command:/bin/sh -c 'echo hi'", {"argv": ("/bin/sh", "-c", "echo hi")}),
        ("pty:/dev/pts/3", {"path": "/dev/pts/3"}),
        ("tcp:127.0.0.1:5901", {"host": "127.0.0.1", "port": 5901}),
        ("tcp:[::1]:5901", {"host": "::1", "port": 5901}),
        ("unix:/run/vnc.sock", {"path": "/run/vnc.sock"}),
        ("serial-tcp:localhost:4555", {"host": "localhost", "port": 4555}),
        ("serial-unix:/run/ttyS0", {"path": "/run/ttyS0"}),
    ],
)
def test_backend_specs(spec: str, fields: dict[str, object]) -> None:
    """Every backend kind parses into its parts."""
    backend = parse_backend(spec)
    assert backend.spec == spec
    for name, value in fields.items():
        assert getattr(backend, name) == value
    assert backend.is_text_source == (backend.kind not in (BackendKind.TCP, BackendKind.UNIX))


@pytest.mark.parametrize(
    "spec",
    [
        "vnc:1",
        "command:",
        "command:'unterminated",
        "pty:dev/pts/3",
        "tcp:127.0.0.1",
        "tcp:::1:5900",
        "tcp:127.0.0.1:0",
        "tcp:127.0.0.1:99999",
        "tcp::5900",
        "serial-tcp:[::1]5900",
        "unix:",
    ],
)
def test_bad_backend_specs(spec: str) -> None:
    """Malformed backend strings are refused."""
    with pytest.raises(ValueError):
        parse_backend(spec)


def vm_with(console_lines: str = "", vm_lines: str = "") -> str:
    """MINIMAL plus one VM (extra lines) with one console (extra lines)."""
    return (
        MINIMAL
        + f"""
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "v"
{vm_lines}
  [[vms.consoles]]
  uuid = "00000000-0000-0000-0000-000000000002"
  protocol = "rfb"
  backend = "pty:/dev/pts/1"
{console_lines}
"""
    )


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[host]\nuuid = 1", "host.uuid"),
        ("x = 1", "x"),
        ("", "host"),
        (MINIMAL + "colour = 'blue'", "host.colour"),
        (MINIMAL.replace("192.168.0.1", "not an address!"), "host.address"),
        (MINIMAL.replace(HOST, "nope"), "host.uuid"),
        (MINIMAL + "location_port = 0", "host.location_port"),
        (MINIMAL + "[limits]\nmax_sessions = 0", "limits.max_sessions"),
        (MINIMAL + "[limits]\nmax_sessions = 1.5", "limits.max_sessions"),
        (MINIMAL + "[limits]\nbogus = 1", "limits.bogus"),
        (MINIMAL + "[[users]]\nname = 'a'\npassword_hash = 'x'", "users[0].password_hash"),
        (MINIMAL + "[[users]]\nname = 'a:b'\npassword_hash = 'x'", "users[0].name"),
        (MINIMAL + "[[users]]\npassword_hash = 'x'", "users[0].name"),
        ("users = 3\n" + MINIMAL, "users"),
        (vm_with(vm_lines="power_state = 'On'"), "vms[0].power_state"),
        (vm_with(vm_lines="is_control_domain = 'yes'"), "vms[0].is_control_domain"),
        (vm_with(vm_lines="domid = -2"), "vms[0].domid"),
        (vm_with(vm_lines="resident_on = 'h'"), "vms[0].resident_on"),
        (vm_with(vm_lines="other_config = { a = 1 }"), "vms[0].other_config.a"),
        (vm_with(vm_lines="name_lable = 'typo'"), "vms[0].name_lable"),
        (
            vm_with(vm_lines="is_control_domain = true\npower_state = 'Halted'"),
            "vms[0].power_state",
        ),
        (vm_with("  protocol2 = 'x'"), "vms[0].consoles[0].protocol2"),
        (vm_with().replace('"rfb"', '"rdp"'), "vms[0].consoles[0].protocol"),
        (vm_with().replace("pty:/dev/pts/1", "ftp:x"), "vms[0].consoles[0].backend"),
        (
            vm_with().replace("000000000002", "000000000001"),
            "vms[0].consoles[0].uuid",
        ),
        (
            vm_with().replace("00000000-0000-0000-0000-000000000002", HOST.upper()),
            "vms[0].consoles[0].uuid",
        ),
    ],
)
def test_config_errors_name_the_key(text: str, key: str) -> None:
    """Every invalid setting is reported with the key that holds it."""
    error = config_error(text)
    assert error.key == key
    assert str(error).startswith(key + ":")


def test_invalid_toml_is_a_config_error() -> None:
    """A TOML syntax error is a ConfigError naming the source."""
    with pytest.raises(ConfigError, match=re.escape("cfg.toml: not valid TOML")):
        parse_config("[host", source="cfg.toml")


def test_two_control_domains_are_refused() -> None:
    """Only one control domain may live on this host."""
    dom0 = """
[[vms]]
uuid = "00000000-0000-0000-0000-00000000000{n}"
name_label = "dom0"
is_control_domain = true
"""
    error = config_error(MINIMAL + dom0.format(n=1) + dom0.format(n=2))
    assert error.key == "vms"


def test_defaults_for_vms() -> None:
    """Running VMs default to this host and sequential domids; halted ones to nowhere."""
    config = parse_config(
        MINIMAL
        + """
[[vms]]
uuid = "00000000-0000-0000-0000-000000000001"
name_label = "a"
domid = 7
[[vms]]
uuid = "00000000-0000-0000-0000-000000000002"
name_label = "b"
[[vms]]
uuid = "00000000-0000-0000-0000-000000000003"
name_label = "c"
power_state = "Halted"
"""
    )
    assert [(vm.domid, vm.resident_on) for vm in config.vms] == [
        (7, HOST),
        (8, HOST),
        (-1, None),
    ]
