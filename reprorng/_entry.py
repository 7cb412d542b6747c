"""Entering and leaving frames of the stack, safe against an interrupt at any step.

Every state is recorded before it is changed, and every step of leaving a
frame can be done again, so a step cut by an exception (Ctrl-C's
``KeyboardInterrupt``, or whatever a signal handler raises) is finished by
repeating it, up to :data:`ATTEMPTS` times, and the first exception is raised
after. The loops that repeat are written out where they are needed: the
first step of calling a helper could be cut too.
"""

from __future__ import annotations

import dis
import functools
import logging
import threading
import warnings
from collections.abc import Callable
from types import CodeType
from typing import Any

from reprorng import _stack
from reprorng._stack import (
    Block,
    Frame,
    admit,
    ambient,
    block_sources,
    logger,
    named,
    open_frames,
    restore_sources,
    switch_back,
    switch_on,
    wake,
)

__all__ = [
    "ATTEMPTS",
    "close_stale",
    "enter_ambient",
    "enter_frame",
    "exit_ambient",
    "leave",
    "reseed",
    "run_seeded",
    "stacked",
    "undo_fully",
    "warn_handed_over",
]

ATTEMPTS = 3


def enter_frame(frame: Frame, stack: list[Frame]) -> None:
    """Enter ``frame``'s block onto ``stack``; cut anywhere, :func:`undo` puts all back."""
    block = frame.block
    seed = block.seed
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("entering block with seed=%d", seed)
    with _stack.lock:
        if open_frames:
            close_stale()
        if open_frames or _stack.unwatched:
            admit(frame, block.timeout)
        saved = frame.saved
        if block.reseeds:
            for source in block_sources(block):
                saved[source] = source.capture()  # recorded before it changes
                source.seed(seed)
            if _stack.on_seed:
                for told in _stack.on_seed:
                    told(seed)
        else:  # isolated(): the streams go on from where they are
            for source in block_sources(block):
                saved[source] = source.capture()
        if block.switches is not None:
            switch_on(frame)
        stack.append(frame)


def reseed(frame: Frame, seed: int) -> None:
    """Seed every generator ``frame`` manages again, with ``seed``, as its entry seeded them:
    many items run in one block (one capture, one restore), each from a seed of its own."""
    with _stack.lock:
        frame.seed = seed  # what a library imported from now on is seeded with
        for source in frame.saved:
            source.seed(seed)
        for told in _stack.on_seed:
            told(seed)


def stacked(frame: Frame) -> tuple[list[Frame], list[Frame]] | None:
    """Holding the lock: the stack ``frame`` is on and the frames above it, if it is on one."""
    for stack in (ambient, open_frames):
        for index, each in enumerate(stack):
            if each is frame:
                above = stack[index + 1 :]
                return stack, above + open_frames if stack is ambient else above
    return None


def leave(frame: Frame, *, sweep: bool = True) -> bool:
    """Close ``frame``; again after a cut, it finishes the job. True if it handed over.

    With blocks still open above it, restoring would overwrite their streams:
    its saved state goes to the lowest of them instead, so that once every
    block has exited the state is exactly what it was before this one.
    """
    handed = False
    with _stack.lock:
        if sweep and len(open_frames) > 1:
            close_stale(but=frame)
        # The innermost block, as most often, without the search.
        where = (open_frames, []) if open_frames and open_frames[-1] is frame else stacked(frame)
        if where is not None:
            stack, above = where
            if above:
                handed = True
                above[0].saved.update(frame.saved)
                moved = frame.switched
                if moved and above[0].switched[: len(moved)] != moved:
                    above[0].switched[:0] = moved
                frame.switched = []
            else:
                if frame.switched:
                    switch_back(frame)
                restore_sources(frame.saved)
            if stack[-1] is frame:
                stack.pop()
            else:
                stack.remove(frame)
        owner = frame.owner
        if owner and owner[-1] is frame:  # the last frame its with entered, as most often
            owner.pop()
        else:
            forget(frame)
        if _stack.waiting:
            wake()
    return handed


