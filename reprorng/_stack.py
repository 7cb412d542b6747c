"""The open blocks: one process-wide stack, its lock, and what a block manages.

Generator state is process-wide, so the open blocks are too: one stack, in
entry order, that belongs to one thread at a time. A block entered in another
thread waits for that stack to empty. Below it, ambient frames (a whole
program under ``reprorng run``, a whole test under the pytest plugin) belong
to no thread. Entering and leaving frames is in :mod:`reprorng._entry`.

A library first imported, or an object registered, while blocks are open
joins them as if it had been there at their entry.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable, Collection
from types import FrameType
from typing import Any, Protocol

from reprorng import sources
from reprorng.sources import WATCHED_MODULES, Source
from reprorng.sources import objects as registry
from reprorng.sources.base import ObjectSource

__all__ = [
    "Block",
    "Frame",
    "Switches",
    "ambient",
    "block_sources",
    "capture_all",
    "exclusive",
    "lock",
    "open_frames",
    "restore_all",
    "watch_imports",
]

logger = logging.getLogger("reprorng")


class Switches(Protocol):
    """Settings a block switches on and back (see :class:`reprorng.deterministic`)."""

    warn_only: bool

    def current(self) -> object: ...

    def switch(self, prior: object | None = None) -> object: ...

    def restore(self, prior: object) -> None: ...


class Block(Protocol):
    """What the stack reads of a block (:class:`reprorng.fixed_rng`)."""

    @property
    def seed(self) -> int: ...

    @property
    def seeds(self) -> bool: ...

    @property
    def reseeds(self) -> bool: ...

    @property
    def exclude(self) -> Collection[str]: ...

    @property
    def objects(self) -> tuple[ObjectSource, ...]: ...

    @property
    def switches(self) -> Switches | None: ...

    @property
    def timeout(self) -> float | None: ...


class Frame:
    """One open block: its seed and the state of each source at its entry."""

    __slots__ = ("block", "caller", "entered_at", "owner", "saved", "seed", "switched", "thread")

    def __init__(self, block: Block, owner: list[Frame] | None = None) -> None:
        self.block = block
        # The list of the block's frames entered by ``with`` that this one joins
        # on entry and leaves once closed, if it is entered by one.
        self.owner = owner
        self.seed = block.seed
        self.saved: dict[Source, object] = {}
        # The determinism settings to put back on exit, as (switches, prior) pairs
        # in the order they were switched.
        self.switched: list[tuple[Any, object]] = []
        self.thread = threading.get_ident()
        # The Python frame whose ``with`` entered the block, if entered by one,
        # and the offset of the instruction in it that entered (-1: unknown).
        self.caller: FrameType | None = None
        self.entered_at = -1


# Re-entrant: an import inside a source's code may reach ``_on_import``.
lock = threading.RLock()
# Notified when the open blocks of a thread have all closed.
turn = threading.Condition(lock)
waiting = 0

# The open blocks, in entry order; all belong to the thread of ``open_frames[0]``.
open_frames: list[Frame] = []
# Ambient seeding, below every open block and owned by no thread: a whole
# program under ``reprorng run``, a whole test under the pytest plugin. Blocks
# in any thread enter on top of it without waiting.
ambient: list[Frame] = []
unwatched = list(WATCHED_MODULES)
#: Told each seed a block seeds with, as it enters (a trace records them).
on_seed: list[Callable[[int], None]] = []
# Once numpy and torch are imported, which sources are active no longer changes
# (until sources are added or switched off, which changes ``sources.version``).
_settled: tuple[Source, ...] | None = None
_settled_version = -1


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave it held for good,
    # and that thread's blocks, which can never close here, open for good.
    global lock, turn, waiting
    lock = threading.RLock()
    turn = threading.Condition(lock)
    waiting = 0
    if open_frames and open_frames[0].thread != threading.get_ident():
        open_frames.clear()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _find_active_sources() -> tuple[Source, ...]:
    """The active sources now; kept in ``_settled`` once they can no longer change."""
    global _settled, _settled_version
    active = tuple(source for source in sources.all_sources() if source.active())
    torch = sys.modules.get("torch")
    if "numpy.random" in sys.modules and hasattr(torch, "default_generator"):
        _settled, _settled_version = active, sources.version
    return active


def exclusive() -> threading.RLock:
    """The lock held while generator state is captured, seeded or restored."""
    return lock


def block_sources(block: Block) -> tuple[Source, ...]:
    """What a block manages: the active sources it does not exclude, then its objects."""
    if not block.seeds:
        return ()
    chosen = _settled
    if chosen is None or _settled_version != sources.version:
        chosen = _find_active_sources()
    if block.exclude:
        chosen = tuple(source for source in chosen if source.name not in block.exclude)
    own = block.objects
    if registry.has_registered():
        own = registry.merge(own, registry.registered())
    return chosen + own if own else chosen


def restore_sources(saved: dict[Source, object]) -> None:
    """Restore every source, even if one fails; then raise the first failure."""
    failure: BaseException | None = None
    for source, state in reversed(saved.items()):
        try:
            source.restore(state)
        except BaseException as error:  # noqa: BLE001 - every source must get its chance
            failure = failure or error
    if failure is not None:
        raise failure


def capture_all() -> dict[Source, object]:
    """The state of every active source and registered object, as :func:`restore_all` puts back."""
    with lock:
        return {source: source.capture() for source in block_sources(_EVERYTHING)}


def restore_all(states: dict[Source, object]) -> None:
    """Put back states from :func:`capture_all`, every source even if one fails."""
    with lock:
        restore_sources(states)


def _thread_name(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return f"thread {ident}"


def named(frame: Frame) -> str:
    """How messages name a frame's block."""
    block = frame.block
    if not block.seeds and block.switches is not None:
        return repr(block.switches)
    return f"fixed_rng(seed={frame.seed})" if block.seeds and block.reseeds else repr(block)


