"""End to end on 127.0.0.1: the real programs dropping root, their consoles confined (checked
from inside the console itself), and the demo kept off the network."""

from __future__ import annotations

import os
import re
import select
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.unprivileged import python_for
from tests.proxy.helpers import PASSWORD_HASH
from tests.proxy.serving import stop

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 30.0
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping root needs root")
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None,
                                 reason="bwrap (Debian package bubblewrap) is not installed")
#: The consoles of the embedded demo.
DEMO_VT100 = "1bc66aa1-80c7-4a57-9e34-3508fc972af0"
VM = "11111111-1111-4111-8111-111111111111"
RFB = "22222222-2222-4222-8222-222222222222"
VT100 = "33333333-3333-4333-8333-333333333333"
SECRET = "never-shown-to-a-console-7f3a"


@dataclass
class Proxy:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    def status(self) -> dict[str, str]:
        """The proxy process's /proc status fields."""
        text = Path(f"/proc/{self.process.pid}/status").read_text()
        return {line.split(":", 1)[0]: line.split(":", 1)[1].strip()
                for line in text.splitlines()}


@dataclass
class Started:
    returncode: int | None
    stdout: str
    stderr: str


def run_briefly(argv: list[str], until: str, cwd: Path = ROOT) -> Started:
    """Run ``argv`` until it prints ``until`` (then stop it) or exits."""
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=cwd)
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + DEADLINE
    try:
        while until.encode() not in output and time.monotonic() < deadline:
            ready, _, _ = select.select([process.stdout], [], [], 0.2)
            if ready:
                chunk = os.read(process.stdout.fileno(), 4096)
                if not chunk:
                    break
                output += chunk
        code = process.poll() if until.encode() not in output else None
        if code is None and until.encode() not in output:
            code = process.wait(timeout=DEADLINE)
    finally:
        if process.poll() is None:
            process.terminate()
        _, err = process.communicate(timeout=DEADLINE)
    return Started(code, output.decode(errors="replace"), err.decode(errors="replace"))


@pytest.fixture
def workdir() -> Iterator[Path]:
    """A directory every user can read, outside the places the sandbox hides anyway (/tmp,
    /var/tmp, /root, /home), so that only the sandbox's own hiding keeps things out of
    sight."""
    base = "/var/lib" if os.access("/var/lib", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="privs-e2e-", dir=base))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def start_proxy(python: str, arguments: list[str], directory: Path,
                env: dict[str, str] | None = None) -> Proxy:
    log = directory / "proxy.log"
    with open(log, "wb") as handle:
        process = subprocess.Popen([python, "-m", "consoleproxy", "serve", *arguments],
                                   stdout=subprocess.PIPE, stderr=handle, cwd=ROOT, env=env)
    assert process.stdout is not None
    output = b""
    deadline = time.monotonic() + DEADLINE
    while b"listening on http://" not in output:
        ready, _, _ = select.select([process.stdout], [], [], max(0, deadline - time.monotonic()))
        chunk = os.read(process.stdout.fileno(), 4096) if ready else b""
        if not chunk:
            stop(process)
            raise AssertionError(f"consoleproxy did not start: {log.read_text()}")
        output += chunk
    match = re.search(rb"listening on http://127\.0\.0\.1:(\d+)/", output)
    assert match is not None
    return Proxy(process, int(match.group(1)), log)


