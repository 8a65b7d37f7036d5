"""Ingest benchmark: how fast vncterm's emulator eats console output, against stock pyte.

Run it from the repository root with the project's interpreter::

    .venv/bin/python bench/ingest.py            # 5 rounds, a few minutes
    .venv/bin/python bench/ingest.py --rounds 3 --size 262144   # quicker, noisier

Workloads of about ``--size`` bytes each (1 MiB by default):

* ``boot``: the BusyBox serial boot capture (tests/data) repeated;
* ``ls``: a coloured ``ls -l``-like listing (SGR around most names, ``\\r\\n`` line ends);
* ``redraw``: a top/htop-like full-screen redraw, over and over (``CUP`` to each row, SGR for
  each field, ``EL``, a reverse-video header and a bar of coloured blocks);
* ``yes``: ``y\\r\\n`` repeated, the flood that scrolls the whole screen once per three bytes;
* ``systemd`` (extra): coloured systemd-style status lines with UTF-8 (``●``, box drawing,
  ``…``), for the non-ASCII drawing path;
* ``cat -n`` (extra): ``yes | cat -n``, numbered lines with a tab after the number.

Four ways of eating them, all fed the same bytes in the same 4 KiB chunks (what a console read
typically hands over) on an 80x24 screen:

* ``pyte``: stock ``pyte.Screen`` + ``pyte.ByteStream`` (no damage bookkeeping, no scrollback);
* ``ours``: `vncterm.terminal.emulator.Terminal` alone (a console nobody watches; damage is
  still recorded, scrollback kept);
* ``viewer``: ``ours`` plus a `vncterm.render.framebuffer.Renderer` rendering every 64 KiB of
  input.  The session renders at most every 20 ms and only when a viewer asks; at the rate a
  flood arrives that is one frame per tens of KiB, so "a viewer attached" is modelled as one
  ``render()`` per 64 KiB of input (and one at the end).  Rendering cost per frame is
  bounded by the screen, not by the input, so this is the part that amortises.

Each figure is the median MB/s (10^6 bytes per second of CPU time) over ``--rounds`` rounds; the
ways are interleaved within each round so that machine noise hits them alike, and the ratios
against ``pyte`` in the same run are the figures of record.

The memory section reports the tracemalloc size per 80x24 `Terminal` of 100 idle terminals
after the boot capture: screen, parser and bookkeeping alone, and with the scrollback lines.
"""

from __future__ import annotations

import argparse
import gc
import random
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from importlib.metadata import version
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import pyte  # noqa: E402

from vncterm.render.framebuffer import Renderer  # noqa: E402
from vncterm.terminal import Terminal  # noqa: E402

BOOT = (ROOT / "tests" / "data" / "linux-boot-busybox-serial.raw").read_bytes()
CHUNK = 4096
RENDER_EVERY = 64 * 1024
COLS, ROWS = 80, 24


# -- workloads -----------------------------------------------------------------------------


