"""Tests that the RFB package stays sans-I/O: no Twisted, sockets or clocks."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import vncterm.rfb

PACKAGE = Path(vncterm.rfb.__file__).parent
FORBIDDEN = {"twisted", "socket", "asyncio", "select", "selectors", "ssl", "time", "threading"}


def test_no_forbidden_imports_in_source() -> None:
    """No module of vncterm.rfb imports Twisted, sockets, event loops or the clock."""
    offenders = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            else:
                continue
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in FORBIDDEN]
    assert offenders == []


def test_importing_loads_no_twisted_or_socket() -> None:
    """Importing every vncterm.rfb module in a fresh interpreter loads neither Twisted nor
    socket, even indirectly."""
    code = (
        "import sys, pkgutil, importlib, vncterm.rfb\n"
        "for m in pkgutil.walk_packages(vncterm.rfb.__path__, 'vncterm.rfb.'):\n"
        "    importlib.import_module(m.name)\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('twisted', 'socket')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
