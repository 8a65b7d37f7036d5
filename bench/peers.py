"""The programs the relay items compare, each started on 127.0.0.1 in its own process group:
the sink/source server, vncterm, consoleproxy (with a session logged in), socat and haproxy.

A `Peer` is one way to reach a far end: directly, or through one of the relays. Its `open()`
returns a socket positioned at the far end's first byte (after the CONNECT reply, for
consoleproxy).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import textwrap
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    CHILDREN,
    LOCALHOST,
    PYTHON,
    free_port,
    log,
    port_of_line,
    read_line,
    wait_port,
)

PASSWORD = "bench"
HOST_UUID = "99999999-9999-4999-8999-999999999999"
VM_UUID = "11111111-1111-4111-8111-111111111111"
#: A text console hosted inside consoleproxy (rendered by its vncterm code).
HOSTED_RFB = "22222222-2222-4222-8222-222222222222"
#: A relayed console whose server is the sink/source server.
SINK_RELAY = "33333333-3333-4333-8333-333333333333"
#: A relayed console whose server is a vncterm process.
VNCTERM_RELAY = "44444444-4444-4444-8444-444444444444"
START_TIMEOUT = 20.0


def _which(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/usr/bin") / name) if p.exists()),
        None,
    )


def ensure_peers(install: bool) -> dict[str, str | None]:
    """Paths of socat and haproxy; installs the Debian packages when missing and allowed."""
    found = {name: _which(name) for name in ("socat", "haproxy")}
    missing = [name for name, path in found.items() if path is None]
    if missing and install and shutil.which("apt-get"):
        log(f"installing {' '.join(missing)} with apt-get (bounded to 240 s)")
        try:
            subprocess.run(["apt-get", "install", "-y", "-q", "-o", "DPkg::Lock::Timeout=60",
                            *missing], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=240, check=False)
        except (OSError, subprocess.SubprocessError) as error:
            log(f"apt-get failed: {error}")
        found = {name: _which(name) for name in ("socat", "haproxy")}
    return found


# -- servers -----------------------------------------------------------------------------------


def start_sink(workdir: Path, preexec: Callable[[], None] | None = None) -> int:
    proc = CHILDREN.start([PYTHON, "-m", "bench.sinkserver"], log=workdir / "sink.log",
                          preexec=preexec)
    return int(read_line(proc, START_TIMEOUT).strip())


def start_vncterm(workdir: Path, command: list[str], name: str = "vncterm",
                  extra: tuple[str, ...] = ()) -> tuple[subprocess.Popen[bytes], int]:
    proc = CHILDREN.start([PYTHON, "-m", "vncterm", "--listen", "tcp:0:interface=127.0.0.1",
                           *extra, "--", *command], log=workdir / f"{name}.log")
    line = read_line(proc, START_TIMEOUT, containing="serving")
    return proc, port_of_line(line.split(" on ", 1)[1])


def proxy_config(sink_port: int, vncterm_port: int | None,
                 max_connections: int | None = None, relay_thread: bool = True) -> str:
    from consoleproxy.auth import hash_password

    # A cheap hash: the suite logs in once per proxy, and login is not what is measured.
    password_hash = hash_password(PASSWORD, n=16)
    limits = f"[limits]\nmax_connections = {max_connections}\n" if max_connections else ""
    if not relay_thread:
        limits += "[proxy]\nrelay_thread = false\n"
    relay_vncterm = ""
    if vncterm_port is not None:
        relay_vncterm = f"""
              [[vms.consoles]]
              uuid = "{VNCTERM_RELAY}"
              protocol = "rfb"
              backend = "tcp:127.0.0.1:{vncterm_port}"
        """
    return textwrap.dedent(f"""
        [host]
        uuid = "{HOST_UUID}"
        name_label = "bench"
        address = "127.0.0.1"
        """) + limits + textwrap.dedent(f"""
        [[users]]
        name = "root"
        password_hash = "{password_hash}"
        [[vms]]
        uuid = "{VM_UUID}"
        name_label = "bench"
          [[vms.consoles]]
          uuid = "{HOSTED_RFB}"
          protocol = "rfb"
          backend = "command:/bin/cat"
          [[vms.consoles]]
          uuid = "{SINK_RELAY}"
          protocol = "rfb"
          backend = "tcp:127.0.0.1:{sink_port}"
        """) + textwrap.dedent(relay_vncterm)


@dataclass
class Proxy:
    proc: subprocess.Popen[bytes]
    port: int
    session: str

    def request(self, console_uuid: str) -> bytes:
        """The CONNECT preamble for a console, as `xe console` sends it (session in query)."""
        return (f"CONNECT /console?ref=OpaqueRef:{console_uuid}&session_id={self.session} "
                "HTTP/1.0\r\n\r\n").encode()


def start_proxy(workdir: Path, config: str, name: str = "consoleproxy",
                preexec: Callable[[], None] | None = None) -> Proxy:
    path = workdir / f"{name}.toml"
    path.write_text(config)
    proc = CHILDREN.start(
        [PYTHON, "-m", "consoleproxy", "serve", "--config", str(path),
         "--listen", "tcp:0:interface=127.0.0.1", "--state-dir", str(workdir / "state")],
        log=workdir / f"{name}.log", preexec=preexec,
    )
    line = read_line(proc, START_TIMEOUT, containing="listening on")
    port = int(line.split("listening on ", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1])
    server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/", allow_none=True)
    reply = server.session.login_with_password("root", PASSWORD, "1.0", "bench")
    if not isinstance(reply, dict) or reply.get("Status") != "Success":
        raise RuntimeError(f"login to consoleproxy failed: {reply!r}")
    return Proxy(proc, port, str(reply["Value"]))


def start_socat(workdir: Path, socat: str, target_port: int) -> int:
    port = free_port()
    CHILDREN.start([socat, f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,backlog=1024",
                    f"TCP:127.0.0.1:{target_port}"], log=workdir / f"socat-{port}.log")
    wait_port(port, START_TIMEOUT)
    return port


def start_haproxy(workdir: Path, haproxy: str, target_ports: list[int],
                  maxconn: int = 4096) -> list[int]:
    """One haproxy process (one thread, like consoleproxy), one tcp frontend per target."""
    ports = [free_port() for _ in target_ports]
    sections = []
    for index, (port, target) in enumerate(zip(ports, target_ports, strict=True)):
        sections.append(textwrap.dedent(f"""
            frontend f{index}
                bind 127.0.0.1:{port}
                default_backend b{index}
            backend b{index}
                server s{index} 127.0.0.1:{target}
        """))
    config = textwrap.dedent(f"""
        global
            maxconn {maxconn}
            nbthread 1
        defaults
            mode tcp
            timeout connect 5s
            timeout client 120s
            timeout server 120s
    """) + "".join(sections)
    path = workdir / "haproxy.cfg"
    path.write_text(config)
    CHILDREN.start([haproxy, "-db", "-f", str(path)], log=workdir / "haproxy.log")
    for port in ports:
        wait_port(port, START_TIMEOUT)
    return ports


# -- reaching a far end ------------------------------------------------------------------------


@dataclass
class Peer:
    """One way to reach a far end: ``request`` is the CONNECT preamble to send first, if any."""

    name: str
    port: int
    request: bytes | None = None

    def open(self, timeout: float = 10.0) -> socket.socket:
        sock = socket.create_connection((LOCALHOST, self.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self.request is not None:
            sock.sendall(self.request)
            head = read_reply_head(sock)
            if not head.startswith(b"HTTP/1.1 200") and not head.startswith(b"HTTP/1.0 200"):
                sock.close()
                raise ConnectionError(f"{self.name}: {head.splitlines()[0]!r}")
        return sock


def read_reply_head(sock: socket.socket) -> bytes:
    """The reply head, read a byte at a time so that no console byte is consumed."""
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        byte = sock.recv(1)
        if not byte:
            break
        head += byte
        if len(head) > 16384:
            break
    return bytes(head)
