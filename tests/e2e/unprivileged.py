"""A Python interpreter an unprivileged user can run our programs with, for tests that drop
root: this one when that user can read it, else a small virtual environment over a system
Python of the same version that reuses this one's site-packages (a pyenv under /root, as on
these machines, is out of reach of ``nobody``)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CHECK = "import consoleproxy.cli, vncterm.cli, vncterm.demo, twisted, pyte, OpenSSL"


def runs_as(python: str, user: str) -> bool:
    """Whether ``user`` can run our programs with ``python``."""
    try:
        done = subprocess.run([python, "-c", CHECK], user=user, cwd="/",
                              capture_output=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


@contextmanager
def python_for(user: str) -> Iterator[str | None]:
    """Yields an interpreter ``user`` can run our programs with, or None when there is none."""
    if runs_as(sys.executable, user):
        yield sys.executable
        return
    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    system = shutil.which(version, path="/usr/bin:/usr/local/bin:/bin")
    if system is None:
        yield None
        return
    directory = Path(tempfile.mkdtemp(prefix="unprivileged-python-"))
    try:
        directory.chmod(0o755)
        venv = directory / "venv"
        made = subprocess.run([system, "-m", "venv", "--without-pip", str(venv)],
                              capture_output=True, timeout=120, check=False)
        if made.returncode != 0:
            yield None
            return
        site = Path(subprocess.run(
            [str(venv / "bin" / "python"), "-c",
             "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True, text=True, timeout=60, check=True).stdout.strip())
        ours = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
        # A .pth line that imports runs at start-up: addsitedir also reads the .pth files of
        # our site-packages (the editable install of this checkout).
        (site / "reuse-site-packages.pth").write_text(
            "".join(f"import site; site.addsitedir({path!r})\n" for path in sorted(ours)))
        python = str(venv / "bin" / "python")
        yield python if runs_as(python, user) else None
    finally:
        shutil.rmtree(directory, ignore_errors=True)
