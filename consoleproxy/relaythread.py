"""Relays established tunnels on a thread of its own, in an epoll loop that knows only sockets.

Why: in a relayed round trip most of the proxy's time was the reactor's per-event work
(measured: a bare Twisted relay adds 1.43x haproxy's round trip, a plain epoll loop 1.06x).
Once a plain TCP (or UNIX) tunnel is joined and nothing is buffered in Twisted, both sockets are
handed here; the reactor keeps the connections' objects and gets them back, with the byte
counts, when the tunnel ends.

Ownership is what keeps this safe: from :meth:`RelayThread.adopt` until the ``done`` callback
runs, only this thread reads, writes or shuts down the two sockets, and it never closes them.
Closing is left to the reactor after ``done``, once the descriptors are out of this loop's
epoll set, so a descriptor number can never be reused under the loop's feet.

The rules are the relay's rules (see :mod:`consoleproxy.relay`): bytes are passed on at once;
a side whose peer cannot take more is not read (at most one read, 124 KiB, is held per
direction); an end of input is passed on as a half-close once what was held is sent; the
tunnel ends when both directions are finished, or on the first error either way.
"""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Callable

from twisted.logger import Logger

__all__ = ["RelayThread", "TunnelDone"]

log = Logger()

#: Bytes read per socket read, on this thread and on the reactor's relayed connections
#: (Twisted's default is 64 KiB). Kept under glibc's initial mmap threshold (128 KiB): Twisted
#: reads with recv(n), which allocates n bytes first, and while the threshold has not grown,
#: an allocation past it is an mmap and munmap per read (measured: 40 us instead of 14 us for
#: a one-byte recv). This thread reads into one buffer of its own.
READ_SIZE = 124 * 1024
#: Most events taken from epoll per wait (Python allocates room for this many per call).
MAX_EVENTS = 256

#: Called on the reactor with the bytes read from each side and the error that ended the
#: tunnel (None: both sides finished cleanly, or the thread was stopped).
TunnelDone = Callable[[int, int, "BaseException | None"], None]

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT
_TROUBLE = select.EPOLLERR | select.EPOLLHUP
#: The interest of an end taken out of the epoll set (it has nothing to do for now).
_UNREGISTERED = 0
#: An end whose tunnel is being adopted (registered, but its peer perhaps not yet).
_ADOPTING = -1
#: An end whose tunnel has ended.
_ENDED = -2


class _End:
    """One socket of an adopted tunnel and what is held to be written to it."""

    __slots__ = ("at_eof", "count", "done", "fd", "held", "interest", "peer", "sock")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.peer: _End = self
        #: Bytes read from the peer that this socket did not take yet.
        self.held = b""
        #: This socket's input has ended (its peer half-closed).
        self.at_eof = False
        #: Bytes read from this socket.
        self.count = 0
        #: The epoll events this end is registered for, or one of the markers above.
        self.interest = _ADOPTING
        #: The first end of a tunnel carries its done callback; the second None.
        self.done: TunnelDone | None = None


