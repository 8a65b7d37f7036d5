"""The console programs of item 11: a hostile guest and a normal one.

By default it is the hostile guest: once a file ``start`` appears in ``--start-dir`` (a
directory that exists from the start, so that a sandboxed console sees it; at once without
it) it writes the costliest output known for the emulator (`vncterm.terminal.hostile.WORST`, 4 KiB
of each in turn) as fast as the console takes it. With ``--echo`` it is the normal guest: it
answers each key at once by rewriting its first line (the key and a count), so a viewer
knows its key was echoed when an update touching row 1 arrives.

Either stops by itself after ``--seconds`` (a bound), or when the console closes.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
import tty
from pathlib import Path

from vncterm.terminal.hostile import stream


def write_all(fd: int, data: bytes, deadline: float) -> bool:
    """Write all of ``data``; False once the deadline has passed."""
    view = memoryview(data)
    while view:
        if time.monotonic() >= deadline:
            return False
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 0.5)
    return True


def hostile(start_dir: Path | None, deadline: float) -> None:
    out = sys.stdout.fileno()
    while start_dir is not None and not (start_dir / "start").exists():
        if time.monotonic() >= deadline:
            return
        time.sleep(0.05)
    os.set_blocking(out, False)
    for chunk in stream():
        if not write_all(out, chunk, deadline):
            return


def echo(deadline: float) -> None:
    stdin, out = sys.stdin.fileno(), sys.stdout.fileno()
    tty.setraw(stdin)  # keys one by one, no echo by the line discipline
    os.write(out, b"\x1b[2J\x1b[Hecho: no key yet")
    count = 0
    while time.monotonic() < deadline:
        readable, _, _ = select.select([stdin], [], [], 0.5)
        if not readable:
            continue
        keys = os.read(stdin, 1024)
        if not keys or b"\x04" in keys:
            return
        count += len(keys)
        shown = keys[-1:].decode("latin-1") if keys[-1:].isalnum() else "?"
        os.write(out, f"\x1b[Hecho: key {shown} #{count}\x1b[K".encode())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=600.0, help="stop after this long")
    parser.add_argument("--start-dir", type=Path,
                        help="the hostile guest starts writing once DIR/start exists")
    parser.add_argument("--echo", action="store_true", help="be the normal guest")
    args = parser.parse_args()
    deadline = time.monotonic() + args.seconds
    try:
        if args.echo:
            echo(deadline)
        else:
            hostile(args.start_dir, deadline)
    except OSError:
        pass  # the console closed


if __name__ == "__main__":
    main()
