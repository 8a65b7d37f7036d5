"""The ``consoleproxy`` command line: ``serve``, ``console-list`` and ``console``.

``serve`` runs the front door (XenAPI XML-RPC and ``CONNECT /console`` on the same
listeners); with no ``--config`` it serves the embedded demo (``consoleproxy/demo.toml``).
``console-list`` prints what ``xe console-list`` prints, from a configuration file.
``console VM`` attaches this terminal to a VM's vt100 console through CONNECT, as
``xe console`` does (Ctrl-] leaves).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import select
import shlex
import socket
import ssl
import sys
import xmlrpc.client
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from consoleproxy.registry import Config, ConfigError, Registry, parse_config

__all__ = ["demo_config_text", "format_console_list", "main"]

#: Demo credentials (the hash in demo.toml is of this password).
DEMO_USER = "root"
DEMO_PASSWORD = "demo"
#: Ctrl-]: leaves ``consoleproxy console``, as in telnet and ``xe console``.
ESCAPE_BYTE = b"\x1d"
_DEFAULT_URL = "https://127.0.0.1:8443/"


def demo_config_text() -> str:
    """The embedded demo configuration, its console command bound to this Python."""
    text = Path(__file__).with_name("demo.toml").read_text(encoding="utf-8")
    python = json.dumps(shlex.quote(sys.executable))[1:-1]
    return text.replace("@PYTHON@", python)


def load(path: str | None) -> tuple[Config, bool]:
    """The configuration at ``path`` (or the demo's), and whether it is the demo."""
    if path is None:
        return parse_config(demo_config_text(), source="<demo>"), True
    return parse_config(Path(path).read_text(encoding="utf-8"), source=path), False


# -- console-list ----------------------------------------------------------------------------


def format_console_list(registry: Registry, vm_uuid: str | None = None) -> str:
    """The records ``xe console-list`` prints, in its layout (RO fields, aligned colons)."""
    out = []
    for console in registry.consoles:
        if vm_uuid is not None and console.vm_uuid != vm_uuid.lower():
            continue
        vm = registry.vm_by_uuid(console.vm_uuid)
        fields = [
            ("uuid", console.uuid),
            ("vm-uuid", console.vm_uuid),
            ("vm-name-label", vm.name_label if vm is not None else ""),
            ("protocol", console.protocol.value.upper()),
            ("location", registry.location(console)),
        ]
        for index, (name, value) in enumerate(fields):
            label = f"{'' if index == 0 else '    '}{name} ( RO)"
            out.append(f"{label:<23}: {value}")
        out.append("")
        out.append("")
    return "\n".join(out)


# -- console -----------------------------------------------------------------------------------


def _tls_context() -> ssl.SSLContext:
    # Like the XenAPI binding's ignore_ssl: hosts commonly run with self-signed certificates.
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _find_vt100_location(url: str, user: str, password: str, vm: str) -> tuple[str, str]:
    """(location, session ref) of ``vm``'s vt100 console, by name label or uuid."""
    context = _tls_context() if url.startswith("https") else None
    proxy: Any = xmlrpc.client.ServerProxy(url, context=context, allow_none=True)
    with proxy:
        reply = proxy.session.login_with_password(user, password, "1.0", "consoleproxy console")
        if reply["Status"] != "Success":
            raise SystemExit(f"consoleproxy: login failed: {reply['ErrorDescription']}")
        session = reply["Value"]
        try:
            vms = proxy.VM.get_by_name_label(session, vm)["Value"]
            if not vms:
                found = proxy.VM.get_by_uuid(session, vm)
                vms = [found["Value"]] if found["Status"] == "Success" else []
            if not vms:
                raise SystemExit(f"consoleproxy: no VM named {vm!r}")
            for console in proxy.VM.get_consoles(session, vms[0])["Value"]:
                if proxy.console.get_protocol(session, console)["Value"] == "vt100":
                    return proxy.console.get_location(session, console)["Value"], session
        except BaseException:
            proxy.session.logout(session)
            raise
        proxy.session.logout(session)
    raise SystemExit(f"consoleproxy: VM {vm!r} has no vt100 console")


def open_console(location: str, session: str, timeout: float = 10.0, *,
                 address: tuple[str, int] | None = None) -> socket.socket:
    """CONNECT to ``location`` (as ``xe console``) and return the socket after the 200 reply.

    ``address`` overrides the host and port of the location (a port forward, a test).

    Bytes the server sent after the reply's blank line are not lost: the reply is read a byte
    at a time.
    """
    parts = urlsplit(location)
    secure = parts.scheme == "https"
    port = parts.port or (443 if secure else 80)
    host = parts.hostname or "127.0.0.1"
    if address is not None:
        host, port = address
    raw = socket.create_connection((host, port), timeout=timeout)
    sock: socket.socket = raw
    if secure:
        sock = _tls_context().wrap_socket(raw, server_hostname=parts.hostname)
    target = f"{parts.path or '/console'}?{parts.query}&session_id={session}"
    sock.sendall(f"CONNECT {target} HTTP/1.0\r\ncontent-length: 0\r\n\r\n".encode())
    head = b""
    while not head.endswith(b"\r\n\r\n") and not head.endswith(b"\n\n"):
        byte = sock.recv(1)
        if not byte or len(head) > 16384:
            break
        head += byte
    status_line = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status_line + b" ":
        sock.close()
        if b" 404 " in status_line:
            raise SystemExit("consoleproxy: the console is not available")
        raise SystemExit(f"consoleproxy: console refused: {status_line.decode('latin-1')}")
    sock.settimeout(None)
    return sock


def attach_terminal(sock: socket.socket) -> None:
    """Copy this terminal to the console and back until Ctrl-] or the console closes."""
    stdin = sys.stdin.fileno()
    stdout = sys.stdout.fileno()
    restore: Any = None
    if os.isatty(stdin):
        import termios
        import tty

        restore = termios.tcgetattr(stdin)
        tty.setraw(stdin)
    try:
        while True:
            pending = isinstance(sock, ssl.SSLSocket) and sock.pending() > 0
            readable = [sock] if pending else select.select([sock, stdin], [], [])[0]
            if sock in readable:
                data = sock.recv(65536)
                if not data:
                    break
                os.write(stdout, data)
            if stdin in readable:
                typed = os.read(stdin, 4096)
                if not typed:
                    break
                if ESCAPE_BYTE in typed:
                    typed = typed.split(ESCAPE_BYTE, 1)[0]
                    if typed:
                        sock.sendall(typed)
                    break
                sock.sendall(typed)
    finally:
        if restore is not None:
            import termios

            termios.tcsetattr(stdin, termios.TCSADRAIN, restore)
        sock.close()
    sys.stderr.write("\r\nconsoleproxy: console closed\r\n")


def run_console(args: argparse.Namespace) -> int:
    if args.password_file:
        password = Path(args.password_file).read_text(encoding="utf-8").splitlines()[0]
    else:
        password = getpass.getpass(f"Password for {args.user}: ")
    location, session = _find_vt100_location(args.url, args.user, password, args.vm)
    address = None
    if args.connect:
        host, _, port = args.connect.rpartition(":")
        address = (host.strip("[]"), int(port))
    sock = open_console(location, session, address=address)
    sys.stderr.write("consoleproxy: connected; Ctrl-] leaves\r\n")
    attach_terminal(sock)
    return 0


# -- serve -------------------------------------------------------------------------------------


def run_serve(args: argparse.Namespace) -> int:
    from twisted.internet import task
    from twisted.logger import globalLogBeginner

    from vncterm import leandispatch
    from vncterm.logtext import TextLogObserver

    try:
        config, demo = load(args.config)
    except (ConfigError, OSError) as error:
        print(f"consoleproxy: {error}", file=sys.stderr)
        return 2
    observer: Any = TextLogObserver(sys.stderr)
    globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)
    leandispatch.install()
    code = 0

    def serve(reactor: Any) -> Any:
        return _serve(reactor, args, config, demo)

    try:
        task.react(serve)
    except SystemExit as exit_:
        code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return code


