"""Confined console programs (vncterm.sandbox): the command lines built, the environment, who
programs run as, the sandbox probe and its fallbacks, throwaway homes."""

from __future__ import annotations

import os
import shutil
import stat
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given
from hypothesis import strategies as st

from vncterm.limits import ConsoleLimits
from vncterm.privileges import Account, lookup_account
from vncterm.sandbox import (
    SANDBOX_HOME,
    Confinement,
    ConfinementError,
    ConfinementPolicy,
    Plan,
    SandboxMode,
    Tools,
    confined_argv,
    console_environment,
    named_paths,
    remove_tree,
    rlimit_arguments,
    sandbox_arguments,
    switch_arguments,
)

NOBODY = Account("nobody", 65534, 65534, (65534,), "/nonexistent", "/usr/sbin/nologin")
ALICE = Account("alice", 1000, 1000, (1000, 27), "/home/alice", "/bin/bash")
TOOLS = Tools("/usr/bin/prlimit", "/usr/bin/setpriv", "/usr/bin/bwrap")
LIMITS = ConsoleLimits(max_processes=50, max_open_files=60, max_address_space=1 << 30,
                       max_tmp_bytes=1 << 20)


def operations(args: Sequence[str]) -> list[tuple[str, ...]]:
    """bwrap's arguments grouped into operations, --perms/--size folded into the next one."""
    arity = {"--ro-bind": 2, "--dev-bind": 2, "--bind": 2, "--dev": 1, "--proc": 1,
             "--tmpfs": 1, "--dir": 1, "--perms": 1, "--size": 1, "--chdir": 1}
    ops: list[tuple[str, ...]] = []
    prefix: list[str] = []
    index = 0
    while index < len(args):
        name = args[index]
        count = arity.get(name, 0)
        values = list(args[index + 1:index + 1 + count])
        index += 1 + count
        if name in ("--perms", "--size"):
            prefix += [name, *values]
            continue
        ops.append((name, *values, *prefix))
        prefix = []
    return ops


def test_sandbox_is_read_only_with_private_tmp_and_hidden_homes() -> None:
    """The sandbox binds / read-only, gives private size-capped /tmp and /var/tmp, hides /root
    and /home, keeps the host's /dev/pts and has its own namespaces when asked."""
    args = sandbox_arguments(limits=LIMITS, visible=(), hidden={}, namespaces=True,
                             home_mode=0o700)
    ops = operations(args)
    assert ops[:4] == [("--die-with-parent",), ("--ro-bind", "/", "/"), ("--dev", "/dev"),
                       ("--dev-bind", "/dev/pts", "/dev/pts")]
    assert ("--tmpfs", "/tmp", "--perms", "1777", "--size", str(1 << 20)) in ops
    assert ("--tmpfs", "/var/tmp", "--perms", "1777", "--size", str(1 << 20)) in ops
    assert any(op[:2] == ("--tmpfs", "/root") for op in ops)
    assert any(op[:2] == ("--tmpfs", "/home") for op in ops)
    assert ("--dir", SANDBOX_HOME, "--perms", "0700") in ops
    for flag in ("--unshare-pid", "--unshare-ipc", "--proc"):
        assert flag in args
    without = sandbox_arguments(limits=LIMITS, visible=(), hidden={}, namespaces=False,
                                home_mode=0o777)
    assert "--unshare-pid" not in without and "--proc" not in without
    assert ("--dir", SANDBOX_HOME, "--perms", "0777") in operations(without)
    assert "--bind" not in args  # nothing of the host is writable


def test_visible_paths_under_hidden_places_are_bound_read_only_with_searchable_parents() -> None:
    """Python under /root stays visible: its parents are made 0755 and it is bound read-only,
    once for a group of nested paths; paths outside hidden places need nothing."""
    args = sandbox_arguments(
        limits=LIMITS, namespaces=True, home_mode=0o700, hidden={},
        visible=["/root/.pyenv/versions/3.11/lib/python3.11", "/root/.pyenv/versions/3.11",
                 "/usr/lib/python3", "/tmp/venv/x.py"])
    ops = operations(args)
    assert ("--dir", "/root/.pyenv", "--perms", "0755") in ops
    assert ("--dir", "/root/.pyenv/versions", "--perms", "0755") in ops
    binds = [op for op in ops if op[0] == "--ro-bind"]
    assert binds == [("--ro-bind", "/", "/"),
                     ("--ro-bind", "/tmp/venv/x.py", "/tmp/venv/x.py"),
                     ("--ro-bind", "/root/.pyenv/versions/3.11", "/root/.pyenv/versions/3.11")]
    assert ("--dir", "/tmp/venv", "--perms", "0755") in ops


