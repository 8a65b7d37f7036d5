"""The relay thread on real 127.0.0.1 sockets: exact bytes both ways, back-pressure,
half-close, errors, the stop, and the hand-back of Twisted connections (consoleproxy.relay)."""

from __future__ import annotations

import os
import queue
import random
import select
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from twisted.internet import tcp
from twisted.internet.testing import MemoryReactor

from consoleproxy.relay import RelayEnd, hand_off
from consoleproxy.relaythread import RelayThread

#: Seconds any one wait in these tests may take.
WAIT = 10.0


class Reactor:
    """Stands in for the reactor's thread: what the relay thread hands back waits here."""

    def __init__(self) -> None:
        self.calls: queue.Queue[Callable[[], None]] = queue.Queue()
        self.ended: list[tuple[int, int, BaseException | None]] = []

    def call(self, call: Callable[[], None]) -> None:
        self.calls.put(call)

    def done(self, first: int, second: int, error: BaseException | None) -> None:
        self.ended.append((first, second, error))

    def run_one(self) -> None:
        self.calls.get(timeout=WAIT)()


def tcp_pair(listener: socket.socket) -> tuple[socket.socket, socket.socket]:
    """A connected pair over 127.0.0.1: (the outside peer, the proxy's non-blocking end)."""
    outside = socket.create_connection(listener.getsockname(), timeout=WAIT)
    inside, _ = listener.accept()
    inside.setblocking(False)
    return outside, inside


@contextmanager
def tunnel(relays: RelayThread, reactor: Reactor
           ) -> Iterator[tuple[socket.socket, socket.socket, socket.socket, socket.socket]]:
    """Two outside peers relayed by ``relays``: yields (client, server, their inside ends)."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client, client_inside = tcp_pair(listener)
        server, server_inside = tcp_pair(listener)
    try:
        assert relays.adopt(client_inside, server_inside, reactor.done)
        yield client, server, client_inside, server_inside
    finally:
        for sock in (client, server, client_inside, server_inside):
            sock.close()


def receive(sock: socket.socket, count: int) -> bytes:
    data = bytearray()
    while len(data) < count:
        chunk = sock.recv(count - len(data))
        assert chunk, f"end of input after {len(data)} of {count} bytes"
        data += chunk
    return bytes(data)


def test_bytes_cross_both_ways_exactly_and_are_counted_when_both_sides_finish() -> None:
    """A megabyte each way at once arrives intact; after both half-closes, done reports
    each side's count and no error, and the sockets are left open for the reactor to close."""
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    up, down = os.urandom(1 << 20), os.urandom(1 << 20)
    try:
        with tunnel(relays, reactor) as (client, server, client_inside, server_inside):
            senders = [threading.Thread(target=client.sendall, args=(up,)),
                       threading.Thread(target=server.sendall, args=(down,))]
            for sender in senders:
                sender.start()
            assert receive(server, len(up)) == up
            assert receive(client, len(down)) == down
            for sender in senders:
                sender.join(WAIT)
            client.shutdown(socket.SHUT_WR)
            assert server.recv(1) == b""  # the client's end of input was passed on
            server.shutdown(socket.SHUT_WR)
            assert client.recv(1) == b""
            reactor.run_one()
            assert reactor.ended == [(len(up), len(down), None)]
            assert client_inside.fileno() >= 0 and server_inside.fileno() >= 0
            assert relays.tunnels == 0
    finally:
        relays.stop()


def test_half_close_keeps_the_other_direction_flowing() -> None:
    """The server's end of input reaches the client while the client still sends, and the
    tunnel stays until the client finishes too."""
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    try:
        with tunnel(relays, reactor) as (client, server, _, _):
            server.sendall(b"bye")
            server.shutdown(socket.SHUT_WR)
            assert receive(client, 3) == b"bye"
            assert client.recv(1) == b""
            client.sendall(b"still here")
            assert receive(server, 10) == b"still here"
            assert reactor.calls.empty()
            client.close()
            reactor.run_one()
            assert reactor.ended == [(10, 3, None)]
    finally:
        relays.stop()


