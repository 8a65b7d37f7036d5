"""The XenAPI subset a console client needs for discovery, as a pure XML-RPC dispatcher:
log in, find a VM, list its consoles, read their protocol and location, log out.

Replies use the real XenAPI envelope: ``{"Status": "Success", "Value": ...}`` or
``{"Status": "Failure", "ErrorDescription": [code, arg, ...]}``, with references as strings
``OpaqueRef:<uuid>`` and 64-bit integer fields (``domid``, API versions) as decimal strings,
as xapi marshals them. ``system.listMethods`` answers with a bare list, as plain XML-RPC does.

Only XML-RPC bodies in, bytes out: the HTTP endpoint around it belongs to the service. The
one exception is ``session.login_with_password``: its password check is too costly for the
event loop, so :meth:`XenApiDispatcher.handle` returns a :class:`LoginCall` for it instead of
bytes; whoever checks the password gives the outcome to :meth:`XenApiDispatcher.login_reply`.

Every call made with a session sees only what that session's user may see (the
``Authorizer``'s ``may_see``; ``consoleproxy.roles`` states the rule): VM and console lists,
records, lookups by uuid or name, and fields are filtered alike, and a hidden object answers
exactly as a nonexistent one (``HANDLE_INVALID``, ``UUID_INVALID``, an empty list), so no
answer tells a hidden object exists. The host and pool records stay, with the control domain
and resident VMs a user may not see left out.
"""

from __future__ import annotations

import uuid as uuidlib
import xmlrpc.client
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from consoleproxy.auth import AuthenticationFailed, Authorizer, Session, SessionStore
from consoleproxy.limits import DEFAULT_LIMITS, Limits
from consoleproxy.registry import NULL_REF, VM, Console, Registry
from consoleproxy.roles import RoleAuthorizer
from consoleproxy.xmlrpcbody import XmlRpcBodyError, parse_method_call

__all__ = [
    "API_VERSION_MAJOR",
    "API_VERSION_MINOR",
    "LoginCall",
    "XenApiDispatcher",
    "XenApiFailure",
]

#: The API version reported by host records (that of XenServer 8 / XCP-ng 8.3).
API_VERSION_MAJOR: Final = 2
API_VERSION_MINOR: Final = 21

_Record = dict[str, Any]


class XenApiFailure(Exception):
    """A call fails with XenAPI error ``code`` and string arguments."""

    def __init__(self, code: str, *params: str) -> None:
        super().__init__(code, *params)
        self.description = [code, *params]


@dataclass(frozen=True, slots=True)
class LoginCall:
    """A ``session.login_with_password`` call waiting for its password check."""

    username: str
    password: str = field(repr=False)
    #: The client's name for itself (the fourth parameter), "" when not given.
    originator: str


@dataclass(frozen=True, slots=True)
class _Method:
    handler: Callable[..., Any]
    #: Parameter counts accepted, session included.
    min_params: int
    max_params: int
    #: Whether the first parameter is a session that must be valid.
    needs_session: bool


@dataclass(frozen=True, slots=True)
class _Class:
    """A XenAPI class served generically: get_all, get_record, get_<field>, ..."""

    name: str
    refs: Callable[[Session], list[str]]
    record: Callable[[Session, str], _Record | None]
    fields: tuple[str, ...]
    by_name_label: bool


