"""The embedded demo console: replays a real guest's serial boot, then gives a shell.

Run as `python -m vncterm.demo`; `vncterm` with no console source runs it in a pty, and
`consoleproxy serve` with no configuration as its demo guest's console, both confined
(vncterm.sandbox: an unprivileged user, a sandbox, a throwaway HOME). The shell is never a root
shell: if the demo finds itself running as root anyway (a console user configured as root),
it says so instead of starting one. The shell starts in HOME, the throwaway directory.
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
    stdin = sys.stdin.fileno()
    # The replayed prompts ask for the cursor position (ESC[6n) and the terminal answers on
    # this tty's input: with echo off during the replay the answers are not shown, and they
    # are dropped before the shell starts, so they are not typed into it either.
    saved = termios.tcgetattr(stdin) if os.isatty(stdin) else None
    if saved is not None:
        quiet = termios.tcgetattr(stdin)
        quiet[3] &= ~(termios.ECHO | termios.ECHONL)
        termios.tcsetattr(stdin, termios.TCSANOW, quiet)
    try:
        replay(sys.stdout.fileno(), data[:cut] if cut > 0 else data)
        os.write(sys.stdout.fileno(), b"\r\n[vncterm demo: the boot above was a replay; "
                 b"this is a real shell on this host]\r\n")
        time.sleep(0.2)
    finally:
        if saved is not None:
            termios.tcflush(stdin, termios.TCIFLUSH)
            termios.tcsetattr(stdin, termios.TCSANOW, saved)
    if os.geteuid() == 0:
        refuse_root_shell()
        return
    home = os.environ.get("HOME")
    if home and os.path.isdir(home):
        os.chdir(home)
    shell = demo_shell(os.environ.get("SHELL"))
    os.execvp(shell, [shell, "-i"])


def demo_shell(configured: str | None) -> str:
    """The shell to start: the user's own, unless it is none (nologin, false), else bash."""
    if configured and os.path.basename(configured) not in ("nologin", "false"):
        return configured
    return shutil.which("bash") or "/bin/sh"


def refuse_root_shell() -> None:
    """Say why there is no shell, then hold the console until it is closed."""
    os.write(sys.stdout.fileno(), b"[vncterm demo: not starting a shell as root; run the demo "
             b"as an unprivileged user]\r\n")
    stdin = sys.stdin.fileno()
    try:
        while os.read(stdin, 4096):
            pass
    except OSError:  # the terminal hung up
        pass


if __name__ == "__main__":
    main()
