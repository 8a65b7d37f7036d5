"""What a first run hits, end to end: the demo served on one plain listener names it in every
location, the banner's commands work exactly as printed (the official XenAPI binding's sample
tunnels any number of vncdotool viewers; `consoleproxy console` attaches a real terminal), the
log keeps the audit lines only, and the command lines fail with one clear line."""

from __future__ import annotations

import os
import pty
import re
import select
import signal
import socket
import subprocess
import sys
import textwrap
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import XenAPI

from tests.proxy.helpers import PASSWORD, PASSWORD_HASH
from tests.proxy.serving import consoleproxy, stop

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
#: Where README's first command puts the consoleproxy script (next to the venv's python).
SCRIPT = Path(sys.executable).with_name("consoleproxy")
PROBE = [sys.executable, "-m", "tests.e2e.vncprobe"]
DEADLINE = 20.0
#: What the demo console shows once its replayed boot is over.
DEMO_READY = "the boot above was a replay"


@dataclass
class Demo:
    """`consoleproxy serve` with no configuration and only `--listen tcp:0`."""

    process: subprocess.Popen[bytes]
    banner: list[str]
    port: int
    log: Path

    def line_with(self, text: str) -> str:
        return next(line for line in self.banner if text in line)


def read_until(fd: int, wanted: Callable[[bytes], bool], what: str,
               timeout: float = DEADLINE) -> bytes:
    """Read ``fd`` until what was read satisfies ``wanted``."""
    deadline = time.monotonic() + timeout
    data = b""
    while not wanted(data):
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        if not ready:
            raise AssertionError(f"no {what} in time; got {data!r}")
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # a pty whose other side closed
            chunk = b""
        if not chunk:
            raise AssertionError(f"closed before {what}; got {data!r}")
        data += chunk
    return data


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """The demo as README's first command starts it, but on one plain listener on a free port."""
    directory = tmp_path_factory.mktemp("firstrun-demo")
    program = [str(SCRIPT)] if SCRIPT.is_file() else [sys.executable, "-m", "consoleproxy"]
    environment = {**os.environ, "SHELL": "/bin/sh", "PS1": "$ "}
    log = directory / "proxy.log"
    with open(log, "wb") as stderr:
        process = subprocess.Popen(
            [*program, "serve", "--listen", "tcp:0:interface=127.0.0.1",
             "--state-dir", str(directory / "state")],
            stdout=subprocess.PIPE, stderr=stderr, cwd=REPO, env=environment,
        )
    try:
        assert process.stdout is not None
        last_line = re.compile(rb" console demo --url [^\n]*\n")
        output = read_until(process.stdout.fileno(),
                            lambda data: last_line.search(data) is not None, "the banner")
        banner = output.decode().splitlines()
        port = int(re.search(r"listening on http://127\.0\.0\.1:(\d+)/", output.decode())
                   .group(1))  # type: ignore[union-attr]
        yield Demo(process, banner, port, log)
    finally:
        stop(process)


def test_locations_name_the_only_listener(demo: Demo) -> None:
    """With --listen tcp:0 only, the printed and the XML-RPC locations are
    http://127.0.0.1:<bound port>/..., and a CONNECT to them reaches the console."""
    printed = [line.rsplit(": ", 1)[1] for line in demo.banner
               if line.startswith("consoleproxy: console of")]
    assert len(printed) == 2
    for location in printed:
        assert location.startswith(f"http://127.0.0.1:{demo.port}/console?ref=OpaqueRef:")
    session = XenAPI.Session(f"http://127.0.0.1:{demo.port}/")
    session.xenapi.login_with_password("root", "demo", "1.0", "first run e2e")
    try:
        vm = session.xenapi.VM.get_by_name_label("demo")[0]
        served = [session.xenapi.console.get_location(console)
                  for console in session.xenapi.VM.get_consoles(vm)]
        assert sorted(served) == sorted(printed)
        rfb = next(location for location in printed if "76825670" in location)
        host_port, _, target = rfb.removeprefix("http://").partition("/")
        host, _, port = host_port.rpartition(":")
        with socket.create_connection((host, int(port)), timeout=DEADLINE) as sock:
            sock.sendall(f"CONNECT /{target} HTTP/1.0\r\n"
                         f"Cookie: session_id={session.handle}\r\n\r\n".encode())
            reply = read_until(sock.fileno(), lambda data: data.endswith(b"RFB 003.008\n"),
                               "the RFB greeting")
            assert reply.startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        session.xenapi.session.logout()
        session("close")()


