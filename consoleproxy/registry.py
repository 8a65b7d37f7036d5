"""The console registry: the TOML configuration (host, users, VMs, consoles and their
backends), lookups of a console request's ``ref=``/``uuid=``, and console location URLs.

Configuration shape (see ``samples/consoleproxy.toml`` for a documented example)::

    [host]                      uuid, name_label, address, [location_port], [location_scheme]
    [limits]                    optional overrides of consoleproxy.limits.Limits fields
    [proxy]                     free-form; read by the service, not checked here
    [[users]]                   name, password_hash, [role]
    [[vms]]                     uuid, name_label, [power_state], [resident_on],
                                [is_control_domain], [domid], [other_config], [users]
      [[vms.consoles]]          uuid, protocol ("rfb" | "vt100"), backend, [other_config]

Every unknown key is an error naming it, so a typo never silently drops a setting. A user's
``role`` is one of xapi's (``consoleproxy.roles``; vm-operator when absent); a VM's ``users``
lists the only users below pool-operator who may see and open it, each a configured user.

References are derived: the ref of an object with uuid U is ``OpaqueRef:U`` (unlike xapi,
whose refs are unrelated to uuids); uuids are therefore unique across hosts, VMs and consoles.

A VM whose ``other_config`` has ``disable_pv_vnc`` set to a true value ("1", "true", "yes",
"on") gets no RFB console rendered from a text source (as xapi starts no vncterm for it);
its vt100 consoles and RFB consoles relayed from a real VNC server are kept.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import shlex
import tomllib
import uuid as uuidlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from consoleproxy.auth import OPAQUE_REF_PREFIX, User, parse_password_hash
from consoleproxy.limits import Limits
from consoleproxy.locations import SCHEMES, Listener, location_base
from consoleproxy.roles import DEFAULT_ROLE, Role

__all__ = [
    "NULL_REF",
    "VM",
    "BackendKind",
    "BackendSpec",
    "Config",
    "ConfigError",
    "Console",
    "ConsoleLookupError",
    "ConsoleNotFound",
    "ConsoleProtocol",
    "Host",
    "NotRunningHere",
    "PowerState",
    "Registry",
    "load_config",
    "parse_backend",
    "parse_config",
]

#: The XenAPI's reference to nothing (e.g. ``resident_on`` of a halted VM).
NULL_REF: Final = "OpaqueRef:NULL"

_TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
_HOST_LABEL = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


class ConfigError(ValueError):
    """The configuration is invalid; ``key`` names the offending key (e.g. ``vms[1].uuid``)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}" if key else message)
        self.key = key
        self.message = message


class ConsoleLookupError(LookupError):
    """A console request names no console we can serve; reply with ``status`` and close."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(status, reason)
        self.status = status
        self.reason = reason

    def __str__(self) -> str:
        return f"{self.status} {self.reason}"


class ConsoleNotFound(ConsoleLookupError):
    """No console (or VM with a console) has that ref or uuid."""


class NotRunningHere(ConsoleLookupError):
    """The console's VM is not running on this host."""


class PowerState(enum.Enum):
    """The XenAPI ``vm_power_state`` values."""

    HALTED = "Halted"
    PAUSED = "Paused"
    RUNNING = "Running"
    SUSPENDED = "Suspended"


class ConsoleProtocol(enum.Enum):
    """The XenAPI ``console_protocol`` values we serve."""

    #: A graphical console: RFB (VNC) after the CONNECT reply.
    RFB = "rfb"
    #: A text console: the raw character stream after the CONNECT reply.
    VT100 = "vt100"


class BackendKind(enum.Enum):
    """Where a console's bytes come from (the prefix of its ``backend`` string)."""

    #: ``command:<shell words>``: a program run in a pty (text).
    COMMAND = "command"
    #: ``pty:/dev/pts/N``: an existing pty (text).
    PTY = "pty"
    #: ``tcp:<host>:<port>``: a stream already speaking the console's protocol, relayed as is
    #: (for an RFB console, an external VNC server such as a guest's qemu).
    TCP = "tcp"
    #: ``unix:<path>``: like ``tcp:`` over a UNIX socket.
    UNIX = "unix"
    #: ``serial-tcp:<host>:<port>``: a guest serial line over TCP (text).
    SERIAL_TCP = "serial-tcp"
    #: ``serial-unix:<path>``: a guest serial line over a UNIX socket (text).
    SERIAL_UNIX = "serial-unix"


