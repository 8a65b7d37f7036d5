"""What every benchmark item shares: statistics, tables, targets, child processes started in
their own process groups (and always killed), ports read from a child's first line, RSS and
file-descriptor limits.

Nothing here asserts a timing: the suite measures and reports, it never fails on a number.
"""

from __future__ import annotations

import atexit
import datetime
import math
import os
import platform
import resource
import select
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
LOCALHOST = "127.0.0.1"


# -- statistics ------------------------------------------------------------------------------


def percentile(values: Sequence[float], fraction: float) -> float:
    """The ``fraction`` quantile (0..1) of ``values``, linearly interpolated; nan when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    position = fraction * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def median(values: Iterable[float]) -> float:
    """The median of the finite values; nan when there are none."""
    kept = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(kept) if kept else math.nan


def ratio(a: float, b: float) -> float:
    """a / b, nan when either is missing or b is zero."""
    if a is None or b is None or math.isnan(a) or math.isnan(b) or b == 0:
        return math.nan
    return a / b


# -- formatting ------------------------------------------------------------------------------


def fmt(value: Any, digits: int = 2, unit: str = "") -> str:
    """A number for a table cell: n/a for missing values, thousands separated."""
    if value is None:
        return "n/a"
    if isinstance(value, str):
        return value
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return "n/a"
    if isinstance(value, int) and not isinstance(value, bool):
        text = f"{value:,}"
    elif abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.{digits}f}"
    return f"{text}{unit}"


def fmt_ratio(value: float) -> str:
    return "n/a" if value is None or math.isnan(value) else f"{value:.2f}x"


@dataclass
class Table:
    """One item's result table, printed with aligned columns and optional notes below."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: Any) -> None:
        self.rows.append([c if isinstance(c, str) else fmt(c) for c in cells])

    def render(self) -> str:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        def line(cells: Sequence[str]) -> str:
            first = cells[0].ljust(widths[0])
            rest = [c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=False)]
            return "  ".join([first, *rest]).rstrip()
        out = [self.title, "-" * len(self.title), line(self.columns),
               line(["-" * w for w in widths])]
        out += [line(row) for row in self.rows]
        out += [f"  note: {note}" for note in self.notes]
        return "\n".join(out)


@dataclass
class Target:
    """One figure of the issue's targets: what was measured against the bar."""

    item: str
    name: str
    measured: float | None
    limit: float
    #: "<=" or ">=".
    sense: str
    unit: str = ""
    note: str = ""

    @property
    def met(self) -> bool | None:
        if self.measured is None or math.isnan(self.measured):
            return None
        if self.sense == "<=":
            return self.measured <= self.limit
        return self.measured >= self.limit

    def verdict(self) -> str:
        met = self.met
        if met is None:
            return "n/a"
        if met:
            return "met"
        assert self.measured is not None
        gap = abs(self.measured - self.limit)
        times = f", {self.measured / self.limit:.2f}x the bar" if self.limit else ""
        return f"MISSED by {fmt(gap)}{self.unit}{times}"


@dataclass
class ItemResult:
    tables: list[Table] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)


# -- machine ---------------------------------------------------------------------------------