def test_banner_tunnel_command_serves_several_viewers(demo: Demo) -> None:
    """The banner's sample command (the XenAPI binding, installed by README's first command)
    runs as printed and its local VNC port serves two vncdotool viewers at once."""
    command = demo.line_with("xenapi_console_flow.py").strip()
    assert "--tunnel 5901" in command
    command = command.replace("--tunnel 5901", "--tunnel 0")  # any free port, for the test
    tunnel = subprocess.Popen(["bash", "-c", command], cwd=REPO, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, start_new_session=True)
    probes: list[subprocess.Popen[str]] = []
    try:
        assert tunnel.stdout is not None
        output = read_until(tunnel.stdout.fileno(), lambda data: b"vncviewer 127.0.0.1::" in data
                            and data.endswith(b"\n"), "the tunnel's port").decode()
        port = int(re.search(r"vncviewer 127\.0\.0\.1::(\d+)", output).group(1))  # type: ignore[union-attr]
        for _ in range(2):
            probes.append(subprocess.Popen(
                [*PROBE, "--port", str(port), "--timeout", str(DEADLINE), "--expect", DEMO_READY],
                cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
        for probe in probes:
            out, err = probe.communicate(timeout=DEADLINE + 15)
            assert probe.returncode == 0, f"viewer failed: {err}\n{out}"
    finally:
        for probe in probes:
            if probe.poll() is None:
                probe.kill()
                probe.communicate()
        os.killpg(tunnel.pid, signal.SIGINT)  # as Ctrl-C: the sample logs out and exits
        try:
            tunnel.wait(timeout=DEADLINE)
        except subprocess.TimeoutExpired:
            os.killpg(tunnel.pid, signal.SIGKILL)
            tunnel.wait()
        for pipe in (tunnel.stdout, tunnel.stderr):
            if pipe is not None:
                pipe.close()


def test_banner_console_command_attaches_a_terminal(demo: Demo) -> None:
    """The banner's `consoleproxy console` command, run as printed in a terminal, asks the
    password, attaches to the demo's text console, and Ctrl-] leaves with status 0."""
    command = demo.line_with(" console demo --url ").strip()
    pid, fd = pty.fork()
    if pid == 0:  # the child: a user's shell in a terminal, in the source tree
        os.chdir(REPO)
        os.execvp("bash", ["bash", "-c", command])
    try:
        read_until(fd, lambda data: b"Password for root: " in data, "the password prompt")
        os.write(fd, b"demo\n")
        read_until(fd, lambda data: b"Ctrl-] leaves" in data, "the attached console")
        # Keys typed while the demo still replays its boot are dropped: type until answered.
        deadline = time.monotonic() + DEADLINE
        while True:
            os.write(fd, b"echo attached$((6*7))\r")
            try:
                read_until(fd, lambda data: b"attached42" in data, "the shell's answer", 1.0)
                break
            except AssertionError:
                assert time.monotonic() < deadline, "the demo's shell never answered"
        os.write(fd, b"\x1d")
        read_until(fd, lambda data: b"console closed" in data, "the goodbye")
        _, status = os.waitpid(pid, 0)
        pid = 0
        assert os.waitstatus_to_exitcode(status) == 0
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        os.close(fd)


def test_log_keeps_audit_lines_not_access_lines(demo: Demo) -> None:
    """Page and XML-RPC requests add no line to the log by default; a console connection
    still gets its one audit line."""
    for path in ("/", "/static/style.css", "/static/index.js", "/api/consoles"):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{demo.port}{path}",
                                   timeout=DEADLINE).read()
        except urllib.error.HTTPError:
            pass  # /api/consoles without a session: 401, a request all the same
    with socket.create_connection(("127.0.0.1", demo.port), timeout=DEADLINE) as sock:
        sock.sendall(b"CONNECT /console?ref=OpaqueRef:76825670-6b1e-439b-b2c1-eccaa11fbc0f "
                     b"HTTP/1.0\r\n\r\n")
        read_until(sock.fileno(), lambda data: b"\r\n\r\n" in data, "the 401 reply")
    deadline = time.monotonic() + DEADLINE
    while "console request from" not in demo.log.read_text():
        assert time.monotonic() < deadline, "no audit line"
        time.sleep(0.05)
    assert "http connection from" not in demo.log.read_text()


# -- one clear line for every failure ---------------------------------------------------------


def assert_one_line(result: subprocess.CompletedProcess[str], prefix: str, fragment: str) -> None:
    """A non-zero exit with exactly one line on stderr, naming the problem; no traceback."""
    assert result.returncode != 0, result
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"{prefix}: "), lines[0]
    assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.stderr and "['" not in lines[0]


