"""The XenAPI dispatcher, driven by the official XenAPI Python binding over an in-memory
transport (no sockets)."""

from __future__ import annotations

import xmlrpc.client
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest
import XenAPI

from consoleproxy.auth import (
    AuthenticationFailed,
    SessionStore,
    User,
    hash_password,
    parse_password_hash,
)
from consoleproxy.limits import Limits
from consoleproxy.locations import Listener
from consoleproxy.registry import Registry, load_config
from consoleproxy.roles import Role
from consoleproxy.xenapi import LoginCall, XenApiDispatcher

SAMPLE = Path(__file__).parent.parent.parent / "samples" / "consoleproxy.toml"
HOST = "3c7b1b4b-80be-41b2-bd79-f645e19e47e1"
DEMO_VM = "f4029d84-2d86-4d45-b6b1-1fb65d2a9dc3"
DEMO_RFB = "76825670-6b1e-439b-b2c1-eccaa11fbc0f"
DEMO_VT100 = "1bc66aa1-80c7-4a57-9e34-3508fc972af0"
DOM0 = "75f68bd1-26b2-46ef-a943-90c1e2d39122"
HALTED_VM = "16098c9c-974a-43fd-b8a0-abf144d2de04"


class FakeClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def login_now(sessions: SessionStore, call: LoginCall) -> str | AuthenticationFailed:
    """What checking the call's password on this thread gives (the service uses a pool)."""
    try:
        return sessions.login(call.username, call.password,
                                         originator=call.originator)
    except AuthenticationFailed as failure:
        return failure


class InMemoryTransport(xmlrpc.client.Transport):
    """An XML-RPC transport that hands each request body straight to the dispatcher."""

    def __init__(self, dispatcher: XenApiDispatcher, sessions: SessionStore) -> None:
        super().__init__()
        self.dispatcher = dispatcher
        self.sessions = sessions
        self.calls: list[str] = []

    def request(
        self, host: Any, handler: Any, request_body: Any, verbose: bool = False
    ) -> tuple[Any, ...]:
        """Answer in memory, parsing the reply as a real transport would."""
        _, method = xmlrpc.client.loads(request_body)
        self.calls.append(str(method))
        reply = self.dispatcher.handle(request_body)
        if isinstance(reply, LoginCall):
            reply = self.dispatcher.login_reply(login_now(self.sessions, reply))
        return xmlrpc.client.loads(reply)[0]


class World:
    """A dispatcher over the sample configuration, with a fast password hash for root."""

    def __init__(self) -> None:
        self.clock = FakeClock()
        # Listening as `consoleproxy serve` does by default: locations name the TLS one.
        self.registry = Registry(load_config(SAMPLE),
                                 [Listener(False, 8080), Listener(True, 8443)])
        cheap = parse_password_hash(hash_password("demo", n=16, r=1, p=1))
        users = [User("root", cheap, Role.POOL_ADMIN), User("alice", cheap, Role.VM_OPERATOR)]
        self.sessions = SessionStore(Limits(session_idle_expiry=100.0), self.clock, users=users)
        self.dispatcher = XenApiDispatcher(self.registry, self.sessions)
        self.transport = InMemoryTransport(self.dispatcher, self.sessions)

    def session(self) -> Any:
        """A binding Session talking to the dispatcher."""
        return XenAPI.Session("https://127.0.0.1:8443/", transport=self.transport)


@pytest.fixture
def world() -> World:
    """A fresh dispatcher and session store."""
    return World()


@pytest.fixture
def api(world: World) -> Iterator[Any]:
    """The binding's xenapi object, logged in as root."""
    session = world.session()
    session.xenapi.login_with_password("root", "demo", "2.21", "consoleproxy-tests")
    yield session.xenapi
    session.xenapi.session.logout()


