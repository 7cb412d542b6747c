"""The cost of seeding each task of a pool: in real pools against the same pools unseeded, and
per task in one process.

Run with ``python benchmarks/tasks_bench.py`` (add ``--torch`` to have torch imported, as in
most training code: each block then seeds and restores torch's generator too).

- **pools**, the goal: ``multiprocessing.Pool(2).map``, ``ProcessPoolExecutor(2).map`` (both
  with chunks of 64) and ``ProcessPoolExecutor(2).submit``, over many trivial tasks, seeded
  as under ``reprorng run`` against the same pool outside a run, in turns; the median wall
  time of each, their ratio, and what seeding adds per task. Goal: at most 20 µs per task.
- **per task**, in one process, where nothing else blurs a few microseconds, against the
  bare function, each task with a seed of its own: an item of a ``map`` (its chunk runs in
  one block, each item seeded in turn; goal: at most 20 µs), and a single submission (the
  submitting side's ``seeded_call`` and the worker's block of its own). A submission's own
  cost in a process pool is far larger: the pools above show what is left of it.

Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import statistics
import sys
import time
import timeit
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import numpy as np

from reprorng import tasks
from reprorng.tasks import Items, join_run, run_chunk, seeded_call
from reprorng.tasks._pools import seed_pool_tasks

GOAL_US = 20.0
RUN_SEED = 5


def work(item: int) -> float:
    return random.random() + float(np.random.random()) + item


def per_task(number: int, rounds: int) -> tuple[float, float, float]:
    """Median µs per call: the bare function; an item of a ``map`` (its chunk in one block,
    each item seeded in turn); a single submission (``seeded_call`` where it is submitted,
    then its block where it runs). Every item and submission has a seed of its own."""
    items = Items(work, RUN_SEED, "", 1, "pair")
    chunk = [(index, index) for index in range(number)]
    bare_times, item_times, single_times = [], [], []
    for _ in range(rounds):
        bare_times.append(timeit.timeit(lambda: work(3), number=number) / number)
        item_times.append(timeit.timeit(lambda: run_chunk((items, chunk)), number=1) / number)
        single = timeit.timeit(lambda: seeded_call(work)(3), number=number) / number
        single_times.append(single)
    medians = map(statistics.median, (bare_times, item_times, single_times))
    bare, item, single = (value * 1e6 for value in medians)
    return bare, item, single


def in_run(seeded: bool) -> None:
    """Seed the pools' tasks from now on as under ``reprorng run``, or leave them unseeded."""
    if seeded:
        join_run(RUN_SEED, "")
    else:
        tasks._run.clear()  # as in a process outside any run


def pool_times(count: int, rounds: int) -> dict[str, tuple[float, float]]:
    """Median seconds, unseeded and seeded, of each pool's run over ``count`` trivial tasks."""
    context = multiprocessing.get_context("fork")
    runs: dict[str, Callable[[], object]] = {}
    times: dict[str, tuple[list[float], list[float]]] = {}
    with context.Pool(2) as pool, ProcessPoolExecutor(2, mp_context=context) as executor:
        runs["Pool(2).map, chunks of 64"] = lambda: pool.map(work, range(count), chunksize=64)
        runs["ProcessPoolExecutor(2).map, chunks of 64"] = lambda: list(
            executor.map(work, range(count), chunksize=64)
        )
        submissions = max(count // 10, 1)  # each costs a round trip: fewer of them
        runs["ProcessPoolExecutor(2).submit"] = lambda: [
            future.result() for future in [executor.submit(work, i) for i in range(submissions)]
        ]
        for run in runs.values():  # start the workers and warm both paths
            for seeded in (False, True):
                in_run(seeded)
                run()
        for name in runs:
            times[name] = ([], [])
        for round_ in range(rounds):
            for name, run in runs.items():
                # Each first in turn: a pool runs the second of two runs in another regime.
                for seeded in (False, True) if round_ % 2 else (True, False):
                    in_run(seeded)
                    start = time.perf_counter()
                    run()
                    times[name][seeded].append(time.perf_counter() - start)
    in_run(True)
    sizes = {name: submissions if "submit" in name else count for name in runs}
    return {
        name: (statistics.median(bare) / sizes[name], statistics.median(seeded) / sizes[name])
        for name, (bare, seeded) in times.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--torch", action="store_true", help="import torch first")
    options = parser.parse_args()
    if options.torch:
        import torch  # noqa: F401 - each block seeds and restores it too

    seed_pool_tasks()  # as in every process of a run
    import concurrent.futures.process  # noqa: F401 - the executor, as patched
    import multiprocessing.pool  # noqa: F401 - the pool, as patched

    in_run(True)
    missed = False
    for name, (bare, seeded) in pool_times(options.items, options.rounds).items():
        added = (seeded - bare) * 1e6
        verdict = "met" if added <= GOAL_US else "MISSED"
        missed |= added > GOAL_US
        print(
            f"{name}: unseeded {bare * 1e6:.1f} µs per task, seeded {seeded * 1e6:.1f}, "
            f"seeded / unseeded {seeded / bare:.2f}, added {added:.1f} µs "
            f"(goal <= {GOAL_US:.0f} µs: {verdict})"
        )
    bare, item, single = per_task(options.number, options.rounds)
    print(f"in one process: bare call {bare:.1f} µs")
    item_verdict = "met" if item - bare <= GOAL_US else "MISSED"
    missed |= item - bare > GOAL_US
    print(f"an item of a map: adds {item - bare:.1f} µs (goal <= {GOAL_US:.0f} µs: {item_verdict})")
    print(f"a single submission, both sides: adds {single - bare:.1f} µs")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
