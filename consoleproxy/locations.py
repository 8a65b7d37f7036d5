"""Console location URLs: the scheme, address and port a location names, from the listeners this
process has bound (or, before binding and in ``console-list``, the ones its configuration would
open) and the ``[host]`` location settings.

xapi writes ``https://<address>/console?ref=...`` because it always serves TLS on 443. Here the
listeners vary (``--listen`` replaces the defaults), so a location names one that exists: the
first TLS listener if there is one, else the first plain one, unless ``[host] location_port``
and ``location_scheme`` say otherwise (a proxy reached through a port forward, or behind a TLS
terminator). A scheme's default port is left out, as in xapi's locations. UNIX-socket
listeners have no URL and are never named.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = ["SCHEMES", "Listener", "LocationBase", "location_base", "planned_listeners"]

#: Location schemes and their default ports (left out of a location).
SCHEMES: Final = {"https": 443, "http": 80}
#: Endpoint types with a TCP port, and whether each is TLS.
_PORT_TYPES: Final = {"tcp": False, "tcp6": False, "ssl": True}
_UNESCAPED_COLON = re.compile(r"(?<!\\):")


@dataclass(frozen=True, slots=True)
class Listener:
    """What a location needs to know of one TCP listener (UNIX sockets have no URL)."""

    tls: bool
    #: The TCP port; None while it is not known (``tcp:0`` before binding).
    port: int | None


@dataclass(frozen=True, slots=True)
class LocationBase:
    """The part every location shares: ``<scheme>://<authority>``."""

    scheme: str
    #: The host (IPv6 bracketed) and, unless it is the scheme's default, ``:port``.
    authority: str

    def url(self, ref: str) -> str:
        """The location of the console with XenAPI reference ``ref``."""
        return f"{self.scheme}://{self.authority}/console?ref={ref}"


def location_base(
    address: str,
    listeners: Iterable[Listener],
    *,
    port: int | None = None,
    scheme: str | None = None,
) -> LocationBase:
    """Where locations point: ``port`` and ``scheme`` (from ``[host]``) win when given.

    With no listener known at all, the scheme is https (as xapi's), with no port unless given.
    """
    known = list(listeners)
    if scheme is None:
        scheme = "https" if not known or any(item.tls for item in known) else "http"
    if scheme not in SCHEMES:
        raise ValueError(f"location scheme must be one of {', '.join(SCHEMES)}, not {scheme!r}")
    if port is None:
        port = next((item.port for item in known
                     if item.tls == (scheme == "https") and item.port is not None), None)
    host = f"[{address}]" if ":" in address else address
    if port is not None and port != SCHEMES[scheme]:
        host = f"{host}:{port}"
    return LocationBase(scheme, host)


def planned_listeners(descriptions: Sequence[str]) -> tuple[Listener, ...]:
    """The listeners endpoint strings would open, as far as the strings say (nothing is bound).

    ``tcp:0`` (any free port) gives a listener whose port is not known; endpoint types other
    than tcp, tcp6 and ssl (``unix:``) give none.
    """
    planned = []
    for description in descriptions:
        kind, *fields = _UNESCAPED_COLON.split(description)
        if kind not in _PORT_TYPES:
            continue
        positional = [field for field in fields if "=" not in field]
        named = {name: value for name, _, value in
                 (field.partition("=") for field in fields if "=" in field)}
        port_text = named.get("port", positional[0] if positional else "")
        port = int(port_text) if port_text.isdigit() and 0 < int(port_text) < 65536 else None
        planned.append(Listener(_PORT_TYPES[kind], port))
    return tuple(planned)