def test_console_discovery_with_the_official_binding(world: World) -> None:
    """The documented sequence runs: login, find the VM, its consoles, their locations."""
    session = world.session()
    session.xenapi.login_with_password("root", "demo", "2.21", "consoleproxy-tests")
    assert session.handle.startswith("OpaqueRef:")
    api = session.xenapi
    vms = api.VM.get_by_name_label("demo")
    assert vms == [f"OpaqueRef:{DEMO_VM}"]
    consoles = api.VM.get_consoles(vms[0])
    assert consoles == [f"OpaqueRef:{DEMO_RFB}", f"OpaqueRef:{DEMO_VT100}"]
    assert [api.console.get_protocol(c) for c in consoles] == ["rfb", "vt100"]
    assert api.console.get_location(consoles[0]) == (
        f"https://127.0.0.1:8443/console?ref=OpaqueRef:{DEMO_RFB}"
    )
    record = api.VM.get_record(vms[0])
    assert record["uuid"] == DEMO_VM
    assert record["name_label"] == "demo"
    assert record["power_state"] == "Running"
    assert record["consoles"] == consoles
    assert record["other_config"] == {"description": "sample guest"}
    assert record["is_control_domain"] is False
    assert record["resident_on"] == f"OpaqueRef:{HOST}"
    assert record["domid"] == "1"
    ref = session.handle
    session.xenapi.session.logout()
    assert world.sessions.validate(ref) is None
    assert world.transport.calls[0] == "session.login_with_password"
    assert world.transport.calls[-1] == "session.logout"


def test_login_with_two_parameters(world: World) -> None:
    """Older clients log in with just a username and a password."""
    session = world.session()
    session.xenapi.login_with_password("root", "demo")
    assert world.sessions.validate(session.handle) is not None


def test_wrong_password_is_session_authentication_failed(world: World) -> None:
    """A bad login raises the binding's Failure with the real error code."""
    session = world.session()
    with pytest.raises(XenAPI.Failure) as caught:
        session.xenapi.login_with_password("root", "nope", "2.21", "t")
    assert caught.value.details == [
        "SESSION_AUTHENTICATION_FAILED",
        "root",
        "Authentication failure",
    ]


def test_expired_session_is_renewed_by_the_binding(world: World) -> None:
    """SESSION_INVALID is the real envelope: the binding logs in again and retries."""
    session = world.session()
    session.xenapi.login_with_password("root", "demo")
    first = session.handle
    world.clock.now += 1000
    assert session.xenapi.VM.get_name_label(f"OpaqueRef:{DEMO_VM}") == "demo"
    assert session.handle != first
    assert world.transport.calls.count("session.login_with_password") == 2


def test_session_invalid_envelope(world: World) -> None:
    """Calls with a dead session fail with SESSION_INVALID naming it."""
    assert world.dispatcher.call("VM.get_all", ["OpaqueRef:dead"]) == {
        "Status": "Failure",
        "ErrorDescription": ["SESSION_INVALID", "OpaqueRef:dead"],
    }
    assert world.dispatcher.call("session.logout", ["OpaqueRef:dead"])["ErrorDescription"] == [
        "SESSION_INVALID",
        "OpaqueRef:dead",
    ]


def test_handle_invalid(api: Any) -> None:
    """A ref of the wrong class or of nothing is HANDLE_INVALID [class, ref]."""
    with pytest.raises(XenAPI.Failure) as caught:
        api.VM.get_record(f"OpaqueRef:{DEMO_RFB}")
    assert caught.value.details == ["HANDLE_INVALID", "VM", f"OpaqueRef:{DEMO_RFB}"]
    with pytest.raises(XenAPI.Failure) as caught:
        api.console.get_location("OpaqueRef:NULL")
    assert caught.value.details == ["HANDLE_INVALID", "console", "OpaqueRef:NULL"]


def test_unknown_method(api: Any) -> None:
    """An unknown method is MESSAGE_METHOD_UNKNOWN [name]."""
    with pytest.raises(XenAPI.Failure) as caught:
        api.VM.start(f"OpaqueRef:{DEMO_VM}", False, False)
    assert caught.value.details == ["MESSAGE_METHOD_UNKNOWN", "VM.start"]


