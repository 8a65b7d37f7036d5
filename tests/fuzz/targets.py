"""Fuzz targets: one function per machine that reads hostile bytes, each checking the
machine's contract on any input.

A target takes one input (bytes) and raises AssertionError when the contract is broken;
any other exception escaping a target is a bug in the machine. A target may return the
seconds of the part its time bound is about (the emulator's: the feed, not building a
500x200 screen or drawing it); otherwise the whole call is timed. The same targets are driven
by Hypothesis in the suite (``test_fuzz.py``, a short run), by ``python -m tests.fuzz`` for
long runs (Hypothesis or, when installed, atheris' coverage-guided engine), and by the replay
of every input kept under ``crashers/``.

Contracts:

* ``preamble``: any bytes give a Request, NEED_DATA, CLOSED or a RemoteProtocolError with an
  HTTP status; splitting the input never changes the outcome or the trailing bytes.
* ``rfb``: any bytes after the greeting, or after a finished handshake, give RFB events or a
  RemoteProtocolError; splitting the input never changes them.
* ``websocket``: any bytes after an accepted upgrade give stream data, pongs or a Closed
  event; splitting never changes the data, the pongs or who closed.
* ``xmlrpc``: any body gets a well-formed methodResponse (a value or a fault).
* ``emulator``: any console output, at 80x24, at the largest size or a tiny one, is
  emulated and rendered without an exception, and the cursor stays on the screen. (The
  structured cost harness, steering towards slow inputs, is ``tests/terminal/test_fuzz_cost.py``.)

Each target's input is capped at :data:`MAX_INPUT` bytes; the first byte of an input is
spent choosing how to split the rest, so the engines explore splits too.
"""

from __future__ import annotations

import itertools
import random
import time
import xmlrpc.client
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

from consoleproxy.connect import (
    CLOSED,
    NEED_DATA,
    PreambleParser,
    RemoteProtocolError,
    Request,
)
from consoleproxy.limits import Limits as ProxyLimits
from consoleproxy.websocket import Closed, PongReceived, StreamData, WebSocketStream
from tests.rfb.helpers import feed, make_server, normal_server
from vncterm.limits import Limits as RfbLimits

#: Largest input any target reads: the size the time budgets are stated for.
MAX_INPUT: Final = 4096


@dataclass(frozen=True, slots=True)
class FuzzTarget:
    """A named fuzz target with its per-input time budget (seconds, for MAX_INPUT bytes)."""

    name: str
    run: Callable[[bytes], float | None]
    #: The bound an input of MAX_INPUT bytes must meet in a long run on an idle machine.
    budget: float


def _split(data: bytes) -> tuple[bytes, list[bytes]]:
    """(payload, the payload in pieces): the first byte seeds where the cuts fall."""
    if not data:
        return b"", []
    seed, payload = data[0], data[1:]
    if not payload:
        return payload, []
    rng = random.Random(seed)
    if seed % 4 == 0:
        return payload, [payload[i : i + 1] for i in range(len(payload))]
    cuts = sorted({rng.randrange(1, len(payload) + 1) for _ in range(1 + seed % 8)})
    edges = [0, *cuts, len(payload)]
    return payload, [payload[a:b] for a, b in itertools.pairwise(edges) if b > a]


# -- preamble ---------------------------------------------------------------------------------

_PREAMBLE_LIMITS: Final = ProxyLimits(max_request_head_bytes=2048, max_header_count=20)


def _preamble_outcome(chunks: list[bytes], eof: bool) -> tuple[object, bytes]:
    parser = PreambleParser(_PREAMBLE_LIMITS)
    for index, chunk in enumerate([*chunks, *([b""] if eof else [])]):
        parser.receive_data(chunk)
        try:
            event = parser.next_event()
        except RemoteProtocolError as error:
            assert 400 <= error.status < 600, error.status
            return ("error", error.status), b""
        if isinstance(event, Request):
            # Bytes after the blank line belong to the console, whether they came in the
            # same read or later ones.
            return event, parser.trailing_data() + b"".join(chunks[index + 1 :])
        if event is CLOSED:
            return "closed", b""
        assert event is NEED_DATA, event
    return "need-data", b""


def fuzz_preamble(data: bytes) -> None:
    """The CONNECT/GET preamble parser (consoleproxy.connect)."""
    payload, pieces = _split(data)
    eof = bool(data) and data[0] & 0x80 != 0
    whole = _preamble_outcome([payload] if payload else [], eof)
    assert _preamble_outcome(pieces, eof) == whole


# -- rfb ----------------------------------------------------------------------------------------

