"""Tasks of ``multiprocessing`` pools and ``concurrent.futures`` process pools, seeded by key.

Patched once a process belongs to a run (``reprorng run``, ``seed_everything``):
each call of ``Pool.map``, ``map_async``, ``starmap``, ``starmap_async``,
``imap``, ``imap_unordered``, ``apply``, ``apply_async`` and of
``ProcessPoolExecutor.map`` and ``submit`` takes the next number of this
process's submissions, and each of its items runs seeded by that number and
its own index, whatever chunk or worker it lands in. Thread pools are left
alone: threads share the global generators, and their blocks would take turns.
"""

from __future__ import annotations

import itertools
import operator
import threading
from collections.abc import Callable, Iterable
from typing import Any

from reprorng.tasks import note, run_chunk, seeded_call, seeded_items

__all__ = ["PATCHED_MODULES", "seed_pool_tasks"]

#: The modules whose pools and clusters are patched as each is imported, in patch order.
PATCHED_MODULES = (
    "multiprocessing.pool",
    "concurrent.futures.process",
    "concurrent.futures.thread",
    "joblib",
    "ray",
    "dask.delayed",
    "distributed.client",
    "distributed.worker",
)

_done: list[bool] = []


def seed_pool_tasks() -> None:
    """Patch the pools of ``multiprocessing``, ``concurrent.futures`` and joblib, once."""
    if _done:
        return
    _done.append(True)
    from reprorng._imports import when_imported
    from reprorng.tasks._dask import seed_dask_client, seed_dask_keys, seed_dask_workers
    from reprorng.tasks._joblib import seed_joblib_tasks
    from reprorng.tasks._ray import seed_ray_tasks

    # Each patched as it is imported: a process that uses none of them imports none of them.
    patches = (
        _patch_multiprocessing,
        _patch_process_pools,
        _patch_thread_pools,
        seed_joblib_tasks,
        seed_ray_tasks,
        seed_dask_keys,
        seed_dask_client,
        seed_dask_workers,
    )
    for patch, name in zip(patches, PATCHED_MODULES, strict=True):
        when_imported(patch, name)


def _patch_multiprocessing(pools: Any) -> None:
    starmapstar = getattr(pools, "starmapstar")  # noqa: B009 - not in the stubs

    pool_type: Any = pools.Pool
    map_async = pool_type._map_async
    imap, imap_unordered = pool_type.imap, pool_type.imap_unordered
    apply_async = pool_type.apply_async

    def own(pool: object) -> bool:
        threads = isinstance(pool, pools.ThreadPool)
        note("threads (multiprocessing.pool.ThreadPool)" if threads else "multiprocessing.Pool")
        return not threads

    def seeded_map_async(
        self: Any,
        func: Callable[..., Any],
        iterable: Iterable[Any],
        mapper: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        star = mapper is starmapstar
        items = seeded_items(func, "star" if star else "pair") if own(self) else None
        if items is None:
            return map_async(self, func, iterable, mapper, *args, **kwargs)
        # Each chunk runs in one block, its items seeded in turn (run_chunk).
        return map_async(self, items, list(enumerate(iterable)), run_chunk, *args, **kwargs)

    def seeded_imap(original: Any) -> Any:
        def imapping(
            self: Any, func: Callable[..., Any], iterable: Iterable[Any], *args: Any, **kwargs: Any
        ) -> Any:
            items = seeded_items(func, "one") if own(self) else None
            if items is None:
                return original(self, func, iterable, *args, **kwargs)
            return original(self, items, enumerate(iterable), *args, **kwargs)

        return imapping

    def seeded_apply_async(self: Any, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return apply_async(self, seeded_call(func) if own(self) else func, *args, **kwargs)

    pool_type._map_async = seeded_map_async
    pool_type.imap = seeded_imap(imap)
    pool_type.imap_unordered = seeded_imap(imap_unordered)
    pool_type.apply_async = seeded_apply_async


_mapping = threading.local()


def _patch_thread_pools(thread: Any) -> None:
    thread_type: Any = thread.ThreadPoolExecutor
    thread_submit = thread_type.submit

    def noting_submit(self: Any, *args: Any, **kwargs: Any) -> Any:
        note("threads (ThreadPoolExecutor)")
        return thread_submit(self, *args, **kwargs)

    thread_type.submit = noting_submit


def _patch_process_pools(process: Any) -> None:
    executor_type: Any = process.ProcessPoolExecutor
    submit, map_ = executor_type.submit, executor_type.map

    def seeded_submit(self: Any, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
        note("ProcessPoolExecutor")
        if getattr(_mapping, "active", False):  # a chunk of seeded_map's: its items are seeded
            return submit(self, fn, *args, **kwargs)
        return submit(self, seeded_call(fn), *args, **kwargs)

    def seeded_map(
        self: Any,
        fn: Callable[..., Any],
        *iterables: Iterable[Any],
        chunksize: int = 1,
        **options: Any,
    ) -> Any:
        items = seeded_items(fn, "spread")
        try:
            size = operator.index(chunksize)
        except TypeError:
            size = 0
        if items is None or size < 1:  # a bad size: refused by the executor, as ever
            return map_(self, fn, *iterables, chunksize=chunksize, **options)
        # Each chunk runs in one block, its items seeded in turn (run_chunk), as a pool's do.
        entries = zip(itertools.count(), *iterables)
        chunks = iter(lambda: list(itertools.islice(entries, size)), [])
        _mapping.active = True
        try:
            results = map_(self, run_chunk, zip(itertools.repeat(items), chunks), **options)
        finally:
            _mapping.active = False
        return itertools.chain.from_iterable(results)

    executor_type.submit = seeded_submit
    executor_type.map = seeded_map
