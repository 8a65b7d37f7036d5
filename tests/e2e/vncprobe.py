"""A real RFB client (vncdotool's) in its own process, for the end-to-end tests.

It connects with a chosen protocol version, pixel format and encoding, optionally types text,
waits until the screen shows the expected text, prints the screen as text and exits 0 (or 1
when the text never showed up within the timeout). Screen text is read back cell by cell by
matching the drawn pixels against the font's glyph shapes, so it checks the real pixels the
client decoded.

    python vncprobe.py --port 5900 --version 3.3 --bpp 16 --type 'echo hi\\n' --expect 'hi'
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

import numpy as np
from PIL import Image
from twisted.internet import reactor
from vncdotool import rfb
from vncdotool.client import VNCDoToolClient, VNCDoToolFactory

from tests.e2e.screentext import screen_text

FORMATS = {
    32: rfb.PixelFormat(32, 24, False, True, 255, 255, 255, 16, 8, 0),
    16: rfb.PixelFormat(16, 16, True, True, 31, 63, 31, 11, 5, 0),  # big-endian on purpose
    8: rfb.PixelFormat(8, 8, False, True, 7, 7, 3, 0, 3, 6),  # bgr233
}
ENCODINGS = {
    "raw": rfb.Encoding.RAW,
    "hextile": rfb.Encoding.HEXTILE,
}


def decode_pixels(data: bytes, width: int, height: int, pf: Any) -> Image.Image:
    """Any true-colour pixel format -> RGB image (this client's own decoder, not the server's)."""
    size = pf.bpp // 8
    dtype = {1: "u1", 2: "u2", 4: "u4"}[size]
    order = ">" if pf.bigendian and size > 1 else "<"
    values = np.frombuffer(data, dtype=np.dtype(order + dtype)).astype(np.uint32)
    channels = []
    for shift, maximum in ((pf.redshift, pf.redmax), (pf.greenshift, pf.greenmax),
                           (pf.blueshift, pf.bluemax)):
        channel = (values >> shift) & maximum
        channels.append((channel * 255 + maximum // 2) // maximum)
    rgb = np.stack(channels, axis=-1).astype(np.uint8).reshape(height, width, 3)
    return Image.fromarray(rgb, "RGB")


class ProbeClient(VNCDoToolClient):
    """vncdotool's client with a chosen pixel format and a CopyRect that really copies."""

    def setImageMode(self) -> None:
        options = self.factory.options
        self.probe_format = FORMATS[options.bpp]
        self.setPixelFormat(self.probe_format)
        self._image_mode = "RGB"

    def vncConnectionMade(self) -> None:
        self.setImageMode()
        encodings = [ENCODINGS[self.factory.options.encoding]]
        if self.factory.options.copyrect:
            encodings.append(rfb.Encoding.COPY_RECTANGLE)
        encodings.append(rfb.Encoding.RAW)
        self.setEncodings(encodings)
        self.factory.clientConnectionMade(self)

    def updateRectangle(self, x: int, y: int, width: int, height: int, data: bytes) -> None:
        if not data:
            return
        update = decode_pixels(data, width, height, self.probe_format)
        if self.screen is None:
            self.screen = Image.new("RGB", (self.width, self.height), "black")
        self.screen.paste(update, (x, y))

    def fillRectangle(self, x: int, y: int, width: int, height: int, color: bytes) -> None:
        self.updateRectangle(x, y, width, height, color * width * height)

    def copyRectangle(self, srcx: int, srcy: int, x: int, y: int, width: int,
                      height: int) -> None:
        assert self.screen is not None
        self.factory.copies += 1
        self.screen.paste(self.screen.crop((srcx, srcy, srcx + width, srcy + height)), (x, y))

    def copy_text(self, text: str) -> None:
        """ServerCutText from the server: what a selection copied."""
        self.factory.copied.append(text)
        self.factory.check(self)

    def commitUpdate(self, rectangles: Any = None) -> None:
        self.factory.updates += 1
        if self.screen is not None:
            self.factory.check(self)
        self.framebufferUpdateRequest(incremental=True)


