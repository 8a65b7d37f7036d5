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

#: What the replayed boot leaves behind (it turns autowrap off: long commands would garble)
#: undone before the shell starts, without moving the cursor: a soft reset (DECSTR), then the
#: same spelled out for terminals without it: autowrap on; origin mode off and no scroll
#: region (both home the cursor, so they sit between a save and a restore, which also
#: restores the modes saved: origin off, autowrap on); ASCII in G0 and G1 with G0 selected;
#: the default rendition; the cursor shown.
RESET_MODES = (b"\x1b[!p\x1b[?7h\x1b7\x1b[?6l\x1b[r\x1b8\x1b(B\x1b)B\x0f\x1b[m"
               b"\x1b[?25h")

#: Said between the replay and the live shell.
BANNER = (b"\r\n[vncterm demo: the boot above was a replay; this is a real shell on this "
          b"host]\r\n")


def boot_log() -> bytes:
    """The captured serial console of a Linux guest booting to a BusyBox shell."""
    return resources.files(__package__).joinpath("boot.raw").read_bytes()


def replay(out: int, data: bytes, rate: float = REPLAY_RATE) -> None:
    """Write `data` to file descriptor `out` paced like a serial line."""
    step = 512
    for start in range(0, len(data), step):
        os.write(out, data[start : start + step])
        time.sleep(step / rate)


def boot_then_banner(out: int, rate: float = REPLAY_RATE) -> None:
    """Replay the boot to ``out``, undo the modes it left and say that a live shell follows."""
    data = boot_log()
    # Stop before the capture's last prompt: the live shell below prints its own.
    cut = data.rfind(b"(initramfs) ")
    replay(out, data[:cut] if cut > 0 else data, rate)
    os.write(out, RESET_MODES + BANNER)


def main() -> None:
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
        boot_then_banner(sys.stdout.fileno())
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