class RelayThread:
    """A daemon thread relaying adopted socket pairs until they end or the thread is stopped.

    ``call_in_reactor`` runs a callable on the reactor's thread (``reactor.callFromThread``);
    every ``done`` callback goes through it. The thread starts with the first adoption: a
    process that relays nothing has no thread.
    """

    def __init__(self, call_in_reactor: Callable[[Callable[[], None]], None]) -> None:
        self._call_in_reactor = call_in_reactor
        self._epoll: select.epoll | None = None
        self._ends: dict[int, _End] = {}
        self._wake_r = self._wake_w = -1
        self._thread: threading.Thread | None = None
        self._stopping = False
        # Taken only to adopt and to end everything at the stop: an adoption never races
        # the epoll set being closed.
        self._lock = threading.Lock()
        #: Hand-backs of the tunnels ended by stop(), run by stop() itself once the thread
        #: is gone: the reactor may be shutting down and no longer running thread calls.
        self._ended_by_stop: list[Callable[[], None]] = []

    @property
    def tunnels(self) -> int:
        """Tunnels being relayed now (a count that another thread may be changing)."""
        return len(self._ends) // 2

    def _start(self) -> None:
        self._epoll = select.epoll()
        self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._epoll.register(self._wake_r, _IN)
        self._thread = threading.Thread(target=self._run, name="consoleproxy-relay",
                                        daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """End every tunnel and stop the thread; on the reactor's thread.

        Each tunnel's ``done`` is called (with no error) before this returns, here rather
        than through ``call_in_reactor``, so that connections closed at a shutdown are still
        handed back and audited.
        """
        with self._lock:
            thread = self._thread
            already = self._stopping
            self._stopping = True
        if thread is None or already:
            return
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        thread.join(timeout)
        if not thread.is_alive():
            ended, self._ended_by_stop = self._ended_by_stop, []
            for call in ended:
                call()

    def adopt(self, first: socket.socket, second: socket.socket, done: TunnelDone) -> bool:
        """Relay between two connected non-blocking sockets from now on; False if stopped.

        The caller must not touch either socket again until ``done`` has been called (on the
        reactor, through ``call_in_reactor``); after that, closing them is the caller's job.
        """
        a, b = _End(first), _End(second)
        a.peer, b.peer, a.done = b, a, done
        with self._lock:
            if self._stopping:
                return False
            if self._thread is None:
                self._start()
            epoll = self._epoll
            if epoll is None:
                return False
            self._ends[a.fd] = a
            self._ends[b.fd] = b
            try:
                epoll.register(a.fd, _IN)
                epoll.register(b.fd, _IN)
            except OSError:
                for end in (a, b):
                    self._ends.pop(end.fd, None)
                    try:
                        epoll.unregister(end.fd)
                    except OSError:
                        pass
                return False
            # The loop acts on an end only once both ends' interest is set, b's last: events
            # seen before are left for the next wait (epoll is level-triggered).
            a.interest = _IN
            b.interest = _IN
        return True

    # -- the loop (on the relay thread) ---------------------------------------------------

    def _run(self) -> None:
        epoll = self._epoll
        assert epoll is not None
        ends = self._ends
        buffer = bytearray(READ_SIZE)
        view = memoryview(buffer)
        step = self._step
        try:
            while not self._stopping:
                try:
                    events = epoll.poll(-1, MAX_EVENTS)
                except InterruptedError:
                    continue
                for fd, mask in events:
                    end = ends.get(fd)
                    if end is None or end.interest < 0 or end.peer.interest < 0:
                        continue  # the wake-up pipe, an ended tunnel, or one being adopted
                    try:
                        step(end, mask, buffer, view)
                    except OSError as error:
                        self._end(end, error)
        except BaseException as error:  # a bug: hand every tunnel back rather than hang them
            log.failure("relay thread failed")
            self._end_all(error)
            raise
        self._end_all(None)

    def _step(self, end: _End, mask: int, buffer: bytearray, view: memoryview) -> None:
        peer = end.peer
        acted = False
        if end.held and mask & (_OUT | _TROUBLE):
            acted = True
            sent = _send(end.sock, end.held)
            end.held = end.held[sent:]
            if not end.held and peer.at_eof:
                end.sock.shutdown(socket.SHUT_WR)
        # Never read while the peer still holds bytes (that is the back-pressure, and it keeps
        # peer.held a single piece): _watch drops the interest, but a hang-up or an error is
        # reported whatever the interest.
        if not end.at_eof and not peer.held and mask & (_IN | _TROUBLE):
            acted = True
            count = end.sock.recv_into(buffer)
            if count:
                end.count += count
                sent = _send(peer.sock, view[:count])
                if sent < count:
                    peer.held = bytes(view[sent:count])
            else:
                end.at_eof = True
                if not peer.held:
                    peer.sock.shutdown(socket.SHUT_WR)
        if not acted and mask & _TROUBLE:
            raise ConnectionResetError("connection lost")
        if end.at_eof and peer.at_eof and not end.held and not peer.held:
            self._end(end, None)
            return
        self._watch(end)
        self._watch(peer)

    def _watch(self, end: _End) -> None:
        # An end with nothing to do is taken out of the set, so that a hang-up it cannot act on
        # (level-triggered) does not wake the loop over and over.
        wanted = (_IN if not end.at_eof and not end.peer.held else 0) | (_OUT if end.held else 0)
        if wanted == end.interest:
            return
        epoll = self._epoll
        assert epoll is not None
        if not wanted:
            epoll.unregister(end.fd)
        elif end.interest == _UNREGISTERED:
            epoll.register(end.fd, wanted)
        else:
            epoll.modify(end.fd, wanted)
        end.interest = wanted

    def _end(self, end: _End, error: BaseException | None) -> None:
        epoll = self._epoll
        assert epoll is not None
        first = end if end.done is not None else end.peer
        second = first.peer
        for one in (first, second):
            if one.interest == _ENDED:
                return
        for one in (first, second):
            if one.interest > 0:
                try:
                    epoll.unregister(one.fd)
                except OSError:
                    pass
            one.interest = _ENDED
            self._ends.pop(one.fd, None)
        done = first.done
        assert done is not None
        counts = (first.count, second.count)
        first.done = None
        first.peer, second.peer = first, second
        call = lambda: done(counts[0], counts[1], error)  # noqa: E731
        if self._stopping and error is None:
            self._ended_by_stop.append(call)
        else:
            self._call_in_reactor(call)

    def _end_all(self, error: BaseException | None) -> None:
        with self._lock:
            self._stopping = True
            for end in list(self._ends.values()):
                if end.interest != _ENDED:
                    self._end(end, error)
            assert self._epoll is not None
            self._epoll.close()
            self._epoll = None
            for fd in (self._wake_r, self._wake_w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            # A late stop() must not write to a descriptor number reused by then.
            self._wake_r = self._wake_w = -1


def _send(sock: socket.socket, data: bytes | memoryview) -> int:
    try:
        return sock.send(data)
    except BlockingIOError:
        return 0
