"""Dropping root: who a process becomes (``--user``), the switch itself, and proof it holds.

Both command lines call this after everything that needs root is done (listeners bound, pty
devices opened, the TLS key read, log files opened, the state directory prepared) and before
any console program is started, so respawned consoles and everything started later run
without root:

* the supplementary groups, then the group, then the user are set with ``setgroups``,
  ``setresgid`` and ``setresuid`` (real, effective and saved ids alike, so there is no saved
  root id to switch back to); the kernel then clears every capability;
* ``PR_SET_NO_NEW_PRIVS`` is set, so nothing this process starts can gain privileges through
  a set-user-id program (``su``, ``sudo``) or file capabilities;
* the result is checked: every id is the target's, no capability is left, and ``setuid(0)``
  fails. A check that does not hold ends the process (:class:`PrivilegeError`) instead of
  serving with more privilege than asked for.

A process whose ids changed is not dumpable (``fs.suid_dumpable`` is 0 by default), so a
console program running as the same user cannot ptrace it or read its memory; console
programs are further kept apart by the sandbox (:mod:`vncterm.sandbox`).

After the switch the process can only import what the new user can read: Python's library
and our packages must be installed where that user can read them (``/usr``, ``/opt``, a
world-readable virtual environment). :func:`unreadable_paths` says which are not, so the
command line can stop with a clear message instead of failing on a later import.
"""

from __future__ import annotations

import ctypes
import grp
import os
import pwd
import sys
import sysconfig
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from twisted.logger import Logger

__all__ = [
    "Account",
    "PrivilegeError",
    "become",
    "drop_privileges",
    "lookup_account",
    "python_paths",
    "set_no_new_privileges",
    "unreadable_paths",
]

log = Logger()

#: prctl(2) option numbers (linux/prctl.h); the standard library has no prctl.
PR_SET_NO_NEW_PRIVS: Final = 38
PR_GET_NO_NEW_PRIVS: Final = 39


class PrivilegeError(Exception):
    """A user that cannot be switched to, or a switch that did not take; the message says why."""


@dataclass(frozen=True, slots=True)
class Account:
    """A user to run as: its ids and supplementary groups, from the password database."""

    name: str
    uid: int
    gid: int
    #: Supplementary groups (``getgrouplist``: the primary group included).
    groups: tuple[int, ...]
    home: str
    shell: str

    @property
    def is_root(self) -> bool:
        return self.uid == 0


def lookup_account(name: str) -> Account:
    """The account called ``name`` (or a numeric uid); PrivilegeError when there is none."""
    try:
        entry = pwd.getpwuid(int(name)) if name.isdigit() else pwd.getpwnam(name)
    except (KeyError, OverflowError, ValueError):
        raise PrivilegeError(f"no user named {name!r} on this host") from None
    groups = tuple(sorted(set(os.getgrouplist(entry.pw_name, entry.pw_gid))))
    return Account(entry.pw_name, entry.pw_uid, entry.pw_gid, groups, entry.pw_dir,
                   entry.pw_shell)


def current_account() -> Account:
    """The account this process runs as (its effective uid)."""
    uid = os.geteuid()
    try:
        return lookup_account(str(uid))
    except PrivilegeError:
        # A uid with no passwd entry (a container, systemd's DynamicUser before nss is
        # consulted): still a user, just without a name.
        gid = os.getegid()
        return Account(str(uid), uid, gid, tuple(sorted({gid, *os.getgroups()})), "/", "")