def test_a_side_that_does_not_read_stops_reading_from_the_other() -> None:
    """With the server not reading, the relay holds at most one read and then leaves the
    client's bytes in the client's socket (back-pressure); once the server reads, all arrive."""
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    payload = os.urandom(32 << 20)
    try:
        with tunnel(relays, reactor) as (client, server, client_inside, _):
            client.setblocking(False)
            sent = 0
            stalled = 0
            # Fill until nothing more is taken for a while: every buffer on the way is full.
            while stalled < 50 and sent < len(payload):
                try:
                    sent += client.send(payload[sent:sent + 65536])
                    stalled = 0
                except BlockingIOError:
                    stalled += 1
                    threading.Event().wait(0.01)
            assert sent < len(payload), "nothing pushed back"
            unread = struct.unpack("i", _fionread(client_inside))[0]
            assert unread > 0  # the relay stopped reading the client
            client.setblocking(True)
            rest = threading.Thread(target=client.sendall, args=(payload[sent:],))
            rest.start()
            assert receive(server, len(payload)) == payload
            rest.join(WAIT)
    finally:
        relays.stop()


def _fionread(sock: socket.socket) -> bytes:
    import fcntl
    import termios

    return fcntl.ioctl(sock.fileno(), termios.FIONREAD, b"\0\0\0\0")


def test_a_reset_ends_the_tunnel_with_its_error() -> None:
    """A peer that resets its connection ends the tunnel at once, with the error."""
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    try:
        with tunnel(relays, reactor) as (client, server, _, _):
            client.sendall(b"hello")
            assert receive(server, 5) == b"hello"
            server.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            server.close()
            reactor.run_one()
            [(first, second, error)] = reactor.ended
            assert (first, second) == (5, 0)
            assert isinstance(error, ConnectionError)
    finally:
        relays.stop()


def test_stop_hands_every_tunnel_back_and_refuses_new_ones() -> None:
    """Stopping ends each tunnel (done, no error, before stop returns) and later adoptions
    are refused."""
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    with tunnel(relays, reactor), tunnel(relays, reactor) as (client, server, _, _):
        client.sendall(b"x")
        assert receive(server, 1) == b"x"
        relays.stop()
        assert reactor.calls.empty()  # handed back by stop() itself, not queued
        assert sorted(reactor.ended, key=repr) == [(0, 0, None), (1, 0, None)]
        with socket.socket() as a, socket.socket() as b:
            assert not relays.adopt(a, b, reactor.done)


def test_no_thread_runs_before_the_first_tunnel() -> None:
    """A process that relays nothing has no relay thread."""
    before = {thread.name for thread in threading.enumerate()}
    relays = RelayThread(lambda call: call())
    assert "consoleproxy-relay" not in before
    assert "consoleproxy-relay" not in {thread.name for thread in threading.enumerate()}
    relays.stop()


# -- the hand-off from Twisted (consoleproxy.relay.hand_off) ---------------------------------


@dataclass
class Joined:
    """Two outside peers joined by RelayEnds over real sockets under a memory reactor."""

    client: socket.socket
    server: socket.socket
    client_end: RelayEnd
    server_end: RelayEnd
    transports: tuple[tcp.Server, tcp.Server]
    insides: tuple[socket.socket, socket.socket]


@contextmanager
def joined(memory: MemoryReactor) -> Iterator[Joined]:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        client, client_inside = tcp_pair(listener)
        server, server_inside = tcp_pair(listener)
    try:
        ends, transports = [], []
        for sock in (client_inside, server_inside):
            end = RelayEnd()
            transport = tcp.Server(sock, end, ("127.0.0.1", 1), None, 1, memory)
            end.makeConnection(transport)
            ends.append(end)
            transports.append(transport)
        ends[0].join(ends[1])
        yield Joined(client, server, ends[0], ends[1], (transports[0], transports[1]),
                     (client_inside, server_inside))
    finally:
        for sock in (client, server, client_inside, server_inside):
            sock.close()


def test_a_joined_plain_tunnel_moves_to_the_thread_and_comes_back_closed_and_counted() -> None:
    """hand_off takes both sockets off the reactor; the thread relays; when the tunnel ends,
    the counts are added and both Twisted connections are lost and their sockets closed."""
    memory = MemoryReactor()
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    counted: list[int] = []
    try:
        with joined(memory) as tunnel:
            assert hand_off(relays, tunnel.client_end, tunnel.server_end, counted.append)
            assert not set(tunnel.transports) & set(memory.readers)
            tunnel.client.sendall(b"ping")
            assert receive(tunnel.server, 4) == b"ping"
            tunnel.server.sendall(b"pong!")
            assert receive(tunnel.client, 5) == b"pong!"
            tunnel.client.close()
            tunnel.server.close()
            reactor.run_one()
            assert counted == [4]
            assert (tunnel.client_end.bytes_read, tunnel.server_end.bytes_read) == (4, 5)
            assert tunnel.client_end.lost and tunnel.server_end.lost
            assert [sock.fileno() for sock in tunnel.insides] == [-1, -1]
    finally:
        relays.stop()


