"""The `vncterm` command line: pick a console source, listen for viewers, run until done.

With ``--user NAME``, root is dropped (:mod:`vncterm.privileges`) once the listeners are
bound, the log and recording opened and a ``--pty``/``--tcp``/``--unix`` console opened; a
``-- COMMAND`` console is started only after that, so it and its respawns run as NAME. The
embedded demo is always confined (:mod:`vncterm.sandbox`): started by root it runs as
``nobody``, sandboxed where bubblewrap works, with a throwaway home.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from twisted.internet import defer, task
from twisted.internet.endpoints import TCP4ClientEndpoint, UNIXClientEndpoint, serverFromString
from twisted.logger import Logger, globalLogBeginner

from vncterm import heap, leandispatch, privileges
from vncterm.auththrottle import AuthThrottle
from vncterm.backends.base import ConsoleSource
from vncterm.backends.command import CommandSource
from vncterm.backends.ptydevice import PtyDeviceSource
from vncterm.backends.stream import StreamSource
from vncterm.consolelog import DEFAULT_KEEP, DEFAULT_MAX_BYTES, ConsoleLog, parse_byte_size
from vncterm.limits import DEFAULT_LIMITS
from vncterm.logtext import TextLogObserver
from vncterm.privileges import Account, PrivilegeError
from vncterm.protocol import RfbViewerFactory
from vncterm.recording import Recording
from vncterm.sandbox import Confinement, ConfinementError, ConfinementPolicy
from vncterm.session import ConsoleSession
from vncterm.terminal import TERM_NAME
from vncterm.textaccess import is_local_address, make_text_site, may_listen_on

log = Logger()

DEFAULT_LISTEN = "tcp:5900:interface=127.0.0.1"


class UsageError(Exception):
    """A command-line value that cannot be used; the message says which and why."""


def parse_size(text: str) -> tuple[int, int]:
    """`COLSxROWS` -> (columns, rows), within sane bounds."""
    cols, sep, rows = text.lower().partition("x")
    if not sep or not cols.isdigit() or not rows.isdigit():
        raise argparse.ArgumentTypeError(f"size must look like 80x24, not {text!r}")
    columns, lines = int(cols), int(rows)
    if not (10 <= columns <= 500 and 2 <= lines <= 200):
        raise argparse.ArgumentTypeError("size must be 10..500 columns by 2..200 rows")
    return columns, lines


def parse_host_port(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not host:
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {text!r}")
    return host.strip("[]"), int(port)


def read_password_file(path: str) -> bytes:
    """The VNC password: the file's first line (VNC uses only its first 8 bytes)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(DEFAULT_LIMITS.max_password_file_bytes)
    except OSError as exc:
        raise UsageError(f"cannot read password file {path}: {exc.strerror}") from exc
    password = data.split(b"\n", 1)[0].rstrip(b"\r")
    if not password:
        raise UsageError(f"password file {path} is empty")
    if len(password) > 8:
        print("vncterm: note: VNC Authentication uses only the first 8 characters of the "
              "password", file=sys.stderr)
    return password


def byte_size(text: str) -> int:
    try:
        return parse_byte_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