_TEXT_SOURCES: Final = frozenset(
    {BackendKind.COMMAND, BackendKind.PTY, BackendKind.SERIAL_TCP, BackendKind.SERIAL_UNIX}
)


@dataclass(frozen=True, slots=True)
class BackendSpec:
    """A parsed ``backend`` string."""

    kind: BackendKind
    #: The string as written in the configuration.
    spec: str
    #: The program and its arguments (COMMAND only).
    argv: tuple[str, ...] = ()
    #: The device or socket path (PTY, UNIX, SERIAL_UNIX).
    path: str = ""
    #: Host and port (TCP, SERIAL_TCP); an IPv6 host is stored without brackets.
    host: str = ""
    port: int = 0

    @property
    def is_text_source(self) -> bool:
        """True if the backend yields text: an RFB console over it is rendered by vncterm."""
        return self.kind in _TEXT_SOURCES


@dataclass(frozen=True, slots=True)
class Host:
    """This host."""

    uuid: str
    name_label: str
    #: The address clients reach this host at, as written into console locations.
    address: str
    #: The port locations name; None: the port of a listener (consoleproxy.locations).
    location_port: int | None = None
    #: "https" or "http" for locations; None: https if there is a TLS listener, else http.
    location_scheme: str | None = None

    @property
    def ref(self) -> str:
        """The host's XenAPI reference."""
        return OPAQUE_REF_PREFIX + self.uuid


@dataclass(frozen=True, slots=True)
class VM:
    """A virtual machine (or the control domain) as the XenAPI shows it."""

    uuid: str
    name_label: str
    power_state: PowerState
    #: The uuid of the host it runs on; None when not running anywhere.
    resident_on: str | None
    is_control_domain: bool
    domid: int
    other_config: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )
    #: The only users below pool-operator who may see it (``[[vms]] users``); None: anyone.
    users: frozenset[str] | None = None

    @property
    def ref(self) -> str:
        """The VM's XenAPI reference."""
        return OPAQUE_REF_PREFIX + self.uuid


@dataclass(frozen=True, slots=True)
class Console:
    """A console of a VM."""

    uuid: str
    protocol: ConsoleProtocol
    #: The uuid of the VM the console belongs to.
    vm_uuid: str
    backend: BackendSpec
    other_config: Mapping[str, str] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )

    @property
    def ref(self) -> str:
        """The console's XenAPI reference, as used in ``/console?ref=``."""
        return OPAQUE_REF_PREFIX + self.uuid


@dataclass(frozen=True, slots=True)
class Config:
    """A whole, validated configuration file."""

    host: Host
    users: tuple[User, ...]
    vms: tuple[VM, ...]
    #: Consoles in file order (a VM's consoles keep their order).
    consoles: tuple[Console, ...]
    limits: Limits
    #: The ``[proxy]`` table, left to the service to check.
    proxy: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}), hash=False)
    #: RFB text consoles left out because their VM sets ``disable_pv_vnc`` (for a log line).
    suppressed_consoles: tuple[Console, ...] = ()


