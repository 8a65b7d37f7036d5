"""Item 11: a hostile guest slows only itself.

11a, in process: each of the costliest inputs known (`vncterm.terminal.hostile.WORST`), 4 KiB
of it fed at once to a terminal whose screen is full of text, at 80x24 and at the largest
size a console may have (500x200): milliseconds per 4 KiB, the median of several rounds.

11b, through a real consoleproxy hosting two text consoles (`bench/hostile_console.py`): a
normal guest that echoes each key on its first line, and a hostile guest that, once told to,
writes the worst inputs in turn as fast as its console takes them. A viewer of the normal
console (CONNECT, RFB, Tight) types a key 20-50 ms after each echo and times KeyEvent -> the
first update touching row 1; a second client calls XML-RPC (`session.get_this_host`) every
10-20 ms and times each answer. Three phases of the same length, side by side in one run:
the hostile guest quiet, streaming, and streaming with a viewer of its own asking for every
frame (its renders are work in the same process too).
"""

from __future__ import annotations

import random
import select
import socket
import textwrap
import threading
import time
import xmlrpc.client
from dataclasses import dataclass, field
from pathlib import Path

from bench import peers, rfbclient
from bench.common import (
    CHILDREN,
    PYTHON,
    REPO,
    Deadline,
    ItemResult,
    Table,
    Target,
    log,
    median,
    percentile,
)

NORMAL = "55555555-5555-4555-8555-555555555555"
HOSTILE = "66666666-6666-4666-8666-666666666666"
#: Keys are typed this long after the previous echo, XML-RPC calls this long apart.
KEY_GAP = (0.02, 0.05)
CALL_GAP = (0.01, 0.02)
#: A key not echoed within this many seconds counts as lost.
ECHO_TIMEOUT = 2.0
#: Pixel rows of the normal console's first line.
STATUS_ROWS = 16
#: The issue's bounds.
EMULATE_80X24_MS, EMULATE_LARGEST_MS, ECHO_P99_MS, XMLRPC_P99_MS = 20.0, 100.0, 50.0, 50.0


@dataclass(frozen=True)
class Settings:
    rounds: int
    seconds: float
    sizes: tuple[tuple[int, int], ...]
    budget: float


QUICK = Settings(rounds=3, seconds=4.0, sizes=((80, 24),), budget=60.0)
FULL = Settings(rounds=5, seconds=10.0, sizes=((80, 24), (500, 200)), budget=200.0)


# -- 11a: emulation cost per 4 KiB ------------------------------------------------------------


def emulate_ms(sequence: bytes, columns: int, rows: int, rounds: int) -> float:
    """Median ms to emulate 4 KiB of ``sequence`` on a screen full of text."""
    from vncterm.terminal import Terminal
    from vncterm.terminal.hostile import fill, full_screen

    data = fill(sequence)
    times = []
    for _ in range(rounds):
        terminal = Terminal(columns, rows)
        terminal.feed(full_screen(columns, rows))
        started = time.process_time()
        terminal.feed(data)
        times.append((time.process_time() - started) * 1000)
    return median(times)


def item_emulate(settings: Settings) -> ItemResult:
    from vncterm.terminal.hostile import WORST

    table = Table("11a. the costliest inputs known: ms to emulate 4 KiB on a full screen "
                  f"(CPU time, median of {settings.rounds})", ["input", "80x24", "500x200"])
    worst = {(80, 24): (0.0, ""), (500, 200): (0.0, "")}
    for name, sequence in WORST.items():
        row: list[object] = [name]
        for size in worst:
            ms = emulate_ms(sequence, *size, settings.rounds)
            row.append(ms)
            if ms > worst[size][0]:
                worst[size] = (ms, name)
        table.add(*row)
    targets = [
        Target("11", "worst 4 KiB emulated at 80x24", worst[(80, 24)][0], EMULATE_80X24_MS,
               "<=", " ms", f"worst: {worst[(80, 24)][1]}"),
        Target("11", "worst 4 KiB emulated at 500x200", worst[(500, 200)][0],
               EMULATE_LARGEST_MS, "<=", " ms", f"worst: {worst[(500, 200)][1]}"),
    ]
    return ItemResult([table], targets)


# -- 11b: a hostile guest beside a normal one ----------------------------------------------------


