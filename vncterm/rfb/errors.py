"""The two error kinds of the sans-I/O RFB machine: peer misbehaviour (with failed
authentication as a kind of its own) and our own misuse."""

from __future__ import annotations


class RemoteProtocolError(Exception):
    """The peer broke the protocol or a cap; close that one connection.

    ``reason`` is short, carries no secrets, and is what an RFB 3.8 client may be told in a
    failure message.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class AuthenticationFailed(RemoteProtocolError):
    """The client's VNC Authentication response matched no password (the SecurityResult
    failure is already queued); the adapter may count it and delay sending it."""


class LocalProtocolError(Exception):
    """Our own code misused the machine (a bug), e.g. sending before the handshake is done."""
