"""``reproducible``: run functions, methods and test classes inside a seeded block."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, TypeVar, overload

from reprorng._block import fixed_rng, run_seeded
from reprorng._seed import SeedLike, default_seed

__all__ = ["decorate", "reproducible"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Gives the seed a given function runs with.
_SeedFor = Callable[[Callable[..., Any]], int]

_NOT_YET = (
    (inspect.iscoroutinefunction, "coroutine function"),
    (inspect.isasyncgenfunction, "async generator function"),
    (inspect.isgeneratorfunction, "generator function"),
)


def _reject_deferred_bodies(function: Callable[..., Any]) -> None:
    """Refuse functions whose body runs after the call returns.

    Wrapping the call would seed only the creation of the coroutine or
    generator object, not the body: silently wrong, so refused.
    """
    try:
        unwrapped = inspect.unwrap(function)
    except ValueError:
        unwrapped = function
    for check, kind in _NOT_YET:
        if check(function) or check(unwrapped):
            name = getattr(function, "__qualname__", repr(function))
            raise TypeError(
                f"reprorng cannot decorate the {kind} {name}: its body runs after the "
                "call returns, outside the block; use `with fixed_rng(...):` inside it"
            )


def _wrap(target: Any, seed_for: _SeedFor) -> Any:
    import wrapt  # only when decorating: it costs more to import than the rest of reprorng

    function = target.__func__ if isinstance(target, (classmethod, staticmethod)) else target
    if not callable(function):
        raise TypeError(
            f"reprorng can decorate functions, methods and classes, "
            f"not {target!r} of type {type(target).__name__}"
        )
    _reject_deferred_bodies(function)
    seed = seed_for(function)

    def run_in_block(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return run_seeded(seed, wrapped, args, kwargs)

    return wrapt.FunctionWrapper(target, run_in_block)


def decorate(target: _F, seed_for: _SeedFor) -> _F:
    """Wrap ``target`` so each call runs in a block seeded with ``seed_for(function)``.

    On a class, each method whose name starts with ``test`` is wrapped in
    place (as unittest and pytest name tests) and the class is returned.
    """
    if isinstance(target, type):
        for name, attribute in list(vars(target).items()):
            if name.startswith("test") and (
                callable(attribute) or isinstance(attribute, (classmethod, staticmethod))
            ):
                setattr(target, name, _wrap(attribute, seed_for))
        return target
    return _wrap(target, seed_for)  # type: ignore[no-any-return]


def _named_seed(function: Callable[..., Any]) -> int:
    module = getattr(function, "__module__", None)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(module, str) or not isinstance(qualname, str):
        raise TypeError(
            f"@reproducible without a seed derives one from the function's module and "
            f"qualified name, which {function!r} lacks; pass a seed: @reproducible(42)"
        )
    return default_seed(module, qualname)


def _decorate_named(target: _F) -> _F:
    return decorate(target, _named_seed)


@overload
def reproducible(seed: _F, /) -> _F: ...


@overload
def reproducible(seed: SeedLike | None = None) -> Callable[[_F], _F]: ...


def reproducible(seed: Any = None) -> Any:
    """Decorate a function, method or test class to run seeded, leaving the caller's streams alone.

    ``@reproducible(42)`` and ``@reproducible(seed=42)`` run every call inside
    ``fixed_rng(42)``. Bare ``@reproducible`` and ``@reproducible()`` use
    ``$REPRORNG_SEED`` if set, otherwise a seed derived from the function's
    module and qualified name, the same in every process. On a class, each
    method whose name starts with ``test`` runs in its own block.

    The decorated function keeps its signature, name, docstring and
    ``__wrapped__``.
    """
    if seed is None:
        return _decorate_named
    if callable(seed) or isinstance(seed, (classmethod, staticmethod)):
        return _decorate_named(seed)
    return fixed_rng(seed)
