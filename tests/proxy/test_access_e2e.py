"""End to end on 127.0.0.0/8: a real consoleproxy with roles, the official XenAPI binding, and
sixteen password guessers on addresses of their own while an unrelated client works."""

from __future__ import annotations

import http.client
import socket
import sys
import textwrap
import threading
import time
import xmlrpc.client
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import XenAPI

from consoleproxy.auth import hash_password
from consoleproxy.connect import ok_reply
from tests.proxy.serving import consoleproxy

pytestmark = pytest.mark.e2e

DEADLINE = 30.0
PASSWORD = "correct horse battery"
GUEST = "11111111-1111-4111-8111-111111111111"
GUEST_CONSOLE = "22222222-2222-4222-8222-222222222222"
DOM0 = "88888888-8888-4888-8888-888888888888"
DOM0_CONSOLE = "88888888-8888-4888-8888-000000000000"
DOM0_LABEL = "Control domain on host: e2e"
GUESSERS = 16
FIRST_DELAY = 0.1

CONSOLE = textwrap.dedent("""
    import sys
    sys.stdout.write("console ready\\r\\n")
    sys.stdout.flush()
    for line in sys.stdin:
        pass
""")


@dataclass
class Server:
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    directory = tmp_path_factory.mktemp("access")
    (directory / "console.py").write_text(CONSOLE)
    stored = hash_password(PASSWORD)  # the real cost: the point is that it runs off the loop
    backend = f"command:{sys.executable} {directory / 'console.py'}"
    (directory / "proxy.toml").write_text(textwrap.dedent(f"""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "e2e"
        address = "127.0.0.1"
        [limits]
        login_first_delay = {FIRST_DELAY}
        login_max_delay = 0.4
        login_block_after = 5
        login_block_seconds = 600.0
        [[users]]
        name = "root"
        password_hash = "{stored}"
        role = "pool-admin"
        [[users]]
        name = "operator"
        password_hash = "{stored}"
        [[vms]]
        uuid = "{GUEST}"
        name_label = "guest"
          [[vms.consoles]]
          uuid = "{GUEST_CONSOLE}"
          protocol = "rfb"
          backend = "{backend}"
        [[vms]]
        uuid = "{DOM0}"
        name_label = "{DOM0_LABEL}"
        is_control_domain = true
          [[vms.consoles]]
          uuid = "{DOM0_CONSOLE}"
          protocol = "rfb"
          backend = "{backend} dom0"
    """))
    with consoleproxy(["--config", str(directory / "proxy.toml"),
                       "--listen", "tcp:0:interface=127.0.0.1"], directory, listeners=1) as ports:
        yield Server(ports["http"], directory / "proxy.log")


class FromAddress(xmlrpc.client.Transport):
    """An XML-RPC transport whose connections come from one loopback address of ours."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.source = source

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0]:
            return self._connection[1]  # type: ignore[no-any-return]
        chost, self._extra_headers, _ = self.get_host_info(host)
        connection = http.client.HTTPConnection(chost, source_address=(self.source, 0),
                                                timeout=DEADLINE)
        self._connection = host, connection
        return connection


def login(server: Server, user: str, password: str, source: str = "127.0.0.1") -> Any:
    """A binding Session logged in from ``source``; raises XenAPI.Failure when refused."""
    session = XenAPI.Session(server.url, transport=FromAddress(source))
    try:
        session.xenapi.login_with_password(user, password, "2.21", "e2e")
    except BaseException:
        session("close")()
        raise
    return session


def end(session: Any) -> None:
    """Log out and close the connection."""
    session.xenapi.session.logout()
    session("close")()


def connect_status(server: Server, console: str, session: str) -> tuple[int, bytes]:
    """CONNECT to ``console`` with ``session``; the status and what followed the head."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=DEADLINE) as sock:
        sock.sendall(f"CONNECT /console?ref=OpaqueRef:{console} HTTP/1.0\r\n"
                     f"Cookie: session_id={session}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received or (received.startswith(ok_reply()[:12])
                                               and len(received) < len(ok_reply()) + 12):
            chunk = sock.recv(4096)
            if not chunk:
                break
            received += chunk
    return int(received.split(b" ", 2)[1]), received.partition(b"\r\n\r\n")[2]