def test_hidden_paths_are_covered_even_inside_visible_ones() -> None:
    """The state directory and configuration are covered after every exposure: a directory by
    an empty tmpfs, a file by /dev/null; one already out of sight is left alone."""
    args = sandbox_arguments(
        limits=LIMITS, namespaces=True, home_mode=0o700,
        visible=["/root/app"],
        hidden={"/root/app/state": "dir", "/etc/consoleproxy.toml": "file",
                "/root/secret.toml": "file"})
    ops = operations(args)
    exposed = ops.index(("--ro-bind", "/root/app", "/root/app"))
    state = next(index for index, op in enumerate(ops) if op[:2] == ("--tmpfs", "/root/app/state"))
    assert state > exposed
    assert ("--ro-bind", "/dev/null", "/etc/consoleproxy.toml") in ops
    assert not any("/root/secret.toml" in op for op in ops)


paths = st.lists(st.sampled_from(["root", "home", "tmp", "etc", "a", "b", "state"]),
                 min_size=1, max_size=4).map(lambda parts: "/" + "/".join(parts))


@given(st.lists(paths, max_size=6), st.dictionaries(paths, st.sampled_from(["dir", "file"]),
                                                    max_size=4))
def test_no_hidden_path_is_uncovered_by_a_later_bind(visible: list[str],
                                                     hidden: dict[str, str]) -> None:
    """Whatever is kept visible, every hidden path is covered after the last bind that could
    show it again (or lies in a hidden place no bind reaches)."""
    ops = operations(sandbox_arguments(limits=LIMITS, visible=visible, hidden=hidden,
                                       namespaces=True, home_mode=0o700))
    for path in hidden:
        covers = [index for index, op in enumerate(ops)
                  if (op[0] == "--tmpfs" and op[1] == path)
                  or (op[0] == "--ro-bind" and op[1] == "/dev/null" and op[2] == path)]
        reveals = [index for index, op in enumerate(ops) if op[0] == "--ro-bind"
                   and op[1] != "/dev/null" and op[2] != "/"
                   and PurePosixPath(path).is_relative_to(op[2])]
        hidden_place = any(PurePosixPath(path).is_relative_to(place)
                           for place in ("/tmp", "/var/tmp", "/root", "/home"))
        if reveals:
            assert covers and max(covers) > max(reveals), (path, ops)
        elif not hidden_place:
            assert covers, (path, ops)


def test_resource_limits_always_forbid_core_dumps() -> None:
    """prlimit gets processes, files, address space and no core dumps; CPU only when set."""
    assert rlimit_arguments(LIMITS) == ["--nproc=50", "--nofile=60", "--core=0",
                                        f"--as={1 << 30}"]
    timed = ConsoleLimits(max_cpu_seconds=60)
    assert rlimit_arguments(timed)[-1] == "--cpu=60"


def test_console_limits_must_be_positive() -> None:
    """A zero, negative or non-integer console limit is refused when the value is made."""
    with pytest.raises(ValueError, match="max_processes"):
        ConsoleLimits(max_processes=0)
    with pytest.raises(ValueError, match="max_cpu_seconds"):
        ConsoleLimits(max_cpu_seconds=-1)
    with pytest.raises(ValueError, match="max_open_files"):
        ConsoleLimits(max_open_files=True)


def test_switching_users_leaves_no_way_back() -> None:
    """setpriv sets uid, gid and groups, no new privileges, and empties the capability sets."""
    assert switch_arguments(ALICE) == ["--reuid=1000", "--regid=1000", "--groups=1000,27",
                                       "--no-new-privs", "--inh-caps=-all",
                                       "--bounding-set=-all"]
    lonely = Account("x", 5, 5, (), "/", "")
    assert "--clear-groups" in switch_arguments(lonely)


def test_confined_command_line_order() -> None:
    """Limits wrap the sandbox, which wraps the user switch, which wraps the program."""
    plan = Plan(NOBODY, NOBODY, TOOLS, ("--ro-bind", "/", "/"), True, True)
    argv = confined_argv(["/bin/sh", "-i"], plan, LIMITS, ["--ro-bind", "/", "/"])
    prlimit, bwrap, setpriv = (argv.index(tool) for tool in
                               ("/usr/bin/prlimit", "/usr/bin/bwrap", "/usr/bin/setpriv"))
    assert prlimit == 0 < bwrap < setpriv < argv.index("/bin/sh")
    assert argv[-2:] == ["/bin/sh", "-i"]
    unsandboxed = confined_argv(["/bin/sh"], plan, LIMITS, None)
    assert "/usr/bin/bwrap" not in unsandboxed
    bare = Plan(NOBODY, NOBODY, Tools(None, None, None), None, False, False)
    with pytest.raises(ConfinementError, match="setpriv"):
        confined_argv(["/bin/sh"], bare, LIMITS)


