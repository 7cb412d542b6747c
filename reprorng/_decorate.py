"""``reproducible``: run functions, methods, test classes, coroutines and generators seeded.

Plain functions run each call inside a block. Coroutine, generator and async
generator functions return an object that drives yours one step at a time,
each step in the body's own streams (see :class:`reprorng._block.Isolated`).
"""

from __future__ import annotations

import functools
import inspect
import sys
import types
from collections.abc import AsyncGenerator, Callable, Collection, Generator, Iterable
from typing import Any, TypeVar, overload

from reprorng._block import Isolated, fixed_rng, run_seeded
from reprorng._seed import SeedLike, default_seed

__all__ = ["decorate", "reproducible"]

_F = TypeVar("_F", bound=Callable[..., Any])

# Gives the block a given function runs in.
_BlockFor = Callable[[Callable[..., Any]], fixed_rng]

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


def _steps(inner: Any, streams: Isolated) -> Generator[Any, Any, Any]:
    """Drive ``inner`` (a generator, or a coroutine's steps) one isolated step at a time.

    What ``yield from inner`` does, with each resumption of ``inner`` run
    through ``streams.step``; the caller's code between the steps runs with
    the caller's streams.
    """
    step = streams.step
    action: Callable[..., Any] = inner.send
    argument: Any = None
    while True:
        try:
            item = step(action, argument)
        except StopIteration as stop:
            return stop.value
        try:
            argument = yield item
            action = inner.send
        except GeneratorExit:
            if not sys.is_finalizing():
                try:
                    step(inner.close)
                except RuntimeError as error:
                    if inner.gi_frame is None:  # finished: an error of its clean-up
                        raise
                    # It yielded again: Python closes it once more when it is
                    # collected. Have that happen now, in its own streams: drop
                    # the last references to it, this traceback's too, in a step.
                    error.__traceback__ = None
                    holder = [inner]
                    del inner, action
                    step(holder.clear)
                    raise
            else:
                try:  # in its streams if they are still there, so blocks it left open close
                    step(inner.close)
                except Exception:  # noqa: BLE001 - the generators may be gone already
                    inner.close()
            raise
        except BaseException as error:  # noqa: BLE001 - thrown in, handed on to the body
            action, argument = inner.throw, error


# The same steps as an awaitable, for coroutines. A copy of the function,
# because ``types.coroutine`` marks the function it is given as awaitable, and
# generators returned to users must not be.
_awaited_steps = types.coroutine(
    types.FunctionType(_steps.__code__, _steps.__globals__, "_awaited_steps")
)


class _Driven:
    """The coroutine a returned coroutine drives, closed if it never started.

    The returned coroutine holds this object and drops it as it goes, so
    a call that is never awaited gives one "never awaited" warning, for the
    returned coroutine, not a second one for the coroutine inside.
    """

    __slots__ = ("coroutine",)

    def __init__(self, coroutine: Any) -> None:
        self.coroutine = coroutine

    def __del__(self) -> None:
        coroutine = self.coroutine
        if (
            inspect.iscoroutine(coroutine)
            and inspect.getcoroutinestate(coroutine) == "CORO_CREATED"
        ):
            coroutine.close()


async def _run_coroutine(driven: _Driven, streams: Isolated) -> Any:
    return await _awaited_steps(driven.coroutine, streams)


async def _run_async_generator(generator: Any, streams: Isolated) -> AsyncGenerator[Any, Any]:
    # Started with no async generator hooks in place, the generator inside is
    # not known to the event loop, which closes only the one returned, and
    # that one closes it in its own streams. Else the loop may close it
    # directly at shutdown, its clean-up drawing from the caller's streams.
    hooks = sys.get_asyncgen_hooks()
    sys.set_asyncgen_hooks(firstiter=None, finalizer=None)
    try:
        awaitable = generator.asend(None)
    finally:
        sys.set_asyncgen_hooks(*hooks)
    while True:
        try:
            item = await _awaited_steps(awaitable, streams)
        except StopAsyncIteration:
            return
        try:
            argument = yield item
            awaitable = generator.asend(argument)
        except GeneratorExit:
            await _awaited_steps(generator.aclose(), streams)
            raise
        except BaseException as error:  # noqa: BLE001 - thrown in, handed on to the body
            awaitable = generator.athrow(error)


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
        return _driver(kind, wrapped(*args, **kwargs), Isolated(block), wrapped)

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


def _driver(kind: str, made: Any, streams: Isolated, function: Any) -> Any:
    """What to return for ``made``, the object a call of a ``kind`` function returned.

    It drives ``made`` one isolated step at a time, is of the same kind, and
    has its name.
    """
    driver: Any
    if kind == "coroutine" and (inspect.iscoroutine(made) or inspect.isgenerator(made)):
        driver = _run_coroutine(_Driven(made), streams)
    elif kind == "generator" and inspect.isgenerator(made):
        if made.gi_code.co_flags & inspect.CO_ITERABLE_COROUTINE:  # from @types.coroutine
            driver = _awaited_steps(made, streams)
        else:
            driver = _steps(made, streams)
    elif kind == "async generator" and inspect.isasyncgen(made):
        driver = _run_async_generator(made, streams)
    else:
        name = getattr(function, "__qualname__", repr(function))
        raise TypeError(
            f"{name} is decorated as a {kind} function, but the call returned "
            f"{type(made).__name__}; reprorng isolates the body of a {kind} it can "
            f"drive step by step (return the {kind} itself)"
        )
    driver.__name__ = made.__name__
    driver.__qualname__ = made.__qualname__
    return driver


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
    return decorate(target, lambda function: fixed_rng(_named_seed(function)))


@overload
def reproducible(seed: _F, /) -> _F: ...


@overload
def reproducible(
    seed: SeedLike | None = None,
    *,
    generators: Iterable[object] = (),
    exclude: Collection[str] = frozenset(),
    deterministic: bool = False,
    warn_only: bool = False,
) -> Callable[[_F], _F]: ...


def reproducible(seed: Any = None, **options: Any) -> Any:
    """Decorate a function, method or test class to run seeded, leaving the caller's streams alone.

    ``@reproducible(42)`` and ``@reproducible(seed=42)`` run every call inside
    ``fixed_rng(42)``. Bare ``@reproducible`` and ``@reproducible()`` use
    ``$REPRORNG_SEED`` if set, otherwise a seed derived from the function's
    module and qualified name, the same in every process. On a class, each
    method whose name starts with ``test`` runs in its own block.

    On a coroutine, generator or async generator function, every object a call
    returns runs its body with streams of its own: seeded at the first step,
    swapped in at each resumption and out at each suspension, so the caller
    and other tasks never see them.

    ``generators=``, ``exclude=``, ``deterministic=`` and ``warn_only=`` are
    passed on to :class:`fixed_rng`.

    The decorated function keeps its signature, name, docstring and
    ``__wrapped__``.
    """
    if options:
        fixed_rng(0, **options)  # bad options fail here, not at the first call
    if seed is None:
        if not options:
            return _decorate_named

        def decorate_named(target: _F) -> _F:
            return decorate(target, lambda function: fixed_rng(_named_seed(function), **options))

        return decorate_named
    if callable(seed) or isinstance(seed, (classmethod, staticmethod)):
        return _decorate_named(seed)
    return fixed_rng(seed, **options)
