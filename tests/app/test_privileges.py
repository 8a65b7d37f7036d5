"""Dropping root (vncterm.privileges): looking users up, the switch and its proof, and what
the dropped process can still read; the demo's shell choice and its refusal of root."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from vncterm.demo import demo_shell
from vncterm.privileges import (
    Account,
    PrivilegeError,
    blocking_component,
    capabilities,
    lookup_account,
    python_paths,
    unreadable_paths,
)

ROOT = Path(__file__).resolve().parents[2]
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")


def test_unknown_user_is_a_clear_error() -> None:
    """A user that does not exist is named in the error; a numeric uid is looked up too."""
    with pytest.raises(PrivilegeError, match="no user named 'no-such-user-x'"):
        lookup_account("no-such-user-x")
    nobody = lookup_account("nobody")
    assert lookup_account(str(nobody.uid)) == nobody
    assert nobody.gid in nobody.groups and not nobody.is_root


def test_capability_sets_are_read_from_proc_status() -> None:
    """Each Cap* line of /proc/PID/status becomes a mask."""
    status = "Name:\tx\nCapInh:\t0000000000000000\nCapEff:\t000001fffeffffff\nSeccomp:\t0\n"
    assert capabilities(status) == {"CapInh": 0, "CapEff": 0x1fffeffffff}


def test_blocking_component_names_the_directory_in_the_way(tmp_path: Path) -> None:
    """The error message names the first directory the user may not search, and the path
    itself when nothing is in the way."""
    closed = tmp_path / "closed"
    inner = closed / "lib"
    inner.mkdir(parents=True)
    closed.chmod(0o700)
    stranger = Account("stranger", 123456, 123456, (123456,), "/", "")
    blocked = blocking_component(str(inner), stranger)
    assert blocked != str(inner)
    assert closed == Path(blocked) or closed.is_relative_to(blocked)
    me = Account("me", os.geteuid(), os.getegid(), tuple(os.getgroups()), "/", "")
    assert blocking_component(str(inner), me) == str(inner)


def test_python_paths_include_the_interpreter_and_our_package() -> None:
    """What a dropped process must still read: Python's prefix and where vncterm is."""
    found = python_paths(("vncterm",))
    assert sys.base_prefix in found
    assert str(ROOT) in found or any(str(ROOT).startswith(path) for path in found)
    assert unreadable_paths(found) == []


DROP = textwrap.dedent("""
    import json, os, sys
    from vncterm.privileges import PrivilegeError, drop_privileges, lookup_account
    from vncterm.privileges import no_new_privileges
    target = lookup_account(sys.argv[1])
    drop_privileges(target)
    status = open("/proc/self/status").read()
    caps = {line.split(":")[0]: line.split()[1] for line in status.splitlines()
            if line.startswith("Cap")}
    try:
        os.setuid(0)
        regained = True
    except PermissionError:
        regained = False
    try:
        drop_privileges(lookup_account("root"))
        again = "switched back"
    except PrivilegeError as error:
        again = str(error)
    print(json.dumps({"ids": [os.getresuid(), os.getresgid()], "groups": os.getgroups(),
                      "caps": caps, "nnp": no_new_privileges(), "regained": regained,
                      "again": again}))
""")


@needs_root
def test_dropping_root_is_for_good() -> None:
    """After the switch every id is the user's, no capability is left, no new privileges can
    be gained, and neither setuid(0) nor another switch brings root back."""
    import json

    nobody = lookup_account("nobody")
    done = subprocess.run([sys.executable, "-c", DROP, "nobody"], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=True)
    result = json.loads(done.stdout)
    assert result["ids"] == [[nobody.uid] * 3, [nobody.gid] * 3]
    assert sorted(result["groups"]) == sorted(nobody.groups)
    assert all(int(result["caps"][name], 16) == 0 for name in ("CapPrm", "CapEff", "CapAmb"))
    assert result["nnp"] is True
    assert result["regained"] is False
    assert "not running as root" in result["again"]


def test_demo_shell_is_a_real_shell() -> None:
    """The demo starts the user's shell, but never nologin or false (bash or sh instead)."""
    assert demo_shell("/bin/dash") == "/bin/dash"
    for none in ("/usr/sbin/nologin", "/bin/false", None, ""):
        assert os.path.basename(demo_shell(none)) in ("bash", "sh")


def test_demo_refusing_a_root_shell_says_why_and_waits_for_hangup() -> None:
    """Instead of a root shell the demo prints why and holds the console until it closes."""
    done = subprocess.run(
        [sys.executable, "-c", "from vncterm.demo import refuse_root_shell; refuse_root_shell()"],
        input=b"typed but ignored\n", capture_output=True, timeout=60, cwd=ROOT, check=True)
    assert b"not starting a shell as root" in done.stdout
    assert b"typed" not in done.stdout


BECOME = textwrap.dedent("""
    import sys
    from pathlib import Path
    from vncterm.privileges import PrivilegeError, become, lookup_account
    hidden = Path(sys.argv[1])
    (hidden / "pkg" / "hiddenpkg").mkdir(parents=True)
    (hidden / "pkg" / "hiddenpkg" / "__init__.py").write_text("")
    sys.path.insert(0, str(hidden / "pkg"))
    import hiddenpkg
    try:
        become(lookup_account("nobody"), ("vncterm", "hiddenpkg"))
        print("became nobody")
    except PrivilegeError as error:
        print(error)
""")


@needs_root
def test_dropping_to_a_user_who_cannot_read_our_code_is_refused(tmp_path: Path) -> None:
    """A user who could not import what the process needs later is a clear error naming the
    directory, not an ImportError hours later."""
    hidden = tmp_path / "hidden"
    hidden.mkdir(mode=0o700)  # root's: nobody cannot enter it
    done = subprocess.run([sys.executable, "-c", BECOME, str(hidden)], capture_output=True,
                          text=True, timeout=60, cwd=ROOT, check=True)
    assert "user 'nobody' cannot read" in done.stdout, done.stdout + done.stderr
    assert "install Python and this program where that user can read them" in done.stdout
