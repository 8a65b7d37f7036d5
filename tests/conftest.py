"""Test-wide settings: Hypothesis explores new examples locally but is deterministic in CI.

CI runs once per submission and must not turn red because this run happened to draw a new
falsifying example; developers' runs keep searching (and the examples they find become tests).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")
