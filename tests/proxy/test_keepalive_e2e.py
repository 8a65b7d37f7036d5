"""End to end: the official XenAPI binding keeps calling on one keep-alive connection after
the real `consoleproxy serve` closed it for idling, over TLS and plain HTTP."""

from __future__ import annotations

import socket
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
import XenAPI

from tests.proxy.helpers import PASSWORD, PASSWORD_HASH
from tests.proxy.serving import consoleproxy

pytestmark = pytest.mark.e2e

#: The server's idle timeout here (xapi's is 12 h; the test must not wait that long).
IDLE = 1.0
DEADLINE = 30.0  # seconds the server may take to close the idle connection
#: Linux TCP states (include/net/tcp_states.h).
TCP_ESTABLISHED = 1


@pytest.fixture(scope="module")
def ports(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, int]]:
    directory = tmp_path_factory.mktemp("keepalive")
    (directory / "proxy.toml").write_text(textwrap.dedent(f"""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "e2e"
        address = "127.0.0.1"
        [limits]
        http_idle_timeout = {IDLE}
        [[users]]
        name = "root"
        password_hash = "{PASSWORD_HASH}"
        [[vms]]
        uuid = "11111111-1111-4111-8111-111111111111"
        name_label = "guest"
          [[vms.consoles]]
          uuid = "33333333-3333-4333-8333-333333333333"
          protocol = "vt100"
          backend = "command:{sys.executable} -c 'import time; time.sleep(3600)'"
    """))
    with consoleproxy(
        ["--config", str(directory / "proxy.toml"), "--listen", "tcp:0:interface=127.0.0.1",
         "--listen", "ssl:0:interface=127.0.0.1", "--state-dir", str(directory / "state")],
        directory, listeners=2,
    ) as found:
        yield found


def connection_of(session: XenAPI.Session) -> socket.socket:
    """The socket xmlrpc.client keeps open between the binding's calls."""
    transport: Any = session._ServerProxy__transport  # type: ignore[attr-defined]
    sock: socket.socket = transport._connection[1].sock
    return sock


def wait_until_closed_by_server(sock: socket.socket) -> int:
    """Wait until the server ended the connection as the client's kernel sees it (a FIN, or
    a reset); returns the TCP state."""
    deadline = time.monotonic() + DEADLINE
    while True:
        state = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)[0]
        if state != TCP_ESTABLISHED:
            return state
        assert time.monotonic() < deadline, "the server kept the idle connection open"
        time.sleep(0.05)


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_binding_calls_again_after_the_server_closed_its_idle_connection(
    ports: dict[str, int], scheme: str
) -> None:
    """XenAPI.Session's next call, after the server closed the idle keep-alive connection,
    reconnects and succeeds (over TLS it used to fail with SSLEOFError: the server waited
    15 s for a close_notify, then reset the connection)."""
    session = XenAPI.Session(f"{scheme}://127.0.0.1:{ports[scheme]}/", ignore_ssl=True)
    session.xenapi.login_with_password("root", PASSWORD, "1.0", "keep-alive e2e")
    try:
        idle = connection_of(session)
        wait_until_closed_by_server(idle)
        vms = session.xenapi.VM.get_by_name_label("guest")
        assert vms == ["OpaqueRef:11111111-1111-4111-8111-111111111111"]
        assert connection_of(session) is not idle
    finally:
        session.xenapi.session.logout()
        session("close")()