class Console:
    """A console opened over CONNECT (vt100: raw text), read into one growing buffer."""

    def __init__(self, port: int, ref: str, credentials: str = "cm9vdDpzZWNyZXQ=") -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
        self.sock.sendall(f"CONNECT /console?ref=OpaqueRef:{ref} HTTP/1.0\r\n"
                          f"Authorization: Basic {credentials}\r\n\r\n".encode())
        self.received = b""
        self.wait_for(b"\r\n\r\n")
        assert self.received.startswith(b"HTTP/1.1 200 OK"), self.received
        self.received = self.received.split(b"\r\n\r\n", 1)[1]

    def read_some(self, deadline: float) -> None:
        self.sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = self.sock.recv(65536)
        except TimeoutError:
            raise AssertionError(f"timed out; got {self.received[-2000:]!r}") from None
        if not chunk:
            raise AssertionError(f"closed; got {self.received[-2000:]!r}")
        self.received += chunk

    def wait_for(self, wanted: bytes, start: int = 0, timeout: float = DEADLINE) -> None:
        deadline = time.monotonic() + timeout
        while self.received.find(wanted, start) < 0:
            self.read_some(deadline)

    def run(self, command: str, marker: str, timeout: float = DEADLINE) -> str:
        """Type ``command``, which prints a line ``MARKER:value``; returns the value."""
        start = len(self.received)
        self.sock.sendall(command.encode() + b"\r")
        # The tty echoes the command line at once and the shell's prompts come later, so the
        # value's line may start with a prompt; in the echo, "MARKER:" is quoted and "$(" follows.
        line = re.compile(rb"(?:[\r\n]|\$ )" + re.escape(marker.encode())
                          + rb":(?!\$)([^\r\n]*)\r?\n")
        deadline = time.monotonic() + timeout
        while (match := line.search(self.received, start)) is None:
            self.read_some(deadline)
        return match.group(1).decode(errors="replace").strip()

    def run_after_respawn(self, command: str, marker: str) -> str:
        """Type ``exit``, then ``command`` until a respawned program answers it (keys typed
        while no program runs are dropped, and the old one reads no further than exit)."""
        self.sock.sendall(b"exit\r")
        deadline = time.monotonic() + DEADLINE
        while True:
            try:
                return self.run(command, marker, timeout=2.0)
            except AssertionError:
                if time.monotonic() > deadline:
                    raise

    def close(self) -> None:
        self.sock.close()


# -- the front door drops root --------------------------------------------------------------------


@needs_root
def test_proxy_runs_as_the_given_user_and_its_demo_shell_is_not_root(workdir: Path) -> None:
    """`consoleproxy serve --user nobody`: the process has nobody's ids, no capabilities and
    no way to new privileges, its TLS key stays root's, and the demo's shell, reached over
    CONNECT, is not root either."""
    with python_for("nobody") as python:
        if python is None:
            pytest.skip("no Python that the user nobody can run")
        proxy = start_proxy(python, [
            "--user", "nobody", "--listen", "tcp:0:interface=127.0.0.1",
            "--listen", "ssl:0:interface=127.0.0.1", "--state-dir", str(workdir / "state")],
            workdir)
        try:
            status = proxy.status()
            nobody = "65534"
            assert status["Uid"].split() == [nobody] * 4
            assert status["Gid"].split() == [nobody] * 4
            assert int(status["CapEff"], 16) == 0 and int(status["CapPrm"], 16) == 0
            assert status["NoNewPrivs"] == "1"
            key = workdir / "state" / "tls" / "key.pem"
            assert key.stat().st_uid == 0 and key.stat().st_mode & 0o077 == 0
            console = Console(proxy.port, DEMO_VT100, "cm9vdDpkZW1v")  # root:demo
            try:
                console.wait_for(b"this is a real shell on this host")
                # Typed before the shell's prompt, keys would be dropped with the replay's.
                console.wait_for(b"$ ", console.received.find(b"real shell on this host"))
                uid = console.run('echo "U:$(id -u)"', "U")
                assert uid == nobody
            finally:
                console.close()
            log = proxy.log.read_text()
            assert "running as user nobody" in log and "running as root" not in log
        finally:
            stop(proxy.process)


def console_config(directory: Path, extra: str = "", command: str = "/bin/sh -i") -> Path:
    path = directory / "proxy.toml"
    path.write_text(textwrap.dedent(f"""
        # {SECRET}
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "e2e"
        address = "127.0.0.1"
        [proxy]
        columns = 100
        rows = 30
        {extra}
        [[users]]
        name = "root"
        password_hash = "{PASSWORD_HASH}"
        [[vms]]
        uuid = "{VM}"
        name_label = "guest"
          [[vms.consoles]]
          uuid = "{RFB}"
          protocol = "rfb"
          backend = "command:{command}"
          [[vms.consoles]]
          uuid = "{VT100}"
          protocol = "vt100"
          backend = "command:{command}"
    """))
    path.chmod(0o644)
    return path


