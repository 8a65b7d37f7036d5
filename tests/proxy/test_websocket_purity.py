"""The WebSocket machine and the viewer-input watcher are sans-I/O: no Twisted, no socket."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("module", ["consoleproxy.websocket", "consoleproxy.rfbinput"])
def test_imports_neither_twisted_nor_socket(module: str) -> None:
    """Importing the module loads neither Twisted nor the socket module."""
    code = f"import sys, {module}; print('\\n'.join(sys.modules))"
    loaded = set(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                check=True).stdout.split())
    assert "socket" not in loaded
    assert not any(name == "twisted" or name.startswith("twisted.") for name in loaded)
