"""What a Python child of ``reprorng run`` pays at start-up, against the same child outside a run.

Run with ``python benchmarks/child_bench.py``. Each child is started the two
ways in turn, many times, and the medians are compared, so the machine's
load falls on both alike. Exits 1 when a goal is missed.

- ``python -c pass``: a child that never draws a random number (a build
  step, a test runner, a shell pipeline). Goal: at most 15 ms more.
- ``python -c "import random"``: the first import of a generator's module
  seeds the process, which imports reprorng then. Reported, no goal.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time

from reprorng._children import RUN_VARIABLE, Run, hook_directory

GOAL_MS = 15.0


def started(code: str, environment: dict[str, str]) -> float:
    begun = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], env=environment, check=True)
    return time.perf_counter() - begun


def compare(code: str, times: int) -> tuple[float, float]:
    """Median seconds of ``code`` started outside a run and as a child of one."""
    plain = {k: v for k, v in os.environ.items() if k not in (RUN_VARIABLE, "PYTHONPATH")}
    hooked = {
        **plain,
        RUN_VARIABLE: Run(1, False, False, "1").encode(),
        "PYTHONPATH": str(hook_directory()),
    }
    outside: list[float] = []
    inside: list[float] = []
    for _ in range(times):
        outside.append(started(code, plain))
        inside.append(started(code, hooked))
    return statistics.median(outside), statistics.median(inside)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--times", type=int, default=40, help="starts of each kind (default 40)")
    times = parser.parse_args().times
    missed = False
    for code, goal in (("pass", GOAL_MS), ("import random", None)):
        outside, inside = compare(code, times)
        added = (inside - outside) * 1e3
        verdict = "" if goal is None else f" (goal <= {goal:.0f} ms)"
        print(
            f"python -c {code!r}: outside a run {outside * 1e3:.1f} ms, "
            f"as a child of a run {inside * 1e3:.1f} ms, {added:+.1f} ms{verdict}"
        )
        missed |= goal is not None and added > goal
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