def test_parameter_count_mismatch(api: Any) -> None:
    """A wrong number of parameters is MESSAGE_PARAMETER_COUNT_MISMATCH [name, want, got]."""
    with pytest.raises(XenAPI.Failure) as caught:
        api.VM.get_record()
    assert caught.value.details == ["MESSAGE_PARAMETER_COUNT_MISMATCH", "VM.get_record", "2", "1"]


def test_wrong_parameter_type(api: Any) -> None:
    """A non-string reference is FIELD_TYPE_ERROR."""
    with pytest.raises(XenAPI.Failure) as caught:
        api.VM.get_record(42)
    assert caught.value.details == ["FIELD_TYPE_ERROR", "self"]


def test_vm_field_getters(api: Any) -> None:
    """Every VM getter returns the record's field, marshalled as xapi does."""
    ref = f"OpaqueRef:{DOM0}"
    assert api.VM.get_uuid(ref) == DOM0
    assert api.VM.get_is_control_domain(ref) is True
    assert api.VM.get_power_state(ref) == "Running"
    assert api.VM.get_domid(ref) == "0"
    assert api.VM.get_resident_on(ref) == f"OpaqueRef:{HOST}"
    assert api.VM.get_other_config(ref) == {}
    halted = f"OpaqueRef:{HALTED_VM}"
    assert api.VM.get_power_state(halted) == "Halted"
    assert api.VM.get_resident_on(halted) == "OpaqueRef:NULL"
    assert api.VM.get_domid(halted) == "-1"
    assert api.VM.get_consoles(halted) == []


def test_vm_collections(api: Any) -> None:
    """get_all, get_all_records and get_by_uuid agree with each other."""
    refs = api.VM.get_all()
    assert len(refs) == 5
    records = api.VM.get_all_records()
    assert sorted(records) == sorted(refs)
    assert records[f"OpaqueRef:{DEMO_VM}"]["name_label"] == "demo"
    assert api.VM.get_by_uuid(DEMO_VM.upper()) == f"OpaqueRef:{DEMO_VM}"
    with pytest.raises(XenAPI.Failure) as caught:
        api.VM.get_by_uuid(DEMO_RFB)
    assert caught.value.details == ["UUID_INVALID", "VM", DEMO_RFB]
    assert api.VM.get_by_name_label("no such vm") == []


def test_console_methods(api: Any) -> None:
    """Console records carry uuid, protocol, location, VM and other_config."""
    ref = f"OpaqueRef:{DEMO_VT100}"
    record = api.console.get_record(ref)
    assert record == {
        "uuid": DEMO_VT100,
        "protocol": "vt100",
        "location": f"https://127.0.0.1:8443/console?ref={ref}",
        "VM": f"OpaqueRef:{DEMO_VM}",
        "other_config": {},
    }
    assert api.console.get_VM(ref) == f"OpaqueRef:{DEMO_VM}"
    assert api.console.get_uuid(ref) == DEMO_VT100
    assert api.console.get_other_config(ref) == {}
    assert api.console.get_by_uuid(DEMO_VT100) == ref
    all_refs = api.console.get_all()
    assert ref in all_refs
    assert sorted(api.console.get_all_records()) == sorted(all_refs)


def test_suppressed_console_is_not_listed(api: Any) -> None:
    """A disable_pv_vnc VM lists only its vt100 console."""
    vm = api.VM.get_by_name_label("no-vnc")[0]
    consoles = api.VM.get_consoles(vm)
    assert [api.console.get_protocol(c) for c in consoles] == ["vt100"]