@pytest.fixture(scope="module")
def sandboxed() -> Iterator[tuple[Proxy, Path]]:
    """consoleproxy as root (no --user) with a shell console, its configuration and state
    directory readable by anyone on the host, so that only the sandbox hides them."""
    if os.geteuid() != 0:
        pytest.skip("dropping root needs root")
    if shutil.which("bwrap") is None:
        pytest.skip("bwrap (Debian package bubblewrap) is not installed")
    base = "/var/lib" if os.access("/var/lib", os.W_OK) else None
    directory = Path(tempfile.mkdtemp(prefix="privs-e2e-", dir=base))
    directory.chmod(0o755)
    try:
        config = console_config(directory, "[proxy.console_limits]\nmax_open_files = 512\n")
        state = directory / "state"
        state.mkdir(mode=0o755)
        (state / "marker.txt").write_text(SECRET)
        (state / "marker.txt").chmod(0o644)
        proxy = start_proxy(sys.executable, [
            "--config", str(config), "--listen", "tcp:0:interface=127.0.0.1",
            "--state-dir", str(state)], directory, env={**os.environ, "PS1": "$ ",
                                                        "SHELL": "/bin/sh",
                                                        "CONSOLE_TOKEN": SECRET})
        try:
            yield proxy, directory
        finally:
            stop(proxy.process)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def shell(sandboxed: tuple[Proxy, Path]) -> Iterator[Console]:
    console = Console(sandboxed[0].port, VT100)
    console.sock.sendall(b"\r")
    console.wait_for(b"$ ")
    try:
        yield console
    finally:
        console.close()


def test_command_console_runs_as_nobody_in_a_sandbox(sandboxed: tuple[Proxy, Path],
                                                     shell: Console) -> None:
    """A command console of a root proxy runs as nobody, with a private home, a read-only
    system, its own process namespace, the configured limits and no way to root; the proxy
    warns once that it keeps root."""
    proxy, _ = sandboxed
    assert shell.run('echo "U:$(id -u)"', "U") == "65534"
    assert shell.run('echo "H:$HOME"', "H") == "/tmp/home"
    assert shell.run('echo "T:$TERM"', "T") == "xterm-256color"
    assert shell.run('touch /usr/privs-e2e 2>/dev/null; echo "W:$?"', "W") != "0"
    assert shell.run(f'kill -0 {proxy.process.pid} 2>/dev/null; echo "K:$?"', "K") != "0"
    assert shell.run('echo "L:$(ulimit -c):$(ulimit -n)"', "L") == "0:512"
    assert shell.run('su -c true root </dev/null >/dev/null 2>&1; echo "S:$?"', "S") != "0"
    assert proxy.log.read_text().count("running as root") == 1


def test_console_cannot_read_the_configuration_state_or_environment(
        sandboxed: tuple[Proxy, Path], shell: Console) -> None:
    """The configuration file, the state directory and the proxy's environment are out of a
    console's reach, though the host's permissions would let nobody read the first two."""
    _, directory = sandboxed
    config = directory / "proxy.toml"
    marker = directory / "state" / "marker.txt"
    assert os.stat(config).st_mode & 0o004 and os.stat(marker).st_mode & 0o004
    shell.run(f'echo "C:$(head -c 300 {config} 2>&1 | tr -d "\\r\\n")"', "C")
    shell.run(f'echo "M:$(cat {marker} 2>&1)"', "M")
    assert shell.run('echo "E:$(env | grep -c TOKEN)"', "E") == "0"
    assert SECRET.encode() not in shell.received