class ProbeFactory(VNCDoToolFactory):
    protocol = ProbeClient

    def __init__(self, options: argparse.Namespace) -> None:
        super().__init__()
        self.options = options
        self.password = options.password
        self.typed = False
        self.last_text = ""
        self.acted = False
        self.pasted = False
        self.copied: list[str] = []
        self.updates = 0
        self.copies = 0
        self.result = 1
        ProbeClient.MAX_CLIENT_VERSION = tuple(int(p) for p in options.version.split("."))

    def clientConnectionMade(self, protocol: Any) -> None:
        protocol.framebufferUpdateRequest(incremental=False)

    def check(self, client: ProbeClient) -> None:
        assert client.screen is not None
        text = screen_text(client.screen)
        self.last_text = text
        options = self.options
        if not self.typed and (options.ready is None or options.ready in text):
            self.typed = True
            for key in (options.type or "").encode().decode("unicode_escape"):
                name = {"\n": "enter", "\t": "tab", " ": "space"}.get(key, key)
                client.keyPress(name)
        if options.paste is not None and not self.pasted and self.typed:
            self.pasted = True
            client.clientCutText(options.paste.encode().decode("unicode_escape"))
        if not self.typed or (options.expect not in text and not self.acted):
            return
        if options.scrollback and not self.acted:
            self.acted = True  # the screen is as expected: now look back in history
            client.keyDown("shift")
            client.keyPress("pgup")
            client.keyUp("shift")
            return
        if options.drag and not self.acted:
            self.acted = True
            x0, y0, x1, y1 = (int(v) for v in options.drag.split(","))
            client.mouseMove(x0 * 8 + 2, y0 * 16 + 8)
            client.mouseDown(1)
            client.mouseMove(x1 * 8 + 2, y1 * 16 + 8)
            client.mouseUp(1)
            return
        if options.scrollback and options.then not in text:
            return
        if options.drag and not self.copied:
            return
        if self.copied:
            print("copied: " + self.copied[-1], file=sys.stderr)
        self.finish(client, text, 0)

    def finish(self, client: ProbeClient, text: str, code: int) -> None:
        if self.result == 0:
            return
        self.result = code
        print(text)
        print(f"probe: updates={self.updates} copyrects={self.copies}", file=sys.stderr)
        if self.options.png and client.screen is not None:
            client.screen.save(self.options.png)
        client.transport.loseConnection()
        reactor.callLater(0.05, reactor.stop)

    def clientConnectionFailed(self, connector: Any, reason: Any) -> None:
        print(f"probe: connection failed: {reason.getErrorMessage()}", file=sys.stderr)
        self.result = 3
        if reactor.running:
            reactor.stop()

    def clientConnectionLost(self, connector: Any, reason: Any) -> None:
        if self.result != 0 and reactor.running:
            print(f"probe: connection lost: {reason.getErrorMessage()}", file=sys.stderr)
            reactor.stop()


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", default="3.8")
    parser.add_argument("--bpp", type=int, choices=sorted(FORMATS), default=32)
    parser.add_argument("--encoding", choices=sorted(ENCODINGS), default="raw")
    parser.add_argument("--copyrect", action="store_true")
    parser.add_argument("--password")
    parser.add_argument("--ready", help="text to wait for before typing")
    parser.add_argument("--type", help="text to type (backslash escapes allowed)")
    parser.add_argument("--expect", required=True, help="text that must appear")
    parser.add_argument("--scrollback", action="store_true",
                        help="once --expect shows, press Shift+Page Up and wait for --then")
    parser.add_argument("--then", default="", help="text to wait for after --scrollback")
    parser.add_argument("--drag", help="once --expect shows, drag over cells X0,Y0,X1,Y1 and "
                        "wait for the copied text (printed to stderr)")
    parser.add_argument("--paste", help="after --ready, paste this text (ClientCutText)")
    parser.add_argument("--timeout", type=float, default=20.0)
    parser.add_argument("--png")
    options = parser.parse_args()
    factory = ProbeFactory(options)

    def timed_out() -> None:
        print(f"probe: timed out; the screen was:\n{factory.last_text}", file=sys.stderr)
        factory.result = 2
        reactor.stop()

    reactor.callLater(options.timeout, timed_out)
    reactor.connectTCP("127.0.0.1", options.port, factory)
    reactor.run()
    return factory.result


if __name__ == "__main__":
    sys.exit(main())
