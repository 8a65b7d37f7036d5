"""The consoleproxy caps: documented defaults and refusal of nonsense values."""

from __future__ import annotations

import dataclasses

import pytest

from consoleproxy.limits import DEFAULT_LIMITS, Limits


def test_defaults() -> None:
    """The defaults admit real cookies and keep xapi's session rules."""
    assert DEFAULT_LIMITS.max_request_head_bytes >= 16 * 1024
    assert DEFAULT_LIMITS.request_deadline == 10.0
    assert DEFAULT_LIMITS.max_sessions == 200
    assert DEFAULT_LIMITS.session_idle_expiry == 24 * 60 * 60


@pytest.mark.parametrize("value", [0, -1, True, "10"])
def test_nonsense_values_are_refused(value: object) -> None:
    """A cap must be a positive number."""
    with pytest.raises(ValueError, match="max_sessions"):
        Limits(max_sessions=value)  # type: ignore[arg-type]


def test_limits_are_frozen() -> None:
    """Limits cannot be changed after creation."""
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_LIMITS.max_sessions = 1  # type: ignore[misc]
