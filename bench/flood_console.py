"""The console program of item 6: a `yes` flood that also answers each key at once.

Rows 2-24 are a scroll region flooded with ``y`` lines, as fast as the pty takes them (like
`yes`; with ``--numbered``, like `yes | cat -n`, so that the screen really changes). Row 1 is
a status line that only changes when a key arrives: the program writes a marker there (key and
count) and rings the bell. A viewer therefore knows that its keystroke
was echoed when an update touching row 1 arrives, or when the Bell message arrives.

It stops by itself after ``--seconds`` (a bound), on Ctrl-C or Ctrl-D, or when the pty closes.
"""

from __future__ import annotations

import argparse
import os
import select
import sys
import time
import tty


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(fd, view) :]
        except BlockingIOError:
            select.select([], [fd], [], 1.0)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=900.0)
    parser.add_argument("--numbered", action="store_true",
                        help="number the lines (like `yes | cat -n`), so every frame differs")
    args = parser.parse_args()
    stdin, stdout = sys.stdin.fileno(), sys.stdout.fileno()
    tty.setraw(stdin)  # keys one by one, no echo by the line discipline, no output mapping
    write_all(stdout, b"\x1b[2J\x1b[1;1Hstatus: no key yet\x1b[2;24r\x1b[24;1H")
    os.set_blocking(stdout, False)
    flood = b"y\r\n" * 1365
    line = 0
    keys = 0
    end = time.monotonic() + args.seconds
    while time.monotonic() < end:
        readable, writable, _ = select.select([stdin], [stdout], [], 1.0)
        if readable:
            data = os.read(stdin, 256)
            if not data or b"\x03" in data or b"\x04" in data:
                return
            for byte in data:
                keys += 1
                marker = (f"\x1b7\x1b[1;1H\x1b[7m key {chr(byte)!r} #{keys} \x1b[0m\x1b[K"
                          "\x1b8\a").encode()
                write_all(stdout, marker)
            continue  # keys first: the flood waits
        if writable:
            if args.numbered:
                flood = b"".join(b"%7d  y\r\n" % n for n in range(line, line + 400))
                line += 400
            try:
                os.write(stdout, flood)
            except BlockingIOError:
                pass


if __name__ == "__main__":
    try:
        main()
    except OSError:  # the pty went away
        pass