def test_host_and_pool(world: World, api: Any) -> None:
    """The host, its control domain, this session's host and the pool are reachable."""
    host = f"OpaqueRef:{HOST}"
    assert api.host.get_all() == [host]
    assert api.host.get_by_uuid(HOST) == host
    assert api.host.get_name_label(host) == "xenhost1"
    assert api.host.get_address(host) == "127.0.0.1"
    assert api.host.get_uuid(host) == HOST
    assert api.host.get_control_domain(host) == f"OpaqueRef:{DOM0}"
    assert api.host.get_by_name_label("xenhost1") == [host]
    assert f"OpaqueRef:{DEMO_VM}" in api.host.get_record(host)["resident_VMs"]
    pools = api.pool.get_all()
    assert len(pools) == 1
    assert api.pool.get_master(pools[0]) == host
    session = world.session()
    session.xenapi.login_with_password("root", "demo")
    assert session.xenapi.session.get_this_host(session.handle) == host
    assert session.API_version == "2.21"


def test_list_methods(world: World) -> None:
    """system.listMethods answers with a bare list of every method served."""
    transport = InMemoryTransport(world.dispatcher, world.sessions)
    proxy = xmlrpc.client.ServerProxy("http://x/", transport=transport)
    methods = cast(list[str], proxy.system.listMethods())
    for name in (
        "session.login_with_password",
        "session.logout",
        "VM.get_by_name_label",
        "VM.get_consoles",
        "console.get_location",
        "console.get_protocol",
        "host.get_control_domain",
        "pool.get_all",
    ):
        assert name in methods


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not xml",
        b"<?xml version='1.0'?><methodResponse><params/></methodResponse>",
        b"<methodCall><methodName>VM.get_all</methodName><params><param><value><int>x</int>"
        b"</value></param></params></methodCall>",
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;">]>'
        b"<methodCall><methodName>&b;</methodName></methodCall>",
    ],
)
def test_malformed_bodies_get_a_fault(world: World, body: bytes) -> None:
    """A body that is not an XML-RPC call gets an XML-RPC fault, never an exception."""
    with pytest.raises(xmlrpc.client.Fault):
        xmlrpc.client.loads(world.dispatcher.handle(body))


def test_oversized_body_gets_a_fault() -> None:
    """A body over the cap is refused without being parsed."""
    world = World()
    dispatcher = XenApiDispatcher(world.registry, world.sessions, Limits(max_xmlrpc_body_bytes=100))
    body = xmlrpc.client.dumps(("x" * 200,), "VM.get_all").encode()
    with pytest.raises(xmlrpc.client.Fault) as caught:
        xmlrpc.client.loads(dispatcher.handle(body))
    assert "too large" in caught.value.faultString


# -- what each user sees ---------------------------------------------------------------------

DOM0_CONSOLE = "abfd2401-6db1-4023-84c3-d1c406713188"
NOWHERE_VM = "0badc0de-0000-4000-8000-000000000000"
NOWHERE_CONSOLE = "0badc0de-0000-4000-8000-000000000001"


@pytest.fixture
def tenant(world: World) -> Iterator[Any]:
    """The binding's xenapi object, logged in as alice, a vm-operator."""
    session = world.session()
    session.xenapi.login_with_password("alice", "demo", "2.21", "consoleproxy-tests")
    yield session.xenapi
    session.xenapi.session.logout()


def failure_of(call: Any, *params: Any) -> list[str]:
    """The ErrorDescription a call fails with (the test fails if it succeeds)."""
    with pytest.raises(XenAPI.Failure) as caught:
        call(*params)
    return list(caught.value.details)


