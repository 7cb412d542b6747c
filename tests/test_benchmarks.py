"""The benchmark script keeps running; its timings are judged by the script, not here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCHMARKS = Path(__file__).parent.parent / "benchmarks"


def benchmark(script: str, *args: str) -> str:
    """What a benchmark script printed, having run to its end (1: a goal missed)."""
    result = subprocess.run(
        [sys.executable, str(BENCHMARKS / script), *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def test_benchmark_runs_and_reports_every_goal():
    printed = benchmark("bench.py", "--rounds", "1", "--number", "3")
    rows = ("manual / fixed_rng", "@reproducible / fixed_rng", "import reprorng", "from_bytes")
    goals = ("fixed_rng / fork_rng", "new seed each block / fork_rng")
    registries = ("per extra registered generator", "per extra registered random.Random")
    for row in (*rows, *goals, *registries):
        assert row in printed
    assert "imports neither numpy nor torch" in printed


def test_trace_benchmark_runs_and_reports_each_network():
    printed = benchmark(
        "trace_bench.py", "--rounds", "1", "--steps", "2", "--batch", "8", "--iterations", "300"
    )
    assert "MNIST example CNN" in printed
    assert "lighter CNN" in printed
    assert "small operators" in printed
    assert printed.count("traced / untraced:") == 3
    assert printed.count("lines followed too") == 2
    assert "events held at once" in printed


def test_tasks_benchmark_runs_and_reports_each_cost():
    printed = benchmark("tasks_bench.py", "--rounds", "1", "--number", "50", "--items", "200")
    rows = ("bare call", "an item of a map: adds", "a single submission, both sides: adds")
    for row in rows:
        assert row in printed
    for pool in ("Pool(2).map", "ProcessPoolExecutor(2).map", "ProcessPoolExecutor(2).submit"):
        assert f"{pool}" in printed
    assert printed.count("seeded / unseeded") == 3


def test_child_benchmark_reports_what_a_child_of_a_run_adds():
    printed = benchmark("child_bench.py", "--times", "2")
    assert "python -c 'pass': outside a run" in printed
    assert "python -c 'import random': outside a run" in printed


def test_check_cost_benchmark_counts_the_runs_check_made():
    printed = benchmark("check_cost.py", "random_instance", "control_threads")
    assert "random_instance.py: plain" in printed
    assert "2 runs made, 0 traced" in printed  # settled by runs 1 and 2
    assert "culprits: median" in printed
    assert "reproducible: at most" in printed
