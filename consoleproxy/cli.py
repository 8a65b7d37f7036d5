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
import http.client
import json
import os
import select
import shlex
import shutil
import socket
import ssl
import sys
import xmlrpc.client
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final, NoReturn
from urllib.parse import urlsplit
from xml.parsers.expat import ExpatError

from consoleproxy.locations import planned_listeners
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
    """The configuration at ``path`` (or the demo's), and whether it is the demo; raises
    ConfigError with a one-line message (an unreadable file included)."""
    if path is None:
        return parse_config(demo_config_text(), source="<demo>"), True
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
        raise ConfigError("", f"cannot read {path}: {reason}") from None
    return parse_config(text, source=path), False


def configured_registry(config: Config) -> Registry:
    """The registry ``console-list`` shows: locations name the listeners ``serve`` would open
    with this configuration (``[proxy] listen``, else the defaults)."""
    from consoleproxy.service import parse_proxy_settings

    return Registry(config, planned_listeners(parse_proxy_settings(config.proxy).listen))


def shown_path(path: str) -> str:
    """``path`` as a user here can type it: relative when it is under the working directory."""
    relative = os.path.relpath(path)
    if relative.startswith(".."):
        relative = os.path.abspath(path)
    elif "/" not in relative:
        relative = f"./{relative}"  # a bare name would be looked up on PATH
    return shlex.quote(relative)


def own_command() -> str:
    """How to run consoleproxy again from here: the script that was run (``.venv/bin/...``),
    its bare name only when PATH finds that very script, else ``python -m consoleproxy``."""
    script = sys.argv[0] if sys.argv else ""
    if os.path.basename(script) == "consoleproxy" and os.path.isfile(script):
        found = shutil.which("consoleproxy")
        if found is not None and os.path.samefile(found, script):
            return "consoleproxy"
        return shown_path(script)
    return f"{shown_path(sys.executable)} -m consoleproxy"


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


class ConsoleError(Exception):
    """``consoleproxy console`` cannot go on; the message is the one line the user sees."""


#: XenAPI error codes worth a sentence of their own.
_FAILURES: Final = {
    "SESSION_AUTHENTICATION_FAILED": "wrong user name or password",
    "SESSION_INVALID": "the session ended",
    "PERMISSION_DENIED": "permission denied",
}


def _failure_text(description: object) -> str:
    """A XenAPI ErrorDescription (``[code, params...]``) as words, not a Python list."""
    if not isinstance(description, list) or not description:
        return str(description)
    code, *params = (str(item) for item in description)
    if code in _FAILURES:
        return _FAILURES[code]
    return f"{code} ({', '.join(params)})" if params else code


def _value(reply: Any, doing: str) -> Any:
    """The Value of a XenAPI reply; a Failure becomes a ConsoleError saying what failed."""
    if not isinstance(reply, dict) or "Status" not in reply:
        raise ConsoleError(f"{doing}: not a XenAPI reply")
    if reply["Status"] != "Success":
        raise ConsoleError(f"{doing} failed: {_failure_text(reply.get('ErrorDescription'))}")
    return reply.get("Value")


def _network_failure(error: Exception, where: str) -> str:
    """One line for a failure talking to ``where`` (a URL or host:port)."""
    if isinstance(error, ssl.SSLError):
        reason = error.reason or error.strerror or str(error)
        return f"TLS with {where} failed ({reason}): is it an http:// listener?"
    if isinstance(error, http.client.RemoteDisconnected):
        return f"{where} closed the connection without a reply: is it an https:// listener?"
    if isinstance(error, xmlrpc.client.ProtocolError):
        return f"{where} is not a XenAPI server (HTTP {error.errcode} {error.errmsg})"
    if isinstance(error, xmlrpc.client.Fault | xmlrpc.client.ResponseError | ExpatError |
                  http.client.HTTPException):
        return f"{where} is not a XenAPI server ({error})"
    if isinstance(error, TimeoutError):
        return f"{where} did not answer in time"
    if isinstance(error, OSError):
        return f"cannot reach {where}: {error.strerror or error}"
    raise error