def test_a_vm_operator_can_neither_see_nor_open_the_control_domain(server: Server) -> None:
    """Through the official binding a vm-operator finds no control domain, its ref answers as
    a nonexistent one, and its console's CONNECT is 403; a pool-admin sees and opens it."""
    operator = login(server, "operator", PASSWORD)
    admin = login(server, "root", PASSWORD)
    try:
        api = operator.xenapi
        assert api.VM.get_all() == [f"OpaqueRef:{GUEST}"]
        assert api.VM.get_by_name_label(DOM0_LABEL) == []
        with pytest.raises(XenAPI.Failure) as caught:
            api.VM.get_record(f"OpaqueRef:{DOM0}")
        assert caught.value.details == ["HANDLE_INVALID", "VM", f"OpaqueRef:{DOM0}"]
        assert f"OpaqueRef:{DOM0_CONSOLE}" not in api.console.get_all()
        assert connect_status(server, DOM0_CONSOLE, operator.handle)[0] == 403
        status, after = connect_status(server, GUEST_CONSOLE, operator.handle)
        assert status == 200 and after.startswith(b"RFB 003.008\n")
        assert admin.xenapi.VM.get_by_name_label(DOM0_LABEL) == [f"OpaqueRef:{DOM0}"]
        status, after = connect_status(server, DOM0_CONSOLE, admin.handle)
        assert status == 200 and after.startswith(b"RFB 003.008\n")
    finally:
        for session in (operator, admin):
            end(session)
    log = server.log.read_text()
    assert f"user operator, console OpaqueRef:{DOM0_CONSOLE}, 403 not allowed: role " \
           "vm-operator is below pool-operator" in log


def guess_until_blocked(server: Server, source: str, outcomes: list[tuple[str, float]]) -> None:
    """Wrong passwords from ``source`` until the proxy says the address is blocked."""
    for attempt in range(20):
        started = time.monotonic()
        try:
            end(login(server, "root", f"guess {attempt}", source))
        except XenAPI.Failure as failure:
            message = failure.details[2]
            outcomes.append((message, time.monotonic() - started))
            if "too many authentication failures" in message:
                return
        else:
            outcomes.append(("logged in", 0.0))
            return


def test_guessers_are_slowed_then_blocked_while_others_are_served(server: Server) -> None:
    """Sixteen guessing addresses get their refusals late, then are blocked (the right
    password is refused too); meanwhile and afterwards an unrelated client logs in and
    lists VMs; each refusal is logged with peer and user, never the password."""
    sources = [f"127.0.0.{2 + index}" for index in range(GUESSERS)]
    outcomes: dict[str, list[tuple[str, float]]] = {source: [] for source in sources}
    threads = [threading.Thread(target=guess_until_blocked, args=(server, source, outcomes[source]))
               for source in sources]
    for thread in threads:
        thread.start()
    try:
        served = 0
        while any(thread.is_alive() for thread in threads) or served < 3:
            session = login(server, "root", PASSWORD)
            assert f"OpaqueRef:{GUEST}" in session.xenapi.VM.get_all()
            end(session)
            served += 1
    finally:
        for thread in threads:
            thread.join(DEADLINE)
    for source in sources:
        messages = [message for message, _ in outcomes[source]]
        assert messages[:5] == ["Authentication failure"] * 5, source
        assert "too many authentication failures" in messages[-1]
        # Refused late: each wrong password's answer waited at least the first delay.
        assert all(waited >= FIRST_DELAY for _, waited in outcomes[source][:5])
    with pytest.raises(XenAPI.Failure) as caught:
        login(server, "root", PASSWORD, sources[0])
    assert "too many authentication failures" in caught.value.details[2]
    end(login(server, "root", PASSWORD, "127.0.0.200"))
    log = server.log.read_text()
    assert f"xmlrpc login refused: peer {sources[0]}, user root: wrong user or password" in log
    assert f"xmlrpc login refused: peer {sources[0]}, user root: too many" in log
    assert "guess 1" not in log and PASSWORD not in log
