"""Tasks seeded by what they are, never by the worker that happens to run them.

A pool or a cluster hands tasks to workers in an order nobody controls: a
task that draws from its worker's stream draws different numbers from run to
run. So each task runs in a block of its own, seeded from the run's seed and
a key fixed where the task is submitted, and its worker's generators are put
back after it. :func:`task` does this for one callable; under ``reprorng
run`` and after ``seed_everything``, the engine modules beside this one do it
for every task of ``multiprocessing`` and ``concurrent.futures`` process pools,
joblib and Ray, keyed by ``("pool", place, call, index)``: the submitting
process's place in the run, the call's number among that process's
submissions, and the item's index in the call (Dask's tasks, by their keys).
"""

from __future__ import annotations

import functools
import itertools
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import BuiltinFunctionType, FunctionType
from typing import Any, Generic, Literal, ParamSpec, TypeVar

from reprorng import _stack
from reprorng._block import fixed_rng
from reprorng._entry import reseed, run_seeded
from reprorng._seed import SeedLike, check_seed, derive_seed, resolve_seed, seeds_by_index

__all__ = [
    "SCHEDULING_VARIABLE",
    "Items",
    "Task",
    "call_seed",
    "join_run",
    "note",
    "run_chunk",
    "run_seed",
    "seeded_call",
    "seeded_items",
    "seeds_of_a_call",
    "task",
]

P = ParamSpec("P")
R = TypeVar("R")

Key = int | str


def _key_parts(key: object) -> tuple[Key, ...]:
    parts = key if isinstance(key, tuple) else (key,)
    if not parts:
        raise ValueError("a task's key must not be empty")
    for part in parts:
        if isinstance(part, bool) or not isinstance(part, int | str):
            raise TypeError(
                f"a task's key is an int, a string or a tuple of them; got {part!r} "
                f"of type {type(part).__name__}"
            )
    return parts


@dataclass(frozen=True)
class Task(Generic[P, R]):
    """``fn``, run in a block seeded with ``seed``: picklable whenever ``fn`` is."""

    fn: Callable[P, R]
    seed: int

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        result: R = run_seeded(fixed_rng(self.seed), self.fn, args, kwargs)
        return result

    def __reduce__(self) -> tuple[type[Task[P, R]], tuple[Callable[P, R], int]]:
        return Task, (self.fn, self.seed)  # pickled small, made again by its constructor


def task(fn: Callable[P, R], key: object, *, seed: SeedLike | None = None) -> Task[P, R]:
    """``fn`` as a task keyed by ``key``: each call runs seeded by the seed and the key alone.

    Every call runs in ``fixed_rng(derive_seed(seed, "task", *key))``, so it
    draws the same numbers whichever process or thread runs it, and the
    generators of that process are put back afterwards. ``key`` is an int, a
    string or a tuple of them (an item's index, a grid point's name); two
    tasks with the same key and seed draw the same numbers. ``seed=None``
    takes the run's seed under ``reprorng run`` or after ``seed_everything``,
    else ``$REPRORNG_SEED``, else a fresh one, chosen here, where the task
    is made. The result pickles whenever ``fn`` does: hand it to any pool or
    cluster.
    """
    if not callable(fn):
        raise TypeError(f"task needs a callable, got {fn!r} of type {type(fn).__name__}")
    parts = _key_parts(key)
    base = check_seed(seed) if seed is not None else _base_seed()
    return Task(fn, derive_seed(base, "task", *parts))


def _base_seed() -> int:
    return _run[0][0] if _run else resolve_seed(None)


Mode = Literal["one", "pair", "star", "spread"]


@dataclass(frozen=True)
class Items:
    """``fn`` over a call's items, each item in a block seeded by its index in the call.

    How an item arrives depends on how the engine calls its function: ``one``
    as ``(index, item)`` in one argument, for ``fn(item)``; ``pair`` as
    ``index, item``, for ``fn(item)``; ``star`` as ``index, item``, for
    ``fn(*item)``; ``spread`` as ``index, *arguments``, for ``fn(*arguments)``.
    """

    fn: Callable[..., Any]
    seed: int
    place: str
    call: int
    mode: Mode

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        index, arguments = self.split(args)
        return run_seeded(fixed_rng(self.seeds()(index)), self.fn, arguments, kwargs)

    def split(self, args: tuple[Any, ...]) -> tuple[int, tuple[Any, ...]]:
        """An item's index, and the arguments ``fn`` takes, out of what the engine passes."""
        if self.mode == "one":
            ((index, item),) = args
            return index, (item,)
        if self.mode == "spread":
            index, *rest = args
            return index, tuple(rest)
        index, item = args
        return index, tuple(item) if self.mode == "star" else (item,)

    def seeds(self) -> Callable[[int], int]:
        """The seed of each item of this call, by index."""
        return _call_seeds(self.seed, self.place, self.call)


