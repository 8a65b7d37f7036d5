"""The sample systemd units (samples/systemd/) load cleanly and keep their hardening."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SAMPLES = Path(__file__).resolve().parents[2] / "samples" / "systemd"
UNITS = ("consoleproxy.service", "vncterm@.service")
#: What every sample unit must say: no root, no privilege to gain, nothing to write but
#: its own state.
HARDENING = ("DynamicUser=yes", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
             "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "NoNewPrivileges=yes",
             "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "StateDirectory=",
             "SystemCallFilter=@system-service")


@pytest.mark.parametrize("unit", UNITS)
def test_sample_unit_is_hardened(unit: str) -> None:
    """Each sample unit drops everything the issue lists."""
    text = (SAMPLES / unit).read_text()
    for setting in HARDENING:
        assert f"\n{setting}" in text, setting


@pytest.mark.parametrize("unit", UNITS)
def test_sample_unit_passes_systemd_analyze_verify(unit: str, tmp_path: Path) -> None:
    """systemd-analyze verify finds no unknown key, bad value or missing program."""
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze not installed (Debian package systemd)")
    # verify checks that ExecStart= names an executable: point it at this interpreter's.
    text = (SAMPLES / unit).read_text().replace("/opt/consoleproxy/bin/",
                                                str(Path(sys.executable).parent) + "/")
    name = unit.replace("@.", "@guest1.")
    (tmp_path / name).write_text(text)
    done = subprocess.run([analyze, "verify", f"./{name}"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stderr == "", done.stderr