class _Parser(argparse.ArgumentParser):
    """An argument parser whose usage errors are one line, not the whole usage text."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="vncterm",
        description="Serve a text console as a VNC desktop. With no console source, serves an "
        "embedded demo (a replayed guest boot, then a shell).",
        epilog="Examples: vncterm -- bash | vncterm --pty /dev/pts/3 | "
        "vncterm --unix /run/guest-serial.sock",
    )
    parser.add_argument(
        "--listen", action="append", metavar="ENDPOINT",
        help=f"Twisted endpoint to listen on (repeatable; default {DEFAULT_LISTEN})",
    )
    parser.add_argument("--size", type=parse_size, default=(80, 24), metavar="COLSxROWS",
                        help="terminal size in character cells (default 80x24)")
    parser.add_argument("--name", help="desktop name shown by viewers (default: the console)")
    parser.add_argument("--password-file", metavar="FILE",
                        help="require VNC Authentication with the password in FILE's first line")
    parser.add_argument("--view-only-password-file", metavar="FILE",
                        help="a second password (first line of FILE) for viewers that may only "
                        "watch; needs --password-file")
    parser.add_argument("--listen-view-only", action="append", metavar="ENDPOINT", default=[],
                        help="an endpoint whose viewers may only watch (repeatable)")
    parser.add_argument("--scrollback", type=int, default=10_000, metavar="LINES",
                        help="lines of history each console keeps (default 10000; 0 turns it off)")
    parser.add_argument("--log", metavar="FILE",
                        help="append all console output to FILE from start-up, watched or not; "
                        "rotated by size; the previous run's log is kept as FILE.1")
    parser.add_argument("--log-max-size", type=byte_size, default=DEFAULT_MAX_BYTES,
                        metavar="SIZE", help="rotate the log at SIZE (K/M/G; default 10M)")
    parser.add_argument("--log-keep", type=int, default=DEFAULT_KEEP, metavar="N",
                        help="rotated logs kept, FILE.1..FILE.N (default 5)")
    parser.add_argument("--record", metavar="FILE.cast",
                        help="record the console as asciicast v2 (asciinema play FILE.cast)")
    parser.add_argument("--text-listen", action="append", metavar="ENDPOINT", default=[],
                        help="serve the screen as text/JSON/PNG over HTTP on a loopback or unix "
                        "endpoint, e.g. tcp:5980:interface=127.0.0.1 (repeatable)")
    parser.add_argument("--stay", action="store_true",
                        help="keep serving the last screen after the console ends")
    parser.add_argument("--respawn", action="store_true",
                        help="restart the command when it exits")
    parser.add_argument("--user", metavar="NAME",
                        help="when started as root, become this user once listening (the "
                        "command then runs as NAME)")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--pty", metavar="PATH", help="attach to an existing pty/tty device")
    source.add_argument("--tcp", type=parse_host_port, metavar="HOST:PORT",
                        help="connect to a serial console on a TCP socket")
    source.add_argument("--unix", metavar="PATH",
                        help="connect to a serial console on a UNIX socket")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- COMMAND [ARG...]: run COMMAND in a new pty")
    return parser


def _command_of(args: argparse.Namespace) -> list[str]:
    command = list(args.command)
    return command[1:] if command and command[0] == "--" else command


def check_source(args: argparse.Namespace) -> None:
    """The console source given can be used at all; raises UsageError saying why not."""
    command = _command_of(args)
    chosen = [bool(args.pty), args.tcp is not None, bool(args.unix), bool(command)]
    if sum(chosen) > 1:
        raise UsageError("give one console source: --pty, --tcp, --unix or -- COMMAND")
    if args.pty and not os.path.exists(args.pty):
        raise UsageError(f"--pty {args.pty}: no such device")
    if args.pty and not os.access(args.pty, os.R_OK | os.W_OK):
        raise UsageError(f"--pty {args.pty}: not readable and writable by this user")
    if command and shutil.which(command[0]) is None:
        raise UsageError(f"{command[0]}: command not found")


def is_demo(args: argparse.Namespace) -> bool:
    """Whether no console source was given, so the embedded demo is served."""
    return not (args.pty or args.tcp is not None or args.unix or _command_of(args))


def demo_confinement(args: argparse.Namespace) -> Confinement:
    """How the embedded demo runs: confined, never as root; vncterm's secrets out of sight."""
    hidden = [path for path in (args.password_file, args.view_only_password_file) if path]
    return Confinement(ConfinementPolicy(hidden=tuple(hidden),
                                         visible=privileges.python_paths()))


def build_source(args: argparse.Namespace, reactor: Any,
                 demo_launcher: Confinement | None = None) -> ConsoleSource:
    columns, rows = args.size
    command = _command_of(args)
    if args.pty:
        return PtyDeviceSource(reactor, args.pty)
    if args.tcp is not None:
        host, port = args.tcp
        return StreamSource(reactor, TCP4ClientEndpoint(reactor, host, port), f"{host}:{port}")
    if args.unix:
        unix = UNIXClientEndpoint(reactor, args.unix)
        return StreamSource(reactor, unix, os.path.basename(args.unix))
    if not command:
        command = [sys.executable, "-m", "vncterm.demo"]
        source = CommandSource(reactor, command, columns=columns, rows=rows, term=TERM_NAME,
                               respawn=args.respawn,
                               launcher=demo_launcher or demo_confinement(args))
        source.description = "vncterm demo"
        return source
    return CommandSource(reactor, command, columns=columns, rows=rows, term=TERM_NAME,
                         respawn=args.respawn)


