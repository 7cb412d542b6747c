"""The cost of seeding each task of a pool: per task, and against the same pool without it.

Run with ``python benchmarks/tasks_bench.py`` (add ``--torch`` to have torch imported, as in
most training code: each block then seeds and restores torch's generator too). Two figures:

- **per task**, against the bare function, timed in one process, where nothing else blurs a
  few microseconds: an item of a ``map`` (its chunk runs in one block, each item seeded in
  turn) and a single submission (``submit``, ``apply_async``: a block of its own), each with a
  seed of its own. Goal: at most 20 µs each. Exits 1 when one is missed.
- **pool**: ``multiprocessing.Pool(2).map`` over many trivial items, seeded (as under
  ``reprorng run``) against the same pool unseeded, in turns; the ratio of median wall times.
  Reported, not judged: a process pool's own cost per item varies far more than 20 µs.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import random
import statistics
import sys
import time
import timeit

import numpy as np

from reprorng.tasks import Items, join_run, run_chunk, seeded_items

GOAL_US = 20.0


def work(item: int) -> float:
    return random.random() + float(np.random.random()) + item


def per_task(number: int, rounds: int) -> tuple[float, float, float]:
    """Median µs per call: the bare function; an item of a ``map`` (its chunk in one block,
    each item seeded in turn); a single submission (a block of its own). Every item and every
    submission has a seed of its own, as in a real call."""
    items = Items(work, 5, "", 1, "pair")
    chunk = [(index, index) for index in range(number)]
    fresh = itertools.count()
    bare_times, item_times, single_times = [], [], []
    for _ in range(rounds):
        bare_times.append(timeit.timeit(lambda: work(3), number=number) / number)
        item_times.append(timeit.timeit(lambda: run_chunk((items, chunk)), number=1) / number)
        single = timeit.timeit(lambda: items(next(fresh), 3), number=number) / number
        single_times.append(single)
    medians = map(statistics.median, (bare_times, item_times, single_times))
    bare, item, single = (value * 1e6 for value in medians)
    return bare, item, single


def pool_ratio(items: int, rounds: int) -> tuple[float, float]:
    """Median seconds of an unseeded and a seeded ``Pool(2).map`` of ``items`` items."""
    context = multiprocessing.get_context("fork")
    bare_times, seeded_times = [], []
    with context.Pool(2) as pool:
        for _ in range(rounds):
            start = time.perf_counter()
            pool.map(work, range(items), chunksize=64)
            bare_times.append(time.perf_counter() - start)
            items_of_a_call = seeded_items(work, "pair")
            assert items_of_a_call is not None
            start = time.perf_counter()
            pool.starmap(items_of_a_call, enumerate(range(items)), chunksize=64)
            seeded_times.append(time.perf_counter() - start)
    return statistics.median(bare_times), statistics.median(seeded_times)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--number", type=int, default=2000)
    parser.add_argument("--items", type=int, default=20000)
    parser.add_argument("--torch", action="store_true", help="import torch first")
    options = parser.parse_args()
    if options.torch:
        import torch  # noqa: F401 - each block seeds and restores it too

    join_run(5, "")  # as in a process of a run
    bare, item, single = per_task(options.number, options.rounds)
    print(f"bare call: {bare:.1f} µs")
    overheads = {"an item of a map": item - bare, "a single submission": single - bare}
    for name, overhead in overheads.items():
        verdict = "met" if overhead <= GOAL_US else "MISSED"
        print(f"{name}: overhead {overhead:.1f} µs (goal <= {GOAL_US:.0f} µs: {verdict})")
    unseeded, seeded_pool = pool_ratio(options.items, options.rounds)
    print(
        f"pool: Pool(2).map of {options.items} items: unseeded {unseeded * 1e3:.1f} ms, "
        f"seeded {seeded_pool * 1e3:.1f} ms, seeded / unseeded: {seeded_pool / unseeded:.2f}, "
        f"{(seeded_pool - unseeded) / options.items * 1e6:.1f} µs per item"
    )
    return 0 if max(overheads.values()) <= GOAL_US else 1


if __name__ == "__main__":
    sys.exit(main())
