"""A short fuzz run of every target in the suite, and the replay of every kept crasher.

The long run (10^6 inputs per target) is ``python -m tests.fuzz``; see ``__main__.py``.
Time per input is checked against a hang budget here (each target's bound times
:data:`CI_BUDGET_FACTOR`, for a shared, loaded CI machine); the strict bounds apply to the
long run on a quiet machine.
"""

from __future__ import annotations

import time
from typing import Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.fuzz.seeds import kept_crashers, seeds
from tests.fuzz.targets import MAX_INPUT, TARGETS, FuzzTarget

#: How much slower than its bound an input may be in the suite before it counts as a hang.
CI_BUDGET_FACTOR: Final = 25


def run_within_budget(target: FuzzTarget, data: bytes, factor: float) -> None:
    """Run ``target`` on ``data``; fail when it took longer than its budget times ``factor``
    three times running (one slow run is the machine, a collection or a first call)."""
    budget = target.budget * factor
    took = budget
    for _ in range(3):
        started = time.perf_counter()
        measured = target.run(data)
        took = time.perf_counter() - started if measured is None else measured
        if took <= budget:
            return
    assert took <= budget, (
        f"{target.name}: {len(data)} bytes took {took * 1000:.0f} ms, budget "
        f"{target.budget * factor * 1000:.0f} ms")


def inputs(name: str) -> st.SearchStrategy[bytes]:
    """Random bytes, the target's seeds, and seeds cut, extended or with bytes flipped."""
    corpus = seeds(name)
    mutated = st.tuples(st.sampled_from(corpus), st.integers(0, MAX_INPUT), st.binary(max_size=64),
                        st.integers(0, 255)).map(
        lambda t: (t[0][: t[1]] + t[2] + t[0][t[1] :])[:MAX_INPUT] if t[3] % 2
        else bytes(b ^ t[3] if i % 7 == t[3] % 7 else b for i, b in enumerate(t[0])))
    return st.one_of(st.sampled_from(corpus), mutated, st.binary(max_size=MAX_INPUT))


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_short_fuzz_run(name: str) -> None:
    """Any input keeps the target's contract (targets.py) within its hang budget."""
    target = TARGETS[name]

    @settings(max_examples=150, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(inputs(name))
    def fuzz(data: bytes) -> None:
        run_within_budget(target, data, CI_BUDGET_FACTOR)

    fuzz()


KEPT = [(name, index) for name in sorted(TARGETS) for index in range(len(kept_crashers(name)))]


@pytest.mark.parametrize(("name", "index"), KEPT)
def test_kept_crashers_stay_fixed(name: str, index: int) -> None:
    """Every input once found breaking a target keeps its contract now."""
    run_within_budget(TARGETS[name], kept_crashers(name)[index], CI_BUDGET_FACTOR)
