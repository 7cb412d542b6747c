"""Dask's tasks, seeded by their keys: on every worker of a run, each task runs in a block.

Dask names each task with a key, made where the task is submitted: from the
function and its arguments (``pure``, the default of ``Client.submit`` and
``Client.map``), else at random (``pure=False``, and ``dask.delayed``'s
default). In a run, the random ones are numbered instead, from the run's
seed, the submitting process's place and the call's number, so every key
repeats from run to run. Each worker of the run then runs each task in a
block seeded with ``derive_seed(seed, "dask", key)``, waiting for its turn
when the worker runs several tasks at once in threads (they share the global
generators): the task draws the same numbers on any worker, and the worker's
generators are put back after it. ``async`` tasks are left as they are.
Workers started outside the run (a cluster started on its own) do not seed
tasks; the keys still repeat.
"""

from __future__ import annotations

from typing import Any

from reprorng.tasks import call_seed, note, run_seed

__all__ = ["seed_dask_client", "seed_dask_keys", "seed_dask_workers"]


def _numbered() -> str | None:
    """A key's token that repeats from run to run, in place of a random one (outside a run,
    ``None``)."""
    seed = call_seed()
    return None if seed is None else f"reprorng-{seed:016x}"


def seed_dask_keys(delayed: Any) -> None:
    """Number ``dask.delayed``'s impure keys (called once ``dask.delayed`` is imported)."""
    tokenize = delayed.tokenize

    def numbering_tokenize(*args: Any, pure: bool | None = None, **kwargs: Any) -> str:
        import dask

        if pure is None:
            pure = dask.config.get("delayed_pure", False)
        token = None if pure else _numbered()
        return token if token is not None else tokenize(*args, pure=pure, **kwargs)

    delayed.tokenize = numbering_tokenize


def seed_dask_client(client: Any) -> None:
    """Number ``Client.submit`` and ``Client.map``'s impure keys."""
    client_type: Any = client.Client
    submit, map_ = client_type.submit, client_type.map
    from dask.utils import funcname

    def numbering_submit(self: Any, func: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("key") is None and not kwargs.get("pure", True) and callable(func):
            token = _numbered()
            if token is not None:
                kwargs["key"] = f"{funcname(func)}-{token}"
        return submit(self, func, *args, **kwargs)

    def numbering_map(self: Any, func: Any, *iterables: Any, **kwargs: Any) -> Any:
        if kwargs.get("key") is None and not kwargs.get("pure", True) and callable(func):
            token = _numbered()
            if token is not None:
                iterables = tuple(list(iterable) for iterable in iterables)
                count = min(map(len, iterables), default=0)
                kwargs["key"] = [f"{funcname(func)}-{token}-{index}" for index in range(count)]
        return map_(self, func, *iterables, **kwargs)

    client_type.submit = numbering_submit
    client_type.map = numbering_map


def seed_dask_workers(worker: Any) -> None:
    """Run each task of a worker of the run in a block seeded by its key."""
    run_task = worker._run_task

    def seeded_run_task(task: Any, data: Any, state: Any, key: Any, *args: Any) -> Any:
        note("Dask")
        seed = run_seed("dask", str(key))
        if seed is None:
            return run_task(task, data, state, key, *args)
        from reprorng._block import fixed_rng

        with fixed_rng(seed, timeout=None):  # threads of one worker take turns
            return run_task(task, data, state, key, *args)

    worker._run_task = seeded_run_task