def proxy_config(columns: int, rows: int, start_dir: Path) -> str:
    from consoleproxy.auth import hash_password

    program = REPO / "bench" / "hostile_console.py"
    return textwrap.dedent(f"""
        [host]
        uuid = "{peers.HOST_UUID}"
        name_label = "bench"
        address = "127.0.0.1"
        [proxy]
        columns = {columns}
        rows = {rows}
        [[users]]
        name = "root"
        password_hash = "{hash_password(peers.PASSWORD, n=16)}"
        [[vms]]
        uuid = "{peers.VM_UUID}"
        name_label = "bench"
          [[vms.consoles]]
          uuid = "{NORMAL}"
          protocol = "rfb"
          backend = "command:{PYTHON} {program} --echo --seconds 900"
          [[vms.consoles]]
          uuid = "{HOSTILE}"
          protocol = "rfb"
          backend = "command:{PYTHON} {program} --start-dir {start_dir} --seconds 900"
        """)


@dataclass
class Phase:
    name: str
    echoes: list[float] = field(default_factory=list)
    lost: int = 0
    calls: list[float] = field(default_factory=list)
    failed_calls: int = 0
    hostile_frames: int = 0


def open_viewer(proxy: peers.Proxy, console: str) -> tuple[socket.socket, int, int]:
    sock = peers.Peer(console, proxy.port, proxy.request(console)).open()
    width, height, _name = rfbclient.handshake(sock)
    sock.sendall(rfbclient.set_pixel_format()
                 + rfbclient.set_encodings([rfbclient.TIGHT, rfbclient.COPY_RECT])
                 + rfbclient.update_request(False, width, height))
    return sock, width, height


def call_xmlrpc(port: int, session: str, phase: Phase, stop: threading.Event) -> None:
    server = xmlrpc.client.ServerProxy(f"http://127.0.0.1:{port}/", allow_none=True)
    while not stop.is_set():
        started = time.perf_counter()
        try:
            reply = server.session.get_this_host(session, session)
            ok = isinstance(reply, dict) and reply.get("Status") == "Success"
        except (OSError, xmlrpc.client.Error):
            ok = False
        if ok:
            phase.calls.append(time.perf_counter() - started)
        else:
            phase.failed_calls += 1
        stop.wait(random.uniform(*CALL_GAP))


def watch_hostile(proxy: peers.Proxy, phase: Phase, stop: threading.Event) -> None:
    """A viewer of the hostile console asking for every frame (it walks, never draws)."""
    sock, width, height = open_viewer(proxy, HOSTILE)
    sock.settimeout(0.5)
    reader = rfbclient.MessageReader()
    request = rfbclient.update_request(True, width, height)
    try:
        while not stop.is_set():
            try:
                data = sock.recv(1 << 20)
            except TimeoutError:
                continue
            if not data:
                return
            reader.feed(data)
            while (message := reader.next()) is not None:
                if isinstance(message, rfbclient.Update):
                    phase.hostile_frames += 1
                    sock.sendall(request)
    finally:
        sock.close()


def type_and_time(sock: socket.socket, width: int, height: int, phase: Phase,
                  seconds: float) -> None:
    """Keys typed into the normal console; each echo's latency into ``phase``."""
    sock.setblocking(False)
    reader = rfbclient.MessageReader()
    request = rfbclient.update_request(True, width, height)
    clock = time.perf_counter
    end = clock() + seconds
    key_sent: float | None = None
    next_key = clock()
    keysyms = [ord(c) for c in "abcdefghijklmnopqrstuvwxyz"]
    typed = 0
    while (now := clock()) < end:
        wake = min(end, next_key if key_sent is None else key_sent + ECHO_TIMEOUT)
        readable, _, _ = select.select([sock], [], [], max(0.0, wake - now))
        now = clock()
        if readable:
            try:
                data = sock.recv(1 << 20)
            except BlockingIOError:
                data = b""
            else:
                if not data:
                    raise ConnectionError("consoleproxy closed the viewer")
            reader.feed(data)
            while (message := reader.next()) is not None:
                if not isinstance(message, rfbclient.Update):
                    continue
                sock.sendall(request)
                if key_sent is not None and any(
                        r.y < STATUS_ROWS for r in message.rects
                        if r.encoding != rfbclient.COPY_RECT):
                    phase.echoes.append(now - key_sent)
                    key_sent = None
                    next_key = now + random.uniform(*KEY_GAP)
        if key_sent is not None and now - key_sent > ECHO_TIMEOUT:
            phase.lost += 1
            key_sent = None
            next_key = now
        if key_sent is None and now >= next_key:
            keysym = keysyms[typed % len(keysyms)]
            typed += 1
            sock.setblocking(True)
            sock.sendall(rfbclient.key_event(keysym, True) + rfbclient.key_event(keysym, False))
            sock.setblocking(False)
            key_sent = clock()