def test_a_tunnel_with_bytes_held_in_twisted_stays_on_the_reactor() -> None:
    """While Twisted holds unsent bytes for a side, the tunnel is not handed off."""
    memory = MemoryReactor()
    relays = RelayThread(lambda call: call())
    with joined(memory) as tunnel:
        tunnel.transports[1].write(b"held")  # buffered: the memory reactor never writes it
        assert not hand_off(relays, tunnel.client_end, tunnel.server_end, lambda count: None)
        assert set(tunnel.transports) <= set(memory.readers)
        assert relays.tunnels == 0


def test_tunnels_over_other_transports_stay_on_the_reactor() -> None:
    """A TLS or in-memory transport is not a socket the thread could relay."""
    from twisted.internet.testing import StringTransport

    relays = RelayThread(lambda call: call())
    client_end, server_end = RelayEnd(), RelayEnd()
    client_end.makeConnection(StringTransport())
    server_end.makeConnection(StringTransport())
    client_end.join(server_end)
    assert not hand_off(relays, client_end, server_end, lambda count: None)
    assert relays.tunnels == 0


class Peer:
    """One outside end of a stress tunnel: sends its payload in random pieces, then
    half-closes; reads everything until the end of input, after an optional delay."""

    def __init__(self, sock: socket.socket, payload: bytes, rng: random.Random) -> None:
        sock.setblocking(False)
        self.sock = sock
        self.payload = memoryview(payload)
        self.sent = 0
        self.shut = False
        self.received = bytearray()
        self.ended = False
        self.rng = rng
        #: Not read before this moment (a slow viewer): the relay must hold back.
        self.read_after = time.monotonic() + rng.choice([0.0, 0.0, 0.2])

    def step(self, now: float) -> None:
        if not self.shut:
            piece = self.rng.choice([1, 100, 4096, 300_000])
            try:
                self.sent += self.sock.send(self.payload[self.sent:self.sent + piece])
            except BlockingIOError:
                pass
            if self.sent == len(self.payload):
                self.sock.shutdown(socket.SHUT_WR)
                self.shut = True
        if not self.ended and now >= self.read_after:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                return
            if data:
                self.received += data
            else:
                self.ended = True


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_many_tunnels_at_once_stay_exact_under_random_pieces_pauses_and_closes(
    seed: int,
) -> None:
    """Twenty tunnels relayed together, each way a random size (up to 2 MiB) in random pieces,
    some readers late: every byte arrives in order, and each tunnel ends with its counts."""
    rng = random.Random(seed)
    reactor = Reactor()
    relays = RelayThread(reactor.call)
    peers: list[tuple[Peer, Peer]] = []
    insides: list[socket.socket] = []
    expected: list[tuple[int, int, None]] = []
    try:
        with socket.create_server(("127.0.0.1", 0), backlog=64) as listener:
            for _ in range(20):
                client, client_inside = tcp_pair(listener)
                server, server_inside = tcp_pair(listener)
                insides += [client_inside, server_inside]
                up = os.urandom(rng.choice([0, 1, 5000, 200_000, 2 << 20]))
                down = os.urandom(rng.choice([0, 1, 5000, 200_000, 2 << 20]))
                expected.append((len(up), len(down), None))
                assert relays.adopt(client_inside, server_inside, reactor.done)
                peers.append((Peer(client, up, rng), Peer(server, down, rng)))
        deadline = time.monotonic() + 4 * WAIT
        everyone = [peer for pair in peers for peer in pair]
        while not all(peer.ended and peer.shut for peer in everyone):
            now = time.monotonic()
            assert now < deadline, "tunnels stalled"
            wanted = [peer.sock for peer in everyone if not peer.ended or not peer.shut]
            select.select(wanted, wanted, [], 0.05)
            for peer in everyone:
                peer.step(now)
        for client, server in peers:
            assert bytes(server.received) == bytes(client.payload)
            assert bytes(client.received) == bytes(server.payload)
        for _ in peers:
            reactor.run_one()
        def by_counts(ended: tuple[int, int, BaseException | None]) -> tuple[int, int]:
            return ended[0], ended[1]

        assert sorted(reactor.ended, key=by_counts) == sorted(expected, key=by_counts)
        assert relays.tunnels == 0
    finally:
        relays.stop()
        for client, server in peers:
            client.sock.close()
            server.sock.close()
        for sock in insides:
            sock.close()