class XenApiDispatcher:
    """Answers XML-RPC calls against a :class:`Registry` and a :class:`SessionStore`."""

    def __init__(
        self,
        registry: Registry,
        sessions: SessionStore,
        limits: Limits = DEFAULT_LIMITS,
        *,
        authorizer: Authorizer | None = None,
    ) -> None:
        self._registry = registry
        self._sessions = sessions
        self._limits = limits
        self._authorizer: Authorizer = authorizer or RoleAuthorizer(registry)
        host = registry.host
        self._pool_uuid = str(uuidlib.uuid5(uuidlib.UUID(host.uuid), "pool"))
        self._methods: dict[str, _Method] = {}
        self._add("session.login_with_password", self._login, 2, 4, needs_session=False)
        self._add("session.logout", self._logout, 1, needs_session=False)
        self._add("session.get_this_host", self._get_this_host, 2)
        self._add("system.listMethods", self.method_names, 0, needs_session=False)
        vm_fields = (
            "uuid",
            "name_label",
            "name_description",
            "power_state",
            "is_control_domain",
            "is_a_template",
            "is_a_snapshot",
            "resident_on",
            "domid",
            "consoles",
            "other_config",
        )
        console_fields = ("uuid", "protocol", "location", "VM", "other_config")
        host_fields = (
            "uuid",
            "name_label",
            "name_description",
            "hostname",
            "address",
            "enabled",
            "control_domain",
            "resident_VMs",
            "API_version_major",
            "API_version_minor",
            "other_config",
        )
        pool_fields = ("uuid", "name_label", "name_description", "master", "other_config")
        for cls in (
            _Class("VM", self._vm_refs, self._vm_record, vm_fields, by_name_label=True),
            _Class(
                "console",
                self._console_refs,
                self._console_record,
                console_fields,
                by_name_label=False,
            ),
            _Class("host", self._host_refs, self._host_record, host_fields, by_name_label=True),
            _Class("pool", self._pool_refs, self._pool_record, pool_fields, by_name_label=False),
        ):
            self._add_class(cls)

    # -- entry points ------------------------------------------------------------------------

    def handle(self, body: bytes) -> bytes | LoginCall:
        """Answer one XML-RPC request body with a complete ``methodResponse`` body (or the
        login still to check)."""
        try:
            name, params = parse_method_call(body, max_bytes=self._limits.max_xmlrpc_body_bytes,
                                             max_depth=self._limits.max_xmlrpc_depth)
        except XmlRpcBodyError as error:
            return _fault(error.code, error.message)
        result = self.call(name, params)
        if isinstance(result, LoginCall):
            return result
        return _response(result)

    def login_reply(self, outcome: str | AuthenticationFailed) -> bytes:
        """The ``methodResponse`` body of a login: a new session ref, or why it failed."""
        if isinstance(outcome, AuthenticationFailed):
            return _response(_failure(
                "SESSION_AUTHENTICATION_FAILED", outcome.username, _login_message(outcome)
            ))
        return _response({"Status": "Success", "Value": outcome})

    def call(self, name: str, params: Sequence[Any]) -> Any:
        """The reply to method ``name`` (an envelope, a bare list for system.*, or a
        :class:`LoginCall`)."""
        method = self._methods.get(name)
        if method is None:
            return _failure("MESSAGE_METHOD_UNKNOWN", name)
        if not method.min_params <= len(params) <= method.max_params:
            return _failure(
                "MESSAGE_PARAMETER_COUNT_MISMATCH",
                name,
                str(method.max_params),
                str(len(params)),
            )
        if name.startswith("system."):
            return method.handler(*params)
        try:
            if method.needs_session:
                session_ref = params[0]
                session = (self._sessions.validate(session_ref)
                           if isinstance(session_ref, str) else None)
                if session is None:
                    raise XenApiFailure("SESSION_INVALID", str(session_ref))
                value = method.handler(session, *params[1:])
            else:
                value = method.handler(*params)
        except XenApiFailure as failure:
            return {"Status": "Failure", "ErrorDescription": failure.description}
        if isinstance(value, LoginCall):
            return value
        return {"Status": "Success", "Value": value}

    def method_names(self) -> list[str]:
        """Every method this dispatcher answers, sorted."""
        return sorted(self._methods)

    # -- table building ----------------------------------------------------------------------

    def _add(
        self,
        name: str,
        handler: Callable[..., Any],
        min_params: int,
        max_params: int | None = None,
        *,
        needs_session: bool = True,
    ) -> None:
        self._methods[name] = _Method(
            handler, min_params, min_params if max_params is None else max_params, needs_session
        )

    def _add_class(self, cls: _Class) -> None:
        def get_record(session: Session, ref: Any) -> _Record:
            return _require(cls, session, ref)

        def get_all(session: Session) -> list[str]:
            return cls.refs(session)

        def get_all_records(session: Session) -> dict[str, _Record]:
            records = {}
            for ref in cls.refs(session):
                record = cls.record(session, ref)
                assert record is not None
                records[ref] = record
            return records

        def get_by_uuid(session: Session, uuid: Any) -> str:
            text = _string_param("uuid", uuid).lower()
            ref = "OpaqueRef:" + text
            if cls.record(session, ref) is None:
                raise XenApiFailure("UUID_INVALID", cls.name, text)
            return ref

        def get_by_name_label(session: Session, label: Any) -> list[str]:
            text = _string_param("label", label)
            refs = []
            for ref in cls.refs(session):
                record = cls.record(session, ref)
                if record is not None and record["name_label"] == text:
                    refs.append(ref)
            return refs

        prefix = cls.name + "."
        self._add(prefix + "get_all", get_all, 1)
        self._add(prefix + "get_all_records", get_all_records, 1)
        self._add(prefix + "get_record", get_record, 2)
        self._add(prefix + "get_by_uuid", get_by_uuid, 2)
        if cls.by_name_label:
            self._add(prefix + "get_by_name_label", get_by_name_label, 2)
        for field_name in cls.fields:
            self._add(prefix + "get_" + field_name, _field_getter(cls, field_name), 2)

    # -- session -----------------------------------------------------------------------------

    def _login(
        self, username: Any, password: Any, version: Any = "", originator: Any = ""
    ) -> LoginCall:
        user = _string_param("username", username)
        secret = _string_param("password", password)
        return LoginCall(user, secret, originator if isinstance(originator, str) else "")

    def _logout(self, session_ref: Any) -> str:
        ref = _string_param("session_id", session_ref)
        if not self._sessions.logout(ref):
            raise XenApiFailure("SESSION_INVALID", ref)
        return ""

    def _get_this_host(self, session: Session, session_ref: Any) -> str:
        ref = _string_param("self", session_ref)
        if self._sessions.validate(ref) is None:
            raise XenApiFailure("SESSION_INVALID", ref)
        return self._registry.host.ref

    # -- records -----------------------------------------------------------------------------

    def _visible(self, session: Session, vm: VM | None) -> bool:
        return vm is not None and self._authorizer.may_see(session, vm)

    def _vm_refs(self, session: Session) -> list[str]:
        return [vm.ref for vm in self._registry.vms if self._visible(session, vm)]

    def _vm_record(self, session: Session, ref: str) -> _Record | None:
        vm = self._registry.vm_by_ref(ref)
        if vm is None or vm.ref != ref or not self._visible(session, vm):
            return None
        host = self._registry.host
        return {
            "uuid": vm.uuid,
            "name_label": vm.name_label,
            "name_description": "",
            "power_state": vm.power_state.value,
            "is_control_domain": vm.is_control_domain,
            "is_a_template": False,
            "is_a_snapshot": False,
            "resident_on": host.ref if vm.resident_on == host.uuid else _ref_or_null(vm),
            "domid": str(vm.domid),
            "consoles": [c.ref for c in self._registry.consoles_of(vm)],
            "other_config": dict(vm.other_config),
        }

    def _console_visible(self, session: Session, console: Console) -> bool:
        return self._visible(session, self._registry.vm_by_uuid(console.vm_uuid))

    def _console_refs(self, session: Session) -> list[str]:
        return [console.ref for console in self._registry.consoles
                if self._console_visible(session, console)]

    def _console_record(self, session: Session, ref: str) -> _Record | None:
        console = self._registry.console_by_ref(ref)
        if console is None or console.ref != ref or not self._console_visible(session, console):
            return None
        return _console_record(self._registry, console)

    def _host_refs(self, session: Session) -> list[str]:
        return [self._registry.host.ref]

    def _host_record(self, session: Session, ref: str) -> _Record | None:
        host = self._registry.host
        if ref != host.ref:
            return None
        control = self._registry.control_domain()
        if not self._visible(session, control):
            control = None
        return {
            "uuid": host.uuid,
            "name_label": host.name_label,
            "name_description": "",
            "hostname": host.name_label,
            "address": host.address,
            "enabled": True,
            "control_domain": control.ref if control is not None else NULL_REF,
            "resident_VMs": [
                vm.ref for vm in self._registry.vms
                if self._registry.is_running_here(vm) and self._visible(session, vm)
            ],
            "API_version_major": str(API_VERSION_MAJOR),
            "API_version_minor": str(API_VERSION_MINOR),
            "other_config": {},
        }

    def _pool_refs(self, session: Session) -> list[str]:
        return ["OpaqueRef:" + self._pool_uuid]

    def _pool_record(self, session: Session, ref: str) -> _Record | None:
        if ref != "OpaqueRef:" + self._pool_uuid:
            return None
        return {
            "uuid": self._pool_uuid,
            "name_label": "",
            "name_description": "",
            "master": self._registry.host.ref,
            "other_config": {},
        }


