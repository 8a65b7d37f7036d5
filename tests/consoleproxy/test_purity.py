"""The sans-I/O modules stay free of Twisted (and connect.py of sockets)."""

from __future__ import annotations

import subprocess
import sys

import pytest


def imported_by(module: str) -> set[str]:
    """The modules a fresh interpreter has loaded after importing ``module``."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    return set(result.stdout.split())


def test_connect_imports_neither_twisted_nor_socket() -> None:
    """The preamble parser is pure: no Twisted, no socket module anywhere in its imports."""
    loaded = imported_by("consoleproxy.connect")
    assert "socket" not in loaded
    assert not any(name == "twisted" or name.startswith("twisted.") for name in loaded)


@pytest.mark.parametrize(
    "module",
    ["consoleproxy.auth", "consoleproxy.registry", "consoleproxy.xenapi", "consoleproxy.limits",
     "consoleproxy.roles", "vncterm.auththrottle"],
)
def test_models_import_no_twisted(module: str) -> None:
    """Sessions, the registry, the XenAPI dispatcher, roles and the login throttle never pull
    in Twisted."""
    loaded = imported_by(module)
    assert not any(name == "twisted" or name.startswith("twisted.") for name in loaded)
