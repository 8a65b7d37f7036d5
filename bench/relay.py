"""Items 1-4: the CONNECT relay against a direct connection, socat and haproxy.

1. throughput each way (bytes through the relay to the sink/source server and back);
2. added round trip of a one-byte ping-pong (p50, p99) over the direct connection's;
3. tunnel set-up: connect, CONNECT, 200 and the first RFB byte (p50, p99);
4. idle tunnels held by one consoleproxy process, RSS per tunnel, and the answer past its
   connection cap (a clean 503 is wanted before the process runs out of descriptors).

Peers are measured in turn inside each round, rounds are repeated, and every figure of record is
a median over rounds; ratios are taken round by round (side by side) before the median.
"""

from __future__ import annotations

import contextlib
import math
import random
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from bench import peers
from bench.common import (
    CHILDREN,
    LOCALHOST,
    Deadline,
    ItemResult,
    Table,
    Target,
    fmt,
    fmt_ratio,
    median,
    nofile_setter,
    open_fds,
    percentile,
    ratio,
    recv_exactly,
    rss_kib,
)
from bench.sinkserver import HEADER

CHUNK = memoryview(bytes(1 << 20))
#: Pings in a row to one peer before the next peer's turn (item 2).
PING_BATCH = 250
#: Pings at the start of each turn that are not counted.
TURN_WARM_UP = 50
MIB = 1 << 20
#: consoleproxy with `relay_thread = false`: tunnels relayed on the reactor's thread.
REACTOR_RELAY = "consoleproxy, reactor relay"


@dataclass(frozen=True)
class Settings:
    rounds: int
    transfer_bytes: int
    pings: int
    setups: int
    tunnels: int
    #: Seconds allowed for each item, whatever happens.
    budget: float


QUICK = Settings(rounds=3, transfer_bytes=64 * MIB, pings=3000, setups=300, tunnels=9000,
                 budget=45.0)
FULL = Settings(rounds=5, transfer_bytes=256 * MIB, pings=5000, setups=600, tunnels=9000,
                budget=150.0)


@dataclass
class Rig:
    """Everything items 1-3 talk to, started once."""

    workdir: Path
    throughput_peers: list[peers.Peer]
    setup_peers: list[peers.Peer]
    proxy: peers.Proxy


def start_rig(workdir: Path, install: bool) -> tuple[Rig, list[str]]:
    notes = []
    tools = peers.ensure_peers(install)
    sink = peers.start_sink(workdir)
    _vncterm, vncterm_port = peers.start_vncterm(workdir, ["/bin/cat"])
    proxy = peers.start_proxy(workdir, peers.proxy_config(sink, vncterm_port))
    # The same code relaying on the reactor's thread, for the relay thread's effect side by side.
    on_reactor = peers.start_proxy(workdir, peers.proxy_config(sink, None, relay_thread=False),
                                   name="consoleproxy-reactor-relay")
    through = [peers.Peer("direct", sink),
               peers.Peer("consoleproxy", proxy.port, proxy.request(peers.SINK_RELAY)),
               peers.Peer(REACTOR_RELAY, on_reactor.port,
                          on_reactor.request(peers.SINK_RELAY))]
    setup = [peers.Peer("direct to vncterm", vncterm_port),
             peers.Peer("consoleproxy, hosted console", proxy.port,
                        proxy.request(peers.HOSTED_RFB)),
             peers.Peer("consoleproxy -> vncterm", proxy.port,
                        proxy.request(peers.VNCTERM_RELAY))]
    if tools["socat"]:
        through.append(peers.Peer("socat", peers.start_socat(workdir, tools["socat"], sink)))
        setup.append(peers.Peer("socat -> vncterm",
                                peers.start_socat(workdir, tools["socat"], vncterm_port)))
    else:
        notes.append("socat not installed: n/a")
        through.append(peers.Peer("socat", 0))
    if tools["haproxy"]:
        to_sink, to_vncterm = peers.start_haproxy(workdir, tools["haproxy"],
                                                  [sink, vncterm_port])
        through.append(peers.Peer("haproxy", to_sink))
        setup.append(peers.Peer("haproxy -> vncterm", to_vncterm))
    else:
        notes.append("haproxy not installed: n/a")
        through.append(peers.Peer("haproxy", 0))
    return Rig(workdir, through, setup, proxy), notes