def _take_turn(frame: Frame, timeout: float | None) -> None:
    """Holding ``lock``, with another thread's blocks open: wait until they close."""
    global waiting
    waiting += 1
    try:
        free = turn.wait_for(
            lambda: not open_frames or open_frames[0].thread == frame.thread, timeout
        )
    finally:
        waiting -= 1
    if not free:
        owner = open_frames[0]
        raise RuntimeError(
            f"{named(frame)} in thread {_thread_name(frame.thread)!r} waited "
            f"{timeout:g} s for the blocks open in thread {_thread_name(owner.thread)!r} "
            f"(outermost: {named(owner)}) to close. Generator state is "
            "process-wide, so blocks in different threads take turns; if that thread is "
            "waiting for this one (joining it, or waiting for its result), it never will. "
            "Enter blocks in one of the two threads only, or pass a longer timeout "
            "(timeout=None waits for ever)"
        )


def admit(frame: Frame, timeout: float | None) -> None:
    """Holding ``lock``: wait for another thread's blocks, and watch imports, before entry."""
    if open_frames and open_frames[0].thread != frame.thread:
        _take_turn(frame, timeout)
    if unwatched:
        _watch_imports()


def wake() -> None:
    """Holding ``lock``, after a block's exit: let threads waiting for their turn go on."""
    if waiting and not open_frames:
        turn.notify_all()


def switch_on(frame: Frame) -> None:
    """Switch the determinism settings ``frame``'s block asks for, if any, keeping the prior."""
    switches = frame.block.switches
    if switches is not None:
        prior = switches.current()
        frame.switched.append((switches, prior))  # recorded before it changes
        switches.switch(prior)


def switch_back(frame: Frame) -> None:
    """Put back the determinism settings ``frame`` switched, if any, latest first."""
    for switches, prior in reversed(frame.switched):
        switches.restore(prior)
    frame.switched = []


def _watch_imports() -> None:
    """Seed a library with a source (numpy, torch, numba, ...) first imported while a block
    is open."""
    from reprorng._imports import when_imported

    for name in list(unwatched):
        unwatched.remove(name)
        if name not in sys.modules:
            when_imported(_on_import, name)
    sources.changed()  # those imported meanwhile are active now


def watch_imports() -> None:
    """Watch for numpy and torch to be imported, as the first block does."""
    with lock:
        if unwatched:
            _watch_imports()


# Called, holding ``lock``, with each active source as numpy or torch is first
# imported, before the open blocks take it up (see seed_everything).
on_first_import: list[Callable[[Source], None]] = []


def _on_import(module: object) -> None:
    with lock:
        sources.changed()
        try:
            for source in sources.all_sources():
                if not source.active():
                    continue
                for callback in on_first_import:
                    callback(source)
                # Had the library been imported before the blocks, each would
                # have captured the state its enclosing block seeded.
                _join_open_blocks(source)
        except Exception as error:  # noqa: BLE001 - never break the user's import
            warnings.warn(
                f"reprorng could not seed {getattr(module, '__name__', module)!r} "
                f"imported inside a block: {error!r}",
                RuntimeWarning,
                stacklevel=2,
            )


def _join_open_blocks(source: Source) -> None:
    """Holding ``lock``: have the open blocks manage ``source``, new to them, from now on."""
    for frame in (*ambient, *open_frames):
        block = frame.block
        if block.seeds and source not in frame.saved and source.name not in block.exclude:
            frame.saved[source] = source.capture()
            if block.reseeds:
                source.seed(frame.seed)


def _on_register(source: Source) -> None:
    with lock:
        if not open_frames or open_frames[0].thread == threading.get_ident():
            _join_open_blocks(source)


registry.on_register.append(_on_register)


class _Everything:
    """What :func:`capture_all` takes: every active source and registered object."""

    seed = 0
    seeds = True
    reseeds = True
    exclude: Collection[str] = frozenset()
    objects: tuple[ObjectSource, ...] = ()
    switches: Switches | None = None
    timeout: float | None = None


_EVERYTHING = _Everything()