def _serve(reactor: Any, args: argparse.Namespace, config: Config, demo: bool) -> Any:
    from twisted.internet import defer

    from consoleproxy.service import ConsoleProxy, parse_proxy_settings
    from vncterm import heap

    @defer.inlineCallbacks
    def go() -> Any:
        try:
            settings = parse_proxy_settings(config.proxy)
        except ConfigError as error:
            print(f"consoleproxy: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        if args.tls_minimum:
            from dataclasses import replace

            settings = replace(settings, tls_minimum=args.tls_minimum)
        state_dir = Path(args.state_dir) if args.state_dir else None
        proxy = ConsoleProxy(reactor, config, state_dir=state_dir, settings=settings)
        try:
            listening = yield proxy.listen(args.listen or None)
        except Exception as error:
            print(f"consoleproxy: cannot listen: {error}", file=sys.stderr)
            raise SystemExit(1) from None
        reactor.addSystemEventTrigger("before", "shutdown", proxy.stop)
        proxy.start_consoles()
        heap.settle()
        https_url = None
        page_url = None
        for item in listening:
            scheme = "https" if item.tls else "http"
            host = f"[{item.host}]" if ":" in item.host else item.host
            url = f"{scheme}://{host}:{item.port}/" if item.port is not None else item.host
            if item.tls and https_url is None:
                https_url = url
            if item.port is not None and (page_url is None or not item.tls):
                page_url = url  # plain HTTP first: no certificate warning on 127.0.0.1
            print(f"consoleproxy: listening on {url} (XenAPI XML-RPC, CONNECT and WebSocket "
                  "/console, viewer pages)", flush=True)
        for console in proxy.registry.consoles:
            vm = proxy.registry.vm_by_uuid(console.vm_uuid)
            label = vm.name_label if vm is not None else "?"
            print(f"consoleproxy: console of {label!r} ({console.protocol.value}): "
                  f"{proxy.registry.location(console)}", flush=True)
        if demo:
            url = https_url or _DEFAULT_URL
            connect = url.split("//", 1)[1].rstrip("/")
            print(f"consoleproxy: demo credentials: user {DEMO_USER}, password {DEMO_PASSWORD}",
                  flush=True)
            if page_url is not None:
                print(f"consoleproxy: open the demo console in a browser: {page_url}",
                      flush=True)
            print("consoleproxy: view the demo's screen through a local VNC port (the sample "
                  "uses the official XenAPI binding: pip install XenAPI):\n"
                  f"  python samples/xenapi_console_flow.py --url {url} --connect {connect} "
                  "--vm demo --tunnel 5901\n  vncviewer 127.0.0.1::5901\n"
                  "consoleproxy: or attach this terminal to its text console:\n"
                  f"  consoleproxy console demo --url {url} --connect {connect}", flush=True)
        yield defer.Deferred()  # serve until the reactor stops (Ctrl-C, SIGTERM)

    return go()


# -- entry point ---------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="consoleproxy",
        description="The CONNECT /console front door to VM consoles, with XenAPI discovery.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser(
        "serve", help="serve consoles and the XenAPI subset",
        description="Serve XML-RPC and CONNECT /console on every listener. With no --config, "
        "serve the embedded demo on tcp:8080 and ssl:8443 (127.0.0.1).",
    )
    serve.add_argument("--config", metavar="FILE", help="TOML configuration (default: the demo)")
    serve.add_argument("--listen", action="append", metavar="ENDPOINT",
                       help="Twisted endpoint string, repeatable (tcp:8080, ssl:8443, "
                       "ssl:443:privateKey=key.pem:certKey=cert.pem, unix:/run/cp.sock); "
                       "default: [proxy] listen, else tcp:8080 and ssl:8443 on 127.0.0.1")
    serve.add_argument("--state-dir", metavar="DIR",
                       help="where a generated TLS certificate is kept "
                       "(default $XDG_STATE_HOME/consoleproxy)")
    serve.add_argument("--tls-minimum", choices=("1.0", "1.1", "1.2", "1.3"),
                       help="oldest TLS version accepted (default 1.2; older only for old "
                       "clients)")
    listing = commands.add_parser("console-list", help="print consoles as xe console-list does")
    listing.add_argument("--config", metavar="FILE", help="TOML configuration (default: the demo)")
    listing.add_argument("--vm-uuid", metavar="UUID", help="only the consoles of this VM")
    console = commands.add_parser("console", help="attach this terminal to a VM's text console")
    console.add_argument("vm", metavar="VM", help="the VM's name label or uuid")
    console.add_argument("--url", default=_DEFAULT_URL, help=f"XenAPI URL (default {_DEFAULT_URL})")
    console.add_argument("--user", default=DEMO_USER, help=f"user name (default {DEMO_USER})")
    console.add_argument("--connect", metavar="HOST:PORT",
                         help="connect here instead of the host in the console's location")
    console.add_argument("--password-file", metavar="FILE",
                         help="read the password from FILE's first line (default: ask)")
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        raise SystemExit(run_serve(args))
    if args.command == "console-list":
        try:
            config, _ = load(args.config)
        except (ConfigError, OSError) as error:
            print(f"consoleproxy: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        sys.stdout.write(format_console_list(Registry(config), args.vm_uuid))
        raise SystemExit(0)
    raise SystemExit(run_console(args))

