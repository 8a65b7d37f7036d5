"""Item 7: bytes on the wire per workload for each encoding, and render + encode time.

In process, with vncterm's own pipeline: a `ConsoleSession` (fake console source, Twisted's
`MemoryReactorClock`) renders the screen and hands damage to a viewer whose `ViewerUpdates`
produce the rectangles, exactly as for a real viewer; the bytes counted are the whole
FramebufferUpdate message. The encodings are whatever `vncterm.rfb.encoders.ENCODERS` offers
when the suite runs (each with CopyRect, as every real viewer asks for it).

Workloads, each on the screen left by a real Linux guest's serial boot
(`tests/data/linux-boot-busybox-serial.raw`, ending at a BusyBox prompt):

* full screen: the first update of a new viewer (80x24);
* one line: a command typed at the prompt (one changed line, and the cursor);
* scroll: the command's output of one line and a new prompt (the screen scrolls two lines).

Times are for one `ConsoleSession.render()` (renderer, damage, encoding for one viewer): a full
screen of changed text, and one changed line.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.common import (
    REPO,
    Deadline,
    ItemResult,
    Table,
    Target,
    fmt_ratio,
    median,
    percentile,
    ratio,
)
from vncterm.backends.memory import MemorySource

BOOT = REPO / "tests" / "data" / "linux-boot-busybox-serial.raw"
COMMAND = b"ls -l /lib/modules/6.1.0-28-amd64/kernel/drivers"
OUTPUT = b"\r\nbin      dev      init     lib64    root     sbin     sys      usr\r\n(initramfs) "


@dataclass(frozen=True)
class Settings:
    repeats: int
    budget: float


QUICK = Settings(repeats=25, budget=25.0)
FULL = Settings(repeats=100, budget=90.0)


class FakeViewer:
    """What `RfbViewerProtocol` does with updates, without a transport: it keeps the bytes.

    Stateless encodings go through `ViewerUpdates.take_update` untouched. A stateful one
    (ZRLE, Tight: one zlib stream per connection) gets this viewer's own `EncoderState`, and
    each damaged region is encoded with `encode_rectangles` (which splits what Tight cannot
    send in one rectangle), as the registry's docstring prescribes.
    """

    def __init__(self, session: Any, encoding: int) -> None:
        from vncterm.render.framebuffer import CELL_HEIGHT, CELL_WIDTH
        from vncterm.rfb import encoders
        from vncterm.rfb.constants import Encoding
        from vncterm.rfb.pixelformat import NATIVE
        from vncterm.updates import ViewerUpdates

        self.session = session
        self.encoding = encoding
        self.pixel_format = NATIVE
        self.updates = ViewerUpdates(session.terminal.cols, session.terminal.rows,
                                     CELL_WIDTH, CELL_HEIGHT)
        encodings = [encoding, int(Encoding.COPY_RECT)]
        self.updates.set_encodings(encodings)
        self.encode: Any = None
        self.split: Any = getattr(encoders, "encode_rectangles", None)
        if encoding not in encoders.ENCODERS:
            state = encoders.EncoderState()
            state.set_encodings(encodings)
            self.encode = state.encoder(encoding)
        self.sent: list[bytes] = []

    def request(self, incremental: bool) -> None:
        self.updates.request(incremental, 0, 0, self.session.width, self.session.height)
        self.session.frame_wanted(now=not incremental)
        self.flush()

    def screen_changed(self, scroll: Any = None, rects: Any = None) -> None:
        # Older sessions recorded the damage themselves and called screen_changed().
        if scroll is not None:
            self.updates.scroll(scroll)
        for rect in rects or ():
            self.updates.damage_cells(rect)
        self.flush()

    def flush(self) -> None:
        from vncterm.rfb.constants import Encoding
        from vncterm.rfb.messages import Rectangle, framebuffer_update

        pixels = self.session.renderer.pixels
        if self.encode is None:
            rects = self.updates.take_update(pixels, self.pixel_format)
        else:
            areas = self.updates.take_update(pixels, self.pixel_format, lambda *_: b"")
            rects = None
            if areas is not None:
                rects = []
                for area in areas:
                    if area.encoding == Encoding.COPY_RECT:
                        rects.append(area)
                        continue
                    region = pixels[area.y : area.y + area.height, area.x : area.x + area.width]
                    if self.split is not None:
                        rects += self.split(self.encoding, self.encode, area.x, area.y, region,
                                            self.pixel_format)
                    else:
                        rects.append(Rectangle(area.x, area.y, area.width, area.height,
                                               self.encoding,
                                               self.encode(region, self.pixel_format)))
        if rects is not None:
            self.sent.append(framebuffer_update(rects))

    def bell(self) -> None:
        pass

    def desktop_name_changed(self, name: str) -> None:
        pass

    def disconnect(self, reason: str) -> None:
        pass


def new_session() -> tuple[Any, Any]:
    from twisted.internet.testing import MemoryReactorClock

    from vncterm.session import ConsoleSession

    clock = MemoryReactorClock()
    session = ConsoleSession(clock, MemorySource(), columns=80, rows=24, name="bench")
    session.start()
    return session, clock


def feed(session: Any, clock: Any, data: bytes) -> None:
    """Console output, emulated to the end (the render itself is left to the caller)."""
    session.console_output(data)
    for _ in range(10_000):
        if not session._pending:  # the bench drains the feed slices itself
            break
        clock.advance(0)
    clock.advance(0)


def encodings_offered() -> list[tuple[str, int]]:
    """Every pixel encoding the registry offers now (stateless and per-connection ones)."""
    from vncterm.rfb import encoders

    numbers = list(encoders.ENCODERS) + [
        n for n in getattr(encoders, "STATEFUL_ENCODERS", {}) if n not in encoders.ENCODERS]
    return [(getattr(number, "name", str(number)).lower(), int(number)) for number in numbers]


def wire_bytes(encoding: int, boot: bytes) -> tuple[int, int, int]:
    """(full screen, one line, scroll) FramebufferUpdate bytes for one viewer."""
    session, clock = new_session()
    feed(session, clock, boot)
    viewer = FakeViewer(session, encoding)
    session.attach(viewer, shared=True)
    viewer.request(False)
    full = sum(len(b) for b in viewer.sent)
    viewer.sent.clear()
    sizes = [full]
    for data in (COMMAND, OUTPUT):
        viewer.request(True)
        feed(session, clock, data)
        session.render()
        sizes.append(sum(len(b) for b in viewer.sent))
        viewer.sent.clear()
    return sizes[0], sizes[1], sizes[2]


def render_times(encoding: int | None, boot: bytes, repeats: int) -> tuple[list[float],
                                                                           list[float]]:
    """Seconds of one render (+ encode for one viewer, unless ``encoding`` is None)."""
    session, clock = new_session()
    feed(session, clock, boot)
    viewer = None
    if encoding is not None:
        viewer = FakeViewer(session, encoding)
        session.attach(viewer, shared=True)
        viewer.request(False)
    else:
        session.renderer.render()  # a framebuffer with nobody watching (made lazily)
    screen = [line.encode() for line in session.terminal.text()]
    screens = [b"\x1b[H" + b"\r\n".join(screen),
               b"\x1b[H" + b"\r\n".join(screen[1:] + screen[:1])]
    full, line = [], []
    for index in range(repeats):
        if viewer is not None:
            viewer.request(True)
        feed(session, clock, b"\x1b[0m" + screens[index % 2])
        start = time.perf_counter()
        session.render()
        full.append(time.perf_counter() - start)
        if viewer is not None:
            viewer.sent.clear()
            viewer.request(True)
        feed(session, clock, b"\r\x1b[K(initramfs) " + COMMAND[: 10 + index % 30])
        start = time.perf_counter()
        session.render()
        line.append(time.perf_counter() - start)
        if viewer is not None:
            viewer.sent.clear()
    return full, line


def item_wire(settings: Settings) -> ItemResult:
    budget = Deadline(settings.budget)
    boot = BOOT.read_bytes()
    offered = encodings_offered()
    sizes = {name: wire_bytes(number, boot) for name, number in offered}
    raw = sizes.get("raw", (0, 0, 0))
    table = Table("7a. bytes on the wire per FramebufferUpdate (80x24, 32 bpp, with CopyRect)",
                  ["encoding", "full screen", "one line", "scroll 2 lines",
                   "vs raw: full", "line", "scroll"])
    for name, (full, line, scroll) in sizes.items():
        table.add(name, full, line, scroll, fmt_ratio(ratio(full, raw[0])),
                  fmt_ratio(ratio(line, raw[1])), fmt_ratio(ratio(scroll, raw[2])))
    table.notes.append(f"encodings in the vncterm.rfb.encoders registries now: "
                       f"{', '.join(n for n, _ in offered)}")
    timing = Table(f"7b. render + encode for one viewer, ms (median and p99 of "
                   f"{settings.repeats})", ["encoding", "full screen p50", "p99",
                                            "one line p50", "p99"])
    times: dict[str, tuple[float, float]] = {}
    for name, number in [("render only", None), *offered]:
        if budget.over():
            timing.notes.append("budget spent: not every encoding was timed")
            break
        full, line = render_times(number, boot, settings.repeats)
        times[name] = (median(full) * 1000, median(line) * 1000)
        timing.add(name, median(full) * 1000, percentile(full, 0.99) * 1000,
                   median(line) * 1000, percentile(line, 0.99) * 1000)
    timing.notes.append("'render only': no viewer attached (emulator damage -> pixels)")

    compact = [n for n in ("zrle", "tight") if n in sizes]
    targets = []
    if compact:
        best_line = min(sizes[n][1] for n in compact)
        best_full = min(sizes[n][0] for n in compact)
        note = "best of " + ", ".join(compact)
    else:
        best_line = best_full = float("nan")
        best = min(sizes, key=lambda n: sizes[n][0])
        note = f"no ZRLE or Tight encoder in the registry yet; best now: {best} " \
               f"({sizes[best][0]:,} B full, {sizes[best][1]:,} B line)"
    targets.append(Target("7", "one changed line on the wire (ZRLE or Tight)", best_line, 500,
                          "<=", " B", note))
    targets.append(Target("7", "full 80x24 text screen on the wire (ZRLE or Tight)", best_full,
                          10_000, "<=", " B", note))
    for name in [n for n in ("zrle", "tight") if n in times] or ["hextile"]:
        if name not in times:
            continue
        targets.append(Target("7", f"full-screen render + encode ({name})", times[name][0],
                              20.0, "<=", " ms"))
        targets.append(Target("7", f"one-line render + encode ({name})", times[name][1], 2.0,
                              "<=", " ms"))
    return ItemResult([table, timing], targets)
