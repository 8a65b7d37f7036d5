"""Confined console programs: resource limits, an unprivileged user, a bubblewrap sandbox.

:class:`Confinement` is a launcher (:mod:`vncterm.backends.launch`) for console programs that
must not run with the host's privileges: consoleproxy's ``command:`` consoles and the embedded
demo. What it runs, outermost first::

    prlimit --nproc=N --nofile=N --core=0 --as=N [--cpu=N] --     (util-linux: resource limits)
      bwrap SANDBOX --                                              (bubblewrap, when it runs)
        setpriv --reuid=U --regid=G --groups=... --no-new-privs     (when started as root)
                --inh-caps=-all --bounding-set=-all --
          COMMAND...

Who the program runs as:

* started by root: the configured console user (default ``nobody``). ``root`` may be
  configured for a console that needs the host (``xl console``): it then runs as root,
  unsandboxed, with the resource limits only.
* started by anyone else (a proxy that dropped root with ``--user``, or one never root):
  that same user, since only root can switch users; configuring a different one is an error.

The sandbox (``bwrap``, Debian's ``bubblewrap``): the whole system read-only; a fresh /dev
(with the host's /dev/pts, so the console's own terminal keeps its name); private, size-capped
/tmp and /var/tmp; /root and /home hidden; the state directory, configuration and password
files hidden; new pid, ipc, uts and cgroup namespaces, so the program can neither see nor
signal the process that serves it; the network is shared (console programs such as ``ssh``
need it). What the command line names (the program, a script: arguments with a ``/`` that
exist) and Python's own directories stay visible, read-only, when they lie under a hidden
place (a pyenv under /root, a script in /tmp), so ``python -m vncterm.demo`` and
``command:/bin/sh /root/guest.sh`` run inside; the state directory and the configuration stay
hidden even then. HOME is /tmp/home, thrown away with
the sandbox. When started as root, bwrap sets the sandbox up as root (so it works without
unprivileged user namespaces) and setpriv inside switches to the console user; otherwise
bwrap uses an unprivileged user namespace.

Whether the sandbox works is tried once (:meth:`Confinement.settle`): with the namespaces,
then without them; if bwrap is missing or cannot run, the mode decides: ``auto`` logs one
warning and runs consoles unsandboxed (still limited and unprivileged, with a throwaway HOME
directory of their own, removed when the program ends), ``required`` refuses to start them,
``off`` never tries.

The environment is not passed on: a confined program gets PATH, the locale, TZ, SHELL and PS1,
and HOME, USER, LOGNAME (SHELL from the user's account when unset and the user has a real
shell), so nothing else the serving process was given (tokens in its environment) reaches a
console.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import PurePosixPath
from typing import Final

from twisted.logger import Logger

from vncterm.backends.launch import Launch
from vncterm.limits import DEFAULT_CONSOLE_LIMITS, ConsoleLimits
from vncterm.privileges import Account, PrivilegeError, current_account, lookup_account

__all__ = [
    "DEFAULT_CONSOLE_USER",
    "Confinement",
    "ConfinementError",
    "ConfinementPolicy",
    "Plan",
    "SandboxMode",
    "Tools",
    "confined_argv",
    "console_environment",
    "sandbox_arguments",
]

log = Logger()

#: Who console programs run as when root starts them and nothing else is configured.
DEFAULT_CONSOLE_USER: Final = "nobody"
#: The console's home inside the sandbox: on the private /tmp, gone with it.
SANDBOX_HOME: Final = "/tmp/home"
#: Places each sandbox gets its own empty, size-capped, world-writable (sticky) copy of.
PRIVATE_TMP: Final = ("/tmp", "/var/tmp")
#: Places hidden behind an empty directory (other users' files).
HIDDEN_HOMES: Final = ("/root", "/home")
#: Environment variables a confined program keeps (plus every LC_*): where programs are,
#: the locale, the time zone, and the operator's choice of shell and prompt.
KEPT_ENVIRONMENT: Final = frozenset({"PATH", "LANG", "LANGUAGE", "TZ", "SHELL", "PS1"})
DEFAULT_PATH: Final = "/usr/local/bin:/usr/bin:/bin"
#: Where the helper programs are looked for besides PATH.
TOOL_PATH: Final = "/usr/bin:/bin:/usr/sbin:/sbin"
#: Size of the tmpfs over /root and /home (they only hold mount points).
_HIDING_TMPFS_BYTES: Final = 1 << 20
#: Seconds the sandbox probe may take.
_PROBE_TIMEOUT: Final = 15.0


class SandboxMode(Enum):
    """Whether console programs run in bubblewrap."""

    #: When bwrap runs here; otherwise one warning and no sandbox.
    AUTO = "auto"
    #: Always; a console is not started when bwrap cannot run.
    REQUIRED = "required"
    #: Never.
    OFF = "off"


class ConfinementError(Exception):
    """Console programs cannot be confined as configured; the message says why."""


@dataclass(frozen=True, slots=True)
class ConfinementPolicy:
    """How confined console programs run (see the module docstring)."""

    #: The console user (a name or uid); None: DEFAULT_CONSOLE_USER when started by root,
    #: otherwise the user this process runs as.
    user: str | None = None
    sandbox: SandboxMode = SandboxMode.AUTO
    limits: ConsoleLimits = DEFAULT_CONSOLE_LIMITS
    #: Files and directories the program must not see (state directory, configuration).
    hidden: tuple[str, ...] = ()
    #: Directories kept visible even under a hidden place (Python's, our packages).
    visible: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Tools:
    """Absolute paths of the helper programs; None where not installed."""

    prlimit: str | None
    setpriv: str | None
    bwrap: str | None

    @classmethod
    def find(cls, which: Callable[..., str | None] = shutil.which) -> Tools:
        path = os.pathsep.join(filter(None, (os.environ.get("PATH"), TOOL_PATH)))
        return cls(which("prlimit", path=path), which("setpriv", path=path),
                   which("bwrap", path=path))


@dataclass(frozen=True, slots=True)
class Plan:
    """What was settled: who programs run as, with which tools and sandbox arguments."""

    #: Switch to this user (inside the sandbox when there is one); None: run as we are.
    switch_to: Account | None
    #: The user programs run as.
    account: Account
    tools: Tools
    #: bwrap's arguments as probed (without the program); None: no sandbox.
    sandbox: tuple[str, ...] | None
    #: The sandbox has its own pid, ipc, uts and cgroup namespaces.
    namespaces: bool
    #: Resource limits apply (prlimit is installed).
    limited: bool
    #: Root console: unconfined apart from the limits.
    unconfined: bool = False


# -- pure parts ----------------------------------------------------------------------------------


def _under(path: str, place: str) -> bool:
    return PurePosixPath(path).is_relative_to(place)


def sandbox_arguments(
    *,
    limits: ConsoleLimits,
    visible: Sequence[str],
    hidden: Mapping[str, str],
    namespaces: bool,
    home_mode: int,
) -> list[str]:
    """bwrap's arguments for the sandbox in the module docstring (without ``--`` COMMAND).

    ``visible`` are directories to keep under hidden places; ``hidden`` maps each existing
    path to hide to its kind, ``"dir"`` or ``"file"``; ``home_mode`` is the mode of the home
    directory (0o777 when bwrap runs as root and the program does not: bwrap cannot give it
    to another user, and nobody else is in the sandbox's private /tmp).
    """
    args = ["--die-with-parent", "--ro-bind", "/", "/", "--dev", "/dev",
            "--dev-bind", "/dev/pts", "/dev/pts"]
    if namespaces:
        args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
                 "--proc", "/proc"]
    places: list[str] = []
    for place in PRIVATE_TMP:
        args += ["--perms", "1777", "--size", str(limits.max_tmp_bytes), "--tmpfs", place]
        places.append(place)
    for place in HIDDEN_HOMES:
        args += ["--perms", "0755", "--size", str(_HIDING_TMPFS_BYTES), "--tmpfs", place]
        places.append(place)
    # Keep what must stay visible under a hidden place: the outermost directory of each
    # group, with its parents made searchable (bwrap would create them 0700).
    exposed: list[str] = []
    for path in sorted(set(visible), key=lambda item: len(PurePosixPath(item).parts)):
        owner = next((place for place in places if _under(path, place)), None)
        if owner is None or path == owner or any(_under(path, done) for done in exposed):
            continue
        made = PurePosixPath(owner)
        for part in PurePosixPath(path).relative_to(owner).parts[:-1]:
            made = made / part
            args += ["--perms", "0755", "--dir", str(made)]
        args += ["--ro-bind", path, path]
        exposed.append(path)
    args += ["--perms", f"{home_mode:04o}", "--dir", SANDBOX_HOME]
    # Hidden last, so nothing kept visible above uncovers them.
    for path, kind in hidden.items():
        inside_hidden = any(_under(path, place) for place in places) and not any(
            _under(path, done) for done in exposed)
        if inside_hidden:
            continue
        if kind == "dir":
            args += ["--size", str(_HIDING_TMPFS_BYTES), "--tmpfs", path]
        else:
            args += ["--ro-bind", "/dev/null", path]
    return args


def rlimit_arguments(limits: ConsoleLimits) -> list[str]:
    """prlimit's options for ``limits`` (soft and hard alike, so a program cannot raise them)."""
    args = [f"--nproc={limits.max_processes}", f"--nofile={limits.max_open_files}",
            "--core=0", f"--as={limits.max_address_space}"]
    if limits.max_cpu_seconds is not None:
        args.append(f"--cpu={limits.max_cpu_seconds}")
    return args


def switch_arguments(account: Account) -> list[str]:
    """setpriv's options to become ``account`` for good, with no way back to privileges."""
    groups = ",".join(str(gid) for gid in account.groups)
    return [f"--reuid={account.uid}", f"--regid={account.gid}",
            f"--groups={groups}" if groups else "--clear-groups",
            "--no-new-privs", "--inh-caps=-all", "--bounding-set=-all"]


def confined_argv(argv: Sequence[str], plan: Plan, limits: ConsoleLimits,
                  sandbox: Sequence[str] | None = None) -> list[str]:
    """The whole command line that runs ``argv`` as ``plan`` says, in bwrap with the
    arguments ``sandbox`` when given."""
    out: list[str] = []
    if plan.limited and plan.tools.prlimit is not None:
        out += [plan.tools.prlimit, *rlimit_arguments(limits), "--"]
    if sandbox is not None and plan.tools.bwrap is not None:
        out += [plan.tools.bwrap, *sandbox, "--"]
    if plan.switch_to is not None:
        if plan.tools.setpriv is None:
            raise ConfinementError("setpriv (util-linux) is needed to run consoles as "
                                   f"{plan.switch_to.name!r}")
        out += [plan.tools.setpriv, *switch_arguments(plan.switch_to), "--"]
    return out + list(argv)


def console_environment(parent: Mapping[str, str], account: Account, home: str) -> dict[str, str]:
    """A confined program's environment: PATH, locale, TZ from ``parent``; who it is; HOME."""
    env = {name: value for name, value in parent.items()
           if name in KEPT_ENVIRONMENT or name.startswith("LC_")}
    env.setdefault("PATH", DEFAULT_PATH)
    env.update(HOME=home, USER=account.name, LOGNAME=account.name)
    shell = os.path.basename(account.shell)
    if "SHELL" not in env and account.shell and shell not in ("nologin", "false"):
        env["SHELL"] = account.shell
    return env


def named_paths(argv: Sequence[str], exists: Callable[[str], bool] = os.path.exists,
                directory: str | None = None) -> list[str]:
    """Existing files and directories the command line names (the program, a script), as
    absolute paths: they stay visible in the sandbox even under a hidden place."""
    base = directory or os.getcwd()
    found = []
    for arg in argv:
        if "/" not in arg:
            continue
        path = os.path.normpath(os.path.join(base, arg))
        if exists(path) and path not in found:
            found.append(path)
    return found


def remove_tree(top: str) -> None:
    """Remove the directory ``top`` and everything in it, changing nothing outside it.

    Root removes whatever permissions say. Anyone else may find directories the program made
    read-only: those (real directories inside ``top``, never a symbolic link, which chmod
    would follow) are opened up and the removal retried.
    """
    def retry(function: object, path: str, error: object) -> None:
        parent = os.path.dirname(path)
        if os.geteuid() == 0 or path == top or not _under(parent, top):
            return
        try:
            for directory in (parent, path):
                if os.path.isdir(directory) and not os.path.islink(directory):
                    os.chmod(directory, 0o700)
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass

    shutil.rmtree(top, onerror=retry)
    if os.path.isdir(top) and os.geteuid() != 0:
        shutil.rmtree(top, onerror=retry)  # directories opened up on the first pass


# -- the launcher ----------------------------------------------------------------------------------


def _kind(path: str) -> str | None:
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return "dir" if stat.S_ISDIR(mode) else "file"


def _run(argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
    try:
        done = subprocess.run(list(argv), env=dict(env), stdin=subprocess.DEVNULL,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              timeout=_PROBE_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError) as error:
        return 127, str(error)
    return done.returncode, done.stderr.decode("utf-8", "replace").strip()


@dataclass
class Confinement:
    """A :class:`~vncterm.backends.launch.Launcher` confining console programs by ``policy``."""

    policy: ConfinementPolicy = field(default_factory=ConfinementPolicy)
    tools: Tools | None = None
    #: Runs a probe command: (exit status, its stderr).
    run: Callable[[Sequence[str], Mapping[str, str]], tuple[int, str]] = _run
    environ: Mapping[str, str] = field(default_factory=lambda: os.environ)
    plan: Plan | None = None
    _homes: set[str] = field(default_factory=set)

    def check(self, runs_as: Account) -> Account:
        """The console user when this process runs as ``runs_as``; ConfinementError if
        impossible (an unknown user, or another user without root)."""
        if runs_as.is_root:
            name = self.policy.user or DEFAULT_CONSOLE_USER
            try:
                return lookup_account(name)
            except PrivilegeError as error:
                raise ConfinementError(f"console user: {error}") from None
        if self.policy.user is None:
            return runs_as
        try:
            wanted = lookup_account(self.policy.user)
        except PrivilegeError as error:
            raise ConfinementError(f"console user: {error}") from None
        if wanted.uid != runs_as.uid:
            raise ConfinementError(
                f"cannot run consoles as {wanted.name!r}: this process runs as "
                f"{runs_as.name!r}, not root, and only root can start programs as another "
                "user (leave the console user unset, or set it to the same user)")
        return wanted

    def settle(self) -> Plan:
        """Decide, once, who consoles run as and whether the sandbox works (probing bwrap)."""
        if self.plan is not None:
            return self.plan
        me = current_account()
        account = self.check(me)
        tools = self.tools or Tools.find()
        if tools.prlimit is None:
            log.warn("prlimit (util-linux) not found: console programs run without resource "
                     "limits")
        if account.is_root:
            log.warn("console programs run as root, unconfined (the console user is root)")
            self.plan = Plan(None, account, tools, None, False, tools.prlimit is not None,
                             unconfined=True)
            return self.plan
        switch_to = account if me.uid != account.uid else None
        if switch_to is not None and tools.setpriv is None:
            raise ConfinementError(f"setpriv (util-linux) is needed to run consoles as "
                                   f"{account.name!r}")
        sandbox, namespaces = self._probe(tools, switch_to)
        self.plan = Plan(switch_to, account, tools, sandbox, namespaces,
                         tools.prlimit is not None)
        return self.plan

    def _sandbox_arguments(self, switch_to: Account | None, namespaces: bool,
                           named: Sequence[str] = ()) -> list[str]:
        hidden = {path: kind for path in map(os.path.abspath, self.policy.hidden)
                  if (kind := _kind(path)) is not None}
        # bwrap cannot bind what the user it runs as cannot reach (unprivileged, it runs as
        # the console user); such a path is no use to the program either.
        visible = [path for path in (*self.policy.visible, *named)
                   if switch_to is not None or os.access(path, os.R_OK)]
        return sandbox_arguments(limits=self.policy.limits, visible=visible, hidden=hidden,
                                 namespaces=namespaces,
                                 home_mode=0o777 if switch_to is not None else 0o700)

    def _probe(self, tools: Tools,
               switch_to: Account | None) -> tuple[tuple[str, ...] | None, bool]:
        mode = self.policy.sandbox
        if mode is SandboxMode.OFF:
            return None, False
        if tools.bwrap is None:
            self._no_sandbox("bwrap (Debian package bubblewrap) is not installed")
            return None, False
        switch = ([tools.setpriv, *switch_arguments(switch_to), "--"]
                  if switch_to is not None and tools.setpriv else [])
        reason = ""
        for namespaces in (True, False):
            args = self._sandbox_arguments(switch_to, namespaces)
            status, reason = self.run([tools.bwrap, *args, "--", *switch, "true"],
                                      {"PATH": self.environ.get("PATH", DEFAULT_PATH)})
            if status == 0:
                if not namespaces:
                    log.warn("bwrap cannot make pid/ipc namespaces here: console sandboxes "
                             "share them with the host")
                return tuple(args), namespaces
        first = reason.splitlines()[0] if reason else f"exit status {status}"
        self._no_sandbox(f"bwrap cannot run here ({first})")
        return None, False

    def _no_sandbox(self, why: str) -> None:
        if self.policy.sandbox is SandboxMode.REQUIRED:
            raise ConfinementError(f"{why}, and the console sandbox is required")
        log.warn("{why}: console programs run without a sandbox (still unprivileged and "
                 "limited)", why=why)

    def prepare(self, argv: Sequence[str], environment: Mapping[str, str]) -> Launch:
        try:
            plan = self.settle()
        except ConfinementError as error:
            raise PermissionError(str(error)) from None
        if plan.unconfined:
            return Launch(tuple(confined_argv(argv, plan, self.policy.limits)),
                          dict(environment))
        if plan.sandbox is not None:
            env = console_environment(environment, plan.account, SANDBOX_HOME)
            sandbox = self._sandbox_arguments(plan.switch_to, plan.namespaces,
                                              named_paths(argv))
            return Launch(tuple(confined_argv(argv, plan, self.policy.limits, sandbox)), env,
                          tty_owner=plan.account.uid if plan.switch_to else None)
        home = self._throwaway_home(plan)
        env = console_environment(environment, plan.account, home)
        return Launch(tuple(confined_argv(argv, plan, self.policy.limits)), env,
                      directory=home,
                      tty_owner=plan.account.uid if plan.switch_to else None,
                      cleanup=lambda: self._remove_home(home))

    def _throwaway_home(self, plan: Plan) -> str:
        home = tempfile.mkdtemp(prefix="console-home-")
        if plan.switch_to is not None:
            os.chown(home, plan.account.uid, plan.account.gid)
        self._homes.add(home)
        return home

    def _remove_home(self, home: str) -> None:
        if home not in self._homes:
            return  # removed already: at shutdown, before its program ended
        self._homes.discard(home)
        remove_tree(home)

    def hide(self, *paths: str) -> None:
        """Keep ``paths`` out of sight too (a TLS key named only once listeners open); applies
        to every program started from now on."""
        hidden = tuple(path for path in paths if path not in self.policy.hidden)
        self.policy = replace(self.policy, hidden=self.policy.hidden + hidden)

    def close(self) -> None:
        """Remove the homes of programs still running (at shutdown)."""
        for home in list(self._homes):
            self._remove_home(home)
