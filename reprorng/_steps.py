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
from reprorng._entry import ATTEMPTS
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

    # As for plain blocks, each step records what it is about to change before
    # changing it and can be done again, so an interrupt landing anywhere is
    # finished (resuming: undone) by repeating it; the loops are written out.

    def step(self, action: Callable[..., _T], *args: Any) -> _T:
        frame = Frame(self.block)
        body: dict[Source, object] = {}  # the body's streams, as they are taken back
        try:
            self._resume(frame)
        except BaseException:
            attempts = 0
            while attempts < ATTEMPTS:
                attempts += 1
                try:
                    self._undo(frame)
                    break
                except BaseException:  # noqa: BLE001 - finish the undo; the first goes on
                    continue
            raise
        try:
            return action(*args)
        finally:
            failure: BaseException | None = None
            attempts = 0
            while attempts < ATTEMPTS:
                attempts += 1
                try:
                    self._suspend(frame, body)
                    break
                except BaseException as error:  # noqa: BLE001 - finish; the first is raised
                    failure = failure or error
            if failure is not None:
                raise failure

    def _resume(self, frame: Frame) -> None:
        block = self.block
        with _stack.lock:
            admit(frame, block.timeout)
            saved, state = frame.saved, self._state
            chosen = block_sources(block)
            for source in chosen:
                saved[source] = source.capture()  # the caller's, recorded before it changes
            fresh: list[Source] = []
            for source in chosen:
                if state is not None and source in state:
                    source.restore(state[source])
                else:
                    fresh.append(source)
                    if block.reseeds:
                        source.seed(block.seed)
            switch_on(frame)
            for inner in self._frames:
                inner.thread = frame.thread
                # A library imported while the body was suspended: as if
                # imported before these blocks were entered.
                for source in fresh:
                    if inner.block.seeds and source.name not in inner.block.exclude:
                        inner.saved[source] = source.capture()
                        if inner.block.reseeds:
                            source.seed(inner.seed)
                inner.switched = [(switches, switches.switch()) for switches, _ in inner.switched]
            open_frames.append(frame)
            open_frames.extend(self._frames)
            self._frames = []

    def _take_off(self, frame: Frame) -> None:
        """Holding the lock: take ``frame`` and the body's blocks above it off the stack,
        and put back the settings they switched; again after a cut, it finishes."""
        if open_frames and open_frames[-1] is frame:
            open_frames.pop()
        elif frame in open_frames:
            index = open_frames.index(frame)
            self._frames = open_frames[index + 1 :]
            del open_frames[index:]
        for inner in reversed(self._frames):
            for switches, prior in reversed(inner.switched):
                switches.restore(prior)
        switch_back(frame)

    def _undo(self, frame: Frame) -> None:
        """Put back what a cut :meth:`_resume` changed; again after a cut, it finishes."""
        with _stack.lock:
            self._take_off(frame)
            restore_sources(frame.saved)
            wake()

    def _suspend(self, frame: Frame, body: dict[Source, object]) -> None:
        """Take the body's streams back into ``body``, the caller's in; again after a cut."""
        with _stack.lock:
            self._take_off(frame)
            failure: Exception | None = None
            for source, outer in frame.saved.items():
                if source not in body:
                    try:
                        body[source] = source.capture()  # recorded before it changes
                    except Exception as error:  # noqa: BLE001 - the caller's goes back all the same
                        failure = failure or error
                source.restore(outer)
            self._state = body
            wake()
            if failure is not None:
                raise failure


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


async def _run_coroutine(make: Callable[[], Any], streams: Isolated) -> Any:
    return await _awaited_steps(make(), streams)


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


def driver(
    kind: str, made: Any, streams: Isolated, function: Any, remake: Callable[[], Any]
) -> Any:
    """What to return for ``made``, the object a call of a ``kind`` function returned.

    It drives ``made`` one isolated step at a time, is of the same kind, and
    has its name. A coroutine of an ``async def`` is made again by ``remake``
    when first awaited, and ``made`` closed at once: a call never awaited then
    gives one "never awaited" warning, for the coroutine returned, and no code
    of reprorng's runs when it is collected (where a Ctrl-C would be lost).
    """
    driver: Any
    if kind == "coroutine" and (inspect.iscoroutine(made) or inspect.isgenerator(made)):
        code = getattr(getattr(function, "__func__", function), "__code__", None)
        if inspect.iscoroutine(made) and made.cr_code is code:
            made.close()  # nothing of it ran: an async def's call only binds its arguments
            driver = _run_coroutine(remake, streams)
        else:
            driver = _run_coroutine(lambda: made, streams)
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
