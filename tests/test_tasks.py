"""Tasks handed to pools draw by what they are: the same values with any number of workers."""

from __future__ import annotations

import ast
import hashlib
import json
import pickle
import random
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest

from reprorng import derive_seed, fixed_rng, task
from reprorng.tasks import Items, Task, run_chunk

from .helpers import global_states
from .test_cli import check_json, reprorng, script

# Every program prints, for each call in order, what each of its tasks drew: (item, random, numpy).
DRAW = """
    import random, sys
    import numpy as np

    def draw(item, scale=1):
        return (item * scale, random.random(), float(np.random.random()))

    def draw_two(item, other):
        return (item + other, random.random(), float(np.random.random()))
"""

POOL = (
    DRAW
    + """
    import multiprocessing as mp

    if __name__ == "__main__":
        workers, chunk, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        with mp.get_context(method).Pool(workers) as pool:
            calls = [
                pool.map(draw, range(12), chunksize=chunk),
                sorted(pool.imap_unordered(draw, range(8), chunksize=chunk)),
                list(pool.imap(draw, range(8), chunksize=chunk)),
                pool.starmap(draw_two, [(i, 100) for i in range(6)], chunksize=chunk),
                pool.map_async(draw, range(5), chunksize=chunk).get(),
                [pool.apply(draw, (7,))],
                [pool.apply_async(draw, (7,), {"scale": 2}).get()],
            ]
        print(calls)
"""
)

EXECUTOR = (
    DRAW
    + """
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    if __name__ == "__main__":
        workers, chunk, method = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        context = mp.get_context(method)
        with ProcessPoolExecutor(workers, mp_context=context) as executor:
            calls = [
                list(executor.map(draw, range(12), chunksize=chunk)),
                list(executor.map(draw_two, range(5), range(100, 105))),
                [executor.submit(draw, 7).result()],
                [executor.submit(draw, 7, scale=2).result()],
            ]
        print(calls)
"""
)

JOBLIB = (
    DRAW
    + """
    from joblib import Parallel, delayed

    if __name__ == "__main__":
        workers, batch, backend = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
        parallel = Parallel(n_jobs=workers, backend=backend, batch_size=batch)
        calls = [
            parallel(delayed(draw)(i) for i in range(12)),
            parallel([delayed(draw)(i, scale=2) for i in range(8)]),
        ]
        print(calls)
"""
)