def test_environment_keeps_only_what_a_console_needs() -> None:
    """Secrets in the serving process's environment do not reach the program; PATH, locale and
    shell settings do, with the console user's identity and home."""
    parent = {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_TIME": "C", "XENAPI_TOKEN": "s3cret",
              "HOME": "/root", "SSH_AUTH_SOCK": "/run/agent", "PS1": "$ "}
    env = console_environment(parent, NOBODY, "/tmp/home")
    assert env == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "LC_TIME": "C", "PS1": "$ ",
                   "HOME": "/tmp/home", "USER": "nobody", "LOGNAME": "nobody"}
    assert console_environment({}, ALICE, "/h")["SHELL"] == "/bin/bash"
    assert console_environment({"SHELL": "/bin/sh"}, ALICE, "/h")["SHELL"] == "/bin/sh"
    assert console_environment({}, NOBODY, "/h")["PATH"]


def test_named_paths_are_those_the_command_line_names_that_exist() -> None:
    """Arguments with a slash that exist become absolute paths; words and options do not."""
    existing = {"/usr/bin/python3", "/srv/app/guest.py", "/srv/app"}
    found = named_paths(["/usr/bin/python3", "-u", "guest.py", "./guest.py", "--flag=x/y",
                         "/nope"], exists=existing.__contains__, directory="/srv/app")
    assert found == ["/usr/bin/python3", "/srv/app/guest.py"]


def test_console_user_defaults_to_nobody_under_root_and_to_oneself_otherwise() -> None:
    """Started by root, programs run as the console user (nobody by default, root only when
    configured); started by anyone else, as that user, and another user is an error."""
    root = lookup_account("root")
    nobody = lookup_account("nobody")
    assert Confinement().check(root).name == "nobody"
    assert Confinement(ConfinementPolicy(user="root")).check(root).is_root
    assert Confinement().check(nobody) == nobody
    assert Confinement(ConfinementPolicy(user="nobody")).check(nobody) == nobody
    with pytest.raises(ConfinementError, match="only root can start programs as another"):
        Confinement(ConfinementPolicy(user="root")).check(nobody)
    with pytest.raises(ConfinementError, match="no-such-user-x"):
        Confinement(ConfinementPolicy(user="no-such-user-x")).check(root)


class Probe:
    """A stand-in for running bwrap: answers from a list of exit statuses."""

    def __init__(self, *statuses: int) -> None:
        self.statuses = list(statuses)
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], env: Mapping[str, str]) -> tuple[int, str]:
        self.calls.append(list(argv))
        return self.statuses.pop(0), "bwrap: Creating new namespace failed: Operation not permitted"


def test_sandbox_probe_falls_back_to_fewer_namespaces_then_to_none() -> None:
    """bwrap is tried with namespaces, then without; if both fail, consoles run unsandboxed in
    auto mode, and are refused in required mode; off never runs bwrap."""
    probe = Probe(1, 0)
    plan = Confinement(ConfinementPolicy(), tools=TOOLS, run=probe).settle()
    assert plan.sandbox is not None and not plan.namespaces
    assert "--unshare-pid" in probe.calls[0] and "--unshare-pid" not in probe.calls[1]
    assert probe.calls[0][-1] == "true"

    failing = Probe(1, 1)
    plan = Confinement(ConfinementPolicy(), tools=TOOLS, run=failing).settle()
    assert plan.sandbox is None and len(failing.calls) == 2
    with pytest.raises(ConfinementError, match="required"):
        Confinement(ConfinementPolicy(sandbox=SandboxMode.REQUIRED), tools=TOOLS,
                    run=Probe(1, 1)).settle()
    with pytest.raises(ConfinementError, match="not installed"):
        Confinement(ConfinementPolicy(sandbox=SandboxMode.REQUIRED),
                    tools=Tools("/usr/bin/prlimit", "/usr/bin/setpriv", None),
                    run=Probe()).settle()
    unused = Probe()
    plan = Confinement(ConfinementPolicy(sandbox=SandboxMode.OFF), tools=TOOLS,
                       run=unused).settle()
    assert plan.sandbox is None and unused.calls == []


def test_settled_once() -> None:
    """The probe runs once however many consoles start."""
    probe = Probe(0)
    confinement = Confinement(ConfinementPolicy(), tools=TOOLS, run=probe)
    for _ in range(3):
        confinement.prepare(["/bin/sh"], {})
    assert len(probe.calls) == 1