@functools.lru_cache(maxsize=256)
def _with_body(code: CodeType, entered_at: int) -> tuple[int, int] | None:
    """The span of ``code`` that a ``with`` entered at ``entered_at`` covers; ``None`` if unknown.

    It runs from the first to the last range that the compiler's exception
    table sends to the statement's clean-up: its body, with whatever is
    nested in it.
    """
    parse = getattr(dis, "_parse_exception_table", None)
    operation = code.co_code[entered_at] if 0 <= entered_at < len(code.co_code) else -1
    if parse is None or dis.opname[operation] not in ("BEFORE_WITH", "BEFORE_ASYNC_WITH"):
        return None
    table = parse(code)
    first = min((e for e in table if e.start > entered_at), key=lambda e: e.start, default=None)
    if first is None:
        return None
    return first.start, max(e.end for e in table if e.target == first.target)


def _stale(frame: Frame) -> bool:
    """Whether ``frame``'s ``with`` statement is over (its Python frame is past its body)."""
    caller = frame.caller
    if caller is None or frame.entered_at < 0:
        return False
    body = _with_body(caller.f_code, frame.entered_at)
    return body is not None and not body[0] <= caller.f_lasti < body[1]


def close_stale(but: Frame | None = None) -> None:
    """Holding the lock: close this thread's blocks whose ``with`` statement is over.

    Only an interrupt landing as ``__exit__`` starts, before any of its code
    runs, leaves one open. What it owed is put back now, with a warning.
    ``but`` is the frame being left, whose ``with`` is over by rights.
    """
    me = threading.get_ident()
    for frame in reversed(open_frames[:]):
        if frame is not but and frame.thread == me and _stale(frame):
            leave(frame, sweep=False)
            warnings.warn(
                f"{named(frame)} was left open: an interrupt landed as its with statement "
                "ended. Its generators are put back now",
                RuntimeWarning,
                stacklevel=4,
            )


def undo(frame: Frame) -> None:
    """Put back what a cut entry of ``frame`` changed; again after a cut, it finishes."""
    with _stack.lock:
        if stacked(frame) is not None:
            leave(frame)
            return
        switch_back(frame)
        restore_sources(frame.saved)
        forget(frame)
        wake()


def forget(frame: Frame) -> None:
    owner = frame.owner
    if owner is not None and frame in owner:
        owner.remove(frame)


def warn_handed_over(frame: Frame, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{named(frame)} exited while a block entered after it is still "
        "open; its state will be restored when that block exits",
        RuntimeWarning,
        stacklevel=stacklevel,  # 3: the with statement, whose __exit__ calls this
    )


def enter_ambient(block: Block) -> Frame:
    """Seed as ``block`` does, below every block and for no thread in particular.

    Blocks entered afterwards, in any thread, enter on top without waiting
    for it; :func:`exit_ambient` puts back what it found. A frame never
    exited seeds until the process ends (``reprorng run``).
    """
    frame = Frame(block)
    try:
        enter_frame(frame, ambient)
    except BaseException:
        undo_fully(frame)
        raise
    return frame


def exit_ambient(frame: Frame) -> None:
    """Put back what :func:`enter_ambient` found, or hand it to what is open above."""
    failure: BaseException | None = None
    attempts = 0
    while attempts < ATTEMPTS:
        attempts += 1
        try:
            leave(frame)
            break
        except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
            failure = failure or error
    if failure is not None:
        raise failure


def undo_fully(frame: Frame) -> None:
    """In an exception handler: :func:`undo`, repeated if it is cut; the handled one goes on."""
    attempts = 0
    while attempts < ATTEMPTS:
        attempts += 1
        try:
            undo(frame)
            break
        except BaseException:  # noqa: BLE001 - finish the undo
            continue


def run_seeded(block: Block, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)`` inside ``block``."""
    frame = Frame(block)
    try:
        enter_frame(frame, open_frames)
    except BaseException:
        undo_fully(frame)
        raise
    try:
        return function(*args, **kwargs)
    finally:
        failure: BaseException | None = None
        attempts = 0
        while attempts < ATTEMPTS:
            attempts += 1
            try:
                if leave(frame):
                    warn_handed_over(frame)
                break
            except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
                failure = failure or error
        if failure is not None:
            raise failure