class Registry:
    """Lookups over one configuration: refs, uuids, name labels, a request's console."""

    def __init__(self, config: Config, listeners: Sequence[Listener] = ()) -> None:
        """``listeners`` are the ones locations may name (see :meth:`listening_on`)."""
        self.config = config
        self.host = config.host
        self.listening_on(listeners)
        self._vms = {vm.uuid: vm for vm in config.vms}
        self._consoles = {console.uuid: console for console in config.consoles}
        self._consoles_of: dict[str, list[Console]] = {vm.uuid: [] for vm in config.vms}
        for console in config.consoles:
            self._consoles_of[console.vm_uuid].append(console)

    @property
    def vms(self) -> tuple[VM, ...]:
        """Every VM, in file order."""
        return self.config.vms

    @property
    def consoles(self) -> tuple[Console, ...]:
        """Every console, in file order."""
        return self.config.consoles

    def vm_by_uuid(self, uuid: str) -> VM | None:
        """The VM with ``uuid`` (any case), or None."""
        return self._vms.get(uuid.lower())

    def vm_by_ref(self, ref: str) -> VM | None:
        """The VM with XenAPI reference ``ref``, or None."""
        uuid = _uuid_of_ref(ref)
        return None if uuid is None else self._vms.get(uuid)

    def vms_by_name_label(self, name_label: str) -> tuple[VM, ...]:
        """Every VM labelled exactly ``name_label``."""
        return tuple(vm for vm in self.config.vms if vm.name_label == name_label)

    def console_by_uuid(self, uuid: str) -> Console | None:
        """The console with ``uuid`` (any case), or None."""
        return self._consoles.get(uuid.lower())

    def console_by_ref(self, ref: str) -> Console | None:
        """The console with XenAPI reference ``ref``, or None."""
        uuid = _uuid_of_ref(ref)
        return None if uuid is None else self._consoles.get(uuid)

    def consoles_of(self, vm: VM) -> tuple[Console, ...]:
        """The consoles of ``vm``, in file order."""
        return tuple(self._consoles_of.get(vm.uuid, ()))

    def control_domain(self) -> VM | None:
        """This host's control domain, if configured."""
        for vm in self.config.vms:
            if vm.is_control_domain and vm.resident_on == self.host.uuid:
                return vm
        return None

    def is_running_here(self, vm: VM) -> bool:
        """True if ``vm`` is running on this host."""
        return vm.power_state is PowerState.RUNNING and vm.resident_on == self.host.uuid

    def lookup(self, query: Mapping[str, str]) -> Console:
        """The console a request's (already percent-decoded) query names.

        ``uuid=`` wins over ``ref=``; either may name a console or a VM (a VM means its first
        RFB console). Raises ConsoleNotFound (500; 400 if neither is given) or
        NotRunningHere (500).
        """
        if "uuid" in query:
            key = query["uuid"].lower()
            console = self._consoles.get(key)
            vm = self._vms.get(key)
        elif "ref" in query:
            console = self.console_by_ref(query["ref"])
            vm = self.vm_by_ref(query["ref"])
        else:
            raise ConsoleNotFound(400, "no console ref or uuid in the request")
        if console is None and vm is not None:
            console = next(
                (c for c in self.consoles_of(vm) if c.protocol is ConsoleProtocol.RFB), None
            )
        if console is None:
            raise ConsoleNotFound(500, "no such console")
        owner = self._vms[console.vm_uuid]
        if not self.is_running_here(owner):
            raise NotRunningHere(500, "the console's VM is not running on this host")
        return console

    def listening_on(self, listeners: Sequence[Listener]) -> None:
        """Name one of ``listeners`` in locations from now on, unless ``[host]`` says otherwise;
        with none known, locations are ``https://<address>[:location_port]/...`` as xapi's."""
        host = self.host
        self._location = location_base(host.address, listeners, port=host.location_port,
                                       scheme=host.location_scheme)

    def location(self, console: Console) -> str:
        """The console's URL: ``<scheme>://<address>[:port]/console?ref=OpaqueRef:<uuid>``."""
        return self._location.url(console.ref)


def _uuid_of_ref(ref: str) -> str | None:
    if not ref.startswith(OPAQUE_REF_PREFIX):
        return None
    return ref[len(OPAQUE_REF_PREFIX) :].lower()


# -- loading ---------------------------------------------------------------------------------


def load_config(path: str | Path) -> Config:
    """Read and validate the TOML configuration at ``path``; raises ConfigError or OSError."""
    path = Path(path)
    return parse_config(path.read_text(encoding="utf-8"), source=str(path))


