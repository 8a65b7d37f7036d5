"""Item 9: how long an unrelated XenAPI call waits while 16 clients guess passwords.

A consoleproxy with a real-cost scrypt hash (the default, tens of milliseconds a check) serves
an unrelated client calling ``VM.get_all`` over one keep-alive connection, one call after the
other, while a separate process (``python -m bench.guessing --guess PORT ...``) runs 16
guessing clients, each on a loopback address of its own (127.0.0.2-17), each posting wrong
``session.login_with_password`` calls one after the other on fresh connections. Side by side,
each with a fresh proxy:

* no guessers (the baseline);
* 16 guessers, throttle off (never delayed or blocked, so every guess is hashed: the worst
  case for the event loop), checks in the thread pool;
* the same, with the checks on the event loop as before (the proxy started through a shim
  that makes the pool runner run each check inline: what the thread pool saves);
* 16 guessers with the default throttle (delays growing to 8 s, blocks after 5 failures).

Reported: the unrelated call's p50 and p99, and the guesses answered per second.
"""

from __future__ import annotations

import argparse
import http.client
import sys
import textwrap
import threading
import time
import xmlrpc.client
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    CHILDREN,
    PYTHON,
    ItemResult,
    Table,
    fmt,
    fmt_ratio,
    log,
    median,
    percentile,
    ratio,
    read_line,
)

PASSWORD = "bench-guessing"
GUESSERS = 16
START_TIMEOUT = 20.0
VM_UUID = "11111111-1111-4111-8111-111111111111"
#: Runs consoleproxy with every password check inline on the reactor (the behaviour before
#: the thread pool), for the side-by-side row.
ON_LOOP_SHIM = textwrap.dedent("""
    import sys
    from twisted.internet import defer
    from consoleproxy import logins
    logins.ThreadPoolRunner.__call__ = lambda self, check: defer.maybeDeferred(check)
    from consoleproxy.cli import main
    sys.argv[0] = "consoleproxy"
    sys.exit(main())
""")
NEVER_THROTTLED = textwrap.dedent("""
    [limits]
    login_block_after = 1000000
    login_first_delay = 0.001
    login_max_delay = 0.001
""")


@dataclass(frozen=True)
class Settings:
    seconds: float
    rounds: int


QUICK = Settings(seconds=4.0, rounds=1)
FULL = Settings(seconds=10.0, rounds=3)


def config(password_hash: str, limits: str) -> str:
    return textwrap.dedent("""
        [host]
        uuid = "99999999-9999-4999-8999-999999999999"
        name_label = "bench"
        address = "127.0.0.1"
        """) + limits + textwrap.dedent(f"""
        [[users]]
        name = "root"
        password_hash = "{password_hash}"
        [[vms]]
        uuid = "{VM_UUID}"
        name_label = "bench"
        """)


def start(workdir: Path, name: str, text: str, on_loop: bool) -> tuple[object, int]:
    path = workdir / f"{name}.toml"
    path.write_text(text)
    argv = ["-m", "consoleproxy"]
    if on_loop:
        shim = workdir / "on_loop_shim.py"
        shim.write_text(ON_LOOP_SHIM)
        argv = [str(shim)]
    proc = CHILDREN.start([PYTHON, *argv, "serve", "--config", str(path), "--listen",
                           "tcp:0:interface=127.0.0.1"], log=workdir / f"{name}.log")
    line = read_line(proc, START_TIMEOUT, containing="listening on")
    port = int(line.split("listening on ", 1)[1].split()[0].rstrip("/").rsplit(":", 1)[1])
    return proc, port


def post(connection: http.client.HTTPConnection, method: str, params: tuple[object, ...]) -> dict:
    body = xmlrpc.client.dumps(params, method).encode()
    connection.request("POST", "/", body, {"Content-Type": "text/xml"})
    reply = connection.getresponse().read()
    return xmlrpc.client.loads(reply)[0][0]  # type: ignore[no-any-return]


