"""The far end of the relay benchmarks: a TCP server on 127.0.0.1 that sinks, sources or echoes.

Run as ``python -m bench.sinkserver``; it prints its port on the first line of stdout.

A connection stays idle (costing nothing but its descriptor) until its first bytes arrive;
then a thread serves it, one operation after another, each introduced by a 9-byte header:
one letter and a big-endian u64 count.

``U`` n   read n bytes, then answer one byte ``K`` (upload: client to server)
``D`` n   send n bytes (download: server to client)
``P`` n   echo n bytes back as they come (one-byte ping-pong)
"""

from __future__ import annotations

import resource
import selectors
import socket
import struct
import sys
import threading

HEADER = struct.Struct(">cQ")
CHUNK = 1 << 20


def serve_connection(conn: socket.socket, first: bytes) -> None:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    outgoing = memoryview(bytes(CHUNK))
    pending = bytearray(first)
    conn.setblocking(True)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            while len(pending) < HEADER.size:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            mode, count = HEADER.unpack(pending[: HEADER.size])
            rest = bytes(pending[HEADER.size :])
            pending = bytearray()
            if mode == b"U":
                got = len(rest)
                while got < count:
                    n = conn.recv_into(view, min(CHUNK, count - got))
                    if not n:
                        return
                    got += n
                pending += rest[count:] if len(rest) > count else b""
                conn.sendall(b"K")
            elif mode == b"D":
                left = count
                while left:
                    n = conn.send(outgoing[: min(CHUNK, left)])
                    left -= n
            elif mode == b"P":
                echoed = len(rest)
                if rest:
                    conn.sendall(rest)
                while echoed < count:
                    data = conn.recv(64)
                    if not data:
                        return
                    conn.sendall(data)
                    echoed += len(data)
            else:
                return
    except OSError:
        return
    finally:
        conn.close()


def main() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    listener = socket.create_server(("127.0.0.1", 0), backlog=4096)
    listener.setblocking(False)
    print(listener.getsockname()[1], flush=True)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    while True:
        for key, _ in selector.select():
            sock = key.fileobj
            if sock is listener:
                while True:
                    try:
                        conn, _addr = listener.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as error:  # out of descriptors: leave it in the backlog
                        print(f"sinkserver: accept: {error}", file=sys.stderr, flush=True)
                        break
                    conn.setblocking(False)
                    selector.register(conn, selectors.EVENT_READ)
                continue
            assert isinstance(sock, socket.socket)
            try:
                data = sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            selector.unregister(sock)
            if not data:
                sock.close()
                continue
            threading.Thread(target=serve_connection, args=(sock, data), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        pass
