"""Ray's tasks, seeded by key: each ``.remote()`` call of a remote function by its number.

Patched as ray is imported into a process of a run. A function made remote
in that process takes one more keyword argument, unseen by its callers: the
seed, chosen where ``.remote()`` is called from the submitting process's
place and the call's number among its submissions. In the worker the
function runs in a block seeded with it; its worker's generators are put back
after. Ray's workers are started by its own ``raylet``, which no Python
process of the run places, so without this every task would draw from the
stream of whichever worker ran it. Actors are seeded the same way: their
construction (``A.remote()``) and each method call (``a.step.remote()``) by
its number among the submitting process's submissions. Generator and
``async`` functions and methods (streaming tasks, async actors) are left as
they are.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any

from reprorng.tasks import call_seed, note

__all__ = ["SEED_ARGUMENT", "seed_ray_tasks"]

#: The keyword argument that carries a task's seed to its worker.
SEED_ARGUMENT = "_reprorng_seed"


def seeded_remote(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function``, taking its seed as one more keyword argument, or none (not seeded)."""

    @functools.wraps(function)
    def run(*args: Any, _reprorng_seed: int | None = None, **kwargs: Any) -> Any:
        return _seeded(function, _reprorng_seed, args, kwargs)

    return _marked(run)


def seeded_method(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, as :func:`seeded_remote`; ``self`` stays first, as Ray reads methods."""

    @functools.wraps(method)
    def run(self: Any, *args: Any, _reprorng_seed: int | None = None, **kwargs: Any) -> Any:
        return _seeded(method, _reprorng_seed, (self, *args), kwargs)

    return _marked(run)


def _seeded(function: Callable[..., Any], seed: int | None, args: Any, kwargs: Any) -> Any:
    if seed is None:
        return function(*args, **kwargs)
    from reprorng._block import fixed_rng

    with fixed_rng(seed):
        return function(*args, **kwargs)


def _marked(run: Callable[..., Any]) -> Callable[..., Any]:
    del run.__wrapped__  # type: ignore[attr-defined]  # so Ray reads this signature
    run.__reprorng_seeded__ = True  # type: ignore[attr-defined]
    return run


def _plain(function: object) -> bool:
    return inspect.isfunction(function) and not (
        inspect.isgeneratorfunction(function) or inspect.iscoroutinefunction(function)
    )


def seeded_class(cls: type) -> type:
    """A subclass of ``cls`` whose plain methods (``__init__`` too) take their seed."""
    methods = {
        name: seeded_method(member)
        for name, member in inspect.getmembers(cls, _plain)
        if not name.startswith("__") or name == "__init__"
    }
    seeded = type(cls.__name__, (cls,), methods)
    seeded.__module__, seeded.__qualname__ = cls.__module__, cls.__qualname__
    return seeded


def _takes_a_seed(parameters: Any) -> bool:
    return any(getattr(parameter, "name", None) == SEED_ARGUMENT for parameter in parameters or ())


def _with_seed(kwargs: Any) -> Any:
    note("Ray")
    seed = call_seed()
    return kwargs if seed is None else {**(kwargs or {}), SEED_ARGUMENT: seed}


def seed_ray_tasks(ray: Any) -> None:
    """Patch Ray's remote functions and actors (called once ray is imported)."""
    import ray.actor
    import ray.remote_function

    _seed_actors(ray.actor)

    remote_type: Any = ray.remote_function.RemoteFunction
    init, remote = remote_type.__init__, remote_type._remote

    def seeding_init(self: Any, language: Any, function: Any, *args: Any, **kwargs: Any) -> None:
        if _plain(function):
            function = seeded_remote(function)
        init(self, language, function, *args, **kwargs)

    def seeding_remote(self: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if getattr(self._function, "__reprorng_seeded__", False):
            kwargs = _with_seed(kwargs)
        return remote(self, args, kwargs, **options)

    remote_type.__init__ = seeding_init
    remote_type._remote = seeding_remote


def _seed_actors(actor: Any) -> None:
    make = actor._make_actor
    class_type: Any = actor.ActorClass
    method_type: Any = actor.ActorMethod
    construct, call = class_type._remote, method_type._remote

    def seeding_make(cls: type, *args: Any, **kwargs: Any) -> Any:
        return make(seeded_class(cls), *args, **kwargs)

    def seeding_construct(self: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        made = getattr(self.__ray_metadata__, "modified_class", None)
        if getattr(getattr(made, "__init__", None), "__reprorng_seeded__", False):
            kwargs = _with_seed(kwargs)
        return construct(self, args, kwargs, **options)

    def seeding_call(self: Any, args: Any = None, kwargs: Any = None, **options: Any) -> Any:
        if _takes_a_seed(self._signature):
            kwargs = _with_seed(kwargs)
        return call(self, args, kwargs, **options)

    actor._make_actor = seeding_make
    class_type._remote = seeding_construct
    method_type._remote = seeding_call