def _ref_or_null(vm: VM) -> str:
    # A VM resident on another host: that host's ref, though we serve no record for it.
    return "OpaqueRef:" + vm.resident_on if vm.resident_on else NULL_REF


def _console_record(registry: Registry, console: Console) -> _Record:
    return {
        "uuid": console.uuid,
        "protocol": console.protocol.value,
        "location": registry.location(console),
        "VM": "OpaqueRef:" + console.vm_uuid,
        "other_config": dict(console.other_config),
    }


def _require(cls: _Class, session: Session, ref: Any) -> _Record:
    text = _string_param("self", ref)
    record = cls.record(session, text)
    if record is None:
        raise XenApiFailure("HANDLE_INVALID", cls.name, text)
    return record


def _field_getter(cls: _Class, field_name: str) -> Callable[[Session, Any], Any]:
    def get_field(session: Session, ref: Any) -> Any:
        return _require(cls, session, ref)[field_name]

    return get_field


def _string_param(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise XenApiFailure("FIELD_TYPE_ERROR", name)
    return value


def _failure(code: str, *params: str) -> Mapping[str, Any]:
    return {"Status": "Failure", "ErrorDescription": [code, *params]}


def _login_message(failure: AuthenticationFailed) -> str:
    # Wrong user and wrong password read alike; a throttled or capped login says why, so a
    # real user knows to wait rather than retype.
    if failure.reason == "Authentication failure":
        return failure.reason
    return f"Authentication failure: {failure.reason}"


def _response(result: Any) -> bytes:
    return xmlrpc.client.dumps((result,), methodresponse=True, allow_none=False).encode("utf-8")


def _fault(code: int, message: str) -> bytes:
    return xmlrpc.client.dumps(xmlrpc.client.Fault(code, message), methodresponse=True).encode(
        "utf-8"
    )