def boot_workload(size: int) -> bytes:
    return (BOOT * (size // len(BOOT) + 1))[:size]


def ls_workload(size: int) -> bytes:
    rnd = random.Random(1)
    kinds = [
        (b"\x1b[01;34m", b"drwxr-xr-x"),
        (b"\x1b[01;32m", b"-rwxr-xr-x"),
        (b"\x1b[01;36m", b"lrwxrwxrwx"),
        (b"\x1b[01;31m", b"-rw-r--r--"),
        (b"", b"-rw-r--r--"),
        (b"", b"-rw-r--r--"),
    ]
    words = [b"src", b"build", b"README", b"setup", b"vncterm", b"data", b"libfoo.so", b"main",
             b"test", b"docs", b"archive.tar.gz", b"config", b"notes.txt", b"image.png"]
    out = bytearray()
    while len(out) < size:
        colour, perms = rnd.choice(kinds)
        name = b"_".join(rnd.choice(words) for _ in range(rnd.randint(1, 3)))
        out += b"%s 1 user user %8d Jan %2d 12:%02d " % (
            perms, rnd.randint(0, 10**7), rnd.randint(1, 31), rnd.randint(0, 59))
        if colour:
            out += b"\x1b[0m" + colour + name + b"\x1b[0m\r\n"
        else:
            out += name + b"\r\n"
    return bytes(out[:size])


def redraw_workload(size: int) -> bytes:
    rnd = random.Random(2)
    out = bytearray(b"\x1b[?1049h\x1b[?25l")
    frame = 0
    while len(out) < size:
        frame += 1
        out += b"\x1b[H\x1b[7mtop - 12:%02d:%02d up 3 days, load average: %d.%02d" % (
            frame // 60 % 60, frame % 60, rnd.randint(0, 9), rnd.randint(0, 99))
        out += b"\x1b[K\x1b[0m"
        out += b"\x1b[2;1HCpu: \x1b[32m" + b"|" * rnd.randint(1, 40) + b"\x1b[31m"
        out += b"|" * rnd.randint(0, 20) + b"\x1b[0m\x1b[K"
        out += b"\x1b[4;1H\x1b[30;42m  PID USER      PR  NI    VIRT    RES  %CPU COMMAND"
        out += b"\x1b[K\x1b[0m"
        for row in range(5, ROWS + 1):
            out += b"\x1b[%d;1H%5d \x1b[1muser\x1b[0m     20   0 %7d %6d " % (
                row, rnd.randint(1, 99999), rnd.randint(0, 10**6), rnd.randint(0, 10**5))
            out += b"\x1b[%dm%5.1f\x1b[0m %s\x1b[K" % (
                31 + rnd.randint(0, 6), rnd.random() * 100,
                rnd.choice([b"bash", b"python3", b"Xorg", b"qemu-system-x86", b"sshd"]))
    return bytes(out[:size])


def systemd_workload(size: int) -> bytes:
    rnd = random.Random(3)
    units = ["Journal Service", "Network Manager", "OpenSSH server daemon", "Login Service",
             "Permit User Sessions", "D-Bus System Message Bus", "Load Kernel Modules"]
    out = bytearray()
    while len(out) < size:
        unit = rnd.choice(units)
        kind = rnd.random()
        if kind < 0.6:
            out += f"[\x1b[0;32m  OK  \x1b[0m] Started \x1b[0;1;39m{unit}\x1b[0m.\r\n".encode()
        elif kind < 0.8:
            name = unit.lower().replace(" ", "-")
            out += f"\x1b[0;1;32m\u25cf\x1b[0m {name}.service - {unit}\r\n".encode()
            out += "     \u251c\u2500 Loaded: loaded; enabled\r\n".encode()
            out += "     \u2514\u2500 Active: \x1b[0;1;32mactive (running)\x1b[0m\r\n".encode()
        else:
            out += f"         Starting \x1b[0;1;39m{unit}\x1b[0m \u2026\r\n".encode()
    return bytes(out[:size])


def yes_workload(size: int) -> bytes:
    return (b"y\r\n" * (size // 3 + 1))[:size]


def numbered_workload(size: int) -> bytes:
    out = bytearray()
    number = 1
    while len(out) < size:
        out += b"%6d\ty\r\n" % number
        number += 1
    return bytes(out[:size])


WORKLOADS: dict[str, Callable[[int], bytes]] = {
    "boot": boot_workload,
    "ls": ls_workload,
    "redraw": redraw_workload,
    "yes": yes_workload,
    "systemd": systemd_workload,
    "cat -n": numbered_workload,
}


# -- ways of eating them ---------------------------------------------------------------------


def chunks_of(data: bytes) -> list[bytes]:
    return [data[offset : offset + CHUNK] for offset in range(0, len(data), CHUNK)]


def run_pyte(chunks: list[bytes]) -> None:
    screen = pyte.Screen(COLS, ROWS)
    stream = pyte.ByteStream(screen)
    for chunk in chunks:
        stream.feed(chunk)


def run_ours(chunks: list[bytes]) -> None:
    terminal = Terminal(COLS, ROWS)
    for chunk in chunks:
        terminal.feed(chunk)


def run_viewer(chunks: list[bytes]) -> None:
    terminal = Terminal(COLS, ROWS)
    renderer = Renderer(terminal)
    renderer.render()
    since_render = 0
    for chunk in chunks:
        terminal.feed(chunk)
        since_render += len(chunk)
        if since_render >= RENDER_EVERY:
            renderer.render()
            since_render = 0
    renderer.render()


WAYS: dict[str, Callable[[list[bytes]], None]] = {
    "pyte": run_pyte,
    "ours": run_ours,
    "viewer": run_viewer,
}


def measure(way: Callable[[list[bytes]], None], chunks: list[bytes]) -> float:
    """Seconds of CPU time for one run (garbage collection as in production: on)."""
    gc.collect()
    start = time.process_time()
    way(chunks)
    return time.process_time() - start


def pyte_survives(chunks: list[bytes]) -> bool:
    try:
        run_pyte(chunks)
    except Exception:
        return False
    return True


# -- memory ----------------------------------------------------------------------------------


def terminal_bytes(count: int) -> tuple[float, float, int]:
    """tracemalloc bytes per terminal after a boot capture, with and without its scrollback.

    The shared caches (cells, renditions, scrollback lines) are warmed by a terminal that is
    not counted; each counted terminal's capture has its own suffix on every line, so that no
    scrollback line is shared between terminals (identical consoles would share them all).
    """
    warm = Terminal(COLS, ROWS)
    warm.feed(BOOT)
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    terminals = []
    for number in range(count):
        terminal = Terminal(COLS, ROWS)
        terminal.feed(BOOT.replace(b"\r\n", b" #%d\r\n" % number))
        terminal.take_damage()
        terminal.take_replies()
        terminals.append(terminal)
    gc.collect()
    with_scrollback = tracemalloc.get_traced_memory()[0] - before
    lines = len(terminals[0].scrollback)
    for terminal in terminals:
        terminal.scrollback._lines.clear()
    gc.collect()
    without = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return with_scrollback / count, without / count, lines


# -- report ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--size", type=int, default=1 << 20, help="bytes per workload")
    parser.add_argument("--only", nargs="*", choices=list(WORKLOADS), help="workloads to run")
    args = parser.parse_args(argv)

    names = args.only or list(WORKLOADS)
    print(f"python {sys.version.split()[0]}, pyte {version('pyte')}, "
          f"{COLS}x{ROWS}, {args.size} bytes per workload in {CHUNK}-byte chunks, "
          f"render every {RENDER_EVERY} bytes, median of {args.rounds} rounds (CPU time)")
    header = f"{'workload':<8} {'pyte MB/s':>10} {'ours MB/s':>10} {'x pyte':>7} " \
             f"{'viewer MB/s':>12} {'x pyte':>7}"
    print(header)
    print("-" * len(header))
    for name in names:
        data = WORKLOADS[name](args.size)
        chunks = chunks_of(data)
        ways = dict(WAYS)
        if not pyte_survives(chunks):
            print(f"{name:<8} stock pyte raises on this input; skipped")
            continue
        times: dict[str, list[float]] = {way: [] for way in ways}
        for _round in range(args.rounds):
            for way, run in ways.items():
                times[way].append(measure(run, chunks))
        rate = {way: len(data) / statistics.median(spent) / 1e6 for way, spent in times.items()}
        print(f"{name:<8} {rate['pyte']:>10.2f} {rate['ours']:>10.2f} "
              f"{rate['ours'] / rate['pyte']:>6.2f}x {rate['viewer']:>12.2f} "
              f"{rate['viewer'] / rate['pyte']:>6.2f}x")

    each, bare, lines = terminal_bytes(100)
    print()
    print("memory per 80x24 Terminal after the boot capture, 100 terminals (tracemalloc):")
    print(f"  screen, parser and bookkeeping: {bare / 1024:6.1f} KiB")
    print(f"  with its {lines} scrollback lines: {each / 1024:6.1f} KiB "
          f"({(each - bare) / lines:.0f} bytes per line)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
