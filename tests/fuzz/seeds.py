"""Seed inputs for the fuzz targets: real client bytes the engines start mutating from, and
every input kept under ``crashers/<target>/`` (each once found breaking a contract or a
budget, and kept as a regression)."""

from __future__ import annotations

import struct
import xmlrpc.client
from pathlib import Path
from typing import Final

from tests.proxy.wsclient import Frames

HERE: Final = Path(__file__).resolve().parent
CRASHERS: Final = HERE / "crashers"
_PREAMBLES: Final = HERE.parent / "data" / "preambles"


def _framed(*payloads: bytes) -> bytes:
    frames = Frames()
    return b"".join(frames.binary(payload) for payload in payloads)


def _rfb_session() -> bytes:
    # Version, security None, ClientInit, then one of each client message.
    return b"".join((
        b"RFB 003.008\n", b"\x01", b"\x01",
        struct.pack(">BxxxBBBBHHHBBBxxx", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0),
        struct.pack(">BxHiii", 2, 3, 16, 0, -223),
        struct.pack(">BBHHHH", 3, 1, 0, 0, 640, 384),
        struct.pack(">BBxxI", 4, 1, 0x61),
        struct.pack(">BBHH", 5, 1, 10, 10),
        struct.pack(">BxxxI", 6, 5) + b"hello",
    ))


def _xmlrpc_calls() -> list[bytes]:
    calls = [
        (("root", "demo", "2.21", "fuzz"), "session.login_with_password"),
        (("OpaqueRef:x",), "VM.get_all"),
        (("OpaqueRef:x", "demo"), "VM.get_by_name_label"),
        (("OpaqueRef:x", {"a": [1, 2.5, True, b"\0"]}), "console.get_location"),
        ((), "system.listMethods"),
    ]
    return [xmlrpc.client.dumps(params, name).encode() for params, name in calls]


def seeds(target: str) -> list[bytes]:
    """Seed inputs of ``target``: its real-client corpus, then its kept crashers. The first
    byte of each input chooses how the rest is split (0 = whole-ish, see targets._split)."""
    corpus: list[bytes] = []
    if target == "preamble":
        corpus = [b"\x01" + path.read_bytes() for path in sorted(_PREAMBLES.glob("*.bin"))]
    elif target == "rfb":
        corpus = [b"\x01" + _rfb_session(), b"\x02" + _rfb_session()[14:]]
    elif target == "websocket":
        corpus = [b"\x01" + _framed(b"RFB 003.008\n", b"\x01"),
                  b"\x05" + _framed(b"x" * 300)]
    elif target == "xmlrpc":
        corpus = _xmlrpc_calls()
    elif target == "emulator":
        from vncterm.terminal.hostile import WORST, fill

        boot = (HERE.parent / "data" / "linux-boot-busybox-serial.raw").read_bytes()
        corpus = [b"\x00" + boot[:4000], b"\x01" + boot[4000:8000],
                  *(bytes([index % 4]) + fill(sequence)[:4000]
                    for index, sequence in enumerate(WORST.values()))]
    return corpus + kept_crashers(target)


def kept_crashers(target: str) -> list[bytes]:
    """Every input kept under crashers/<target>/, sorted by file name."""
    directory = CRASHERS / target
    if not directory.is_dir():
        return []
    return [path.read_bytes() for path in sorted(directory.iterdir()) if path.is_file()]
