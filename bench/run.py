"""The benchmark suite's runner: ``python -m bench [--quick] [--items 1,2,...]``.

Starts everything it measures itself, on 127.0.0.1 only, prints the machine, one table per
item as it finishes, and a summary of the issue's targets (met, or missed by how much). Every
item has a time budget; every child process runs in its own process group and is killed on
the way out, whatever happens. Progress goes to stderr, the report to stdout.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

from bench import consoles, flood, guessing, hostile, relay, viewers, wire
from bench.common import (
    CHILDREN,
    PYTHON,
    REPO,
    ItemResult,
    Table,
    Target,
    fmt,
    load_average,
    log,
    machine_info,
    raise_nofile,
)

ITEMS = {
    1: "relay throughput",
    2: "ping-pong round trip",
    3: "tunnel set-up",
    4: "idle tunnels",
    5: "ingest (bench/ingest.py)",
    6: "flood: frames/s and echo",
    7: "encodings: bytes and time",
    8: "idle consoles: RSS",
    9: "password guessing: an unrelated call's latency",
    10: "many viewers of one large console",
    11: "a hostile guest beside a normal one",
}
INGEST = REPO / "bench" / "ingest.py"


def run_ingest(quick: bool) -> ItemResult:
    """Item 5 is bench/ingest.py (written separately): run it and show what it prints."""
    if not INGEST.exists():
        table = Table("5. ingest rate vs stock pyte", ["status"])
        table.add("bench/ingest.py is not there yet: n/a")
        return ItemResult([table], [Target("5", "ingest vs stock pyte, boot log, viewer "
                                                "attached", None, 3.0, ">=", "x")])
    text = INGEST.read_text(encoding="utf-8")
    if "--quick" in text:
        args = ["--quick"] if quick else []
    else:
        # Its defaults (7 rounds of 1 MiB) take minutes on a loaded two-CPU machine.
        args = ["--rounds", "3" if quick else "5", "--size",
                str(64 * 1024 if quick else 512 * 1024)]
    timeout = 75.0 if quick else 200.0
    log(f"item 5: bench/ingest.py {' '.join(args)} (at most {timeout:.0f} s)")
    table = Table("5. ingest rate vs stock pyte (bench/ingest.py " + " ".join(args) + ")",
                  ["output of bench/ingest.py"])
    ratio_value = None
    try:
        done = subprocess.run([PYTHON, str(INGEST), *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout, start_new_session=True, check=False)
        output = done.stdout
        if done.returncode != 0:
            table.notes.append(f"exited with status {done.returncode}: "
                               f"{done.stderr.strip().splitlines()[-1:] or ''}")
    except subprocess.TimeoutExpired as expired:
        partial = expired.stdout or b""
        output = partial.decode(errors="replace") if isinstance(partial, bytes) else partial
        table.notes.append(f"did not finish in {timeout:.0f} s: stopped; its output so far above")
    for line in output.rstrip().splitlines():
        table.add(line)
    # The boot row's last "N.NNx" is the viewer-attached ratio against pyte.
    for line in output.splitlines():
        if line.startswith("boot "):
            found = re.findall(r"([\d.]+)x", line)
            if found:
                ratio_value = float(found[-1])
    note = "" if ratio_value is not None else "no 'boot' row found in its output"
    return ItemResult([table], [Target("5", "ingest vs stock pyte, boot log, viewer attached",
                                       ratio_value, 3.0, ">=", "x", note)])


def summary(targets: list[Target]) -> Table:
    table = Table("Summary: the issue's targets", ["item", "target", "bar", "measured",
                                                   "verdict"])
    for target in targets:
        unit = target.unit
        measured = "n/a" if target.measured is None else fmt(target.measured) + unit
        marker = ""
        if target.note:
            table.notes.append(f"[{len(table.notes) + 1}] {target.name}: {target.note}")
            marker = f" [{len(table.notes)}]"
        table.add(target.item, target.name + marker, f"{target.sense} {fmt(target.limit)}{unit}",
                  measured, target.verdict())
    met = sum(1 for t in targets if t.met)
    missed = sum(1 for t in targets if t.met is False)
    table.notes.insert(0, f"{met} met, {missed} missed, {len(targets) - met - missed} n/a")
    return table


def parse_items(text: str) -> list[int]:
    items = sorted({int(part) for part in text.split(",") if part.strip()})
    unknown = [i for i in items if i not in ITEMS]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown items {unknown}; known: 1-{max(ITEMS)}")
    return items


def _terminate(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="fewer rounds and samples: about 2 minutes (default: about 10)")
    parser.add_argument("--items", type=parse_items, default=list(ITEMS),
                        help=f"comma-separated item numbers (default: all, 1-{max(ITEMS)})")
    parser.add_argument("--no-install", action="store_true",
                        help="do not apt-get install socat and haproxy when they are missing")
    parser.add_argument("--keep", action="store_true",
                        help="keep the work directory (configurations and child logs)")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    started = time.monotonic()
    mode = "quick" if args.quick else "full"
    # Item 4 holds 9,000 tunnels: this process holds one end of each.
    raise_nofile(1 << 16)
    print(f"consoleproxy + vncterm benchmark suite ({mode} mode, items "
          f"{','.join(map(str, args.items))})")
    load_at_start = load_average()
    for line in machine_info():
        print(f"  {line}")
    print(f"  load      {load_at_start} (1, 5, 15 min: other work on this machine skews "
          "absolute times)")
    print(flush=True)
    workdir = Path(tempfile.mkdtemp(prefix="bench-"))
    targets: list[Target] = []
    plan: list[tuple[int, Callable[[], ItemResult]]] = []
    rig_holder: dict[str, relay.Rig] = {}
    settings = relay.QUICK if args.quick else relay.FULL

    def rig() -> relay.Rig:
        if "rig" not in rig_holder:
            log("starting the sink/source server, vncterm, consoleproxy, socat, haproxy")
            made, notes = relay.start_rig(workdir, not args.no_install)
            for note in notes:
                log(note)
            rig_holder["rig"] = made
        return rig_holder["rig"]

    plan = [
        (1, lambda: relay.item_throughput(rig(), settings)),
        (2, lambda: relay.item_latency(rig(), settings)),
        (3, lambda: relay.item_setup(rig(), settings)),
        (4, lambda: relay.item_tunnels(workdir, settings)),
        (5, lambda: run_ingest(args.quick)),
        (6, lambda: flood.item_flood(workdir, flood.QUICK if args.quick else flood.FULL)),
        (7, lambda: wire.item_wire(wire.QUICK if args.quick else wire.FULL)),
        (8, lambda: consoles.item_consoles(workdir, consoles.QUICK if args.quick
                                           else consoles.FULL)),
        (9, lambda: guessing.item_guessing(workdir, guessing.QUICK if args.quick
                                           else guessing.FULL)),
        (10, lambda: viewers.item_viewers(args.quick)),
        (11, lambda: hostile.item_hostile(workdir, hostile.QUICK if args.quick
                                          else hostile.FULL)),
    ]
    try:
        for number, run in plan:
            if number not in args.items:
                continue
            if number == 4 and "rig" in rig_holder:
                CHILDREN.stop_all()  # item 4 wants the machine to itself
                rig_holder.clear()
            log(f"item {number}: {ITEMS[number]}")
            item_start = time.monotonic()
            try:
                result = run()
            except Exception as error:  # one failing item must not stop the rest
                log(traceback.format_exc())
                result = ItemResult([Table(f"{number}. {ITEMS[number]}", ["status"],
                                           [[f"FAILED: {type(error).__name__}: {error}"]])])
            for table in result.tables:
                print(table.render())
                print()
            targets += result.targets
            print(f"  ({ITEMS[number]}: {time.monotonic() - item_start:.0f} s)\n", flush=True)
        print(summary(targets).render())
        print(f"\nload average at the end: {load_average()} (at the start: {load_at_start})")
        print(f"total {time.monotonic() - started:.0f} s; logs of the programs measured: "
              f"{workdir if args.keep else 'removed (use --keep)'}")
    finally:
        CHILDREN.stop_all()
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