def calls_of(tmp_path, name: str, *args: str) -> Any:
    result = reprorng("run", "--seed", "5", name, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def documented(call: int, index: int) -> tuple[float, float]:
    """What a task draws: ``derive_seed(5, "pool", "", call, index)`` computed here, then
    ``random`` and numpy seeded with it as their own seeding calls seed them."""
    text = json.dumps([5, "pool", "", call, index], separators=(",", ":"))
    seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    words = seed if seed < 2**32 else [seed & 0xFFFFFFFF, seed >> 32, 1]
    numpy = np.random.RandomState(words).random_sample()
    return random.Random(seed).random(), float(numpy)


def assert_keyed_by_task(calls: Any) -> None:
    """Every task drew its own numbers, from its call's number and its index alone."""
    drawn = [(a, b) for call in calls for _item, a, b in call]
    assert len(set(drawn)) == len(drawn)  # no two tasks share a stream
    for number, call in enumerate(calls, start=1):
        ordered = sorted(call)
        for index, (_item, a, b) in enumerate(ordered):
            assert (a, b) == documented(number, index), (number, index)


ENGINES = {
    "pool-fork": (POOL, "fork"),
    "pool-spawn": (POOL, "spawn"),
    "pool-forkserver": (POOL, "forkserver"),
    "executor-fork": (EXECUTOR, "fork"),
    "executor-spawn": (EXECUTOR, "spawn"),
    "joblib-loky": (JOBLIB, "loky"),
    "joblib-multiprocessing": (JOBLIB, "multiprocessing"),
}


@pytest.mark.parametrize("engine", ENGINES)
def test_each_task_draws_the_same_with_any_workers_and_chunking(tmp_path, engine):
    program, how = ENGINES[engine]
    name = script(tmp_path, "tasks.py", program)
    two = calls_of(tmp_path, name, "2", "1", how)
    assert calls_of(tmp_path, name, "3", "4", how) == two
    assert calls_of(tmp_path, name, "2", "1", how) == two
    assert_keyed_by_task(two)


def test_joblib_in_one_process_draws_as_its_workers_do(tmp_path):
    name = script(tmp_path, "tasks.py", JOBLIB)
    assert calls_of(tmp_path, name, "1", "1", "loky") == calls_of(tmp_path, name, "2", "3", "loky")


SEED_EVERYTHING = (
    DRAW
    + """
    import multiprocessing as mp
    import reprorng

    if __name__ == "__main__":
        reprorng.seed_everything(5, verbose=False)
        with mp.get_context("fork").Pool(int(sys.argv[1])) as pool:
            print([pool.map(draw, range(6), chunksize=int(sys.argv[2]))])
"""
)


def test_after_seed_everything_pool_tasks_are_keyed_the_same_way(tmp_path):
    name = script(tmp_path, "tasks.py", SEED_EVERYTHING)

    def calls(*args: str) -> Any:
        result = subprocess_run(tmp_path, name, *args)
        return ast.literal_eval(result.splitlines()[-1])

    two = calls("2", "1")
    assert calls("3", "2") == two
    assert_keyed_by_task(two)


def subprocess_run(folder, name: str, *args: str) -> str:
    import os
    import subprocess
    import sys

    environment = {k: v for k, v in os.environ.items() if not k.startswith("REPRORNG")}
    result = subprocess.run(
        [sys.executable, name, *args],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        env=environment,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


THREADS = (
    DRAW
    + """
    import reprorng
    from multiprocessing.pool import ThreadPool

    if __name__ == "__main__":
        reprorng.seed_everything(5, verbose=False)
        with ThreadPool(1) as pool:
            drawn = pool.map(draw, range(3))
        reprorng.seed_everything(5, verbose=False)
        print([drawn, [draw(i) for i in range(3)]])
"""
)


def test_thread_pools_are_left_to_share_the_global_stream(tmp_path):
    name = script(tmp_path, "threads.py", THREADS)
    pooled, in_order = ast.literal_eval(subprocess_run(tmp_path, name).splitlines()[-1])
    assert pooled == in_order


# -- task(): the same, by hand ----------------------------------------------------------------


def draw(item: int) -> tuple[int, float, float]:
    return (item, random.random(), float(np.random.random()))


def test_a_task_draws_by_its_key_and_puts_the_generators_back():
    before = global_states()
    first = task(draw, ("grid", 3), seed=11)(1)
    assert global_states() == before
    with fixed_rng(derive_seed(11, "task", "grid", 3)):
        assert draw(1) == first
    assert task(draw, ("grid", 3), seed=11)(1) == first
    assert task(draw, ("grid", 4), seed=11)(1) != first
    assert task(draw, 3, seed=11)(1) == task(draw, (3,), seed=11)(1)


def test_tasks_in_threads_draw_by_key_whatever_the_order():
    tasks = [task(draw, index, seed=2) for index in range(6)]
    with ThreadPoolExecutor(3) as executor:
        threaded = list(executor.map(lambda made, index: made(index), tasks, range(6)))
    assert threaded == [made(index) for index, made in enumerate(tasks)]


def test_a_task_pickles_and_draws_the_same_after():
    made = task(draw, "x", seed=2)
    assert isinstance(made, Task)
    assert pickle.loads(pickle.dumps(made))(0) == made(0)


def test_a_task_without_a_seed_takes_the_environments(monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", "9")
    assert task(draw, 1)(0) == task(draw, 1, seed=9)(0)


@pytest.mark.parametrize(
    ("key", "error", "words"),
    [
        ((), ValueError, "must not be empty"),
        (1.5, TypeError, "float"),
        (("a", None), TypeError, "NoneType"),
        (True, TypeError, "bool"),
    ],
)
def test_a_bad_key_is_refused_by_name(key, error, words):
    with pytest.raises(error, match=words):
        task(draw, key, seed=1)


def test_a_task_needs_a_callable_and_a_good_seed():
    with pytest.raises(TypeError, match="callable"):
        task(3, 1)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="-1"):
        task(draw, 1, seed=-1)


def test_a_chunk_draws_as_its_items_alone_and_puts_the_generators_back():
    before = global_states()
    items = Items(draw, 5, "", 1, "pair")
    chunk = [(index, index * 10) for index in (4, 2, 9)]
    assert run_chunk((items, chunk)) == [items(index, item) for index, item in chunk]
    assert global_states() == before
    assert run_chunk((items, [])) == []


def test_items_of_a_call_are_seeded_by_their_index_alone():
    before = global_states()
    items = Items(draw, 5, "", 1, "pair")
    assert items(2, 10) == (10, *documented(1, 2))
    assert Items(draw, 5, "", 1, "one")((2, 10)) == items(2, 10)
    assert Items(draw, 5, "", 1, "spread")(2, 10) == items(2, 10)
    assert global_states() == before


JOBLIB_THREADS = (
    DRAW
    + """
    import reprorng
    from joblib import Parallel, delayed

    if __name__ == "__main__":
        reprorng.seed_everything(5, verbose=False)
        parallel = Parallel(n_jobs=int(sys.argv[1]), backend="threading")
        drawn = [parallel(delayed(draw)(i) for i in range(2)) for _call in range(2)]
        reprorng.seed_everything(5, verbose=False)
        print([[item for call in drawn for item in call], [draw(i) for i in (0, 1, 0, 1)]])
"""
)


def test_joblib_threads_are_left_to_share_the_global_stream_in_every_call(tmp_path):
    name = script(tmp_path, "threads.py", JOBLIB_THREADS)
    pooled, in_order = ast.literal_eval(subprocess_run(tmp_path, name, "1").splitlines()[-1])
    assert pooled == in_order


# -- check and pools: two runs that agree prove nothing about a race ---------------------------

CALM = (
    DRAW
    + """
    import multiprocessing as mp

    if __name__ == "__main__":
        with mp.get_context("fork").Pool(2) as pool:
            print(sum(value for _item, value, _numpy in pool.map(draw, range(8))))
"""
)

CLOCKED = (
    DRAW
    + """
    import time
    from concurrent.futures import ProcessPoolExecutor

    if __name__ == "__main__":
        with ProcessPoolExecutor(2) as executor:
            print(list(executor.map(draw, range(4))), time.time_ns())
"""
)


def test_check_runs_a_program_that_uses_a_pool_more_times_and_says_so(tmp_path):
    name = script(tmp_path, "calm.py", CALM)
    status, report = check_json(tmp_path, name)
    assert status == 0, report
    assert report["runs"] == 4
    assert len(report["exit_statuses"]) == 4
    assert report["scheduling"] == ["multiprocessing.Pool"]
    status, report = check_json(tmp_path, "--runs", "2", name)
    assert (status, report["runs"], len(report["exit_statuses"])) == (0, 2, 2)


def test_check_runs_a_program_without_pools_twice(tmp_path):
    name = script(tmp_path, "plain.py", DRAW + "\n    print(draw(1))\n")
    status, report = check_json(tmp_path, name)
    assert (status, report["runs"], report["scheduling"]) == (0, 2, [])


def test_check_names_the_pool_when_runs_of_a_program_using_one_differ(tmp_path):
    name = script(tmp_path, "clocked.py", CLOCKED)
    status, report = check_json(tmp_path, name)
    assert status == 1
    assert report["scheduling"] == ["ProcessPoolExecutor"]
    assert report["cause"] == "scheduling"
    assert "order its tasks end in" in report["explanation"]


IMPORTS_TORCH = """
    import multiprocessing as mp, sys

    def draw(item):
        import torch  # first imported by a task, in the middle of its chunk

        return (item, torch.rand(1).item())

    if __name__ == "__main__":
        with mp.get_context("spawn").Pool(2) as pool:
            print([pool.map(draw, range(6), chunksize=int(sys.argv[1]))])
"""


def test_a_library_a_task_imports_is_seeded_by_each_item_of_its_chunk(tmp_path):
    name = script(tmp_path, "imports.py", IMPORTS_TORCH)
    one = calls_of(tmp_path, name, "1")
    assert calls_of(tmp_path, name, "3") == one
    assert len({value for _item, value in one[0]}) == 6


class Awkward:
    """A callable whose ``items`` and ``func`` raise when read: submitted all the same."""

    @property
    def items(self) -> list[object]:
        raise RuntimeError("not a batch")

    def __call__(self, item: int) -> int:
        return item


def test_a_callable_whose_attributes_raise_is_submitted_seeded(monkeypatch):
    from reprorng import tasks

    monkeypatch.setattr(tasks, "_run", [(5, "")])  # as in a process of a run
    seeded = tasks.seeded_call(Awkward())
    assert isinstance(seeded, Task)
    assert seeded(3) == 3
