"""Every cap and timeout consoleproxy applies, kept together in one frozen value.

Exceeding a cap on input from a peer is a RemoteProtocolError (or an XenAPI failure) for that
one connection or call; it never affects other clients.
"""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class Limits:
    #: Most bytes in a request head (request line, headers, the blank line). Browsers and
    #: Xen Orchestra may send many cookies; 16 KiB of Cookie header alone must fit.
    max_request_head_bytes: int = 32 * 1024
    #: Most header fields in one request head.
    max_header_count: int = 100
    #: Seconds a client may take from connecting to finishing its request head.
    request_deadline: float = 10.0
    #: Most sessions alive at once; logging in beyond it evicts the least recently active.
    max_sessions: int = 200
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
    #: Seconds a client may take to send a whole XML-RPC request.
    xmlrpc_deadline: float = 30.0
    #: Most client connections open at once (preamble, relay and XML-RPC together).
    max_connections: int = 1024
    #: Bytes queued towards one side of a relay before the other side is paused.
    relay_high_water: int = 256 * 1024

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise ValueError(f"limit {field.name} must be a positive number, not {value!r}")


DEFAULT_LIMITS = Limits()
