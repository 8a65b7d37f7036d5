"""Running the real `consoleproxy serve` for end-to-end tests: start it on free ports, learn
them from what it prints, stop it without leaking a process or a pipe."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

#: Seconds consoleproxy may take to say where it listens.
START_DEADLINE = 20.0


def stop(process: subprocess.Popen[bytes]) -> None:
    """Terminate (then kill) a process and close its pipes."""
    if process.poll() is None:
        process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    for pipe in (process.stdin, process.stdout, process.stderr):
        if pipe is not None:
            pipe.close()


@contextmanager
def consoleproxy(
    arguments: Sequence[str],
    directory: Path,
    *,
    listeners: int,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
) -> Iterator[dict[str, int]]:
    """`python -m consoleproxy serve ARGUMENTS`, its log in DIRECTORY/proxy.log; yields
    {"http": port, "https": port, "pid": its process id} once it printed its `listeners`
    listening lines."""
    with open(directory / "proxy.log", "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "consoleproxy", "serve", *arguments],
            stdout=subprocess.PIPE, stderr=log, cwd=cwd or directory, env=env,
        )
    try:
        assert process.stdout is not None
        ports: dict[str, int] = {}
        output = ""
        deadline = time.monotonic() + START_DEADLINE
        while len(ports) < listeners:
            ready, _, _ = select.select([process.stdout], [], [],
                                        max(0.0, deadline - time.monotonic()))
            if not ready:
                raise TimeoutError("consoleproxy did not say where it listens")
            chunk = os.read(process.stdout.fileno(), 4096)
            if not chunk:
                raise RuntimeError((directory / "proxy.log").read_text())
            output += chunk.decode()
            *lines, output = output.split("\n")
            for line in lines:
                if "listening on " in line:
                    url = urlsplit(line.split("listening on ", 1)[1].split()[0])
                    assert url.port is not None
                    ports[url.scheme] = url.port
        ports["pid"] = process.pid
        yield ports
    finally:
        stop(process)