def _find_vt100_location(url: str, user: str, password: str, vm: str) -> tuple[str, str]:
    """(location, session ref) of ``vm``'s vt100 console, by name label or uuid."""
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise ConsoleError(f"--url must be an http:// or https:// URL, not {url!r}")
    context = _tls_context() if url.startswith("https") else None
    try:
        proxy: Any = xmlrpc.client.ServerProxy(url, context=context, allow_none=True)
        with proxy:
            return _find_with(proxy, user, password, vm)
    except ConsoleError:
        raise
    except Exception as error:
        raise ConsoleError(_network_failure(error, url)) from None


def _find_with(proxy: Any, user: str, password: str, vm: str) -> tuple[str, str]:
    reply = proxy.session.login_with_password(user, password, "1.0", "consoleproxy console")
    session = _value(reply, f"login as {user!r}")
    try:
        vms = _value(proxy.VM.get_by_name_label(session, vm), "finding the VM")
        if not vms:
            found = proxy.VM.get_by_uuid(session, vm)
            vms = [found["Value"]] if found.get("Status") == "Success" else []
        if not vms:
            raise ConsoleError(f"no VM named {vm!r}")
        for console in _value(proxy.VM.get_consoles(session, vms[0]), "listing its consoles"):
            protocol = _value(proxy.console.get_protocol(session, console), "reading a console")
            if protocol == "vt100":
                location = _value(proxy.console.get_location(session, console),
                                  "reading the console's location")
                return location, session
    except BaseException:
        proxy.session.logout(session)
        raise
    proxy.session.logout(session)
    raise ConsoleError(f"VM {vm!r} has no vt100 console")


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
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
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
    except OSError as error:
        raise ConsoleError(_network_failure(error, where)) from None
    status_line = head.split(b"\r\n", 1)[0]
    if b" 200 " not in status_line + b" ":
        sock.close()
        if b" 404 " in status_line:
            raise ConsoleError("the console is not available now")
        if not status_line:
            raise ConsoleError(f"console refused: {where} closed the connection")
        raise ConsoleError(f"console refused: {status_line.decode('latin-1')}")
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


def _password(args: argparse.Namespace) -> str:
    if args.password_file:
        try:
            lines = Path(args.password_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) else "not UTF-8 text"
            raise ConsoleError(f"cannot read {args.password_file}: {reason}") from None
        return lines[0] if lines else ""
    try:
        with open("/dev/tty", "rb"):
            pass
    except OSError:
        raise ConsoleError("no terminal to ask for the password on: give --password-file "
                           "FILE") from None
    return getpass.getpass(f"Password for {args.user}: ")


def run_console(args: argparse.Namespace) -> int:
    """``consoleproxy console``: every failure is one line on stderr and exit status 1."""
    try:
        address = None
        if args.connect:
            host, _, port = args.connect.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ConsoleError(f"--connect must be HOST:PORT, not {args.connect!r}")
            address = (host.strip("[]"), int(port))
        password = _password(args)
        location, session = _find_vt100_location(args.url, args.user, password, args.vm)
        sock = open_console(location, session, address=address)
    except ConsoleError as error:
        print(f"consoleproxy: {error}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print(file=sys.stderr)
        return 130
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
    except ConfigError as error:
        print(f"consoleproxy: {error}", file=sys.stderr)
        return 2
    observer: Any = TextLogObserver(sys.stderr, debug=args.verbose)

    def begin_logging() -> None:
        # Until now events were held back (Twisted buffers them): a start that fails prints
        # its one line and not the reactor's own lines after it.
        globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)

    leandispatch.install()
    code = 0

    def serve(reactor: Any) -> Any:
        return _serve(reactor, args, config, demo, begin_logging)

    try:
        task.react(serve)
    except SystemExit as exit_:
        code = int(exit_.code or 0) if not isinstance(exit_.code, str) else 1
    return code