def run(program: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command as a user would, but with no terminal (its own session, no stdin)."""
    return subprocess.run([*program, *args], capture_output=True, text=True, cwd=REPO,
                          stdin=subprocess.DEVNULL, timeout=DEADLINE + 10,
                          start_new_session=True)


CONSOLEPROXY = [sys.executable, "-m", "consoleproxy"]
VNCTERM = [sys.executable, "-m", "vncterm"]


def closed_port() -> int:
    """A port nothing listens on (just released)."""
    with socket.create_server(("127.0.0.1", 0)) as sock:
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A configured proxy with a guest and a VM whose console server is gone."""
    directory = tmp_path_factory.mktemp("firstrun-errors")
    (directory / "proxy.toml").write_text(textwrap.dedent(f"""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "e2e"
        address = "127.0.0.1"
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
        [[vms]]
        uuid = "44444444-4444-4444-8444-444444444444"
        name_label = "gone"
          [[vms.consoles]]
          uuid = "55555555-5555-4555-8555-555555555555"
          protocol = "vt100"
          backend = "tcp:127.0.0.1:{closed_port()}"
    """))
    (directory / "password").write_text(PASSWORD + "\n")
    (directory / "wrong").write_text("wrong\n")
    with consoleproxy(
        ["--config", str(directory / "proxy.toml"), "--listen", "tcp:0:interface=127.0.0.1",
         "--listen", "ssl:0:interface=127.0.0.1", "--state-dir", str(directory / "state")],
        directory, listeners=2,
    ) as ports:
        yield {**ports, "dir": directory}


CONSOLE_FAILURES = {
    "wrong password": (["guest", "--url", "https://127.0.0.1:{https}/", "--password-file",
                        "{dir}/wrong"], "wrong user name or password"),
    "wrong scheme": (["guest", "--url", "ftp://127.0.0.1:{https}/", "--password-file",
                      "{dir}/password"], "must be an http:// or https:// URL"),
    "no tty": (["guest", "--url", "https://127.0.0.1:{https}/"], "give --password-file"),
    "unreachable": (["guest", "--url", "https://127.0.0.1:{closed}/", "--password-file",
                     "{dir}/password"], "Connection refused"),
    "unknown VM": (["nosuch", "--url", "https://127.0.0.1:{https}/", "--password-file",
                    "{dir}/password"], "no VM named 'nosuch'"),
    "refused by the server": (["gone", "--url", "https://127.0.0.1:{https}/",
                               "--password-file", "{dir}/password"], "not available"),
    "TLS to a plain listener": (["guest", "--url", "https://127.0.0.1:{http}/",
                                 "--password-file", "{dir}/password"], "http:// listener"),
    "plain to a TLS listener": (["guest", "--url", "http://127.0.0.1:{https}/",
                                 "--password-file", "{dir}/password"], "https:// listener"),
}


@pytest.mark.parametrize("case", sorted(CONSOLE_FAILURES))
def test_console_failures_are_one_line(server: dict[str, Any], case: str) -> None:
    """`consoleproxy console` explains each failure in one line and exits non-zero."""
    arguments, fragment = CONSOLE_FAILURES[case]
    values = {**server, "closed": closed_port()}
    result = run(CONSOLEPROXY, "console", *(item.format(**values) for item in arguments))
    assert_one_line(result, "consoleproxy", fragment)


def test_serve_failures_are_one_line(tmp_path: Path) -> None:
    """`consoleproxy serve` says in one line why it cannot start: a port in use, an unknown
    endpoint, a missing or broken configuration, an unknown [proxy] key."""
    state = ["--state-dir", str(tmp_path / "state")]
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert_one_line(run(CONSOLEPROXY, "serve", "--listen",
                            f"tcp:{port}:interface=127.0.0.1", *state),
                        "consoleproxy", f"127.0.0.1:{port}: Address already in use")
    assert_one_line(run(CONSOLEPROXY, "serve", "--listen", "bogus:1", *state),
                    "consoleproxy", "Unknown endpoint type")
    assert_one_line(run(CONSOLEPROXY, "serve", "--config", str(tmp_path / "missing.toml")),
                    "consoleproxy", "No such file or directory")
    (tmp_path / "broken.toml").write_text("[host\n")
    assert_one_line(run(CONSOLEPROXY, "serve", "--config", str(tmp_path / "broken.toml")),
                    "consoleproxy", "not valid TOML")
    demo_toml = (REPO / "consoleproxy" / "demo.toml").read_text()
    (tmp_path / "typo.toml").write_text(demo_toml + "\n[proxy]\nlisten_on = []\n")
    assert_one_line(run(CONSOLEPROXY, "serve", "--config", str(tmp_path / "typo.toml"),
                        *state), "consoleproxy", "proxy.listen_on: unknown key")
    assert_one_line(run(CONSOLEPROXY, "serve", "--no-such-option"), "consoleproxy",
                    "unrecognized arguments: --no-such-option")


def test_a_bug_at_start_up_is_shown_whole(tmp_path: Path) -> None:
    """Logging held back until the proxy serves does not swallow a bug: an unexpected
    exception while starting still prints its traceback and exits non-zero (a guard on the
    one-line start-up errors: only expected failures may be that short)."""
    code = textwrap.dedent(f"""
        import sys
        import consoleproxy.service
        def broken(*args, **kwargs):
            raise RuntimeError("simulated start-up bug")
        consoleproxy.service.ConsoleProxy = broken
        from consoleproxy.cli import main
        main(["serve", "--listen", "tcp:0:interface=127.0.0.1",
              "--state-dir", {str(tmp_path / "state")!r}])
    """)
    result = run([sys.executable, "-c", code])
    assert result.returncode != 0
    assert "Traceback" in result.stderr and "simulated start-up bug" in result.stderr


def test_vncterm_failures_are_one_line() -> None:
    """`vncterm` says in one line what is wrong: a bad option, an unreachable console, a
    missing command, a port in use."""
    listen = ["--listen", "tcp:0:interface=127.0.0.1"]
    assert_one_line(run(VNCTERM, "--size", "5x5"), "vncterm", "size must be")
    port = closed_port()
    assert_one_line(run(VNCTERM, *listen, "--tcp", f"127.0.0.1:{port}"), "vncterm",
                    f"cannot connect to the console at 127.0.0.1:{port}: Connection refused")
    assert_one_line(run(VNCTERM, *listen, "--", "/nonexistent/program"), "vncterm",
                    "/nonexistent/program: command not found")
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert_one_line(run(VNCTERM, "--listen", f"tcp:{port}:interface=127.0.0.1"),
                        "vncterm", "Address already in use")


def test_console_list_names_the_configured_listeners(tmp_path: Path) -> None:
    """console-list's locations are those `serve` would give with the same configuration:
    the demo's TLS listener by default, the configured listener otherwise."""
    demo = run(CONSOLEPROXY, "console-list")
    assert demo.returncode == 0, demo.stderr
    assert "location ( RO)     : https://127.0.0.1:8443/console?ref=OpaqueRef:" in demo.stdout
    config = tmp_path / "plain.toml"
    config.write_text((REPO / "consoleproxy" / "demo.toml").read_text()
                      + '\n[proxy]\nlisten = ["tcp:9080:interface=127.0.0.1"]\n')
    plain = run(CONSOLEPROXY, "console-list", "--config", str(config))
    assert plain.returncode == 0, plain.stderr
    assert "location ( RO)     : http://127.0.0.1:9080/console?ref=OpaqueRef:" in plain.stdout
    assert "https://" not in plain.stdout
