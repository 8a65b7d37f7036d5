#!/usr/bin/env python3
"""Capture real programs' terminal output byte for byte, and the screens tmux draws from it.

This owns the golden captures in this directory (``<name>.raw``), their expected screens
(``<name>.screen.txt`` at the end of the stream, ``<name>.<mark>.screen.txt`` at recorded
offsets) and ``captures.json`` (for each capture: how it was made, its marks, and the cursor,
alternate-screen flag and title tmux reported for each screen).

Run from the repository root, as root, on Debian 12 with the programs installed
(``apt-get install vim less procps dialog whiptail busybox tmux``; the systemd boot also needs
``qemu-system-x86 linux-image-amd64``)::

    .venv/bin/python tests/data/capture.py list
    .venv/bin/python tests/data/capture.py record vim less     # writes vim.raw, less.raw
    .venv/bin/python tests/data/capture.py screens vim less    # writes the .screen.txt files
    .venv/bin/python tests/data/capture.py show vim            # prints the expected screens

``record`` runs the scenario's command in a fresh pty of 80x24 with ``TERM=xterm-256color``,
``LANG=C.UTF-8``, an empty ``HOME`` and a working directory holding fixed sample files, types
the scripted keys (waiting for the output to go quiet, or for an expected string, between
them) and writes every byte the program wrote, unchanged. Queries the program sends (cursor
position, device attributes) are answered the way vncterm answers them, by feeding the output
to `vncterm.terminal.emulator.Terminal` and writing its replies back, as a vncterm console does.
A ``mark`` step records the byte offset reached at that point, so a test can cut the stream
there (e.g. vim while the file is open, before ``:q!`` restores the main screen).

``screens`` computes the expected screens with an independent emulator: each stream (or its
prefix up to a mark) is written with ``cat`` into a detached 80x24 tmux pane whose pty is in
raw mode (no output processing, so the bytes arrive unchanged), and ``tmux capture-pane -p``
gives the text. tmux, not vncterm, is the reference.

Captures are not bit-for-bit reproducible: top prints the time, load and process list, vim and
ash answer timing-dependent replies, and scheduling can split redraws differently. That does not
matter for the tests, which compare our emulator with tmux on the same committed bytes; when
re-recording, expect those lines to differ and inspect the new screens (``show``) by eye.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import pty
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

DATA = Path(__file__).resolve().parent
REPOSITORY = DATA.parent.parent
MANIFEST = DATA / "captures.json"
COLUMNS, ROWS = 80, 24
#: Seconds without output after which a program is taken to be waiting for input.
QUIET = 0.3
#: Longest wait for any one step.
STEP_TIMEOUT = 15.0

# Keys as an xterm sends them in normal cursor mode; the recorder turns cursor keys into their
# application-mode form (ESC O A) when the program has set DECCKM, as xterm does.
UP, DOWN, RIGHT, LEFT = b"\x1b[A", b"\x1b[B", b"\x1b[C", b"\x1b[D"
ESC, ENTER, SPACE, TAB, BACKSPACE = b"\x1b", b"\r", b" ", b"\t", b"\x7f"


# -- scenario steps ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Send:
    """Type ``keys``, then wait until the output has been quiet for ``quiet`` seconds."""

    keys: bytes
    quiet: float = QUIET


@dataclass(frozen=True)
class Expect:
    """Wait until ``text`` has appeared in the output written after the previous step."""

    text: bytes
    timeout: float = STEP_TIMEOUT


@dataclass(frozen=True)
class Sleep:
    """Keep reading output for ``seconds`` (for programs that never go quiet, like top)."""

    seconds: float


@dataclass(frozen=True)
class Mark:
    """Remember how many bytes have been written so far, under ``label``."""

    label: str

    def __post_init__(self) -> None:
        if self.label == "end":  # "end" names the screen after the whole stream
            raise ValueError("a mark cannot be called 'end'")


Step = Send | Expect | Sleep | Mark


@dataclass(frozen=True)
class Scenario:
    """One capture: a command run in the sample directory and the keys typed into it."""

    name: str
    description: str
    command: Sequence[str]
    steps: Sequence[Step]
    #: Extra environment variables for the command.
    environment: dict[str, str] = field(default_factory=dict)
    #: Whether to answer queries (ESC[6n, ESC[c, ...) like vncterm does.
    answer_queries: bool = True


# -- fixed sample files -----------------------------------------------------------------------

SAMPLE_PYTHON = '''\
"""A small module to look at in vim."""

import os
from dataclasses import dataclass

LIMIT = 42  # the answer


@dataclass
class Point:
    x: int
    y: int

    def norm(self) -> float:
        return (self.x ** 2 + self.y ** 2) ** 0.5


def main() -> None:
    for index in range(LIMIT):
        if index % 7 == 0:
            print(f"{index}: {os.getcwd()!r}")
    # TODO: read the config


if __name__ == "__main__":
    main()
'''

WORDS = ["alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india"]


def sample_text() -> str:
    """A 300-line file for less: numbered lines, a few 'needle' lines, some long lines."""
    lines = []
    for number in range(1, 301):
        words = " ".join(WORDS[(number * 7 + k) % len(WORDS)] for k in range(1 + number % 6))
        if number % 37 == 0:
            words += " needle in the haystack"
        if number % 50 == 0:
            words += " " + "long line " * 12 + "end"
        lines.append(f"{number:4d}  {words}")
    return "\n".join(lines) + "\n"


def prepare_workdir(directory: Path) -> None:
    """The fixed files the scenarios open."""
    (directory / "sample.py").write_text(SAMPLE_PYTHON, encoding="utf-8")
    (directory / "sample.txt").write_text(sample_text(), encoding="utf-8")
    (directory / "notes").mkdir()
    (directory / "notes" / "todo.md").write_text("# todo\n", encoding="utf-8")
    (directory / "unicode-\u00e9\u4e00.txt").write_text("\u00e9\u4e00\n", encoding="utf-8")


# -- the scenarios ----------------------------------------------------------------------------

VIM = Scenario(
    "vim",
    "vim 9.0 with defaults.vim (syntax colours, ruler) on sample.py: move, insert, search, :q!",
    ["vim", "-N", "-u", "DEFAULTS", "-i", "NONE", "-n", "sample.py"],
    [
        Expect(b"sample.py"),
        Send(b""),
        Mark("open"),
        Send(b"5j"),
        Send(b"A"),
        Send(b"  # edited in place"),
        Send(ESC),
        Send(b"G"),
        Send(b"o"),
        Send("print('d\u00e9j\u00e0 vu \u4e2d\u6587')".encode()),
        Send(ESC),
        Mark("edited"),
        Send(b"?main" + ENTER),
        Send(b":set number" + ENTER),
        Mark("numbered"),
        Send(b":q!" + ENTER),
    ],
)

LESS = Scenario(
    "less",
    "less 590 on the 300-line sample.txt: page down, search 'needle', next match, end, quit",
    ["less", "sample.txt"],
    [
        Expect(b"sample.txt"),
        Send(b""),
        Mark("open"),
        Send(SPACE),
        Send(b"/needle" + ENTER),
        Send(b"n"),
        Mark("search"),
        Send(b"G"),
        Mark("bottom"),
        Send(b"q"),
    ],
    environment={"LESSHISTFILE": "-"},
)

TOP = Scenario(
    "top",
    "procps-ng top, interactive, 0.5 s refresh, bounded with -n; toggles command lines (c)",
    ["top", "-d", "0.5", "-n", "6"],
    [
        Sleep(1.2),
        Mark("running"),
        Send(b"c", quiet=0.0),
        Sleep(2.0),
    ],
)

DIALOG_MENU = Scenario(
    "dialog-menu",
    "dialog --menu with a back title: move down twice and choose",
    [
        "dialog", "--backtitle", "vncterm golden", "--title", "Pick a fruit", "--menu",
        "Which one?", "15", "50", "5",
        "apple", "red and round", "banana", "long and yellow", "cherry", "small",
        "durian", "smelly", "elder", "berries",
    ],
    [
        Expect(b"berries"),
        Send(b""),
        Send(DOWN),
        Send(DOWN),
        Mark("open"),
        Send(ENTER),
    ],
)

DIALOG_CHECKLIST = Scenario(
    "dialog-checklist",
    "dialog --checklist: toggle two items with space, then OK",
    [
        "dialog", "--title", "Services", "--checklist", "Enable:", "14", "44", "4",
        "ssh", "remote shell", "on", "cron", "scheduler", "off",
        "nginx", "web server", "off", "ntp", "clock sync", "on",
    ],
    [
        Expect(b"clock sync"),
        Send(b""),
        Send(DOWN),
        Send(SPACE),
        Send(DOWN),
        Send(DOWN),
        Send(SPACE),
        Mark("open"),
        Send(ENTER),
    ],
)

WHIPTAIL_MENU = Scenario(
    "whiptail-menu",
    "whiptail (newt) --menu: move down and choose",
    [
        "whiptail", "--title", "Install", "--menu", "Choose a disk", "14", "50", "4",
        "sda", "20 GB virtio", "sdb", "100 GB SCSI", "nvme0n1", "512 GB NVMe",
    ],
    [
        Expect(b"NVMe"),
        Send(b""),
        Send(DOWN),
        Mark("open"),
        Send(ENTER),
    ],
)

WHIPTAIL_CHECKLIST = Scenario(
    "whiptail-checklist",
    "whiptail --checklist: toggle an item, tab to the buttons, OK",
    [
        "whiptail", "--title", "Packages", "--checklist", "Select packages", "15", "50", "4",
        "vim", "editor", "ON", "less", "pager", "OFF", "tmux", "multiplexer", "OFF",
    ],
    [
        Expect(b"multiplexer"),
        Send(b""),
        Send(DOWN),
        Send(SPACE),
        Send(TAB),
        Mark("open"),
        Send(ENTER),
    ],
)

ASH = Scenario(
    "busybox-ash",
    "BusyBox 1.35 ash: prompts (answered ESC[6n), colours, ls, a wrapping line, history, edit",
    ["busybox", "sh"],
    [
        Expect(b"# "),
        Send(b""),
        Send(b"echo hello from ash" + ENTER),
        Send(b"printf '\\033[1;32mgreen\\033[0m \\033[44mblue bg\\033[0m\\n'" + ENTER),
        Send(b"ls -1" + ENTER),
        Send(b"echo " + b"0123456789" * 10 + ENTER),
        Send(UP),
        Send(BACKSPACE * 3 + b"end" + ENTER),
        Send(b"echo typo" + LEFT * 4 + b"no " + ENTER),
        Send(b"printf 'tab\\tstop\\n\\xe4\\xb8\\xad\\xe6\\x96\\x87 wide\\n'" + ENTER),
        Mark("shell"),
        Send(b"exit" + ENTER),
    ],
    environment={"PS1": "~ # ", "SHELL": "/bin/sh"},
)

# A real systemd boot on a serial console: Debian's kernel in QEMU (TCG: KVM is unusable in
# this nested VM) with this machine's own root file system shared read-only over 9p, so
# systemd 252 starts this machine's units and prints its coloured "[  OK  ] Started ..."
# status lines. The stock initramfs lacks the 9p modules, so a copy is built with them.
# loglevel=3 keeps kernel messages out (the kernel log has its own capture). Takes minutes.
SYSTEMD_BOOT_SCRIPT = """
set -e
kernel=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
version=${kernel#/boot/vmlinuz-}
initrd=/tmp/capture-initrd-9p-$version.img
if [ ! -e "$initrd" ]; then
    rm -rf /tmp/capture-initramfs-tools
    cp -r /etc/initramfs-tools /tmp/capture-initramfs-tools
    printf '9p\\n9pnet\\n9pnet_virtio\\nvirtio_pci\\n' >> /tmp/capture-initramfs-tools/modules
    mkinitramfs -d /tmp/capture-initramfs-tools -o "$initrd" "$version" >/dev/null 2>&1
fi
exec qemu-system-x86_64 -m 1536 -smp 2 -nographic -no-reboot -kernel "$kernel" \\
    -initrd "$initrd" \\
    -virtfs local,path=/,mount_tag=hostroot,security_model=none,readonly=on \\
    -append "console=ttyS0,115200 root=hostroot rootfstype=9p \\
rootflags=trans=virtio,version=9p2000.L ro loglevel=3 systemd.show_status=1" 2>/dev/null
"""

SYSTEMD_BOOT = Scenario(
    "systemd-boot-serial",
    "systemd 252 booting Debian 12 in QEMU on a serial console (ttyS0) up to the login prompt",
    ["sh", "-c", SYSTEMD_BOOT_SCRIPT],
    [
        Expect(b"login: ", timeout=900.0),
        Send(b"", quiet=2.0),
        Mark("login"),
        Send(b"\x01x"),  # QEMU's -nographic escape: Ctrl-A x quits
    ],
)

SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        VIM, LESS, TOP, DIALOG_MENU, DIALOG_CHECKLIST, WHIPTAIL_MENU, WHIPTAIL_CHECKLIST, ASH,
        SYSTEMD_BOOT,
    )
}


# -- recording --------------------------------------------------------------------------------


@dataclass
class Recorder:
    """Reads a pty, keeps every byte, answers queries through the vncterm emulator."""

    master: int
    answer_queries: bool
    output: bytearray = field(default_factory=bytearray)

    def __post_init__(self) -> None:
        sys.path.insert(0, str(REPOSITORY))
        from vncterm.terminal import Terminal

        self.terminal = Terminal(COLUMNS, ROWS)

    def type(self, keys: bytes) -> None:
        """Write keys, with cursor keys in the form the application asked for (DECCKM)."""
        if self.terminal.application_cursor_keys:
            for normal in (UP, DOWN, RIGHT, LEFT):
                keys = keys.replace(normal, b"\x1bO" + normal[-1:])
        os.write(self.master, keys)

    def read(self, timeout: float) -> bool:
        """Read what is available within ``timeout``; False once the program has gone."""
        ready, _, _ = select.select([self.master], [], [], max(timeout, 0.0))
        if not ready:
            return True
        try:
            data = os.read(self.master, 65536)
        except OSError:  # EIO: the child closed its side of the pty
            return False
        if not data:
            return False
        self.output += data
        self.terminal.feed(data)
        answer = self.terminal.take_replies()
        if answer and self.answer_queries:
            os.write(self.master, answer)
        return True

    def until_quiet(self, quiet: float) -> bool:
        deadline = time.monotonic() + STEP_TIMEOUT
        last = time.monotonic()
        size = len(self.output)
        while time.monotonic() < deadline:
            if not self.read(0.05):
                return False
            if len(self.output) != size:
                size, last = len(self.output), time.monotonic()
            elif time.monotonic() - last >= quiet:
                return True
        return True

    def until_seen(self, text: bytes, start: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while text not in self.output[start:]:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{text!r} did not appear")
            if not self.read(0.05):
                return False
        return True

    def for_seconds(self, seconds: float) -> bool:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if not self.read(deadline - time.monotonic()):
                return False
        return True


def environment(scenario: Scenario, home: Path) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin",
        "HOME": str(home),
        "USER": "root",
        "LOGNAME": "root",
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "COLUMNS": str(COLUMNS),
        "LINES": str(ROWS),
        **scenario.environment,
    }


def record(scenario: Scenario) -> tuple[bytes, dict[str, int]]:
    """Run the scenario in a fresh pty; return everything it wrote and the marks."""
    with tempfile.TemporaryDirectory(prefix="capture-") as temporary:
        root = Path(temporary)
        home, work = root / "home", root / "work"
        home.mkdir()
        work.mkdir()
        prepare_workdir(work)
        pid, master = pty.fork()
        if pid == 0:  # the child: its stdin/stdout/stderr are the pty's slave side
            fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
            os.chdir(work)
            os.execvpe(scenario.command[0], list(scenario.command), environment(scenario, home))
        recorder = Recorder(master, scenario.answer_queries)
        marks: dict[str, int] = {}
        alive = True
        start = 0
        for step in scenario.steps:
            if not alive:
                raise RuntimeError(f"{scenario.name} exited before {step}")
            if isinstance(step, Send):
                start = len(recorder.output)
                if step.keys:
                    recorder.type(step.keys)
                alive = recorder.until_quiet(step.quiet)
            elif isinstance(step, Expect):
                alive = recorder.until_seen(step.text, start, step.timeout)
                start = len(recorder.output)
            elif isinstance(step, Sleep):
                alive = recorder.for_seconds(step.seconds)
            else:
                marks[step.label] = len(recorder.output)
        deadline = time.monotonic() + STEP_TIMEOUT
        while alive and time.monotonic() < deadline:
            alive = recorder.read(0.1)
        if alive:
            os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        os.close(master)
        return bytes(recorder.output), marks


# -- expected screens from tmux ---------------------------------------------------------------


#: DEC special graphics (VT100 line drawing), as xterm shows ``ESC ( 0`` characters.
DEC_SPECIAL_GRAPHICS = dict(
    zip(
        "`abcdefghijklmnopqrstuvwxyz{|}~",
        "\u25c6\u2592\u2409\u240c\u240d\u240a\u00b0\u00b1\u2424\u240b\u2518\u2510"
        "\u250c\u2514\u253c\u23ba\u23bb\u2500\u23bc\u23bd\u251c\u2524\u2534\u252c"
        "\u2502\u2264\u2265\u03c0\u2260\u00a3\u00b7",
        strict=True,
    )
)
_CSI = re.compile(r"\x1b\[[0-9;:]*[A-Za-z]")
_SHIFTED = re.compile(r"\x0e([^\x0f]*)\x0f?")


@dataclass(frozen=True)
class Screen:
    """What tmux shows after a byte stream: its ``capture-pane -e`` rows, cursor, modes, title."""

    #: Rows as ``capture-pane -p -e`` prints them: SGR changes, and SO ... SI around cells
    #: tmux keeps in the DEC line-drawing set (it stores them as the ASCII letters).
    ansi: list[str]
    cursor: tuple[int, int]
    alternate: bool
    title: str

    @property
    def text(self) -> list[str]:
        """The rows as a terminal shows them: no SGR, line drawing as Unicode, right-stripped."""
        rows = []
        for row in self.ansi:
            plain = _CSI.sub("", row)
            drawn = _SHIFTED.sub(
                lambda match: "".join(DEC_SPECIAL_GRAPHICS.get(c, c) for c in match[1]), plain
            )
            rows.append(drawn.replace("\x0f", "").rstrip())
        return rows


def tmux_screen(data: bytes) -> Screen:
    """Write ``data`` into a raw-mode 80x24 tmux pane and read the pane back."""
    tmux = shutil.which("tmux")
    if tmux is None:
        raise SystemExit("tmux is not installed")
    with tempfile.TemporaryDirectory(prefix="capture-tmux-") as temporary:
        root = Path(temporary)
        stream, config, socket = root / "stream.raw", root / "tmux.conf", root / "socket"
        stream.write_bytes(data)
        config.write_text("set -g status off\nset -g escape-time 0\n", encoding="utf-8")
        base = [tmux, "-S", str(socket), "-f", str(config)]
        # The pane's shell sets raw mode (no opost: LF stays LF), writes the bytes, then tells
        # us it is done and sleeps so the pane stays open while we read it.
        script = f"stty raw -echo; cat {stream}; tmux wait-for -S fed; exec sleep 600"
        subprocess.run(
            [*base, "new-session", "-d", "-x", str(COLUMNS), "-y", str(ROWS), "sh", "-c", script],
            check=True,
            env={**os.environ, "LANG": "C.UTF-8", "TERM": "xterm-256color"},
        )
        try:
            subprocess.run([*base, "wait-for", "fed"], check=True, timeout=60)
            previous = None
            while True:  # tmux may still be parsing what cat wrote: wait until it is stable
                time.sleep(0.2)
                shown = subprocess.run(
                    [*base, "capture-pane", "-p", "-e"], check=True, capture_output=True
                ).stdout.decode("utf-8")
                state = subprocess.run(
                    [*base, "display-message", "-p",
                     "#{cursor_x} #{cursor_y} #{alternate_on} #{pane_title}"],
                    check=True, capture_output=True,
                ).stdout.decode("utf-8")
                if (shown, state) == previous:
                    break
                previous = (shown, state)
        finally:
            subprocess.run([*base, "kill-server"], check=False)
    rows = shown.split("\n")[:ROWS]
    rows += [""] * (ROWS - len(rows))
    x, y, alternate, title = state.rstrip("\n").split(" ", 3)
    return Screen(rows, (int(x), int(y)), alternate == "1", title)


# -- files and the manifest -------------------------------------------------------------------


def screen_path(name: str, mark: str | None, suffix: str = "txt") -> Path:
    stem = name if mark is None else f"{name}.{mark}"
    return DATA / f"{stem}.screen.{suffix}"


def load_manifest() -> dict[str, dict[str, object]]:
    if not MANIFEST.exists():
        return {}
    manifest: dict[str, dict[str, object]] = json.loads(MANIFEST.read_text(encoding="utf-8"))
    return manifest


def save_manifest(manifest: dict[str, dict[str, object]]) -> None:
    text = json.dumps(dict(sorted(manifest.items())), indent=2, ensure_ascii=False)
    MANIFEST.write_text(text + "\n", encoding="utf-8")


def command_record(names: list[str]) -> None:
    manifest = load_manifest()
    for name in names:
        scenario = SCENARIOS[name]
        data, marks = record(scenario)
        (DATA / f"{name}.raw").write_bytes(data)
        manifest[name] = {
            "description": scenario.description,
            "command": list(scenario.command),
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "marks": marks,
        }
        save_manifest(manifest)
        print(f"{name}.raw: {len(data)} bytes, marks {marks}")


#: ESC directly followed by a non-ASCII byte. systemd 252 shortens unit names to fit 80 columns
#: with "\u2026" and can cut through an SGR sequence, leaving ESC + "\u2026" + text: tmux then
#: takes the text's first letter as the escape's final byte, so "\u2026POSIX" starts a DCS
#: string that swallows the rest of the boot. Only the tmux replay drops such an ESC (the
#: .raw stays as systemd wrote it); their rows scroll off before any screen that is compared.
#: (systemd also leaves "ESC [ \u2026- POSIX": tmux keeps parsing the CSI and eats "- P", we
#: abort it at the non-ASCII byte; that does not hang tmux, and those rows scroll off too.)
_TRUNCATED_ESCAPE = re.compile(rb"\x1b(?=[\x80-\xff])")


def command_screens(names: list[str]) -> None:
    manifest = load_manifest()
    for name in names:
        data = (DATA / f"{name}.raw").read_bytes()
        entry = manifest.setdefault(name, {"marks": {}})
        marks = entry.get("marks", {})
        assert isinstance(marks, dict)
        screens: dict[str, object] = {}
        entry["tmux_dropped_escapes_at"] = [
            match.start() for match in _TRUNCATED_ESCAPE.finditer(data)
        ]
        for mark, end in [*marks.items(), (None, len(data))]:
            screen = tmux_screen(_TRUNCATED_ESCAPE.sub(b"", data[:end]))
            screen_path(name, mark).write_text("\n".join(screen.text) + "\n", encoding="utf-8")
            screen_path(name, mark, "ansi").write_text(
                "\n".join(screen.ansi) + "\n", encoding="utf-8"
            )
            screens[mark or "end"] = {
                "cursor": list(screen.cursor),
                "alternate": screen.alternate,
                "title": screen.title,
            }
            print(f"{screen_path(name, mark).name}: cursor {screen.cursor}")
        entry["tmux"] = screens
        save_manifest(manifest)


def command_show(names: list[str]) -> None:
    manifest = load_manifest()
    for name in names:
        marks = manifest.get(name, {}).get("marks", {})
        assert isinstance(marks, dict)
        for mark in [*marks, None]:
            path = screen_path(name, mark)
            print(f"---- {path.name} " + "-" * (70 - len(path.name)))
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines()):
                print(f"{number:2d}|{line}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["list", "record", "screens", "show"])
    parser.add_argument("names", nargs="*", help="scenario names (default: all)")
    arguments = parser.parse_args(argv)
    names = arguments.names or list(SCENARIOS)
    if arguments.action == "list":
        for scenario in SCENARIOS.values():
            print(f"{scenario.name:20} {scenario.description}")
    elif arguments.action == "record":
        command_record(names)
    elif arguments.action == "screens":
        command_screens(names)
    else:
        command_show(names)


if __name__ == "__main__":
    main()
