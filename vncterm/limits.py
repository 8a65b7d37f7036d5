"""Every cap and timeout vncterm applies, kept together in one frozen value.

Exceeding a cap on input from a peer is a RemoteProtocolError for that one connection.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AuthThrottleLimits:
    """How failed password checks are slowed and blocked (``vncterm.auththrottle``)."""

    #: Failures from one peer that block it for a while (TigerVNC blacklists after 5).
    block_after: int = 5
    #: Seconds of a peer's first block; each later block doubles it, up to the maximum.
    block_seconds: float = 60.0
    block_max_seconds: float = 900.0
    #: Seconds the refusal of a first failure waits; each further failure of the same peer
    #: or user doubles it, up to the maximum (so a user's penalty stays a delay, never a lock).
    first_delay: float = 0.5
    max_delay: float = 8.0
    #: Seconds after which one failure is forgotten (counts decay steadily).
    forget_seconds: float = 60.0
    #: Most peers and most users remembered each; the least recently failed go first.
    max_entries: int = 10_000


DEFAULT_AUTH_THROTTLE = AuthThrottleLimits()


@dataclass(frozen=True, slots=True)
class TerminalLimits:
    """Caps of the terminal emulator: each keeps the work for any input bounded by its size
    plus the cells it touches (xterm and VTE have the same ones)."""

    #: Longest OSC string kept (window titles); the rest of a longer one is dropped.
    max_osc_length: int = 4096
    #: Most reply bytes kept for the console when nobody takes them; older replies are dropped.
    max_pending_reply_bytes: int = 64 * 1024
    #: Most combining marks (and other zero-width characters) kept on one cell; more are
    #: dropped (xterm keeps 2 by default, VTE about 20).
    max_marks_per_cell: int = 16
    #: Most parameters of one control sequence; more are ignored (xterm's NPARAM is 30).
    max_csi_parameters: int = 32


DEFAULT_TERMINAL_LIMITS = TerminalLimits()


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
    #: Most viewers one user (as the front door names them) may have open on one console, so
    #: that one user cannot take every seat of a shared console.
    max_viewers_per_user: int = 16
    #: Seconds a viewer's connection may stay full (the viewer reads nothing of what it was
    #: sent) before it is dropped: a stalled viewer must not keep its seat and its memory.
    stall_timeout: float = 60.0
    #: Seconds a viewer being closed may take to read its last bytes before it is dropped.
    close_timeout: float = 10.0
    #: Fewest seconds between two resizes of a console; SetDesktopSize requests in between
    #: are coalesced (the last size wins) and applied when the interval is over.
    resize_interval: float = 0.25
    #: Most of the reactor's time resizes may take: after a resize that took t seconds the
    #: next one waits at least t / resize_share (a large console costs 0.1-0.3 s to resize).
    resize_share: float = 0.2
    #: Most characters a selection puts on the viewer's clipboard (the rest is cut off): the
    #: whole scrollback of a wide console is megabytes of text.
    max_copied_text: int = 1 << 20
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
    #: Delays and blocks after failed VNC Authentication.
    auth_throttle: AuthThrottleLimits = DEFAULT_AUTH_THROTTLE
    #: Seconds of emulator work all the consoles of one process do in one reactor turn, shared
    #: out round-robin (vncterm.feedscheduler): the bound on what a flood delays the rest by.
    feed_turn_seconds: float = 0.005
    #: Seconds of drawing a frame, or of encoding it for one viewer, at a time on a large
    #: screen (500x200 cells of colours cost up to a second): the rest is drawn in later
    #: slices and sent in later updates.
    frame_slice_seconds: float = 0.002
    #: Screens up to this many cells draw and send a frame whole (a few milliseconds; in
    #: parts it would cost the viewer a round trip per part).
    frame_slice_min_cells: int = 10_000
    #: What the terminal emulator keeps of hostile input (vncterm.terminal).
    terminal: TerminalLimits = DEFAULT_TERMINAL_LIMITS


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class ConsoleLimits:
    """Resource limits (setrlimit) of a confined console program (vncterm.sandbox).

    Applied to the program and everything it starts; core dumps are always off (a dump of a
    console program can hold what was typed into it).
    """

    #: Processes and threads of the console's user, counted over the whole host (RLIMIT_NPROC
    #: is per user, not per console): a fork bomb stops here. Each sandboxed console is one
    #: to three of them (bwrap's two run as root when root starts them), so the default
    #: leaves room for well over a thousand consoles. A cgroup (systemd TasksMax=) is the
    #: per-service cap.
    max_processes: int = 4096
    #: Open files per process (RLIMIT_NOFILE).
    max_open_files: int = 1024
    #: Address space per process in bytes (RLIMIT_AS).
    max_address_space: int = 4 << 30
    #: CPU seconds per process (RLIMIT_CPU); None: unlimited, because a console's programs
    #: (a shell, top) live for months.
    max_cpu_seconds: int | None = None
    #: Size of the sandbox's private /tmp (which holds the console's home), in bytes.
    max_tmp_bytes: int = 64 << 20

    def __post_init__(self) -> None:
        for name in ("max_processes", "max_open_files", "max_address_space", "max_cpu_seconds",
                     "max_tmp_bytes"):
            value = getattr(self, name)
            if value is None and name == "max_cpu_seconds":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"console limit {name} must be a positive integer, "
                                 f"not {value!r}")


DEFAULT_CONSOLE_LIMITS = ConsoleLimits()
