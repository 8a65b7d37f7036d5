"""Item 10: what many viewers of one large console cost: memory, resize and selection time.

In process, with vncterm's own pipeline: one `ConsoleSession` (fake console source, Twisted's
`MemoryReactorClock`) with its scrollback full, and real `RfbViewerProtocol`s on transports
that count and drop what they are sent. Everything goes through RFB messages, as a viewer
sends them, so the same script measures any version of the code.

* RSS: 64 viewers (ZRLE) of one console resized to 500x200, live, then each scrolled back
  three lines with the mouse wheel (a view of its own) and sent an update; then the time of
  one new line of output while all of them read history;
* SetDesktopSize: one viewer resizes the console 80x24 -> 500x200 and back, once and as a
  burst of ten in 0.1 s (a window being dragged), with 8 viewers attached, each with a request
  outstanding (their updates are encoded in the same reactor turn: that is the shared time a
  resize costs);
* drag-select: at 500x200, a selection anchored at the oldest line of the scrollback: a wheel
  notch with the button held (and its update), a drag at a hand's pace about the live screen
  (one pointer event and its update), and the release (the selected text goes to the
  viewer's clipboard).

Time is wall-clock time spent in the calls (the reactor's turn); medians of several repeats.
"""

from __future__ import annotations

import argparse
import gc
import json
import struct
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.common import ItemResult, Table, median

COLUMNS, ROWS = 500, 200
CELL_WIDTH, CELL_HEIGHT = 8, 16
ZRLE, EXTENDED_DESKTOP_SIZE, DESKTOP_SIZE, COPY_RECT = 16, -308, -223, 1
LEFT, WHEEL_UP, WHEEL_DOWN = 1, 8, 16


@dataclass(frozen=True)
class Settings:
    viewers: int
    scrollback_lines: int
    repeats: int


QUICK = Settings(viewers=64, scrollback_lines=3000, repeats=3)
FULL = Settings(viewers=64, scrollback_lines=10000, repeats=7)


def _rss_kib() -> int:
    gc.collect()
    for text in Path("/proc/self/status").read_text().splitlines():
        if text.startswith("VmRSS:"):
            return int(text.split()[1])
    return 0


class _Rig:
    """One console with its scrollback full, and a way to connect viewers to it."""

    def __init__(self, scrollback_lines: int) -> None:
        from twisted.internet.testing import MemoryReactorClock

        from vncterm.backends.memory import MemorySource
        from vncterm.session import ConsoleSession

        self.clock = MemoryReactorClock()
        self.source = MemorySource()
        self.session = ConsoleSession(self.clock, self.source, columns=COLUMNS, rows=ROWS,
                                      name="bench", scrollback_lines=scrollback_lines)
        self.session.start()
        line = ("\x1b[1;32muser@host\x1b[0m:\x1b[34m~/src\x1b[0m$ " + "lorem ipsum dolor sit "
                "amet consectetur adipiscing elit sed do eiusmod tempor " * 2)
        data = "".join(f"{line}{n}\r\n" for n in range(scrollback_lines + ROWS)).encode()
        self.output(data)

    def output(self, data: bytes) -> None:
        self.session.console_output(data)
        self.settle()

    def settle(self, seconds: float = 0.0) -> None:
        """Run what the reactor has due now (and `seconds` later)."""
        clock = self.clock
        clock.advance(0)
        end = clock.seconds() + seconds
        for _ in range(100000):
            due = [c.getTime() for c in clock.getDelayedCalls()]
            if not due or min(due) > end:
                break
            clock.advance(max(0.0, min(due) - clock.seconds()))
        if clock.seconds() < end:
            clock.advance(end - clock.seconds())

    def viewer(self) -> Any:
        from twisted.internet.address import IPv4Address

        from vncterm.protocol import RfbViewerFactory

        protocol = RfbViewerFactory(self.session, log_connections=False).buildProtocol(
            IPv4Address("TCP", "127.0.0.1", 5900))
        transport = _CountingTransport()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"RFB 003.008\n")
        protocol.dataReceived(b"\x01")  # security None
        protocol.dataReceived(b"\x01")  # shared
        encodings = [ZRLE, COPY_RECT, EXTENDED_DESKTOP_SIZE, DESKTOP_SIZE]
        protocol.dataReceived(struct.pack(f"!BxH{len(encodings)}i", 2, len(encodings),
                                          *encodings))
        return protocol