def rfb_resize(port: int, columns: int, rows: int) -> None:
    """Open the rfb console as a viewer that supports ExtendedDesktopSize and ask for a new
    size in pixels of whole 8x16 cells."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=DEADLINE)
    with sock:
        sock.sendall(f"CONNECT /console?ref=OpaqueRef:{RFB} HTTP/1.0\r\n"
                     "Authorization: Basic cm9vdDpzZWNyZXQ=\r\n\r\n".encode())
        received = b""
        while not received.endswith(b"RFB 003.008\n"):
            chunk = sock.recv(4096)
            assert chunk, received
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK")
        sock.sendall(b"RFB 003.008\n")
        count = sock.recv(1)[0]
        sock.recv(count)
        sock.sendall(b"\x01")
        assert sock.recv(4) == b"\0\0\0\0"
        sock.sendall(b"\x01")
        head = b""
        while len(head) < 24:
            head += sock.recv(24 - len(head))
        (name_length,) = struct.unpack(">I", head[20:24])
        while name_length:
            name_length -= len(sock.recv(name_length))
        sock.sendall(struct.pack(">BBHii", 2, 0, 2, 0, -308))  # Raw, ExtendedDesktopSize
        width, height = columns * 8, rows * 16
        sock.sendall(struct.pack(">BBHHBB", 251, 0, width, height, 1, 0)
                     + struct.pack(">IHHHHI", 0, 0, 0, width, height, 0))
        # The answer (an ExtendedDesktopSize rectangle) comes with the next update.
        sock.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, width, height))
        assert sock.recv(65536)


def test_window_size_and_respawn_work_through_the_sandbox(sandboxed: tuple[Proxy, Path],
                                                          shell: Console) -> None:
    """The console starts at the configured size, follows a viewer's resize, and an exited
    program is started again, confined again, with a fresh home."""
    proxy, _ = sandboxed
    assert shell.run('echo "Z:$(stty size)"', "Z") == "30 100"
    rfb_resize(proxy.port, 120, 40)
    assert shell.run('echo "Y:$(stty size)"', "Y") == "40 120"
    assert shell.run('echo kept > "$HOME/left"; echo "B:$(ls "$HOME")"', "B") == "left"
    assert shell.run_after_respawn('echo "R:$(id -u):$(ls -A "$HOME" | wc -l)"',
                                   "R") == "65534:0"


# -- the demo stays off the network; bad users are refused ----------------------------------------


def test_demo_is_refused_on_a_listener_other_hosts_can_reach(workdir: Path) -> None:
    """The demo bound to every address exits at once with one line saying why and what to do;
    --allow-demo-on-network lets it serve (nothing here connects from outside loopback)."""
    arguments = [sys.executable, "-m", "consoleproxy", "serve", "--listen",
                 "tcp:0:interface=0.0.0.0", "--state-dir", str(workdir / "state")]
    refused = run_briefly(arguments, "listening on")
    assert refused.returncode == 2
    assert "listening on" not in refused.stdout
    [line] = [line for line in refused.stderr.splitlines() if line.startswith("consoleproxy:")]
    assert re.fullmatch(r"consoleproxy: refusing to serve the demo on 0\.0\.0\.0:\d+: .*"
                        r"--allow-demo-on-network", line)
    allowed = run_briefly([*arguments, "--allow-demo-on-network"], "listening on")
    assert allowed.returncode is None and "listening on http://0.0.0.0:" in allowed.stdout


@pytest.mark.parametrize("program", ["consoleproxy", "vncterm"])
def test_a_user_that_does_not_exist_is_a_one_line_error(program: str, workdir: Path) -> None:
    """--user naming no user ends the program before it listens, with one line naming it."""
    argv = [sys.executable, "-m", program]
    argv += (["serve", "--listen", "tcp:0:interface=127.0.0.1", "--state-dir",
              str(workdir / "state")] if program == "consoleproxy"
             else ["--listen", "tcp:0:interface=127.0.0.1"])
    argv += ["--user", "no-such-user-x"]
    if program == "vncterm":
        argv += ["--", "true"]
    done = run_briefly(argv, "listening on" if program == "consoleproxy" else "serving")
    assert done.returncode == 2
    assert done.stdout == ""
    said = [line for line in done.stderr.splitlines() if line.startswith(f"{program}:")]
    assert said == [f"{program}: no user named 'no-such-user-x' on this host"]


# -- vncterm --------------------------------------------------------------------------------------


PROBE = [sys.executable, "-W", "ignore", "-m", "tests.e2e.vncprobe"]


def start_vncterm(python: str, *arguments: str) -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen([python, "-m", "vncterm", "--listen", "tcp:0:interface=127.0.0.1",
                                *arguments], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=ROOT)
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"on 127\.0\.0\.1:(\d+)", line)
    if match is None:
        process.kill()
        raise AssertionError(f"vncterm did not start: {line!r} {process.communicate()[1]}")
    return process, int(match.group(1))


def probe(port: int, ready: str, typed: str, expect: str) -> str:
    done = subprocess.run([*PROBE, "--port", str(port), "--timeout", str(DEADLINE),
                           "--ready", ready, "--type", typed, "--expect", expect],
                          capture_output=True, text=True, cwd=ROOT, timeout=DEADLINE + 15)
    assert done.returncode == 0, done.stderr
    return done.stdout


@needs_root
def test_vncterm_runs_its_command_as_the_given_user() -> None:
    """`vncterm --user nobody -- sh`: the process and the shell it serves run as nobody."""
    with python_for("nobody") as python:
        if python is None:
            pytest.skip("no Python that the user nobody can run")
        process, port = start_vncterm(python, "--user", "nobody", "--", "env", "PS1=$ ",
                                      "sh", "-i")
        try:
            # The command starts once root is dropped: then the process status shows it too.
            probe(port, "$", 'echo "V:$(id -u)"\\n', "V:65534")
            status = Path(f"/proc/{process.pid}/status").read_text()
            assert re.search(r"^Uid:\s+65534\s+65534\s+65534\s+65534$", status, re.M)
        finally:
            process.terminate()
            process.communicate(timeout=DEADLINE)


@needs_root
def test_vncterm_demo_started_by_root_is_not_a_root_shell() -> None:
    """vncterm's embedded demo, started by root without --user, gives a shell as nobody in a
    throwaway home."""
    process, port = start_vncterm(sys.executable)
    try:
        out = probe(port, "~$", 'echo "D:$(id -u):$HOME"\\n', "D:65534:")
        assert "D:65534:/tmp/home" in out or shutil.which("bwrap") is None
    finally:
        process.terminate()
        _, err = process.communicate(timeout=DEADLINE)
    assert err.count("running as root") == 1


# -- console users: root refused a demo shell, the fallback without a sandbox ---------------------


@needs_root
def test_demo_configured_to_run_as_root_refuses_to_give_a_shell(workdir: Path) -> None:
    """With the console user set to root, the demo still starts no root shell: it says why,
    and what is typed runs nowhere."""
    config = console_config(workdir, 'console_user = "root"',
                            command=f"{sys.executable} -m vncterm.demo")
    proxy = start_proxy(sys.executable, ["--config", str(config), "--listen",
                                         "tcp:0:interface=127.0.0.1", "--state-dir",
                                         str(workdir / "state")], workdir)
    try:
        console = Console(proxy.port, VT100)
        try:
            console.wait_for(b"not starting a shell as root")
            console.sock.sendall(b'echo "X:$(id -u)"\r')
            with pytest.raises(AssertionError, match="timed out"):
                console.wait_for(b"X:0", timeout=3.0)
        finally:
            console.close()
        assert "console programs run as root, unconfined" in proxy.log.read_text()
    finally:
        stop(proxy.process)


@needs_root
def test_without_a_sandbox_consoles_get_a_throwaway_home_removed_at_exit(workdir: Path) -> None:
    """With the sandbox off, a console still runs as nobody, in a fresh home of its own that
    is gone once the program ends."""
    config = console_config(workdir, 'console_sandbox = "off"')
    proxy = start_proxy(sys.executable, ["--config", str(config), "--listen",
                                         "tcp:0:interface=127.0.0.1", "--state-dir",
                                         str(workdir / "state")], workdir,
                        env={**os.environ, "PS1": "$ ", "SHELL": "/bin/sh"})
    try:
        console = Console(proxy.port, VT100)
        try:
            console.sock.sendall(b"\r")
            console.wait_for(b"$ ")
            home = console.run('echo "H:$(id -u):$HOME"', "H")
            uid, _, home = home.partition(":")
            assert uid == "65534" and os.path.isdir(home)
            assert os.stat(home).st_uid == 65534 and home != "/tmp/home"
            second = console.run_after_respawn('echo "N:$HOME"', "N")
            assert second != home and os.path.isdir(second)
            assert not os.path.exists(home)  # the first program's home went with it
        finally:
            console.close()
    finally:
        stop(proxy.process)
