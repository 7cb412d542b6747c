"""Coroutines and generators seeded step by step, each in streams of its own.

A coroutine or generator decorated to run seeded keeps its own streams in an
:class:`Isolated`: each step of its body (a resumption, up to its next
suspension) runs as a short block of its own, with the streams it had at its
last suspension swapped in. The drivers here run the body that way and are
returned to the caller in its place.
"""

from __future__ import annotations

import inspect
import sys
import types
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any, TypeVar

from reprorng import _stack
from reprorng._stack import (
    Block,
    Frame,
    admit,
    block_sources,
    open_frames,
    restore_sources,
    switch_back,
    switch_on,
    wake,
)
from reprorng.sources import Source

__all__ = ["Isolated", "driver"]

_T = TypeVar("_T")


class Isolated:
    """The streams of one coroutine or generator, swapped in for each step of its body.

    ``step(action, *args)`` runs ``action(*args)`` -- one resumption of the
    body, up to its next suspension -- as a block of its own: on the first
    step every generator is seeded with ``block``'s seed; on later ones each
    gets the state it had when the body last suspended, and blocks the body
    left open across that suspension are open again. Between steps the
    caller's streams and determinism settings are in place, untouched.
    """

    __slots__ = ("_frames", "_state", "block")

    def __init__(self, block: Block) -> None:
        self.block = block
        self._state: dict[Source, object] | None = None
        # Blocks entered in the body and still open while it is suspended.
        self._frames: list[Frame] = []

    def step(self, action: Callable[..., _T], *args: Any) -> _T:
        frame = self._resume()
        try:
            return action(*args)
        finally:
            self._suspend(frame)

    def _resume(self) -> Frame:
        block = self.block
        frame = Frame(block)
        with _stack.lock:
            admit(frame, block.timeout)
            saved, state = frame.saved, self._state
            fresh: list[Source] = []
            try:
                for source in block_sources(block):
                    if state is not None and source in state:
                        saved[source] = source.exchange(state[source])
                    else:
                        saved[source] = (
                            source.swap(block.seed) if block.reseeds else source.capture()
                        )
                        fresh.append(source)
                switch_on(frame)
                for inner in self._frames:
                    inner.thread = frame.thread
                    # A library imported while the body was suspended:
                    # as if imported before these blocks were entered.
                    for source in fresh:
                        if inner.block.seeds and source.name not in inner.block.exclude:
                            inner.saved[source] = (
                                source.swap(inner.seed) if inner.block.reseeds else source.capture()
                            )
                    inner.switched = [
                        (switches, switches.switch()) for switches, _ in inner.switched
                    ]
            except BaseException:
                switch_back(frame)
                restore_sources(saved)
                raise
            open_frames.append(frame)
            open_frames.extend(self._frames)
            self._frames = []
        return frame

    def _suspend(self, frame: Frame) -> None:
        with _stack.lock:
            if open_frames[-1] is frame:
                open_frames.pop()
            else:
                index = open_frames.index(frame)
                self._frames = open_frames[index + 1 :]
                del open_frames[index:]
            saved = frame.saved
            state: dict[Source, object] = {}
            try:
                for inner in reversed(self._frames):
                    for switches, prior in reversed(inner.switched):
                        switches.restore(prior)
                switch_back(frame)
                for source, outer in saved.items():
                    state[source] = source.exchange(outer)
            except BaseException:
                restore_sources({source: saved[source] for source in saved if source not in state})
                raise
            finally:
                wake()
            self._state = state


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


def driver(kind: str, made: Any, streams: Isolated, function: Any) -> Any:
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
