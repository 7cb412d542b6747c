"""joblib's tasks, seeded by key: each ``delayed`` call by its index in its ``Parallel`` call.

Patched as joblib is imported into a process of a run. Every backend whose
workers are processes (loky, multiprocessing) and the sequential one
(``n_jobs=1``) run each task in a block of its own, so ``n_jobs`` and
``batch_size`` change nothing. The threading backend is left alone: its
tasks share the global generators, and their blocks would take turns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reprorng.tasks import Task, note, seeds_of_a_call

__all__ = ["seed_joblib_tasks"]


def seed_joblib_tasks(joblib: Any) -> None:
    """Patch ``joblib.Parallel`` (called once joblib is imported)."""
    from joblib._parallel_backends import ThreadingBackend

    parallel_type = joblib.Parallel
    call = parallel_type.__call__

    def seeded_call(self: Any, iterable: Iterable[Any]) -> Any:
        # The backend asked for, as first seen: with n_jobs=1 joblib falls back to its
        # sequential backend, which must not turn a threading one's tasks seeded.
        threads = self.__dict__.setdefault(
            "_reprorng_threads", isinstance(self._backend, ThreadingBackend)
        )
        note("threads (joblib)" if threads else "joblib")
        seed_of = None if threads else seeds_of_a_call()
        if seed_of is None:
            return call(self, iterable)
        tasks = (
            (Task(function, seed_of(index)), args, kwargs)
            for index, (function, args, kwargs) in enumerate(iterable)
        )
        return call(self, list(tasks) if hasattr(iterable, "__len__") else tasks)

    parallel_type.__call__ = seeded_call