@dataclass(frozen=True, slots=True)
class Options:
    """What the command line asks for beyond argparse's values, checked before starting."""

    password: bytes | None
    view_only_password: bytes | None
    #: Whom to become once listening (--user); None: stay.
    account: Account | None = None


def check_options(args: argparse.Namespace) -> Options:
    """Everything that can be checked before the reactor starts; raises UsageError."""
    password = read_password_file(args.password_file) if args.password_file else None
    view_only_password = (
        read_password_file(args.view_only_password_file)
        if args.view_only_password_file
        else None
    )
    if view_only_password is not None and password is None:
        raise UsageError("--view-only-password-file needs --password-file too")
    if args.scrollback < 0:
        raise UsageError("--scrollback must not be negative")
    if args.log_keep < 0:
        raise UsageError("--log-keep must be 0 or more")
    for endpoint in args.text_listen:
        if not may_listen_on(endpoint):
            raise UsageError(f"--text-listen {endpoint}: only loopback or unix endpoints "
                             "(the text interface has no authentication)")
    check_source(args)
    try:
        account = privileges.lookup_account(args.user) if args.user else None
    except PrivilegeError as error:
        raise UsageError(str(error)) from None
    if account is not None and account.uid != os.geteuid() and os.geteuid() != 0:
        raise UsageError(f"--user {account.name}: switching users needs root")
    return Options(password, view_only_password, account)


def viewer_hint(endpoint: str, port: int | None) -> str:
    if port is None:
        return ""
    return f" (view it with: vncviewer 127.0.0.1::{port})"