def group_name(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def set_no_new_privileges() -> bool:
    """PR_SET_NO_NEW_PRIVS for this process and all it starts; False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def no_new_privileges() -> bool:
    """Whether PR_SET_NO_NEW_PRIVS is set for this process."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) == 1
    except (OSError, AttributeError):
        return False


def capabilities(status: str) -> dict[str, int]:
    """The capability sets of a ``/proc/PID/status`` text: {"CapEff": mask, ...}."""
    sets = {}
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name.startswith("Cap"):
            sets[name] = int(value.strip(), 16)
    return sets


def drop_privileges(account: Account) -> None:
    """Become ``account`` for good (see the module docstring); PrivilegeError if it fails.

    Needs root unless ``account`` is already who this process is; then only
    PR_SET_NO_NEW_PRIVS is set.
    """
    if (os.getresuid() == (account.uid,) * 3 and os.getresgid() == (account.gid,) * 3):
        set_no_new_privileges()
        return
    if os.geteuid() != 0:
        raise PrivilegeError(f"cannot switch to user {account.name!r}: not running as root "
                             f"(running as uid {os.geteuid()})")
    try:
        os.setgroups(list(account.groups))
        os.setresgid(account.gid, account.gid, account.gid)
        os.setresuid(account.uid, account.uid, account.uid)
    except OSError as error:
        raise PrivilegeError(f"cannot switch to user {account.name!r}: {error.strerror}") \
            from None
    set_no_new_privileges()
    check_dropped(account)


def check_dropped(account: Account) -> None:
    """Prove the switch to a non-root ``account`` holds; PrivilegeError naming what does not."""
    if os.getresuid() != (account.uid,) * 3 or os.getresgid() != (account.gid,) * 3:
        raise PrivilegeError(f"still running with ids {os.getresuid()}/{os.getresgid()} after "
                             f"switching to {account.name!r}")
    if set(os.getgroups()) - set(account.groups):
        raise PrivilegeError(f"supplementary groups {sorted(os.getgroups())} remain after "
                             f"switching to {account.name!r}")
    if account.is_root:
        return
    try:
        # Bytes, decoded as UTF-8: a codec module imported now could already be unreadable.
        with open("/proc/self/status", "rb") as status:
            left = {name: mask for name, mask in capabilities(status.read().decode()).items()
                    if name in ("CapPrm", "CapEff", "CapAmb") and mask}
    except OSError:
        left = {}
    if left:
        raise PrivilegeError(f"capabilities remain after switching to {account.name!r}: "
                             + ", ".join(f"{name} {mask:x}" for name, mask in left.items()))
    try:
        os.setuid(0)
    except PermissionError:
        return
    raise PrivilegeError("root could be regained after dropping privileges")


def python_paths(packages: Iterable[str] = ("vncterm",)) -> tuple[str, ...]:
    """Directories this Python runs from: its installation and virtual environment, its
    library and site-packages, and the directories holding ``packages``."""
    paths = sysconfig.get_paths()
    found = [sys.base_prefix, sys.base_exec_prefix, sys.prefix, sys.exec_prefix,
             paths.get("stdlib"), paths.get("platstdlib"), paths.get("purelib"),
             paths.get("platlib")]
    for name in packages:
        module = sys.modules.get(name)
        location = getattr(module, "__file__", None)
        if location:
            found.append(str(Path(location).resolve().parent.parent))
    unique: list[str] = []
    for path in found:
        if path and os.path.isdir(path) and path not in unique:
            unique.append(path)
    return tuple(unique)


def unreadable_paths(paths: Iterable[str]) -> list[str]:
    """Those of ``paths`` this process (as it is now) cannot read and search."""
    return [path for path in paths if not os.access(path, os.R_OK | os.X_OK)]


def blocking_component(path: str, account: Account) -> str:
    """The first directory on the way to ``path`` that ``account`` may not search, or ``path``.

    Permission bits only (no ACLs): for the error message, after ``os.access`` said no.
    """
    current = Path("/")
    for part in Path(path).parts[1:]:
        try:
            info = current.stat()
        except OSError:
            return str(current)
        if info.st_uid == account.uid:
            allowed = info.st_mode & 0o100
        elif info.st_gid in account.groups:
            allowed = info.st_mode & 0o010
        else:
            allowed = info.st_mode & 0o001
        if not allowed:
            return str(current)
        current = current / part
    return path


def become(account: Account | None, packages: Iterable[str]) -> None:
    """Drop to ``account`` and check this process can still import Python and ``packages``;
    with no account, warn (once, at start-up) when root is kept. PrivilegeError on failure."""
    if account is None:
        if os.geteuid() == 0:
            log.warn("running as root: pass --user NAME to drop root once listening")
        return
    # Found before dropping: afterwards neither the directories nor sysconfig's data may be
    # readable any more, and a path that cannot be seen is not reported as unreadable.
    paths = python_paths(packages)
    drop_privileges(account)
    unreadable = unreadable_paths(paths)
    if unreadable:
        raise PrivilegeError(
            f"user {account.name!r} cannot read {unreadable[0]} (blocked at "
            f"{blocking_component(unreadable[0], account)}): install Python and this program "
            "where that user can read them")
    log.info("running as user {user} (uid {uid})", user=account.name, uid=account.uid)
