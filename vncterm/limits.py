"""Every cap and timeout vncterm applies, kept together in one frozen value.

Exceeding a cap on input from a peer is a RemoteProtocolError for that one connection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    #: Longest ClientCutText accepted (bytes of text); longer closes the connection.
    max_client_cut_text: int = 1 << 20
    #: Most encodings a SetEncodings may list.
    max_encodings: int = 256
    #: Seconds a viewer may take to finish the handshake.
    handshake_timeout: float = 30.0
    #: Most bytes buffered from a viewer before they are parsed.
    max_receive_buffer: int = (1 << 20) + 64
    #: Most viewers on one console at once.
    max_viewers: int = 64
    #: Seconds of emulator work per slice before yielding to the reactor.
    feed_slice_seconds: float = 0.005
    #: Largest chunk of console output fed to the emulator in one call.
    feed_chunk_bytes: int = 4096
    #: Most console bytes buffered unprocessed before the source is paused: small, so that
    #: during a flood a keystroke's echo waits behind little (the rest waits in the kernel,
    #: and the program writing it blocks, as on a real terminal).
    max_pending_console_bytes: int = 64 * 1024
    #: Fewest seconds between two Bell messages to the same viewer.
    bell_interval: float = 0.5
    #: Longest VNC password (only the first 8 bytes matter to VNC Authentication).
    max_password_file_bytes: int = 4096


DEFAULT_LIMITS = Limits()