class _CountingTransport:
    """A transport that drops what it is sent (counting it) and never pushes back."""

    def __init__(self) -> None:
        from twisted.internet.address import IPv4Address

        self.written = 0
        self.peer = IPv4Address("TCP", "127.0.0.1", 40000)
        self.producer: Any = None
        self.disconnecting = False

    def write(self, data: bytes) -> None:
        self.written += len(data)

    def writeSequence(self, data: list[bytes]) -> None:
        for item in data:
            self.write(item)

    def getPeer(self) -> Any:
        return self.peer

    def getHost(self) -> Any:
        return self.peer

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self.producer = producer

    def unregisterProducer(self) -> None:
        self.producer = None

    def loseConnection(self) -> None:
        self.disconnecting = True

    def abortConnection(self) -> None:
        self.disconnecting = True

    def setTcpNoDelay(self, enabled: bool) -> None:
        pass


def _request(protocol: Any, incremental: bool, width: int, height: int) -> None:
    protocol.dataReceived(struct.pack("!BBHHHH", 3, int(incremental), 0, 0, width, height))


def _set_desktop_size(protocol: Any, columns: int, rows: int) -> None:
    width, height = columns * CELL_WIDTH, rows * CELL_HEIGHT
    protocol.dataReceived(struct.pack("!BxHHBxIHHHHI", 251, width, height, 1, 0, 0, 0,
                                      width, height, 0))


def _pointer(protocol: Any, mask: int, column: int, row: int) -> None:
    protocol.dataReceived(struct.pack("!BBHH", 5, mask, column * CELL_WIDTH + 3,
                                      row * CELL_HEIGHT + 3))


def _timed(call: Callable[[], None]) -> float:
    start = time.perf_counter()
    call()
    return time.perf_counter() - start


def measure_rss(settings: Settings) -> dict[str, Any]:
    before = _rss_kib()
    rig = _Rig(settings.scrollback_lines)
    console = _rss_kib()
    viewers = [rig.viewer() for _ in range(settings.viewers)]
    _set_desktop_size(viewers[0], COLUMNS, ROWS)
    rig.settle(1.0)
    width, height = rig.session.width, rig.session.height
    for viewer in viewers:
        _request(viewer, False, width, height)
    rig.settle(0.1)
    live = _rss_kib()
    for viewer in viewers:
        _pointer(viewer, WHEEL_UP, 10, 10)
        _pointer(viewer, 0, 10, 10)
        _request(viewer, True, width, height)
    rig.settle(0.1)
    scrolled = _rss_kib()
    # New output while everyone reads history: what a frame costs them all.
    for viewer in viewers:
        _request(viewer, True, width, height)
    frame = _timed(lambda: (rig.output(b"one more line\r\n"), rig.settle(0.1)))
    result = {"viewers": len(viewers), "size": f"{rig.session.terminal.cols}x"
              f"{rig.session.terminal.rows}", "rss_start_mib": before / 1024,
              "rss_console_mib": console / 1024, "rss_live_mib": live / 1024,
              "rss_scrolled_mib": scrolled / 1024, "frame_scrolled_ms": frame * 1e3}
    for viewer in viewers:
        viewer.connectionLost()
    rig.session.stop()
    return result


def measure_resize(settings: Settings) -> dict[str, Any]:
    rig = _Rig(settings.scrollback_lines)
    viewers = [rig.viewer() for _ in range(8)]
    resizer = viewers[0]

    def ready() -> None:
        """Untimed: every viewer is sent what is pending, and has a request outstanding that
        the resize's update (new size, whole screen) answers."""
        for viewer in viewers:
            _request(viewer, True, rig.session.width, rig.session.height)
            _request(viewer, True, rig.session.width, rig.session.height)

    def resize_to(columns: int, rows: int) -> None:
        _set_desktop_size(resizer, columns, rows)
        rig.settle(10.0)  # past any interval the console imposes between two resizes

    ready()
    resize_to(80, 24)
    single_up, single_down, bursts = [], [], []
    for _ in range(settings.repeats):
        ready()
        single_up.append(_timed(lambda: resize_to(COLUMNS, ROWS)))
        ready()
        single_down.append(_timed(lambda: resize_to(80, 24)))

        def burst() -> None:
            for step in range(10):
                for viewer in viewers:
                    _request(viewer, True, rig.session.width, rig.session.height)
                _set_desktop_size(resizer, COLUMNS - 20 * step, ROWS - 10 * step)
                rig.settle(0.01)
            rig.settle(10.0)

        ready()
        bursts.append(_timed(burst))
        ready()
        resize_to(80, 24)
    for viewer in viewers:
        viewer.connectionLost()
    rig.session.stop()
    return {"resize_up_ms": median(single_up) * 1e3, "resize_down_ms": median(single_down) * 1e3,
            "burst_of_10_ms": median(bursts) * 1e3}