def _call_seeds(seed: int, place: str, call: int) -> Callable[[int], int]:
    """``index -> derive_seed(seed, "pool", place, call, index)``: the seeds of one call."""
    return functools.partial(seeds_by_index(seed, "pool", place), call)


def run_chunk(work: tuple[Items, list[tuple[int, Any]]]) -> list[Any]:
    """A pool's mapper: one chunk of a call's items, in one block, each item seeded by its index.

    The worker's generators are captured once and put back once, after the chunk; between
    items every generator the block manages is seeded again, so each item draws exactly
    what it would in a block of its own, whatever chunk it lands in.
    """
    items, chunk = work
    if not chunk:
        return []
    seed_of = items.seeds()
    results = []
    with fixed_rng(seed_of(chunk[0][0])):
        frame = _stack.open_frames[-1]
        for number, entry in enumerate(chunk):
            index, arguments = items.split(entry)
            if number:
                reseed(frame, seed_of(index))
            results.append(items.fn(*arguments))
    return results


def _seeded_already(fn: object) -> bool:
    """Whether ``fn`` is made of tasks seeded already: another engine's batch of them, passed
    on to a pool (joblib's multiprocessing backend hands ``Pool`` a ``SafeFunction`` holding
    ``BatchedCalls``), which must neither be seeded twice nor take a number."""
    try:
        for _ in range(3):
            if isinstance(fn, Task | Items):
                return True
            if fn is None or isinstance(fn, FunctionType | BuiltinFunctionType):
                return False  # what is submitted most: no batch, and no attribute to look up
            items = getattr(fn, "items", None)
            if isinstance(items, list) and items:
                return all(
                    isinstance(item, tuple) and bool(item) and isinstance(item[0], Task)
                    for item in items
                )
            fn = getattr(fn, "func", None)
    except Exception:  # noqa: BLE001 - a user's property that raises: theirs, not a batch
        return False
    return False


def seeded_call(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` for one submission (``submit``, ``apply_async``): seeded as item 0 of a new call.

    Outside a run (no ``reprorng run``, no ``seed_everything``), or made of
    tasks seeded already, ``fn`` itself.
    """
    seed = None if _seeded_already(fn) else call_seed()
    return fn if seed is None else Task(fn, seed)


def seeded_items(fn: Callable[..., Any], mode: Mode) -> Callable[..., Any] | None:
    """``fn`` for the items of one call (``map`` and its kin); ``None`` outside a run."""
    if not _run:
        return None
    seed, place = _run[0]
    return Items(fn, seed, place, next_call(), mode)


def run_seed(*keys: Key) -> int | None:
    """``derive_seed(seed, *keys)`` from the run's seed; ``None`` outside a run."""
    return derive_seed(_run[0][0], *keys) if _run else None


def call_seed() -> int | None:
    """The seed of one submission, as item 0 of a new call; ``None`` outside a run."""
    seed_of = seeds_of_a_call()
    return None if seed_of is None else seed_of(0)


def seeds_of_a_call() -> Callable[[int], int] | None:
    """The seeds of one call's items, by index, for engines that take one callable per item;
    ``None`` outside a run."""
    if not _run:
        return None
    (seed, place), call = _run[0], next_call()
    return _call_seeds(seed, place, call)


#: Set by ``reprorng check`` to a file where each process of a run notes, once per engine,
#: that it handed work to a pool, a cluster or threads: the order such work ends in may race.
SCHEDULING_VARIABLE = "REPRORNG_SCHEDULING"
_noted: set[str] = set()


def note(engine: str) -> None:
    """Under ``reprorng check``, note that this process used ``engine`` (once per process)."""
    if engine in _noted:  # looked at once per engine: check sets the variable at the start
        return
    _noted.add(engine)
    path = os.environ.get(SCHEDULING_VARIABLE)
    if not path:
        return
    try:
        with open(path, "a", encoding="utf-8") as notes:  # one short append: never interleaved
            notes.write(engine + "\n")
    except OSError:
        pass  # only check's advice is lost


# The run this process belongs to, as (seed, place), and its submissions, counted from 1.
_run: list[tuple[int, str]] = []
_calls: list[Iterator[int]] = [itertools.count(1)]
_lock = threading.Lock()


def next_call() -> int:
    """The number of the next submission of this process."""
    with _lock:
        return next(_calls[0])


def join_run(seed: int, place: str) -> None:
    """This process belongs to a run (``reprorng run``, ``seed_everything``) from now on, at
    ``place`` in it; it counts its submissions from 1 (a forked child too)."""
    with _lock:
        _run[:] = [(seed, place)]
        _calls[0] = itertools.count(1)