def measure(port: int, seconds: float) -> list[float]:
    """Latencies of VM.get_all calls made one after the other for ``seconds``."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        login = post(connection, "session.login_with_password", ("root", PASSWORD, "1.0",
                                                                 "bench"))
        session = login["Value"]
        latencies = []
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            started = time.perf_counter()
            reply = post(connection, "VM.get_all", (session,))
            latencies.append(time.perf_counter() - started)
            assert reply["Status"] == "Success"
        return latencies
    finally:
        connection.close()


def item_guessing(workdir: Path, settings: Settings) -> ItemResult:
    from consoleproxy.auth import hash_password

    stored = hash_password(PASSWORD)  # the default cost: what a real host pays per check
    scenarios = [
        ("no guessers", NEVER_THROTTLED, False, False),
        ("16 guessers, not throttled, checks in the pool", NEVER_THROTTLED, False, True),
        ("16 guessers, not throttled, checks on the loop", NEVER_THROTTLED, True, True),
        ("16 guessers, default throttle", "", False, True),
    ]
    results: dict[str, list[tuple[float, float, float]]] = {name: [] for name, *_ in scenarios}
    for round_index in range(settings.rounds):
        for index, (name, limits, on_loop, guessing) in enumerate(scenarios):
            log(f"item 9 round {round_index + 1}: {name}")
            proc, port = start(workdir, f"guessing{index}", config(stored, limits), on_loop)
            guesser = None
            try:
                if guessing:
                    guesser = CHILDREN.start([PYTHON, "-m", "bench.guessing", "--guess",
                                              str(port), "--seconds",
                                              str(settings.seconds + 1.0)],
                                             log=workdir / "guesser.log")
                    read_line(guesser, START_TIMEOUT, containing="guessing")
                    time.sleep(0.5)  # let the guessers get going
                latencies = measure(port, settings.seconds)
                rate = float("nan")
                if guesser is not None:
                    line = read_line(guesser, settings.seconds + 30.0, containing="answered")
                    rate = float(line.split()[1])
                results[name].append((percentile(latencies, 0.5) * 1000,
                                      percentile(latencies, 0.99) * 1000, rate))
            finally:
                if guesser is not None:
                    CHILDREN.stop(guesser)
                CHILDREN.stop(proc)
    table = Table("9. an unrelated VM.get_all while 16 clients guess passwords "
                  f"({settings.rounds} round(s) of {settings.seconds:.0f} s)",
                  ["scenario", "p50 ms", "p99 ms", "p50 vs alone", "guesses answered/s"])
    alone = median(r[0] for r in results["no guessers"])
    for name, *_ in scenarios:
        rows = results[name]
        p50 = median(r[0] for r in rows)
        table.add(name, fmt(p50), fmt(median(r[1] for r in rows)), fmt_ratio(ratio(p50, alone)),
                  fmt(median(r[2] for r in rows), 1))
    table.notes.append("scrypt n=16384 r=8 p=1 per check; 2 pool threads; the guessers run in "
                       "a process of their own, the measuring client in the suite's")
    return ItemResult([table])


# -- the guessing process --------------------------------------------------------------------


def guess(port: int, source: str, end: float, answered: list[int]) -> None:
    attempt = 0
    while time.monotonic() < end:
        attempt += 1
        connection = http.client.HTTPConnection("127.0.0.1", port, source_address=(source, 0),
                                                timeout=max(0.1, end - time.monotonic()))
        try:
            post(connection, "session.login_with_password", ("root", f"guess {attempt}"))
            answered.append(1)
        except (OSError, http.client.HTTPException):
            return  # out of time waiting for a delayed answer
        finally:
            connection.close()


def run_guessers(port: int, seconds: float) -> None:
    end = time.monotonic() + seconds
    answered: list[int] = []
    threads = [threading.Thread(target=guess, args=(port, f"127.0.0.{2 + i}", end, answered))
               for i in range(GUESSERS)]
    print(f"guessing with {GUESSERS} clients", flush=True)
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    print(f"answered {len(answered) / (time.monotonic() - started):.1f} per second", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="item 9's guessing clients")
    parser.add_argument("--guess", type=int, required=True, metavar="PORT")
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    run_guessers(args.guess, args.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