def run_phase(proxy: peers.Proxy, viewer: tuple[socket.socket, int, int], name: str,
              seconds: float, *, watched: bool) -> Phase:
    phase = Phase(name)
    stop = threading.Event()
    threads = [threading.Thread(target=call_xmlrpc, args=(proxy.port, proxy.session, phase,
                                                          stop), daemon=True)]
    if watched:
        threads.append(threading.Thread(target=watch_hostile, args=(proxy, phase, stop),
                                        daemon=True))
    for thread in threads:
        thread.start()
    try:
        type_and_time(*viewer, phase, seconds)
    finally:
        stop.set()
        for thread in threads:
            thread.join(5.0)
    return phase


def item_beside(workdir: Path, settings: Settings, columns: int, rows: int) -> ItemResult:
    start_dir = workdir / f"hostile-{columns}x{rows}"
    start_dir.mkdir(exist_ok=True)
    start_file = start_dir / "start"
    start_file.unlink(missing_ok=True)
    proxy = peers.start_proxy(workdir, proxy_config(columns, rows, start_dir),
                              name=f"consoleproxy-hostile-{columns}x{rows}")
    phases: list[Phase] = []
    try:
        time.sleep(0.5)  # the echo guest draws its first screen
        viewer = open_viewer(proxy, NORMAL)
        try:
            log(f"item 11: {columns}x{rows}, hostile guest quiet, {settings.seconds:.0f} s")
            phases.append(run_phase(proxy, viewer, "hostile guest quiet", settings.seconds,
                                    watched=False))
            start_file.touch()
            time.sleep(0.5)
            log(f"item 11: {columns}x{rows}, hostile guest streaming")
            phases.append(run_phase(proxy, viewer, "hostile guest streaming",
                                    settings.seconds, watched=False))
            log(f"item 11: {columns}x{rows}, hostile guest streaming, watched")
            phases.append(run_phase(proxy, viewer, "streaming, and watched by a viewer",
                                    settings.seconds, watched=True))
        finally:
            viewer[0].close()
    finally:
        CHILDREN.stop(proxy.proc)
    table = Table(f"11b. one consoleproxy, {columns}x{rows}: a normal console beside a hostile "
                  "one", ["phase", "echo p50 ms", "echo p99 ms", "keys", "lost",
                          "XML-RPC p50 ms", "XML-RPC p99 ms", "calls", "failed",
                          "hostile frames/s"])
    for phase in phases:
        table.add(phase.name, percentile(phase.echoes, 0.5) * 1000,
                  percentile(phase.echoes, 0.99) * 1000, len(phase.echoes), phase.lost,
                  percentile(phase.calls, 0.5) * 1000, percentile(phase.calls, 0.99) * 1000,
                  len(phase.calls), phase.failed_calls,
                  phase.hostile_frames / settings.seconds if phase.hostile_frames else "")
    if phases and phases[-1].hostile_frames < settings.seconds:
        table.notes.append("the hostile console's own viewer got under a frame a second: "
                           "did the hostile guest stream at all? (its log: --keep)")
    table.notes.append("echo = KeyEvent sent -> first update covering the normal console's "
                       "first line; a key 20-50 ms after each echo, an XML-RPC call every "
                       "10-20 ms from another client")
    targets = []
    for phase in phases[1:]:
        label = f"{columns}x{rows}, {phase.name}"
        targets.append(Target("11", f"echo p99 beside a hostile guest ({label})",
                              percentile(phase.echoes, 0.99) * 1000, ECHO_P99_MS, "<=", " ms",
                              f"{phase.lost} keys lost" if phase.lost else ""))
        targets.append(Target("11", f"XML-RPC p99 beside a hostile guest ({label})",
                              percentile(phase.calls, 0.99) * 1000, XMLRPC_P99_MS, "<=", " ms",
                              f"{phase.failed_calls} failed" if phase.failed_calls else ""))
    return ItemResult([table], targets)


def item_hostile(workdir: Path, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    result = item_emulate(settings)
    for columns, rows in settings.sizes:
        if budget.left() < 3 * settings.seconds + 10:
            result.tables[0].notes.append(f"11b at {columns}x{rows}: skipped (time budget)")
            continue
        try:
            beside = item_beside(workdir, settings, columns, rows)
        except (OSError, ConnectionError, TimeoutError, RuntimeError) as error:
            result.tables.append(Table(f"11b. {columns}x{rows}", ["status"],
                                       [[f"FAILED: {type(error).__name__}: {error}"]]))
            continue
        result.tables += beside.tables
        result.targets += beside.targets
    return result