# -- item 1: throughput ----------------------------------------------------------------------


def upload(sock: socket.socket, count: int) -> float:
    """Bytes per second from us through the peer to the sink, acknowledged at the end."""
    sock.sendall(HEADER.pack(b"U", count))
    start = time.perf_counter()
    left = count
    while left:
        left -= sock.send(CHUNK[: min(len(CHUNK), left)])
    recv_exactly(sock, 1)
    return count / (time.perf_counter() - start)


def download(sock: socket.socket, count: int) -> float:
    buffer = bytearray(len(CHUNK))
    view = memoryview(buffer)
    sock.sendall(HEADER.pack(b"D", count))
    start = time.perf_counter()
    got = 0
    while got < count:
        n = sock.recv_into(view, min(len(buffer), count - got))
        if not n:
            raise ConnectionError("closed during download")
        got += n
    return count / (time.perf_counter() - start)


def item_throughput(rig: Rig, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    live = [p for p in rig.throughput_peers if p.port]
    results: dict[tuple[str, str], list[float]] = {}
    rounds_done = 0
    for round_index in range(settings.rounds):
        if budget.over():
            break
        order = live[round_index % len(live):] + live[: round_index % len(live)]
        for peer in order:
            for direction, run in (("up", upload), ("down", download)):
                with contextlib.closing(peer.open()) as sock:
                    run(sock, 4 * MIB)  # warm-up: socket buffers, relay code paths
                    rate = run(sock, settings.transfer_bytes)
                results.setdefault((peer.name, direction), []).append(rate)
        rounds_done += 1
    table = Table(f"1. relay throughput, MiB/s ({rounds_done} rounds of "
                  f"{settings.transfer_bytes // MIB} MiB each way; median)",
                  ["peer", "client->server", "server->client", "vs direct up/down",
                   "vs haproxy up/down"])
    targets = []
    per_round_vs: dict[tuple[str, str, str], float] = {}
    for peer in rig.throughput_peers:
        cells = [peer.name]
        for direction in ("up", "down"):
            values = results.get((peer.name, direction), [])
            cells.append(fmt(median(values) / MIB) if values else "n/a")
        for base in ("direct", "haproxy"):
            pair = []
            for direction in ("up", "down"):
                mine = results.get((peer.name, direction), [])
                theirs = results.get((base, direction), [])
                value = median(ratio(a, b) for a, b in zip(mine, theirs, strict=False))
                per_round_vs[(peer.name, base, direction)] = value
                pair.append(fmt_ratio(value))
            cells.append(" / ".join(pair))
        table.add(*cells)
    for direction, label in (("up", "client->server"), ("down", "server->client")):
        targets.append(Target("1", f"relay throughput {label} vs haproxy",
                              per_round_vs.get(("consoleproxy", "haproxy", direction)),
                              0.9, ">=", "x"))
    table.notes.append("one connection per peer and direction; the client and sink/source "
                       "server are Python, so 'direct' is their ceiling on this machine")
    table.notes.append("haproxy runs one thread (nbthread 1); consoleproxy relays on a thread of "
                       "its own beside the reactor's (one of them runs Python at a time), "
                       f"'{REACTOR_RELAY}' on the reactor's; socat with its defaults (8 KiB "
                       "buffer, fork per connection)")
    return ItemResult([table], targets)


# -- item 2: ping-pong -----------------------------------------------------------------------


def ping_pong(sock: socket.socket, count: int) -> list[float]:
    sock.sendall(HEADER.pack(b"P", count))
    samples = []
    clock = time.perf_counter
    for _ in range(count):
        start = clock()
        sock.send(b"x")
        if not sock.recv(1):
            raise ConnectionError("closed during ping-pong")
        samples.append(clock() - start)
    return samples


def item_latency(rig: Rig, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    live = [p for p in rig.throughput_peers if p.port]
    p50: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    rounds_done = 0
    batches = max(1, settings.pings // PING_BATCH)
    for round_index in range(settings.rounds):
        if budget.over():
            break
        order = live[round_index % len(live):] + live[: round_index % len(live)]
        with contextlib.ExitStack() as stack:
            socks = {peer.name: stack.enter_context(contextlib.closing(peer.open()))
                     for peer in order}
            samples: dict[str, list[float]] = {name: [] for name in socks}
            for sock in socks.values():
                ping_pong(sock, 200)  # warm-up
            # Small batches taking turns: a burst of other work on this shared machine then
            # lands on every peer alike instead of on one peer's whole round.
            for batch in range(batches):
                turn = order[batch % len(order):] + order[: batch % len(order)]
                for peer in turn:
                    # The first pings of a turn wake processes that slept through the
                    # other peers' turns: not counted, or they would be the p99.
                    batch_samples = ping_pong(socks[peer.name], TURN_WARM_UP + PING_BATCH)
                    samples[peer.name] += batch_samples[TURN_WARM_UP:]
        for name, values in samples.items():
            p50.setdefault(name, []).append(percentile(values, 0.5) * 1e6)
            p99.setdefault(name, []).append(percentile(values, 0.99) * 1e6)
        rounds_done += 1
    table = Table(f"2. one-byte ping-pong round trip, microseconds ({rounds_done} rounds of "
                  f"{batches * PING_BATCH} per peer in batches of {PING_BATCH} taking turns; "
                  "median of per-round percentiles)",
                  ["peer", "rtt p50", "rtt p99", "added p50", "added p99",
                   "added p50 vs haproxy's"])
    added: dict[str, tuple[float, float]] = {}
    versus_haproxy: dict[str, float] = {}
    for peer in rig.throughput_peers:
        if peer.name not in p50:
            table.add(peer.name, "n/a", "n/a", "n/a", "n/a", "n/a")
            continue
        a50 = [x - d for x, d in zip(p50[peer.name], p50["direct"], strict=False)]
        a99 = [x - d for x, d in zip(p99[peer.name], p99["direct"], strict=False)]
        added[peer.name] = (median(a50), median(a99))
        versus = math.nan
        if "haproxy" in p50 and peer.name != "direct":
            h50 = [x - d for x, d in zip(p50["haproxy"], p50["direct"], strict=False)]
            versus = median(ratio(a, h) for a, h in zip(a50, h50, strict=False))
            versus_haproxy[peer.name] = versus
        table.add(peer.name, median(p50[peer.name]), median(p99[peer.name]),
                  "-" if peer.name == "direct" else fmt(added[peer.name][0]),
                  "-" if peer.name == "direct" else fmt(added[peer.name][1]),
                  "-" if peer.name == "direct" else fmt_ratio(versus))
    targets = [
        Target("2", "added round trip p50 vs haproxy's added", versus_haproxy.get(
            "consoleproxy"), 1.5, "<=", "x"),
        Target("2", "added round trip p99 through consoleproxy",
               added.get("consoleproxy", (math.nan, math.nan))[1] / 1000, 1.0, "<=", " ms"),
    ]
    table.notes.append("added = peer's percentile minus the direct connection's, same round")
    return ItemResult([table], targets)


# -- item 3: tunnel set-up -------------------------------------------------------------------


def setup_once(peer: peers.Peer) -> float:
    """Seconds from connect() to the first RFB greeting byte (through CONNECT and 200)."""
    start = time.perf_counter()
    sock = socket.create_connection((LOCALHOST, peer.port), timeout=10.0)
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        received = b""
        if peer.request is not None:
            sock.sendall(peer.request)
            while b"\r\n\r\n" not in received:
                data = sock.recv(4096)
                if not data:
                    raise ConnectionError(f"{peer.name}: closed: {received[:40]!r}")
                received += data
            head, _, received = received.partition(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                raise ConnectionError(f"{peer.name}: {head[:40]!r}")
        while not received:
            data = sock.recv(4096)
            if not data:
                raise ConnectionError(f"{peer.name}: closed before the RFB greeting")
            received += data
        elapsed = time.perf_counter() - start
        if not received.startswith(b"R"):
            raise ConnectionError(f"{peer.name}: not RFB: {received[:12]!r}")
        return elapsed
    finally:
        sock.close()


def item_setup(rig: Rig, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    per_round = max(1, settings.setups // settings.rounds)
    p50: dict[str, list[float]] = {}
    p99: dict[str, list[float]] = {}
    for peer in rig.setup_peers:  # warm-up
        for _ in range(10):
            setup_once(peer)
    rounds_done = 0
    for _ in range(settings.rounds):
        if budget.over():
            break
        samples: dict[str, list[float]] = {p.name: [] for p in rig.setup_peers}
        for _ in range(per_round):
            order = list(rig.setup_peers)
            random.shuffle(order)
            for peer in order:
                samples[peer.name].append(setup_once(peer))
        for name, values in samples.items():
            p50.setdefault(name, []).append(percentile(values, 0.5) * 1000)
            p99.setdefault(name, []).append(percentile(values, 0.99) * 1000)
        rounds_done += 1
    table = Table(f"3. tunnel set-up to the first RFB byte, ms ({rounds_done} rounds of "
                  f"{per_round} per peer, interleaved; median of per-round percentiles)",
                  ["path", "p50", "p99", "p50 vs direct"])
    for peer in rig.setup_peers:
        table.add(peer.name, median(p50[peer.name]), median(p99[peer.name]),
                  fmt_ratio(median(ratio(a, b) for a, b in
                                   zip(p50[peer.name], p50["direct to vncterm"], strict=False))))
    hosted = "consoleproxy, hosted console"
    targets = [Target("3", "set-up p50 (hosted console)", median(p50[hosted]), 1.0, "<=", " ms"),
               Target("3", "set-up p99 (hosted console)", median(p99[hosted]), 3.0, "<=", " ms")]
    table.notes.append("connect, send CONNECT (session in the query, as xe console), read the "
                       "200 reply and the first byte of 'RFB 003.008'; a new connection each")
    return ItemResult([table], targets)


# -- item 4: idle tunnels ----------------------------------------------------------------------


def open_tunnels(proxy: peers.Proxy, count: int, budget: Deadline,
                 batch: int = 40) -> tuple[list[socket.socket], dict[str, int]]:
    """Open ``count`` tunnels to the sink in batches (the listen backlog is small)."""
    request = proxy.request(peers.SINK_RELAY)
    held: list[socket.socket] = []
    outcomes: dict[str, int] = {}
    while len(held) < count and not budget.over():
        wave = []
        for _ in range(min(batch, count - len(held))):
            sock = socket.create_connection((LOCALHOST, proxy.port), timeout=10.0)
            sock.sendall(request)
            wave.append(sock)
        for sock in wave:
            status = reply_status(sock)
            outcomes[status] = outcomes.get(status, 0) + 1
            if status == "200":
                held.append(sock)
            else:
                sock.close()
        if any(status != "200" for status in outcomes):
            break
    return held, outcomes


def reply_status(sock: socket.socket, timeout: float = 10.0) -> str:
    """The reply's status code, or what happened instead ('timeout', 'reset', 'closed')."""
    sock.settimeout(timeout)
    try:
        head = peers.read_reply_head(sock)
    except TimeoutError:
        return "timeout"
    except ConnectionResetError:
        return "reset"
    except OSError as error:
        return f"error {error.errno}"
    if not head:
        return "closed"
    parts = head.split(b"\r\n", 1)[0].split()
    return parts[1].decode() if len(parts) > 1 else "garbled"


def item_tunnels(workdir: Path, settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    tunnels = settings.tunnels
    cap = tunnels
    nofile = 2 * cap + 256
    sink = peers.start_sink(workdir)
    proxy = peers.start_proxy(workdir, peers.proxy_config(sink, None, max_connections=cap),
                              name="consoleproxy-idle", preexec=nofile_setter(nofile))
    table = Table(f"4. idle tunnels held by one consoleproxy process (max_connections {cap:,}, "
                  f"RLIMIT_NOFILE {nofile:,})", ["measure", "value"])
    targets = []
    held: list[socket.socket] = []
    try:
        warm, _ = open_tunnels(proxy, 200, budget)
        for sock in warm:
            sock.close()
        time.sleep(0.5)
        rss0 = rss_kib(proxy.proc.pid)
        fds0 = open_fds(proxy.proc.pid)
        start = time.perf_counter()
        held, outcomes = open_tunnels(proxy, tunnels, budget)
        opened = time.perf_counter() - start
        time.sleep(0.5)
        rss1 = rss_kib(proxy.proc.pid)
        fds1 = open_fds(proxy.proc.pid)
        per_tunnel = (rss1 - rss0) / max(1, len(held))
        table.add("tunnels open (200)", len(held))
        table.add("other answers while opening", ", ".join(
            f"{k}: {v}" for k, v in outcomes.items() if k != "200") or "none")
        table.add("opening rate, tunnels/s", len(held) / opened if opened else math.nan)
        table.add("RSS before -> after, MiB", f"{rss0 / 1024:.1f} -> {rss1 / 1024:.1f}")
        table.add("RSS per tunnel, KiB", per_tunnel)
        table.add("descriptors per tunnel", (fds1 - fds0) / max(1, len(held)))
        alive = 0
        for sock in random.sample(held, min(20, len(held))):
            with contextlib.suppress(OSError):
                sock.settimeout(5.0)
                sock.sendall(HEADER.pack(b"P", 1) + b"z")
                if sock.recv(1) == b"z":
                    alive += 1
        table.add("sampled tunnels still relaying", f"{alive} of {min(20, len(held))}")
        # Past the cap: every further request should get a clean 503 and a close.
        extra = []
        past_cap: dict[str, int] = {}
        for _ in range(20):
            try:
                sock = socket.create_connection((LOCALHOST, proxy.port), timeout=5.0)
            except OSError as error:
                key = f"connect failed ({error.strerror})"
                past_cap[key] = past_cap.get(key, 0) + 1
                continue
            sock.sendall(proxy.request(peers.SINK_RELAY))
            extra.append(sock)
        for sock in extra:
            status = reply_status(sock, 5.0)
            past_cap[status] = past_cap.get(status, 0) + 1
            sock.close()
        table.add("20 requests past the cap", ", ".join(f"{k}: {v}" for k, v in
                                                        past_cap.items()))
        table.add("proxy descriptors in use / limit", f"{open_fds(proxy.proc.pid):,} / "
                                                       f"{nofile:,}")
        clean = past_cap.get("503", 0) == 20 and proxy.proc.poll() is None
        targets.append(Target("4", f"idle tunnels held (of {tunnels:,} asked)", len(held),
                              9000, ">="))
        targets.append(Target("4", "RSS per idle tunnel", per_tunnel, 6.0, "<=", " KiB"))
        targets.append(Target("4", "clean 503 past the connection cap", 1.0 if clean else 0.0,
                              1.0, ">=", "", "20 of 20 answered 503" if clean else
                              f"got {past_cap}"))
    finally:
        for sock in held:
            sock.close()
        CHILDREN.stop(proxy.proc)
    result = ItemResult([table], targets)
    if not budget.over():
        result.tables.append(defaults_check(workdir, sink, Deadline(min(budget.left(), 40.0))))
    return result


def defaults_check(workdir: Path, sink: int, budget: Deadline) -> Table:
    """With the default cap (1024) and the usual descriptor limit (1024), which comes first?"""
    from consoleproxy.limits import DEFAULT_LIMITS

    cap = DEFAULT_LIMITS.max_connections
    proxy = peers.start_proxy(workdir, peers.proxy_config(sink, None),
                              name="consoleproxy-defaults", preexec=nofile_setter(1024))
    table = Table(f"4b. the same with the defaults: max_connections {cap}, RLIMIT_NOFILE 1024",
                  ["measure", "value"])
    held: list[socket.socket] = []
    try:
        request = proxy.request(peers.SINK_RELAY)
        failures: list[tuple[int, str]] = []
        while len(held) < cap + 20 and len(failures) < 3 and not budget.over():
            sock = socket.create_connection((LOCALHOST, proxy.port), timeout=5.0)
            sock.sendall(request)
            status = reply_status(sock, 2.0)
            if status == "200":
                held.append(sock)
            else:
                failures.append((len(held) + len(failures) + 1, status))
                sock.close()
        table.add("tunnels open (200)", len(held))
        table.add("first refusals (request #, answer)",
                  ", ".join(f"#{n}: {s}" for n, s in failures) or "none")
        table.add("proxy descriptors in use", open_fds(proxy.proc.pid))
        table.notes.append("a relayed tunnel costs two descriptors, so a cap above about half "
                           "the descriptor limit cannot be reached; a '503' here is the clean "
                           "answer, anything else (404 'unreachable', timeout) is not")
    finally:
        for sock in held:
            sock.close()
        CHILDREN.stop(proxy.proc)
    return table