def test_a_vm_operator_does_not_see_the_control_domain(tenant: Any, api: Any) -> None:
    """Lists, records and lookups leave the control domain and its console out for a
    vm-operator, while a pool-admin sees them."""
    dom0 = f"OpaqueRef:{DOM0}"
    dom0_console = f"OpaqueRef:{DOM0_CONSOLE}"
    assert dom0 in api.VM.get_all() and dom0 not in tenant.VM.get_all()
    assert dom0 not in tenant.VM.get_all_records()
    assert len(tenant.VM.get_all()) == 4
    assert tenant.VM.get_by_name_label("Control domain on host: xenhost1") == []
    assert dom0_console in api.console.get_all()
    assert dom0_console not in tenant.console.get_all()
    assert dom0_console not in tenant.console.get_all_records()
    host = f"OpaqueRef:{HOST}"
    assert api.host.get_control_domain(host) == dom0
    assert tenant.host.get_control_domain(host) == "OpaqueRef:NULL"
    assert dom0 in api.host.get_resident_VMs(host)
    assert dom0 not in tenant.host.get_resident_VMs(host)
    assert tenant.host.get_record(host)["control_domain"] == "OpaqueRef:NULL"
    assert tenant.VM.get_by_name_label("demo") == [f"OpaqueRef:{DEMO_VM}"]
    assert tenant.VM.get_consoles(f"OpaqueRef:{DEMO_VM}") == [
        f"OpaqueRef:{DEMO_RFB}", f"OpaqueRef:{DEMO_VT100}"]


@pytest.mark.parametrize(("method", "hidden", "nowhere"), [
    ("VM.get_record", DOM0, NOWHERE_VM),
    ("VM.get_consoles", DOM0, NOWHERE_VM),
    ("VM.get_uuid", DOM0, NOWHERE_VM),
    ("VM.get_name_label", DOM0, NOWHERE_VM),
    ("VM.get_is_control_domain", DOM0, NOWHERE_VM),
    ("VM.get_by_uuid", DOM0, NOWHERE_VM),
    ("console.get_record", DOM0_CONSOLE, NOWHERE_CONSOLE),
    ("console.get_location", DOM0_CONSOLE, NOWHERE_CONSOLE),
    ("console.get_protocol", DOM0_CONSOLE, NOWHERE_CONSOLE),
    ("console.get_VM", DOM0_CONSOLE, NOWHERE_CONSOLE),
    ("console.get_by_uuid", DOM0_CONSOLE, NOWHERE_CONSOLE),
])
def test_a_hidden_object_answers_as_a_nonexistent_one(
        tenant: Any, method: str, hidden: str, nowhere: str) -> None:
    """Every call on a hidden VM or console fails exactly as on one that does not exist (the
    same error, naming what was asked), so no answer tells a hidden object exists."""
    call = tenant
    for part in method.split("."):
        call = getattr(call, part)
    by_uuid = method.endswith("get_by_uuid")
    ask_hidden = hidden if by_uuid else f"OpaqueRef:{hidden}"
    ask_nowhere = nowhere if by_uuid else f"OpaqueRef:{nowhere}"
    hidden_failure = failure_of(call, ask_hidden)
    nowhere_failure = failure_of(call, ask_nowhere)
    assert hidden_failure == [part.replace(ask_nowhere, ask_hidden) for part in nowhere_failure]


def test_a_listed_tenant_sees_its_guest(world: World) -> None:
    """hvm-guest's users list names alice: she sees it."""
    session = world.session()
    session.xenapi.login_with_password("alice", "demo")
    hvm = session.xenapi.VM.get_by_name_label("hvm-guest")
    assert hvm == ["OpaqueRef:41c71b17-381d-4b2a-a855-f9483371785c"]
    assert world.registry.vms[3].users == {"alice"}


def test_the_login_call_waits_for_its_password_check(world: World) -> None:
    """session.login_with_password is not answered by handle() itself: it comes back as a
    LoginCall (no password in its repr) for the service to check off the event loop."""
    body = xmlrpc.client.dumps(("alice", "s3cret-Guess", "2.21", "XenCenter"),
                               "session.login_with_password").encode()
    call = world.dispatcher.handle(body)
    assert isinstance(call, LoginCall)
    assert (call.username, call.originator) == ("alice", "XenCenter")
    assert "s3cret-Guess" not in repr(call)
    reply = xmlrpc.client.loads(world.dispatcher.login_reply(
        AuthenticationFailed("alice", "too many authentication failures; try again later")))
    assert reply[0][0]["ErrorDescription"] == [
        "SESSION_AUTHENTICATION_FAILED", "alice",
        "Authentication failure: too many authentication failures; try again later"]
