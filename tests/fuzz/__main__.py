"""The long fuzz run, outside CI: ``python -m tests.fuzz [--runs N] [--engine E] [TARGET...]``.

``--engine hypothesis`` (the default) draws ``--runs`` inputs per target (default 10^6) from
the same strategy as the suite's short run; ``--engine atheris`` runs atheris'
coverage-guided engine (``pip install atheris``) from the targets' seeds. Either way each
input is held to the target's time bound (``--budget-factor``, default 1: run it on a quiet
machine), and an input that breaks a contract or the bound is written to
``tests/fuzz/crashers/<target>/`` so that the suite replays it from then on: fix the bug, keep
the file, commit both.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import tempfile
from pathlib import Path

from tests.fuzz.seeds import CRASHERS, seeds


def keep(name: str, data: bytes) -> Path:
    """Write ``data`` under crashers/<name>/ (named by its digest) and return the path."""
    directory = CRASHERS / name
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{hashlib.sha1(data).hexdigest()[:16]}.bin"
    path.write_bytes(data)
    return path


def run_hypothesis(names: list[str], runs: int, factor: float) -> int:
    from hypothesis import HealthCheck, given, settings

    from tests.fuzz.targets import TARGETS
    from tests.fuzz.test_fuzz import inputs, run_within_budget

    failed = 0
    for name in names:
        target = TARGETS[name]
        last: list[bytes] = []

        @settings(max_examples=runs, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(inputs(name))
        def fuzz(data: bytes) -> None:
            try:
                run_within_budget(target, data, factor)  # noqa: B023 (called in this turn)
            except BaseException:
                last[:] = [data]  # noqa: B023 (the last failure: the one Hypothesis shrank to)
                raise

        print(f"fuzz: {name}: {runs} inputs", flush=True)
        try:
            fuzz()
        except Exception as error:  # the failure is the finding: report it and go on
            failed += 1
            where = keep(name, last[0]) if last else None
            print(f"fuzz: {name}: FAILED ({type(error).__name__}: {error}); input kept in "
                  f"{where}", flush=True)
    return 1 if failed else 0


def run_atheris(names: list[str], runs: int, factor: float) -> int:
    try:
        import atheris
    except ImportError:
        print("fuzz: atheris is not installed (pip install atheris)", file=sys.stderr)
        return 2
    if len(names) != 1:
        print("fuzz: atheris runs one target per process: name it", file=sys.stderr)
        return 2
    (name,) = names
    from tests.fuzz.targets import MAX_INPUT, TARGETS
    from tests.fuzz.test_fuzz import run_within_budget

    atheris.instrument_all()  # every function loaded so far: the machines and their libraries

    target = TARGETS[name]

    def one_input(data: bytes) -> None:
        run_within_budget(target, data, factor)

    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for index, seed in enumerate(seeds(name)):
        (corpus / f"seed{index}").write_bytes(seed)
    (CRASHERS / name).mkdir(parents=True, exist_ok=True)
    atheris.Setup([sys.argv[0], f"-runs={runs}", f"-max_len={MAX_INPUT}",
                   f"-artifact_prefix={CRASHERS / name}/", str(corpus)], one_input)
    atheris.Fuzz()
    return 0


def main() -> int:
    from tests.fuzz.targets import TARGETS

    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("targets", nargs="*", choices=[[], *sorted(TARGETS)], metavar="TARGET",
                        help=f"targets to run (default all): {', '.join(sorted(TARGETS))}")
    parser.add_argument("--runs", type=int, default=1_000_000, help="inputs per target")
    parser.add_argument("--engine", choices=("hypothesis", "atheris"), default="hypothesis")
    parser.add_argument("--budget-factor", type=float, default=1.0,
                        help="allow each input this many times its target's time bound")
    args = parser.parse_args()
    names = args.targets or sorted(TARGETS)
    if args.engine == "atheris":
        return run_atheris(names, args.runs, args.budget_factor)
    return run_hypothesis(names, args.runs, args.budget_factor)


if __name__ == "__main__":
    raise SystemExit(main())