def test_sandboxed_launch_is_confined_with_a_sandbox_home() -> None:
    """A sandboxed program gets the whole confined command line, HOME inside the sandbox,
    and the pty when it runs as another user."""
    confinement = Confinement(ConfinementPolicy(limits=LIMITS), tools=TOOLS, run=Probe(0))
    launch = confinement.prepare(["/bin/sh", "-i"], {"PATH": "/bin", "TOKEN": "x"})
    plan = confinement.settle()
    assert launch.argv[0] == "/usr/bin/prlimit" and "/usr/bin/bwrap" in launch.argv
    assert launch.argv[-2:] == ("/bin/sh", "-i")
    assert launch.environment["HOME"] == SANDBOX_HOME and "TOKEN" not in launch.environment
    assert launch.directory is None
    assert launch.tty_owner == (plan.account.uid if plan.switch_to is not None else None)


def test_unsandboxed_launch_gets_a_throwaway_home_removed_when_it_ends(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without the sandbox, each start gets a fresh home of its own (owned by the console
    user) that is removed when the program ends, even with read-only directories inside."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    confinement = Confinement(ConfinementPolicy(sandbox=SandboxMode.OFF), tools=TOOLS)
    first = confinement.prepare(["/bin/sh"], {})
    second = confinement.prepare(["/bin/sh"], {})
    home = first.environment["HOME"]
    assert first.directory == home != second.environment["HOME"]
    plan = confinement.settle()
    info = os.stat(home)
    assert info.st_uid == plan.account.uid and stat.S_IMODE(info.st_mode) == 0o700
    locked = Path(home, "locked")
    locked.mkdir()
    (locked / "file").write_text("x")
    locked.chmod(0o500)
    first.cleanup()
    assert not os.path.exists(home)
    confinement.close()
    assert not os.path.exists(second.environment["HOME"])


def test_root_console_user_runs_unconfined_with_limits_only() -> None:
    """A console user of root (for a console that needs the host) gets the limits, no
    sandbox, and the environment it was given."""
    if os.geteuid() != 0:
        pytest.skip("only root can start programs as root")
    confinement = Confinement(ConfinementPolicy(user="root"), tools=TOOLS, run=Probe())
    launch = confinement.prepare(["xl", "console", "3"], {"PATH": "/sbin", "HOME": "/root"})
    assert launch.argv == ("/usr/bin/prlimit", *rlimit_arguments(ConsoleLimits()), "--", "xl",
                           "console", "3")
    assert launch.environment == {"PATH": "/sbin", "HOME": "/root"}


def test_removing_a_home_twice_leaves_everything_around_it_alone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A home removed at shutdown and again when its program ends (or never made) is a no-op
    the second time: its parent directory keeps its mode."""
    homes = tmp_path / "homes"
    homes.mkdir(mode=0o755)
    homes.chmod(0o755)
    monkeypatch.setattr(tempfile, "tempdir", str(homes))
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    home = parent / "home"
    (home / "sub").mkdir(parents=True)
    remove_tree(str(home))
    remove_tree(str(home))
    assert not home.exists()
    assert stat.S_IMODE(parent.stat().st_mode) == 0o755
    confinement = Confinement(ConfinementPolicy(sandbox=SandboxMode.OFF), tools=TOOLS)
    launch = confinement.prepare(["/bin/sh"], {})
    above = Path(launch.environment["HOME"]).parent
    mode = stat.S_IMODE(above.stat().st_mode)
    confinement.close()
    launch.cleanup()
    assert stat.S_IMODE(above.stat().st_mode) == mode


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become another user")
def test_unprivileged_removal_opens_read_only_directories_but_follows_no_link() -> None:
    """Removing as the console user opens up directories the program made read-only, and
    never changes what a symbolic link inside points to."""
    nobody = lookup_account("nobody")
    top = Path(tempfile.mkdtemp(prefix="remove-tree-"))
    victim = Path(tempfile.mkdtemp(prefix="remove-tree-victim-"))
    for path in (top, victim):
        os.chown(path, nobody.uid, nobody.gid)
        path.chmod(0o755)
    try:
        child = os.fork()
        if child == 0:  # pragma: no cover - the child reports through its exit status
            code = 1
            try:
                os.setgroups([])
                os.setresgid(nobody.gid, nobody.gid, nobody.gid)
                os.setresuid(nobody.uid, nobody.uid, nobody.uid)
                for name, make in (("locked", lambda d: (d / "file").write_text("x")),
                                   ("linked", lambda d: (d / "link").symlink_to(victim))):
                    locked = top / name
                    locked.mkdir()
                    make(locked)
                    locked.chmod(0o500)
                closed = top / "closed"
                closed.mkdir()
                closed.chmod(0o000)
                remove_tree(str(top))
                code = 0 if not top.exists() else 2
            finally:
                os._exit(code)
        _, status = os.waitpid(child, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert stat.S_IMODE(victim.stat().st_mode) == 0o755
    finally:
        shutil.rmtree(top, ignore_errors=True)
        shutil.rmtree(victim, ignore_errors=True)
