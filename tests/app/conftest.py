"""Fixtures shared by the in-memory session tests: a fake clock and a console in memory."""

from __future__ import annotations

import pytest
from twisted.internet.testing import MemoryReactorClock

from vncterm.backends.memory import MemorySource


@pytest.fixture
def clock() -> MemoryReactorClock:
    return MemoryReactorClock()


@pytest.fixture
def console() -> MemorySource:
    return MemorySource()