_RFB_LIMITS: Final = RfbLimits(max_client_cut_text=64, max_encodings=8, max_receive_buffer=128)


def fuzz_rfb(data: bytes) -> None:
    """The RFB server machine (vncterm.rfb.server), from the greeting or after a handshake."""
    payload, pieces = _split(data)
    mode = data[0] % 3 if data else 0

    def start() -> object:
        if mode == 0:
            return make_server(limits=_RFB_LIMITS)
        if mode == 1:
            return make_server(password=b"secret", limits=_RFB_LIMITS)
        return normal_server(_RFB_LIMITS)
    whole = feed(start(), [payload], eof=True)  # type: ignore[arg-type]
    assert feed(start(), pieces, eof=True) == whole  # type: ignore[arg-type]


# -- websocket ------------------------------------------------------------------------------------

_UPGRADE: Final = (b"GET /console?ref=x HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n"
                   b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                   b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: binary\r\n\r\n")


def _websocket_outcome(chunks: list[bytes]) -> tuple[bytes, list[object]]:
    parser = PreambleParser()
    parser.receive_data(_UPGRADE)
    request = parser.next_event()
    assert isinstance(request, Request)
    stream = WebSocketStream(request)
    stream.accept()
    stream.data_to_send()
    data, others = bytearray(), []
    for chunk in [*chunks, b""]:
        stream.receive_data(chunk)
        while (event := stream.next_event()) is not NEED_DATA:
            if isinstance(event, StreamData):
                data += event.data
            elif isinstance(event, Closed):
                # The code may differ by split when a text message is refused: wsproto checks
                # its UTF-8 as it arrives (1007 whole, 1003 once a valid first piece came).
                others.append(("closed", event.by_peer))
            else:
                assert isinstance(event, PongReceived), event
                others.append("pong")
    stream.data_to_send()
    return bytes(data), others


def fuzz_websocket(data: bytes) -> None:
    """The WebSocket machine (consoleproxy.websocket) after an accepted upgrade."""
    payload, pieces = _split(data)
    whole = _websocket_outcome([payload] if payload else [])
    split = _websocket_outcome(pieces)
    assert split == whole


# -- xmlrpc ---------------------------------------------------------------------------------------


def _dispatcher() -> Callable[[bytes], bytes]:
    from consoleproxy.xenapi import LoginCall
    from tests.consoleproxy.test_xenapi import World, login_now

    world = World()

    def handle(body: bytes) -> bytes:
        reply = world.dispatcher.handle(body)
        if isinstance(reply, LoginCall):  # the service checks the password off the loop
            return world.dispatcher.login_reply(login_now(world.sessions, reply))
        return reply

    return handle


_handle: Callable[[bytes], bytes] | None = None


def fuzz_xmlrpc(data: bytes) -> None:
    """The XenAPI XML-RPC dispatcher (consoleproxy.xenapi, consoleproxy.xmlrpcbody)."""
    global _handle
    if _handle is None:
        _handle = _dispatcher()
    reply = _handle(data)
    try:
        xmlrpc.client.loads(reply, use_builtin_types=True)
    except xmlrpc.client.Fault:
        pass


# -- emulator -------------------------------------------------------------------------------------

_SIZES: Final = ((80, 24), (500, 200), (10, 3), (1, 1))


def fuzz_emulator(data: bytes) -> float:
    """The terminal emulator and the renderer (vncterm.terminal, vncterm.render); returns
    the seconds the feed took."""
    from vncterm.render.framebuffer import Renderer
    from vncterm.terminal import Terminal

    columns, rows = _SIZES[data[0] % len(_SIZES)] if data else _SIZES[0]
    terminal = Terminal(columns, rows, scrollback_lines=100)
    renderer = Renderer(terminal)
    renderer.render()
    started = time.perf_counter()
    terminal.feed(data[1:])
    took = time.perf_counter() - started
    renderer.render()
    x, y = terminal.cursor
    assert 0 <= x < columns and 0 <= y < rows, (x, y)
    return took


# -- the table ------------------------------------------------------------------------------------

TARGETS: Final = {
    target.name: target
    for target in (
        FuzzTarget("preamble", fuzz_preamble, budget=0.020),
        FuzzTarget("rfb", fuzz_rfb, budget=0.050),
        FuzzTarget("websocket", fuzz_websocket, budget=0.020),
        FuzzTarget("xmlrpc", fuzz_xmlrpc, budget=0.050),
        # The issue's bound for 4 KiB at the largest size (80x24's is 20 ms).
        FuzzTarget("emulator", fuzz_emulator, budget=0.100),
    )
}
