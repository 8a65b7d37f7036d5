"""Item 8: resident memory of 1, 100 and 1,000 idle consoles hosted in one process.

A harness process (``python -m bench.consoles --harness ...``) imports vncterm, runs the real
(epoll) reactor and creates ``ConsoleSession`` objects one after another, each started on its
console source and given a screenful of a real guest's console output; between steps it lets
the reactor finish the emulation, collects garbage and prints its VmRSS. Per-console cost is
the RSS delta from the step before any console existed, divided by the number of consoles.

Sources: ``fake`` (an in-memory source: the session alone) and ``pty`` (``cat`` in a pty, the
way `vncterm -- COMMAND` and consoleproxy's ``command:`` consoles run; the cat processes are
not counted, only the hosting process). Content: ``screen`` (the boot's final screen) or
``boot`` (the whole boot log, so the scrollback holds it too).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import (
    CHILDREN,
    PYTHON,
    REPO,
    Deadline,
    ItemResult,
    Table,
    Target,
    log,
    nofile_setter,
    read_line,
)
from vncterm.backends.memory import MemorySource

BOOT = REPO / "tests" / "data" / "linux-boot-busybox-serial.raw"
SCREEN = REPO / "tests" / "data" / "linux-boot-busybox-serial.screen.txt"


@dataclass(frozen=True)
class Settings:
    #: (source, content, console counts) variants to measure.
    variants: tuple[tuple[str, str, tuple[int, ...]], ...]
    budget: float


#: Column headings: the counts of the issue.
COUNTS = (1, 100, 1000)
QUICK = Settings(variants=(("fake", "screen", COUNTS), ("pty", "screen", (1, 100))),
                 budget=40.0)
FULL = Settings(variants=(("fake", "screen", COUNTS), ("pty", "screen", COUNTS),
                          ("fake", "boot", COUNTS)), budget=180.0)


# -- the harness (runs in its own process) ---------------------------------------------------


def _rss() -> int:
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    return 0


def harness(source_kind: str, content_kind: str, counts: list[int], trace: bool) -> None:
    import gc
    import tracemalloc

    from twisted.internet import defer, reactor, task
    from twisted.logger import globalLogBeginner

    from vncterm.backends.command import CommandSource
    from vncterm.session import ConsoleSession
    from vncterm.terminal import TERM_NAME

    globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    if content_kind == "boot":
        content = BOOT.read_bytes()
    else:
        content = SCREEN.read_bytes().replace(b"\n", b"\r\n").rstrip(b"\r\n")
    sessions: list[Any] = []

    def settle() -> defer.Deferred[None]:
        return task.deferLater(reactor, 0.05, lambda: None)

    @defer.inlineCallbacks
    def run(_reactor: Any) -> Any:
        yield settle()
        # Warm the shared caches (font, glyph tiles, imports) outside the measurement.
        warm = ConsoleSession(reactor, MemorySource(), columns=80, rows=24, name="warm")
        warm.start()
        warm.console_output(content)
        yield settle()
        warm.renderer.render()
        # Kept alive: freed warm-up memory would be reused by the first consoles measured.
        sessions_warm = [warm]
        gc.collect()
        if trace:
            tracemalloc.start(1)
        base = _rss()
        traced_base = tracemalloc.get_traced_memory()[0] if trace else 0
        print(json.dumps({"n": 0, "rss_kib": base}), flush=True)
        for count in counts:
            while len(sessions) < count:
                if source_kind == "pty":
                    source: Any = CommandSource(reactor, ["/bin/cat"], columns=80, rows=24,
                                                term=TERM_NAME)
                else:
                    source = MemorySource()
                session = ConsoleSession(reactor, source, columns=80, rows=24,
                                         name=f"console{len(sessions)}", stay=True)
                session.start()
                session.console_output(content)
                sessions.append(session)
                if len(sessions) % 50 == 0:
                    yield settle()
            for _ in range(200):
                yield settle()
                if not any(s._pending for s in sessions):
                    break
            gc.collect()
            line: dict[str, Any] = {"n": count, "rss_kib": _rss()}
            if trace:
                line["traced"] = tracemalloc.get_traced_memory()[0] - traced_base
                top = tracemalloc.take_snapshot().statistics("filename")[:6]
                line["top"] = [[Path(str(s.traceback[0].filename)).name, s.size] for s in top]
            print(json.dumps(line), flush=True)
        for session in sessions + sessions_warm:
            session.stop()
        yield task.deferLater(reactor, 0.2, lambda: None)

    task.react(run)


# -- the item (runs in the suite) --------------------------------------------------------------


def run_variant(workdir: Path, source: str, content: str, counts: tuple[int, ...],
                timeout: float, trace: bool = False) -> list[dict[str, Any]]:
    proc = CHILDREN.start(
        [PYTHON, "-m", "bench.consoles", "--harness", "--source", source, "--content", content,
         "--counts", ",".join(map(str, counts)), *(["--trace"] if trace else [])],
        log=workdir / f"consoles-{source}-{content}.log", preexec=nofile_setter(16384))
    lines = []
    deadline = Deadline(timeout)
    try:
        while len(lines) < len(counts) + 1:
            lines.append(json.loads(read_line(proc, max(0.1, deadline.left()))))
    except (TimeoutError, RuntimeError) as error:
        log(f"item 8: {source}/{content}: {error}")
    finally:
        CHILDREN.stop(proc)
    return lines


def item_consoles(workdir: Path, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    table = Table("8. RSS of idle consoles hosted in one process (no viewer attached), KiB each",
                  ["source", "content",
                   *[f"{n:,} console{'s' if n > 1 else ''}" for n in COUNTS],
                   "marginal 100->1,000", "process RSS at the end, MiB"])
    per_console: dict[tuple[str, str], float] = {}
    for source, content, counts in settings.variants:
        if budget.left() < 5:
            table.notes.append(f"budget spent: {source}/{content} not measured")
            continue
        log(f"item 8: {source} sources, {content}")
        lines = run_variant(workdir, source, content, counts, budget.left())
        by_n = {line["n"]: line["rss_kib"] for line in lines}
        base = by_n.get(0)
        cells = []
        for count in COUNTS:
            if base is None or count not in by_n:
                cells.append("n/a")
                continue
            cells.append(f"{(by_n[count] - base) / count:,.0f}")
        marginal = math.nan
        if 100 in by_n and 1000 in by_n:
            marginal = (by_n[1000] - by_n[100]) / 900
            assert base is not None
            # Memory the process had freed before the first console hides the first ones'
            # cost: the figure of record is the larger of the average and the marginal cost.
            per_console[(source, content)] = max(marginal, (by_n[1000] - base) / 1000)
        last = max(by_n) if by_n else None
        table.add(source, content, *cells, f"{marginal:,.0f}" if not math.isnan(marginal)
                  else "n/a", f"{by_n[last] / 1024:,.1f}" if last is not None else "n/a")
    if budget.left() > 10:
        lines = run_variant(workdir, "fake", "screen", (100,), budget.left(), trace=True)
        traced = [line for line in lines if "traced" in line]
        if traced:
            line = traced[-1]
            top = ", ".join(f"{name} {size / 1024 / 100:,.1f}" for name, size in line["top"])
            table.notes.append(f"tracemalloc, 100 fake consoles: {line['traced'] / 1024 / 100:,.1f}"
                               f" KiB of Python objects each; by file (KiB each): {top}")
    table.notes.append("N consoles = (RSS after N - RSS before the first) / N; small N reuse "
                       "memory the process had already freed, so they read low")
    table.notes.append("pty: each console is `cat` in a pty (its process not counted); the "
                       "hosting process forks once per console, slow at this RSS")
    worst = max(per_console.values(), default=math.nan)
    which = max(per_console, key=lambda k: per_console[k], default=None)
    return ItemResult([table], [Target(
        "8", "RSS per idle console at 1,000 (worst variant)", worst, 300.0, "<=", " KiB",
        f"{which[0]}/{which[1]}; larger of average and marginal" if which else "")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--harness", action="store_true", required=True)
    parser.add_argument("--source", choices=("fake", "pty"), default="fake")
    parser.add_argument("--content", choices=("screen", "boot"), default="screen")
    parser.add_argument("--counts", default="1,100,1000")
    parser.add_argument("--trace", action="store_true")
    args = parser.parse_args()
    harness(args.source, args.content, [int(n) for n in args.counts.split(",")], args.trace)


if __name__ == "__main__":
    sys.exit(main())
