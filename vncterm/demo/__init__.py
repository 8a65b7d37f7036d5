"""The embedded demo console: replays a real guest's serial boot, then gives a shell.

Run as `python -m vncterm.demo`; `vncterm` with no console source runs it in a pty.
"""

from __future__ import annotations

import os
import shutil
import sys
import termios
import time
from importlib import resources

#: Bytes per second of the replayed boot log (roughly a 115200-baud serial line).
REPLAY_RATE = 11520


def boot_log() -> bytes:
    """The captured serial console of a Linux guest booting to a BusyBox shell."""
    return resources.files(__package__).joinpath("boot.raw").read_bytes()


def replay(out: int, data: bytes, rate: float = REPLAY_RATE) -> None:
    """Write `data` to file descriptor `out` paced like a serial line."""
    step = 512
    for start in range(0, len(data), step):
        os.write(out, data[start : start + step])
        time.sleep(step / rate)


def main() -> None:
    data = boot_log()
    # Stop before the capture's last prompt: the live shell below prints its own.
    cut = data.rfind(b"(initramfs) ")
    replay(sys.stdout.fileno(), data[:cut] if cut > 0 else data)
    os.write(sys.stdout.fileno(), b"\r\n[vncterm demo: the boot above was replayed; "
             b"this is a real shell on this machine]\r\n")
    # The replayed prompts asked for the cursor position (ESC[6n) and the terminal answered:
    # those answers wait in the tty's input and would be typed into the shell. Drop them.
    time.sleep(0.2)
    if os.isatty(sys.stdin.fileno()):
        termios.tcflush(sys.stdin.fileno(), termios.TCIFLUSH)
    shell = os.environ.get("SHELL") or shutil.which("bash") or "/bin/sh"
    os.execvp(shell, [shell, "-i"])


if __name__ == "__main__":
    main()
