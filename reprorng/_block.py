"""``fixed_rng``: the seeded block, its stack of snapshots, nesting and late imports."""

from __future__ import annotations

import logging
import os
import sys
import threading
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from reprorng._seed import SeedLike, resolve_seed
from reprorng._sources import SOURCES, WATCHED_MODULES, Source

__all__ = ["fixed_rng", "run_seeded"]

logger = logging.getLogger("reprorng")

_F = TypeVar("_F", bound=Callable[..., Any])


class _Frame:
    """One open block: its seed and the state of each source at its entry."""

    __slots__ = ("saved", "seed", "thread")

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.saved: dict[Source, object] = {}
        self.thread = threading.get_ident()


# Generator state is process-wide, so the open blocks are too: in entry order.
_lock = threading.RLock()

_open: list[_Frame] = []
_unwatched = list(WATCHED_MODULES)
# Once numpy and torch are imported, which sources are active no longer changes.
_settled: tuple[Source, ...] | None = None


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave it held for good.
    global _lock
    _lock = threading.RLock()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _active_sources() -> tuple[Source, ...]:
    global _settled
    if _settled is not None:
        return _settled
    active = tuple(source for source in SOURCES if source.active())
    torch = sys.modules.get("torch")
    if "numpy.random" in sys.modules and hasattr(torch, "default_generator"):
        _settled = active
    return active


def _restore(saved: dict[Source, object]) -> None:
    """Restore every source, even if one fails; then raise the first failure."""
    failure: BaseException | None = None
    for source, state in reversed(saved.items()):
        try:
            source.restore(state)
        except BaseException as error:  # noqa: BLE001 - every source must get its chance
            failure = failure or error
    if failure is not None:
        raise failure


def _enter(seed: int) -> _Frame:
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("reprorng: entering block with seed=%d", seed)
    frame = _Frame(seed)
    with _lock:
        if _unwatched:
            _watch_imports()
        saved = frame.saved
        try:
            for source in _active_sources():
                saved[source] = source.swap(seed)
        except BaseException:
            _restore(saved)
            raise
        _open.append(frame)
    return frame


def _exit(frame: _Frame) -> None:
    with _lock:
        if _open[-1] is frame:
            _open.pop()
            _restore(frame.saved)
            return
        index = next(i for i in range(len(_open) - 1, -1, -1) if _open[i] is frame)
        # Exited while a block entered after it is still open: restoring now
        # would overwrite that block's stream. Hand the entry state over to the
        # block above instead, so that once every block has exited the state is
        # exactly what it was before this one.
        del _open[index]
        _open[index].saved.update(frame.saved)
    warnings.warn(
        f"fixed_rng(seed={frame.seed}) exited while a block entered after it is still "
        "open; its state will be restored when that block exits",
        RuntimeWarning,
        stacklevel=3,
    )


def _watch_imports() -> None:
    """Seed numpy or torch if they are first imported while a block is open."""
    import wrapt  # only now: it costs more to import than the rest of reprorng

    for name in list(_unwatched):
        _unwatched.remove(name)
        if name not in sys.modules:
            wrapt.register_post_import_hook(_on_import, name)


def _on_import(module: object) -> None:
    with _lock:
        try:
            for source in SOURCES:
                if not source.active():
                    continue
                # Had the library been imported before the blocks, each would
                # have captured the state its enclosing block seeded.
                for frame in _open:
                    if source not in frame.saved:
                        frame.saved[source] = source.swap(frame.seed)
        except Exception as error:  # noqa: BLE001 - never break the user's import
            warnings.warn(
                f"reprorng could not seed {getattr(module, '__name__', module)!r} "
                f"imported inside a block: {error!r}",
                RuntimeWarning,
                stacklevel=2,
            )


def run_seeded(seed: int, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)`` inside a block seeded with ``seed``."""
    frame = _enter(seed)
    try:
        return function(*args, **kwargs)
    finally:
        _exit(frame)


class fixed_rng:  # noqa: N801 - used like a function, as ``with fixed_rng(42):``
    """Seed every random-number generator for a block, then restore them exactly.

    ``with fixed_rng(42):`` snapshots Python's :mod:`random`, numpy's global
    generator, torch's CPU generator and every initialised accelerator, seeds
    each as its own seeding call does (``random.seed(42)``,
    ``np.random.seed(42)``, ``torch.manual_seed(42)``), runs the block and
    puts every state back bit for bit, however the block ends.

    ``seed`` is an ``int`` (or numpy integer) in ``[0, 2**64)``. ``None`` means
    ``$REPRORNG_SEED`` if set, else a fresh seed from OS entropy; either way
    ``.seed`` holds the seed in force, resolved once, when the object is made.

    Blocks nest, and one object may be entered again, also while it is open.
    Used as a decorator (``@fixed_rng(42)``) each call runs inside the block;
    on a class, each method whose name starts with ``test`` does.
    """

    __slots__ = ("_frames", "seed")

    def __init__(self, seed: SeedLike | None = None) -> None:
        self.seed: int = resolve_seed(seed)
        self._frames: list[_Frame] = []

    def __repr__(self) -> str:
        return f"fixed_rng(seed={self.seed})"

    def __enter__(self) -> Self:
        self._frames.append(_enter(self.seed))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        frames = self._frames
        thread = threading.get_ident()
        if frames and frames[-1].thread == thread:
            _exit(frames.pop())
            return
        for i in range(len(frames) - 1, -1, -1):
            if frames[i].thread == thread:
                _exit(frames.pop(i))
                return
        raise RuntimeError(f"{self!r} exited in a thread that has not entered it")

    def __call__(self, target: _F) -> _F:
        from reprorng._decorate import decorate

        return decorate(target, lambda _function: self.seed)
