"""Least privilege for ``consoleproxy serve``: the demo kept off the network, root dropped once
everything is open, consoles started only then.

The order, from the command line:

1. :func:`prepare` (before anything is opened): the ``--user`` (or ``[proxy] user``) to drop
   to must exist, and root is needed to become another user; the console user must be one
   the proxy can start programs as once it runs as that user.
2. Listeners are bound, and the TLS key is read (a generated certificate is written under the
   state directory by root and stays root's: nothing there is written later, so the key file
   cannot be read again by the process that serves clients).
3. :func:`settle`: the demo refuses listeners other hosts can reach (its credentials are
   public) unless ``--allow-demo-on-network``; ``pty:``/serial consoles are opened; root is
   dropped (:mod:`vncterm.privileges`) and the process checks it can still read Python and
   its packages; the console launcher decides its sandbox (:mod:`vncterm.sandbox`); only then
   are ``command:`` consoles started, so neither they nor their respawns ever run as the
   proxy's root.

Running as root with no user to drop to logs one warning.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Iterable
from typing import TYPE_CHECKING

from twisted.logger import Logger

from vncterm.privileges import Account, PrivilegeError, become, current_account, lookup_account
from vncterm.sandbox import Confinement, ConfinementError, ConfinementPolicy

if TYPE_CHECKING:
    from consoleproxy.service import ConsoleProxy, Listening, ProxySettings

__all__ = ["ConfinementError", "DemoExposed", "PrivilegeError", "exposed_listeners", "prepare",
           "settle"]

log = Logger()


class DemoExposed(Exception):
    """The demo would be served where other hosts can reach it; the message says where."""


def is_loopback(host: str) -> bool:
    """Whether a listener bound to ``host`` is reachable from this host only."""
    try:
        address = ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool((mapped or address).is_loopback)


def exposed_listeners(listening: Iterable[Listening]) -> list[str]:
    """``host:port`` of each TCP listener other hosts can reach (UNIX sockets are local)."""
    return [f"[{item.host}]:{item.port}" if ":" in item.host else f"{item.host}:{item.port}"
            for item in listening if item.port is not None and not is_loopback(item.host)]


def prepare(settings: ProxySettings, user: str | None) -> Account | None:
    """The account to drop to (None: keep running as we are), checked before anything opens.

    Raises PrivilegeError (no such user; another user without root) or ConfinementError (a
    console user the proxy could not start programs as).
    """
    name = user or settings.user
    account = lookup_account(name) if name is not None else None
    if account is not None and account.uid != os.geteuid() and os.geteuid() != 0:
        raise PrivilegeError(f"--user {account.name}: switching users needs root (running as "
                             f"{current_account().name})")
    Confinement(ConfinementPolicy(user=settings.console_user)).check(
        account or current_account())
    return account


def settle(proxy: ConsoleProxy, account: Account | None, *, demo: bool,
           allow_demo_on_network: bool) -> None:
    """Step 3 of the module docstring; raises DemoExposed, PrivilegeError, ConfinementError."""
    if demo and not allow_demo_on_network:
        exposed = exposed_listeners(proxy.listening)
        if exposed:
            raise DemoExposed(
                f"refusing to serve the demo on {', '.join(exposed)}: other hosts can reach "
                "it and its credentials are public (its shell runs on this host); listen on "
                "127.0.0.1, or pass --allow-demo-on-network")
    proxy.start_consoles(commands=False)
    become(account, ("vncterm", "consoleproxy"))
    plan = proxy.confinement.settle()
    log.info("command consoles run as {user}{sandbox}", user=plan.account.name,
             sandbox=", sandboxed" if plan.sandbox is not None else "")
    proxy.start_consoles()

