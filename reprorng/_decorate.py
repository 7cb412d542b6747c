"""Decorating: functions, methods, test classes, coroutines and generators run in a block.

Plain functions run each call inside the block. Coroutine, generator and async
generator functions return an object that drives yours one step at a time,
each step in the body's own streams (see :mod:`reprorng._steps`). What the
block is, is up to the caller: ``@fixed_rng(42)``, ``@reproducible`` and
``@deterministic()`` all decorate through :func:`decorate`.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Any, TypeVar

from reprorng._entry import run_seeded
from reprorng._stack import Block
from reprorng._steps import Isolated, driver

__all__ = ["decorate"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Gives the block a given function runs in.
_BlockFor = Callable[[Callable[..., Any]], Block]

# Functions whose body runs after the call returns, when the object it returns is driven.
_DEFERRED = (
    (inspect.iscoroutinefunction, "coroutine"),
    (inspect.isasyncgenfunction, "async generator"),
    (inspect.isgeneratorfunction, "generator"),
)


def _deferred_kind(function: Callable[..., Any]) -> str | None:
    try:
        unwrapped = inspect.unwrap(function)
    except ValueError:
        unwrapped = function
    for check, kind in _DEFERRED:
        if check(function) or check(unwrapped):
            return kind
    return None


def _wrap(target: Any, block_for: _BlockFor) -> Any:
    function = target.__func__ if isinstance(target, (classmethod, staticmethod)) else target
    if not callable(function):
        raise TypeError(
            f"reprorng can decorate functions, methods and classes, "
            f"not {target!r} of type {type(target).__name__}"
        )
    block = block_for(function)
    kind = _deferred_kind(function)

    def run_in_block(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        return run_seeded(block, wrapped, args, kwargs)

    def run_deferred(wrapped: Any, instance: Any, args: Any, kwargs: Any) -> Any:
        assert kind is not None
        made = wrapped(*args, **kwargs)
        return driver(kind, made, Isolated(block), wrapped, lambda: wrapped(*args, **kwargs))

    return _wrapper_type()(target, run_in_block if kind is None else run_deferred)


@functools.cache
def _wrapper_type() -> type:
    """wrapt's function wrapper, pickled by reference as plain functions are."""
    import wrapt  # only when decorating: it costs more to import than the rest of reprorng

    class SeededFunction(wrapt.FunctionWrapper):  # type: ignore[type-arg]
        # A string is the name pickle looks up in the function's module, where a
        # decorated module-level function is this very wrapper. Copies are the
        # function itself, as for plain functions.
        def __reduce_ex__(self, protocol: object) -> str:
            return str(self.__qualname__)

        def __reduce__(self) -> str:
            return str(self.__qualname__)

        def __copy__(self) -> Any:
            return self

        def __deepcopy__(self, memo: object) -> Any:
            return self

    return SeededFunction


def decorate(target: _F, block_for: _BlockFor) -> _F:
    """Wrap ``target`` so each call runs in the block ``block_for(function)``.

    On a class, each method whose name starts with ``test`` is wrapped in
    place (as unittest and pytest name tests) and the class is returned.
    Tests inherited from base classes and mixins are wrapped too, on this
    class: the bases are left as they are.
    """
    if isinstance(target, type):
        for name in dir(target):
            if not name.startswith("test"):
                continue
            attribute = inspect.getattr_static(target, name)
            if callable(attribute) or isinstance(attribute, (classmethod, staticmethod)):
                setattr(target, name, _wrap(attribute, block_for))
        return target
    return _wrap(target, block_for)  # type: ignore[no-any-return]