def _serve(reactor: Any, args: argparse.Namespace, config: Config, demo: bool,
           begin_logging: Callable[[], None]) -> Any:
    from twisted.internet import defer

    from consoleproxy import privileges
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
        try:
            account = privileges.prepare(settings, args.user)
        except (privileges.PrivilegeError, privileges.ConfinementError) as error:
            print(f"consoleproxy: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        state_dir = Path(args.state_dir) if args.state_dir else None
        # A bug here still shows its traceback: Twisted writes critical events (log.failure)
        # to stderr even before logging begins.
        proxy = ConsoleProxy(reactor, config, state_dir=state_dir, settings=settings,
                             hidden=[args.config] if args.config else [])
        try:
            listening = yield proxy.listen(args.listen or None)
        except Exception as error:
            print(f"consoleproxy: cannot listen: {_listen_failure(error)}", file=sys.stderr)
            raise SystemExit(1) from None
        begin_logging()
        reactor.addSystemEventTrigger("before", "shutdown", proxy.stop)
        try:
            privileges.settle(proxy, account, demo=demo,
                              allow_demo_on_network=args.allow_demo_on_network)
        except (privileges.DemoExposed, privileges.PrivilegeError,
                privileges.ConfinementError) as error:
            print(f"consoleproxy: {error}", file=sys.stderr)
            raise SystemExit(2 if isinstance(error, privileges.DemoExposed) else 1) from None
        heap.settle()
        _print_banner(proxy, listening, demo)
        yield defer.Deferred()  # serve until the reactor stops (Ctrl-C, SIGTERM)

    return go()


def _listen_failure(error: Exception) -> str:
    """Why listening failed, in words (a missing file is named)."""
    from vncterm.cli import failure_reason

    if isinstance(error, OSError) and error.strerror and error.filename:
        return f"{error.filename}: {error.strerror}"
    port = getattr(error, "port", None)  # CannotListenError says where
    if port is not None:
        return f"{getattr(error, 'interface', '') or '*'}:{port}: {failure_reason(error)}"
    return failure_reason(error)


def _print_banner(proxy: Any, listening: Sequence[Any], demo: bool) -> None:
    """Where the proxy listens, its consoles' locations and, for the demo, commands that work
    exactly as printed from this directory."""
    urls: dict[str, str] = {}
    for item in listening:
        scheme = "https" if item.tls else "http"
        host = f"[{item.host}]" if ":" in item.host else item.host
        url = f"{scheme}://{host}:{item.port}/" if item.port is not None else item.host
        if item.port is not None:
            urls.setdefault(scheme, url)
        print(f"consoleproxy: listening on {url} (XenAPI XML-RPC, CONNECT and WebSocket "
              "/console, viewer pages)", flush=True)
    registry = proxy.registry
    for console in registry.consoles:
        vm = registry.vm_by_uuid(console.vm_uuid)
        label = vm.name_label if vm is not None else "?"
        print(f"consoleproxy: console of {label!r} ({console.protocol.value}): "
              f"{registry.location(console)}", flush=True)
    if not demo:
        return
    print(f"consoleproxy: demo credentials: user {DEMO_USER}, password {DEMO_PASSWORD}",
          flush=True)
    # Plain HTTP first for the page: no certificate warning on 127.0.0.1.
    page_url = urls.get("http") or urls.get("https")
    api_url = urls.get("https") or urls.get("http")
    if page_url is not None:
        print(f"consoleproxy: open the demo console in a browser: {page_url}", flush=True)
    if api_url is None:
        return
    sample = Path(__file__).resolve().parents[1] / "samples" / "xenapi_console_flow.py"
    if sample.is_file():  # a source tree (README's editable install), not a wheel
        print("consoleproxy: view the demo's screen through a local VNC port, found with the "
              "official XenAPI binding:\n"
              f"  {shown_path(sys.executable)} {shown_path(str(sample))} --url {api_url} "
              "--vm demo --tunnel 5901\n  vncviewer 127.0.0.1::5901", flush=True)
    print("consoleproxy: attach this terminal to the demo's text console:\n"
          f"  {own_command()} console demo --url {api_url}", flush=True)


# -- entry point ---------------------------------------------------------------------------------


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
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
    serve.add_argument("--verbose", action="store_true",
                       help="also log debug lines (one per HTTP connection)")
    serve.add_argument("--user", metavar="NAME",
                       help="when started as root, become this user once listening "
                       "(default: [proxy] user)")
    serve.add_argument("--allow-demo-on-network", action="store_true",
                       help="serve the demo (public credentials) on listeners other hosts "
                       "can reach")
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
            registry = configured_registry(config)
        except ConfigError as error:
            print(f"consoleproxy: {error}", file=sys.stderr)
            raise SystemExit(2) from None
        sys.stdout.write(format_console_list(registry, args.vm_uuid))
        raise SystemExit(0)
    raise SystemExit(run_console(args))

