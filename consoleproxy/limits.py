"""Every cap and timeout consoleproxy applies, kept together in one frozen value.

Exceeding a cap on input from a peer is a RemoteProtocolError (or an XenAPI failure) for that
one connection or call; it never affects other clients.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from vncterm.limits import AuthThrottleLimits


@dataclass(frozen=True, slots=True)
class Limits:
    #: Most bytes in a request head (request line, headers, the blank line). Browsers and
    #: Xen Orchestra may send many cookies; 16 KiB of Cookie header alone must fit.
    max_request_head_bytes: int = 32 * 1024
    #: Most header fields in one request head.
    max_header_count: int = 100
    #: Seconds a client may take from connecting to finishing its request head.
    request_deadline: float = 10.0
    #: Most sessions alive at once, a backstop behind the per-user caps: logging in beyond it
    #: evicts a session of the user holding the most (never someone's only session), or fails.
    max_sessions: int = 200
    #: Most sessions of one user; beyond it the user's own least recently active one goes.
    max_sessions_per_user: int = 100
    #: Most sessions of one user from one originator (the client name given at login); beyond
    #: it that originator's least recently active one goes (xapi evicts per originator too).
    max_sessions_per_originator: int = 50
    #: Seconds without activity after which a session expires (24 hours, like xapi).
    session_idle_expiry: float = 24 * 60 * 60
    #: Longest password considered at all: a longer one fails without being hashed, so a
    #: client cannot make the server hash megabytes.
    max_password_bytes: int = 1024
    #: Largest XML-RPC request body accepted by the XenAPI endpoint.
    max_xmlrpc_body_bytes: int = 1024 * 1024
    #: Deepest nesting of elements in an XML-RPC request (XenAPI calls need about 8); deeper
    #: is refused before any value is built.
    max_xmlrpc_depth: int = 64
    #: Seconds a client may take to send a whole XML-RPC (or page) request, from its first byte.
    xmlrpc_deadline: float = 30.0
    #: Seconds an HTTP keep-alive connection (XML-RPC, pages) may stay idle between requests:
    #: 12 hours, as xapi's (stunnel's) idle timeout. Idle ones are closed first at the cap.
    http_idle_timeout: float = 12 * 60 * 60
    #: Seconds a keep-alive connection closed for idling still reads (and drops) what its
    #: client sends, so the client's next request meets the close, not a reset.
    http_close_linger: float = 10 * 60
    #: Most client connections open at once (preamble, relay and XML-RPC together).
    max_connections: int = 1024
    #: Bytes queued towards one side of a relay before the other side is paused.
    relay_high_water: int = 256 * 1024
    #: Console bytes kept from a client whose password is being checked (it is paused; what
    #: was already in flight beyond this closes the connection).
    max_bytes_while_authenticating: int = 64 * 1024
    #: Threads checking password hashes, off the event loop.
    password_check_threads: int = 2
    #: Password checks queued or running at once; beyond it a login is refused at once.
    max_pending_logins: int = 64
    #: Logins of one peer checking or waiting out a failure delay at once; beyond it refused.
    max_pending_logins_per_peer: int = 4
    #: Failures from one peer that block it (TigerVNC: 5); see vncterm.auththrottle.
    login_block_after: int = 5
    #: Seconds of a peer's first block, doubling with each later one up to the maximum.
    login_block_seconds: float = 60.0
    login_block_max_seconds: float = 900.0
    #: Seconds a first failed login waits before it is answered, doubling per failure of the
    #: same peer or user, up to the maximum.
    login_first_delay: float = 0.5
    login_max_delay: float = 8.0
    #: Seconds after which one failed login is forgotten.
    login_forget_seconds: float = 60.0
    #: Most peers and most users whose failures are remembered, each.
    login_throttle_entries: int = 10_000

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"limit {field.name} must be a positive number, not {value!r}")

    def auth_throttle(self) -> AuthThrottleLimits:
        """The login throttle's numbers, in the form ``vncterm.auththrottle`` takes."""
        return AuthThrottleLimits(
            block_after=self.login_block_after,
            block_seconds=self.login_block_seconds,
            block_max_seconds=self.login_block_max_seconds,
            first_delay=self.login_first_delay,
            max_delay=self.login_max_delay,
            forget_seconds=self.login_forget_seconds,
            max_entries=self.login_throttle_entries,
        )


DEFAULT_LIMITS = Limits()