def parse_config(text: str, *, source: str = "<config>") -> Config:
    """Validate a TOML configuration given as text; raises ConfigError naming the bad key."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise ConfigError("", f"{source}: not valid TOML: {error}") from None
    return _Loader().load(document)


class _Loader:
    def __init__(self) -> None:
        self.seen_uuids: dict[str, str] = {}

    def load(self, document: dict[str, Any]) -> Config:
        _only_keys(document, "", {"host", "limits", "proxy", "users", "vms"})
        host = self.host(_table(document, "host", required=True))
        limits = _limits(_table(document, "limits", required=False))
        proxy = _table(document, "proxy", required=False)
        users = self.users(_array(document, "users", ""))
        vms: list[VM] = []
        consoles: list[Console] = []
        suppressed: list[Console] = []
        next_domid = 1
        known_users = {user.name for user in users}
        for index, raw in enumerate(_array(document, "vms", "")):
            key = f"vms[{index}]"
            vm = self.vm(raw, key, host, next_domid, known_users)
            if vm.domid >= next_domid:
                next_domid = vm.domid + 1
            vms.append(vm)
            disable_vnc = vm.other_config.get("disable_pv_vnc", "").lower() in _TRUE_WORDS
            for console_index, raw_console in enumerate(_array(raw, "consoles", key)):
                console_key = f"{key}.consoles[{console_index}]"
                console = self.console(raw_console, console_key, vm)
                if (
                    disable_vnc
                    and console.protocol is ConsoleProtocol.RFB
                    and console.backend.is_text_source
                ):
                    suppressed.append(console)
                else:
                    consoles.append(console)
        control = [vm for vm in vms if vm.is_control_domain and vm.resident_on == host.uuid]
        if len(control) > 1:
            raise ConfigError("vms", "more than one control domain on this host")
        return Config(
            host=host,
            users=users,
            vms=tuple(vms),
            consoles=tuple(consoles),
            limits=limits,
            proxy=MappingProxyType(dict(proxy)),
            suppressed_consoles=tuple(suppressed),
        )

    def claim_uuid(self, raw: dict[str, Any], key: str) -> str:
        value = _string(raw, "uuid", key, required=True)
        try:
            canonical = str(uuidlib.UUID(value))
        except ValueError:
            raise ConfigError(f"{key}.uuid", f"not a uuid: {value!r}") from None
        if canonical in self.seen_uuids:
            raise ConfigError(f"{key}.uuid", f"uuid already used by {self.seen_uuids[canonical]}")
        self.seen_uuids[canonical] = key
        return canonical

    def host(self, raw: dict[str, Any]) -> Host:
        _only_keys(raw, "host",
                   {"uuid", "name_label", "address", "location_port", "location_scheme"})
        uuid = self.claim_uuid(raw, "host")
        name_label = _string(raw, "name_label", "host", required=True)
        address = _string(raw, "address", "host", required=True)
        try:
            address = str(ipaddress.ip_address(address))
        except ValueError:
            if not _is_host_name(address):
                raise ConfigError(
                    "host.address", f"not an IP address or host name: {address!r}"
                ) from None
        port = raw.get("location_port")
        if port is not None and (
            not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535
        ):
            raise ConfigError("host.location_port", "must be a port number 1..65535")
        scheme = _string(raw, "location_scheme", "host", required=False) or None
        if scheme is not None and scheme not in SCHEMES:
            raise ConfigError("host.location_scheme", 'must be "https" or "http"')
        return Host(uuid=uuid, name_label=name_label, address=address, location_port=port,
                    location_scheme=scheme)

    def users(self, raw_users: list[dict[str, Any]]) -> tuple[User, ...]:
        users: dict[str, User] = {}
        for index, raw in enumerate(raw_users):
            key = f"users[{index}]"
            _only_keys(raw, key, {"name", "password_hash", "role"})
            name = _string(raw, "name", key, required=True)
            if not name or ":" in name:
                raise ConfigError(f"{key}.name", "must be non-empty and contain no ':'")
            if name in users:
                raise ConfigError(f"{key}.name", f"user {name!r} is defined twice")
            encoded = _string(raw, "password_hash", key, required=True)
            try:
                password_hash = parse_password_hash(encoded)
            except ValueError as error:
                raise ConfigError(f"{key}.password_hash", str(error)) from None
            role_text = _string(raw, "role", key, required=False) or DEFAULT_ROLE.value
            try:
                role = Role(role_text)
            except ValueError:
                choices = ", ".join(f'"{r.value}"' for r in Role)
                raise ConfigError(f"{key}.role", f"unknown role {role_text!r}; expected one "
                                  f"of {choices}") from None
            users[name] = User(name, password_hash, role)
        return tuple(users.values())

    def vm(self, raw: dict[str, Any], key: str, host: Host, next_domid: int,
           known_users: set[str]) -> VM:
        _only_keys(
            raw,
            key,
            {
                "uuid",
                "name_label",
                "power_state",
                "resident_on",
                "is_control_domain",
                "domid",
                "other_config",
                "consoles",
                "users",
            },
        )
        uuid = self.claim_uuid(raw, key)
        name_label = _string(raw, "name_label", key, required=True)
        state_text = _string(raw, "power_state", key, required=False) or "Running"
        try:
            power_state = PowerState(state_text)
        except ValueError:
            choices = ", ".join(s.value for s in PowerState)
            raise ConfigError(f"{key}.power_state", f"must be one of {choices}") from None
        running = power_state is PowerState.RUNNING
        resident_on: str | None = host.uuid if running else None
        if "resident_on" in raw:
            text = _string(raw, "resident_on", key, required=True)
            try:
                resident_on = str(uuidlib.UUID(text))
            except ValueError:
                raise ConfigError(f"{key}.resident_on", f"not a host uuid: {text!r}") from None
        is_control_domain = raw.get("is_control_domain", False)
        if not isinstance(is_control_domain, bool):
            raise ConfigError(f"{key}.is_control_domain", "must be true or false")
        default_domid = 0 if is_control_domain else (next_domid if running else -1)
        domid = raw.get("domid", default_domid)
        if not isinstance(domid, int) or isinstance(domid, bool) or domid < -1:
            raise ConfigError(f"{key}.domid", "must be an integer, -1 when not running")
        if is_control_domain and not running:
            raise ConfigError(f"{key}.power_state", "a control domain is always Running")
        users = _vm_users(raw, key, known_users)
        if users is not None and is_control_domain:
            raise ConfigError(f"{key}.users", "the control domain is for pool-operator and "
                              "pool-admin users only: a users list cannot change that")
        return VM(
            uuid=uuid,
            name_label=name_label,
            power_state=power_state,
            resident_on=resident_on,
            is_control_domain=is_control_domain,
            domid=domid,
            other_config=_other_config(raw, key),
            users=users,
        )

    def console(self, raw: dict[str, Any], key: str, vm: VM) -> Console:
        _only_keys(raw, key, {"uuid", "protocol", "backend", "other_config"})
        uuid = self.claim_uuid(raw, key)
        protocol_text = _string(raw, "protocol", key, required=True)
        try:
            protocol = ConsoleProtocol(protocol_text)
        except ValueError:
            raise ConfigError(f"{key}.protocol", 'must be "rfb" or "vt100"') from None
        spec = _string(raw, "backend", key, required=True)
        try:
            backend = parse_backend(spec)
        except ValueError as error:
            raise ConfigError(f"{key}.backend", str(error)) from None
        return Console(
            uuid=uuid,
            protocol=protocol,
            vm_uuid=vm.uuid,
            backend=backend,
            other_config=_other_config(raw, key),
        )


def parse_backend(spec: str) -> BackendSpec:
    """Parse a ``backend`` string such as ``tcp:127.0.0.1:5901``; raises ValueError."""
    prefix, colon, rest = spec.partition(":")
    try:
        kind = BackendKind(prefix)
    except ValueError:
        kinds = ", ".join(f"{k.value}:" for k in BackendKind)
        raise ValueError(f"unknown backend {spec!r}; expected one of {kinds}") from None
    if not colon or not rest:
        raise ValueError(f"{prefix}: needs an argument")
    if kind is BackendKind.COMMAND:
        try:
            argv = tuple(shlex.split(rest))
        except ValueError as error:
            raise ValueError(f"cannot split command: {error}") from None
        if not argv:
            raise ValueError("command: needs a program")
        return BackendSpec(kind, spec, argv=argv)
    if kind in (BackendKind.TCP, BackendKind.SERIAL_TCP):
        host, port = _host_port(rest)
        return BackendSpec(kind, spec, host=host, port=port)
    if not rest.startswith("/"):
        raise ValueError(f"{prefix}: needs an absolute path")
    return BackendSpec(kind, spec, path=rest)


def _is_host_name(text: str) -> bool:
    # RFC 1123 host names: dot-separated labels of letters, digits and inner hyphens.
    labels = text.removesuffix(".").split(".")
    return len(text) <= 253 and all(_HOST_LABEL.fullmatch(label) for label in labels)


def _host_port(text: str) -> tuple[str, int]:
    if text.startswith("["):
        host, bracket, rest = text[1:].partition("]")
        if not bracket or not rest.startswith(":"):
            raise ValueError(f"expected [ipv6]:port, not {text!r}")
        port_text = rest[1:]
    else:
        host, colon, port_text = text.rpartition(":")
        if not colon or ":" in host:
            raise ValueError(f"expected host:port (IPv6 in brackets), not {text!r}")
    if not host:
        raise ValueError(f"missing host in {text!r}")
    if not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
        raise ValueError(f"bad port in {text!r}")
    return host, int(port_text)


def _only_keys(raw: Mapping[str, Any], key: str, allowed: set[str]) -> None:
    for name in raw:
        if name not in allowed:
            where = f"{key}.{name}" if key else name
            raise ConfigError(where, f"unknown key; expected one of {', '.join(sorted(allowed))}")


def _table(raw: Mapping[str, Any], name: str, *, required: bool) -> dict[str, Any]:
    value = raw.get(name)
    if value is None:
        if required:
            raise ConfigError(name, "missing table")
        return {}
    if not isinstance(value, dict):
        raise ConfigError(name, "must be a table")
    return value


def _array(raw: Mapping[str, Any], name: str, key: str) -> list[dict[str, Any]]:
    where = f"{key}.{name}" if key else name
    value = raw.get(name, [])
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ConfigError(where, f"must be an array of tables ([[{where}]])")
    return value


def _string(raw: Mapping[str, Any], name: str, key: str, *, required: bool) -> str:
    value = raw.get(name)
    if value is None:
        if required:
            raise ConfigError(f"{key}.{name}", "missing")
        return ""
    if not isinstance(value, str):
        raise ConfigError(f"{key}.{name}", "must be a string")
    return value


def _vm_users(raw: Mapping[str, Any], key: str, known: set[str]) -> frozenset[str] | None:
    if "users" not in raw:
        return None
    value = raw["users"]
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ConfigError(f"{key}.users", "must be an array of user names")
    for name in value:
        if name not in known:
            raise ConfigError(f"{key}.users", f"unknown user {name!r} (not in [[users]])")
    return frozenset(value)


def _other_config(raw: Mapping[str, Any], key: str) -> Mapping[str, str]:
    value = raw.get("other_config", {})
    if not isinstance(value, dict):
        raise ConfigError(f"{key}.other_config", "must be a table of strings")
    for name, item in value.items():
        if not isinstance(item, str):
            raise ConfigError(f"{key}.other_config.{name}", "must be a string (as in the XenAPI)")
    return MappingProxyType(dict(value))


def _limits(raw: Mapping[str, Any]) -> Limits:
    known = {f.name: f for f in fields(Limits)}
    values: dict[str, Any] = {}
    for name, value in raw.items():
        spec = known.get(name)
        if spec is None:
            raise ConfigError(f"limits.{name}", "unknown limit")
        integral = spec.type == "int"
        number = isinstance(value, int) or (isinstance(value, float) and not integral)
        if isinstance(value, bool) or not number or value <= 0:
            raise ConfigError(f"limits.{name}", f"must be a positive {spec.type}")
        values[name] = value
    return Limits(**values)
