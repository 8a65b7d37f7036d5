"""The seed's console flow with the official XenAPI Python binding (PyPI ``XenAPI``).

Steps ("Retrieving VNC consoles using the API"): log in, find the VM by name label, list its
consoles, take the RFB console's location, then send ``CONNECT <location path>?<query>``
with the session in a cookie (over TLS for an https location), check for 200, and read the
RFB greeting.

Against the demo (``.venv/bin/consoleproxy serve`` with no config)::

    .venv/bin/python samples/xenapi_console_flow.py --url https://127.0.0.1:8443/ --vm demo
    .venv/bin/python samples/xenapi_console_flow.py --url https://127.0.0.1:8443/ --tunnel 5901
    vncviewer 127.0.0.1::5901      # with --tunnel: any number of viewers, each its own CONNECT
"""

from __future__ import annotations

import argparse
import select
import socket
import ssl
import sys
import threading
from urllib.parse import urlsplit

import XenAPI


def find_console_location(session: XenAPI.Session, vm_name: str, protocol: str) -> str:
    """The location of ``vm_name``'s first console speaking ``protocol``."""
    vms = session.xenapi.VM.get_by_name_label(vm_name)
    if not vms:
        raise SystemExit(f"no VM named {vm_name!r}")
    for console in session.xenapi.VM.get_consoles(vms[0]):
        if session.xenapi.console.get_protocol(console) == protocol:
            return session.xenapi.console.get_location(console)
    raise SystemExit(f"VM {vm_name!r} has no {protocol} console")


def connect_console(
    location: str, session_ref: str, *, address: tuple[str, int] | None = None,
    timeout: float = 10.0,
) -> tuple[socket.socket, bytes]:
    """CONNECT to the console at ``location`` (or at ``address``, if given), over TLS for an
    https location.

    Returns the socket and any console bytes that arrived with the reply.
    """
    parts = urlsplit(location)
    secure = parts.scheme == "https"
    host, port = address or (parts.hostname or "127.0.0.1", parts.port or (443 if secure else 80))
    sock = socket.create_connection((host, port), timeout=timeout)
    if secure:
        context = ssl.create_default_context()
        context.check_hostname = False  # hosts commonly use self-signed certificates
        context.verify_mode = ssl.CERT_NONE
        sock = context.wrap_socket(sock, server_hostname=host)
    request = (
        f"CONNECT {parts.path}?{parts.query} HTTP/1.0\r\n"
        f"Host: {parts.netloc}\r\n"
        f"Cookie: session_id={session_ref}\r\n\r\n"
    )
    sock.sendall(request.encode("ascii"))
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = sock.recv(4096)
        if not chunk:
            break
        received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    status_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    if status_line.split(" ")[1:2] != ["200"]:
        sock.close()
        raise SystemExit(f"console refused: {status_line!r}")
    return sock, rest


def relay(sock: socket.socket, viewer: socket.socket, early: bytes = b"") -> None:
    """Copy bytes both ways between a console socket and a viewer until either side closes.

    One thread drives both directions: an SSL socket must not be used by two threads at once.
    """
    sock.settimeout(None)
    with viewer, sock:
        if early:
            viewer.sendall(early)
        while True:
            pending = sock.pending() > 0 if isinstance(sock, ssl.SSLSocket) else False
            readable = [sock] if pending else select.select([sock, viewer], [], [])[0]
            for source, sink in ((sock, viewer), (viewer, sock)):
                if source in readable:
                    data = source.recv(65536)
                    if not data:
                        return
                    sink.sendall(data)


def tunnel(location: str, session_ref: str, port: int,
           address: tuple[str, int] | None = None) -> None:
    """Serve VNC viewers on 127.0.0.1:``port`` (0: any free port), each through a CONNECT of
    its own, until interrupted."""
    with socket.create_server(("127.0.0.1", port)) as listener:
        port = listener.getsockname()[1]
        print(f"serving viewers: vncviewer 127.0.0.1::{port}  (Ctrl-C stops)", flush=True)
        while True:
            viewer, _ = listener.accept()
            try:
                sock, early = connect_console(location, session_ref, address=address)
            except (OSError, SystemExit) as error:
                print(f"viewer not connected: {error}", file=sys.stderr, flush=True)
                viewer.close()
                continue
            threading.Thread(target=relay, args=(sock, viewer, early), daemon=True).start()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", default="https://127.0.0.1:8443/", help="the XenAPI URL")
    parser.add_argument("--user", default="root")
    parser.add_argument("--password", default="demo")
    parser.add_argument("--vm", default="demo", help="the VM's name label")
    parser.add_argument("--connect", metavar="HOST:PORT",
                        help="connect here instead of the location's host (e.g. through a "
                        "port forward)")
    parser.add_argument("--tunnel", type=int, metavar="PORT",
                        help="after the greeting check, serve VNC viewers on this local port "
                        "(0: any free one), each through its own CONNECT")
    args = parser.parse_args()

    session = XenAPI.Session(args.url, ignore_ssl=True)
    session.xenapi.login_with_password(args.user, args.password, "1.0",
                                       "xenapi_console_flow.py")
    try:
        location = find_console_location(session, args.vm, "rfb")
        print(f"console location: {location}", flush=True)
        address = None
        if args.connect:
            host, _, port = args.connect.rpartition(":")
            address = (host.strip("[]"), int(port))
        sock, early = connect_console(location, session._session, address=address)
        while len(early) < 12:
            chunk = sock.recv(12 - len(early))
            if not chunk:
                raise SystemExit("the console closed before its greeting")
            early += chunk
        print(f"RFB greeting: {early[:12]!r}", flush=True)
        sock.close()
        if not early.startswith(b"RFB 003.00"):
            raise SystemExit("not an RFB server")
        if args.tunnel is not None:
            tunnel(location, session._session, args.tunnel, address)
    except KeyboardInterrupt:
        pass
    finally:
        session.xenapi.session.logout()


if __name__ == "__main__":
    sys.exit(main())