def machine_info() -> list[str]:
    cpu = "?"
    try:
        for text in Path("/proc/cpuinfo").read_text().splitlines():
            if text.startswith("model name"):
                cpu = text.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                                capture_output=True, text=True, timeout=5).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        commit += " (with uncommitted changes)" if dirty else ""
    except (OSError, subprocess.SubprocessError):
        commit = "?"
    memory = "?"
    try:
        for text in Path("/proc/meminfo").read_text().splitlines():
            if text.startswith("MemTotal:"):
                memory = f"{int(text.split()[1]) // 1024:,} MiB"
    except OSError:
        pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    return [
        f"date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"machine   {platform.node()}: {os.cpu_count()} CPUs "
        f"(nproc {len(os.sched_getaffinity(0))}), {cpu}, {memory} RAM",
        f"system    {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()} ({platform.python_implementation()})",
        f"code      {commit}",
        f"nofile    {soft}/{hard} (soft/hard, this process)",
    ]


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def rss_kib(pid: int) -> int:
    """VmRSS of a process, KiB (from /proc/<pid>/status)."""
    for text in Path(f"/proc/{pid}/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    raise RuntimeError(f"no VmRSS for {pid}")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def raise_nofile(wanted: int) -> int:
    """Raise this process's RLIMIT_NOFILE towards ``wanted`` (the hard limit too, as root)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return soft
    if hard != resource.RLIM_INFINITY and hard < wanted:
        if os.geteuid() == 0:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
                return wanted
            except (ValueError, OSError):
                pass
        wanted = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return wanted


def nofile_setter(limit: int) -> Callable[[], None]:
    """A preexec_fn giving a child ``limit`` descriptors (soft and hard; at most the hard limit
    this process has: raising it needs CAP_SYS_RESOURCE, which containers often lack)."""
    def apply() -> None:
        _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        wanted = limit if hard == resource.RLIM_INFINITY else min(limit, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
        except (ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
    return apply


# -- child processes -------------------------------------------------------------------------


class Children:
    """Every process the suite starts, each in its own session; all are killed on exit."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []
        atexit.register(self.stop_all)

    def start(self, argv: Sequence[str], *, log: Path | None = None,
              preexec: Callable[[], None] | None = None, cwd: Path | None = None,
              env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
        stderr: Any = open(log, "ab") if log is not None else subprocess.DEVNULL
        try:
            proc = subprocess.Popen(
                list(argv), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=stderr,
                start_new_session=True, preexec_fn=preexec, cwd=cwd or REPO,
                env=env,
            )
        finally:
            if log is not None:
                stderr.close()
        self._procs.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            _signal_group(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                _signal_group(proc.pid, signal.SIGKILL)
                proc.wait(timeout=timeout)
        # Whatever the process left in its group (console programs) goes too.
        _signal_group(proc.pid, signal.SIGKILL)
        if proc.stdout is not None:
            proc.stdout.close()
        if proc in self._procs:
            self._procs.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self._procs):
            try:
                self.stop(proc, timeout=3.0)
            except Exception:  # best effort on the way out
                pass


def _signal_group(pid: int, sig: int) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


CHILDREN = Children()


def read_line(proc: subprocess.Popen[bytes], timeout: float, *,
              containing: str = "") -> str:
    """The child's next stdout line (containing ``containing``), waiting at most ``timeout``."""
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no line from pid {proc.pid} in {timeout} s; got {line!r}")
        ready, _, _ = select.select([proc.stdout], [], [], remaining)
        if not ready:
            continue
        byte = os.read(proc.stdout.fileno(), 1)
        if not byte:
            raise RuntimeError(f"pid {proc.pid} ended (status {proc.poll()}); got {line!r}")
        line += byte
        if byte == b"\n":
            text = line.decode(errors="replace")
            if containing in text:
                return text
            line = b""


def port_of_line(line: str) -> int:
    """The port in a line such as 'serving on 127.0.0.1:41234 (...)' or a bare number."""
    import re

    found = re.findall(r"(?:127\.0\.0\.1:|^)(\d{2,5})\b", line.strip())
    if not found:
        raise ValueError(f"no port in {line!r}")
    return int(found[0])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((LOCALHOST, port), timeout=1.0):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nothing listens on {port} after {timeout} s") from None
            time.sleep(0.02)


def recv_exactly(sock: socket.socket, count: int) -> bytes:
    chunks = bytearray()
    while len(chunks) < count:
        data = sock.recv(count - len(chunks))
        if not data:
            raise ConnectionError(f"closed after {len(chunks)} of {count} bytes")
        chunks += data
    return bytes(chunks)


class Deadline:
    """A time budget: ``left()`` seconds remain; ``over()`` once spent."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def over(self) -> bool:
        return time.monotonic() >= self.end


def log(message: str) -> None:
    """Progress to stderr, so stdout holds only the report."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