@defer.inlineCallbacks
def run(reactor: Any, args: argparse.Namespace, options: Options,
        begin_logging: Callable[[], None]) -> Any:
    """Serve the console; a failure to start is one line on stderr and exit status 1."""
    password, view_only_password = options.password, options.view_only_password
    demo_launcher = demo_confinement(args) if is_demo(args) else None
    source = build_source(args, reactor, demo_launcher)
    columns, rows = args.size
    session = ConsoleSession(reactor, source, columns=columns, rows=rows, name=args.name,
                             stay=args.stay, scrollback_lines=args.scrollback)
    # One throttle for every listener: a guesser cannot start afresh on another port.
    throttle = AuthThrottle(session.limits.auth_throttle)
    factory = RfbViewerFactory(session, password, view_only_password=view_only_password,
                               throttle=throttle)
    watch_factory = RfbViewerFactory(session, password, view_only_password=view_only_password,
                                     view_only=True, throttle=throttle)
    try:
        if args.log:
            console_log = ConsoleLog(args.log, clock=reactor, max_bytes=args.log_max_size,
                                     keep=args.log_keep)
            session.raw_listeners.append(console_log.listener)
            reactor.addSystemEventTrigger("after", "shutdown", console_log.close)
        if args.record:
            recording = Recording(args.record, cols=columns, rows=rows, clock=reactor,
                                  title=session.name)
            session.raw_listeners.append(recording.listener)
            session.resize_listeners.append(recording.resize)
            reactor.addSystemEventTrigger("after", "shutdown", recording.close)
    except OSError as exc:
        print(f"vncterm: cannot write {exc.filename}: {exc.strerror}", file=sys.stderr)
        raise SystemExit(1) from None
    listeners: list[tuple[str, Any]] = [
        (endpoint, factory) for endpoint in args.listen or [DEFAULT_LISTEN]
    ]
    listeners += [(endpoint, watch_factory) for endpoint in args.listen_view_only]
    if args.text_listen:
        text_site = make_text_site(session, reactor=reactor)
        listeners += [(endpoint, text_site) for endpoint in args.text_listen]
    ports: list[Any] = []
    for endpoint, endpoint_factory in listeners:
        try:
            port = yield serverFromString(reactor, endpoint).listen(endpoint_factory)
        except Exception as exc:  # a bad endpoint string or a port in use: say which
            print(f"vncterm: cannot listen on {endpoint}: {failure_reason(exc)}", file=sys.stderr)
            for listening in ports:
                yield listening.stopListening()
            raise SystemExit(1) from None
        ports.append(port)
        address = port.getHost()
        if not isinstance(endpoint_factory, RfbViewerFactory) and not is_local_address(address):
            # What was bound, not what the string seemed to say, decides; and before the
            # reactor runs, so that nothing is served there.
            bound = (f"{address.host}:{address.port}" if hasattr(address, "port")
                     else str(getattr(address, "name", address)))
            print(f"vncterm: --text-listen {endpoint}: listening on {bound}, which is neither "
                  "a loopback address nor a unix socket; refusing (the text interface has no "
                  "authentication)", file=sys.stderr, flush=True)
            for listening in ports:
                yield listening.stopListening()
            raise SystemExit(1)
    done: defer.Deferred[None] = defer.Deferred()
    session.on_finished = lambda: done.callback(None)
    reactor.addSystemEventTrigger("before", "shutdown", session.stop)
    starts_program = isinstance(source, CommandSource)
    if not starts_program:
        session.start()  # a device or socket is opened before root is dropped
    if isinstance(source, StreamSource):
        try:
            yield source.first_connection()
        except Exception as exc:
            where = args.unix or "{}:{}".format(*args.tcp)
            print(f"vncterm: cannot connect to the console at {where}: {failure_reason(exc)}",
                  file=sys.stderr)
            raise SystemExit(1) from None
    try:
        drop_privileges_now(args, options.account, demo_launcher)
    except (PrivilegeError, ConfinementError) as exc:
        print(f"vncterm: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    if starts_program:
        session.start()
    begin_logging()
    for (endpoint, endpoint_factory), port in zip(listeners, ports, strict=True):
        address = port.getHost()
        where = getattr(address, "port", None)
        if where is not None:
            shown = f"{address.host}:{where}"
        else:
            shown = str(getattr(address, "name", address))
        if not isinstance(endpoint_factory, RfbViewerFactory):
            print(f"vncterm: text access on {shown} (curl http://{shown}/screen.txt)", flush=True)
            continue
        mode = " (view only)" if endpoint_factory.view_only else ""
        print(f"vncterm: serving {session.name!r} on {shown}{mode}{viewer_hint(endpoint, where)}",
              flush=True)
    heap.settle()
    yield done
    print("vncterm: the console ended and the last viewer left; exiting", flush=True)
    for port in ports:
        yield port.stopListening()


def drop_privileges_now(args: argparse.Namespace, account: Account | None,
                        demo_launcher: Confinement | None) -> None:
    """Become ``account`` (vncterm.privileges); check the log can still be rotated; decide
    the demo's confinement. PrivilegeError or ConfinementError when that fails."""
    privileges.become(account, ("vncterm",))
    if account is not None and args.log:
        directory = os.path.dirname(os.path.abspath(args.log))
        if not os.access(directory, os.W_OK | os.X_OK):
            raise PrivilegeError(f"user {account.name!r} cannot write to {directory}, where "
                                 f"the log {args.log} is rotated")
    if demo_launcher is not None:
        demo_launcher.settle()


def failure_reason(error: BaseException) -> str:
    """Why something failed, in words: the system's text for an OSError or for the errno a
    Twisted connect or listen error carries, without numbers and prefixes."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    socket_error = getattr(error, "socketError", None)  # CannotListenError
    if isinstance(socket_error, OSError) and socket_error.strerror:
        return socket_error.strerror
    os_error = getattr(error, "osError", None)  # ConnectError and its kinds
    if isinstance(os_error, int):
        return os.strerror(os_error)
    return str(error).rstrip(".") or type(error).__name__


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    try:
        options = check_options(args)
    except UsageError as exc:
        print(f"vncterm: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    observer: Any = TextLogObserver(sys.stderr)

    def begin_logging() -> None:
        # Held back until the console is served: a start that fails prints its one line and
        # not the reactor's own lines after it (Twisted buffers the events until then).
        globalLogBeginner.beginLoggingTo([observer], redirectStandardIO=False)

    leandispatch.install()
    task.react(run, (args, options, begin_logging))