def measure_selection(settings: Settings) -> dict[str, Any]:
    rig = _Rig(settings.scrollback_lines)
    viewer = rig.viewer()
    width, height = rig.session.width, rig.session.height
    _request(viewer, False, width, height)
    rig.settle(0.1)
    # To the top of the history: Shift+Page Up until it stops moving.
    viewer.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFFE1))
    for _ in range(settings.scrollback_lines // (ROWS - 1) + 2):
        viewer.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFF55))
        viewer.dataReceived(struct.pack("!BBxxI", 4, 0, 0xFF55))
    viewer.dataReceived(struct.pack("!BBxxI", 4, 0, 0xFFE1))
    _request(viewer, True, width, height)
    rig.settle(0.1)
    _pointer(viewer, LEFT, 0, 0)
    # Back down with the button held: Shift+Page Down to the live screen, one page up again,
    # then wheel notches (each asking for the update) down to the live screen.
    viewer.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFFE1))
    for _ in range(settings.scrollback_lines // (ROWS - 1) + 2):
        viewer.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFF56))
        viewer.dataReceived(struct.pack("!BBxxI", 4, 0, 0xFF56))
    viewer.dataReceived(struct.pack("!BBxxI", 4, 1, 0xFF55))
    viewer.dataReceived(struct.pack("!BBxxI", 4, 0, 0xFF55))
    viewer.dataReceived(struct.pack("!BBxxI", 4, 0, 0xFFE1))
    _request(viewer, True, width, height)
    rig.settle(0.1)
    scroll_down = []

    def notch() -> None:
        _pointer(viewer, LEFT | WHEEL_DOWN, 0, 0)
        _pointer(viewer, LEFT, 0, 0)
        _request(viewer, True, width, height)  # the update shows the view where it now is

    for _ in range(ROWS // 3 + 1):
        scroll_down.append(_timed(notch))
    rig.settle(0.1)
    drags = []
    # A drag at a hand's pace: the pointer moves a few cells between two events.
    for step in range(settings.repeats * 10):
        row = 20 + step % (ROWS - 40)
        column = (step * 7) % COLUMNS

        def drag(column: int = column, row: int = row) -> None:
            _pointer(viewer, LEFT, column, row)
            _request(viewer, True, width, height)

        drags.append(_timed(drag))
    release = _timed(lambda: _pointer(viewer, 0, 5, ROWS - 1))
    viewer.connectionLost()
    rig.session.stop()
    return {"drag_event_ms": median(drags) * 1e3, "drag_event_max_ms": max(drags) * 1e3,
            "wheel_while_dragging_ms": median(scroll_down) * 1e3, "release_ms": release * 1e3,
            "selected_lines": settings.scrollback_lines + ROWS}


def run_all(settings: Settings) -> dict[str, Any]:
    from twisted.logger import globalLogBeginner

    globalLogBeginner.beginLoggingTo([lambda event: None], redirectStandardIO=False)
    results: dict[str, Any] = {}
    results.update(measure_rss(settings))
    results.update(measure_resize(settings))
    results.update(measure_selection(settings))
    return results


def item_viewers(quick: bool) -> ItemResult:
    """Item 10, run in a child process so that its RSS is its own."""
    import subprocess

    from bench.common import PYTHON, REPO

    done = subprocess.run([PYTHON, "-m", "bench.viewers", *(["--quick"] if quick else [])],
                          cwd=REPO, capture_output=True, text=True, timeout=600, check=True)
    results = json.loads(done.stdout.strip().splitlines()[-1])
    return ItemResult([table(results)], [])


def table(results: dict[str, Any]) -> Table:
    out = Table(f"10. many viewers of one {results['size']} console", ["measure", "value"])
    out.add("RSS at start (MiB)", results["rss_start_mib"])
    out.add("RSS with the console, no viewer (MiB)", results["rss_console_mib"])
    out.add(f"RSS, {results['viewers']} live viewers (MiB)", results["rss_live_mib"])
    out.add(f"RSS, {results['viewers']} viewers scrolled back (MiB)", results["rss_scrolled_mib"])
    out.add("one new line, all viewers scrolled back (ms)", results["frame_scrolled_ms"])
    out.add("SetDesktopSize 80x24 -> 500x200, 8 viewers (ms)", results["resize_up_ms"])
    out.add("SetDesktopSize 500x200 -> 80x24, 8 viewers (ms)", results["resize_down_ms"])
    out.add("ten SetDesktopSize in 0.1 s (ms, total)", results["burst_of_10_ms"])
    out.add(f"drag event, selection over {results['selected_lines']} lines (ms, median)",
            results["drag_event_ms"])
    out.add("drag event (ms, worst)", results["drag_event_max_ms"])
    out.add("wheel notch while dragging (ms, median)", results["wheel_while_dragging_ms"])
    out.add("release: selection to the clipboard (ms)", results["release_ms"])
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.viewers", description=__doc__
                                     .splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--table", action="store_true", help="print the table, not JSON")
    args = parser.parse_args(argv)
    results = run_all(QUICK if args.quick else FULL)
    if args.table:
        print(table(results).render())
    print(json.dumps(results), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
