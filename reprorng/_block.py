"""``fixed_rng`` and ``reproducible``: the seeded block, as a ``with`` statement and as a decorator.

A block seeds every generator on entry and puts every state back on exit,
however it ends; the stack of open blocks it joins is in :mod:`reprorng._stack`,
and the interrupt-safe steps of entering and leaving in :mod:`reprorng._entry`.
As a decorator it wraps through :mod:`reprorng._decorate`.
"""

from __future__ import annotations

import math
import sys
import threading
from collections.abc import Callable, Collection, Iterable
from types import FrameType, TracebackType
from typing import Any, Self, TypeVar, cast, overload

from reprorng import sources
from reprorng._decorate import decorate
from reprorng._entry import ATTEMPTS, enter_frame, leave, stacked, undo_fully, warn_handed_over
from reprorng._pinning import Pinning
from reprorng._seed import MAX_SEED, SeedLike, default_seed, resolve_seed
from reprorng._stack import Frame, Switches, open_frames
from reprorng._switches import TorchSwitches
from reprorng.sources import objects

__all__ = [
    "DEFAULT_TIMEOUT",
    "check_timeout",
    "close_block",
    "fixed_rng",
    "open_block",
    "reproducible",
    "switching_only",
]

_F = TypeVar("_F", bound=Callable[..., Any])

#: How long, in seconds, a block waits for another thread's blocks to close
#: before it raises ``RuntimeError``. Finite, so that a block which waits for a
#: thread that itself enters a block fails instead of hanging.
DEFAULT_TIMEOUT = 10.0
_NONE: frozenset[str] = frozenset()


def check_timeout(timeout: object) -> float | None:
    """Return ``timeout`` as seconds to wait (``None``: for ever) or raise."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
        raise TypeError(
            f"timeout must be a number of seconds or None, "
            f"got {timeout!r} of type {type(timeout).__name__}"
        )
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"timeout must be a number of seconds >= 0 or None, got {timeout!r}")
    # Longer than threads can wait (about 292 years) is waiting for ever.
    return None if timeout >= threading.TIMEOUT_MAX else float(timeout)


class _MisuseError(RuntimeError):
    """A block exited that is not open here: an error of the caller, not to be repeated."""


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
    on a class, each method whose name starts with ``test`` does. A decorated
    coroutine, generator or async generator function runs its body with
    streams of its own, swapped in each time it resumes and out each time it
    suspends, so whatever runs between its steps never sees them.

    ``async with fixed_rng(42):`` seeds and restores like ``with``, but is not
    isolated across its own ``await``: other tasks that run meanwhile draw
    from the block's streams. Decorate the coroutine function for isolation.

    ``generators=[...]`` also seeds generator objects in place: each behaves
    inside the block as a fresh generator of its kind seeded with ``seed``
    (``np.random.default_rng(seed)`` for a PCG64 ``Generator``,
    ``torch.Generator().manual_seed(seed)``, ``random.Random(seed)``) and
    continues where it was afterwards; objects given to
    :func:`reprorng.register` are managed by every block. ``exclude={"numpy"}``
    leaves the named sources alone (see :func:`reprorng.source_names`).
    ``pin_entropy=True`` gives generators made without a seed inside the block
    one (see :mod:`reprorng._pinning`); security entropy stays real.
    ``deterministic=True`` also switches torch to deterministic algorithms
    for the block, as :class:`reprorng.deterministic` does (``warn_only=True``
    passed on), and switches back after.

    Generator state is process-wide, so blocks in different threads take
    turns: entering a block while another thread has one open waits for it to
    close, at most ``timeout`` seconds (``None``: for ever), then raises
    ``RuntimeError``. Blocks in one thread never wait.
    """

    __slots__ = (
        "_frames",
        "exclude",
        "objects",
        "reseeds",
        "seed",
        "seeds",
        "switches",
        "timeout",
    )

    def __init__(
        self,
        seed: SeedLike | None = None,
        *,
        generators: Iterable[object] = (),
        exclude: Collection[str] = frozenset(),
        deterministic: bool = False,
        warn_only: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
        pin_entropy: bool = False,
    ) -> None:
        # A block per sample is made in hot loops: the defaults are not checked again.
        self.timeout = timeout if timeout is DEFAULT_TIMEOUT else check_timeout(timeout)
        no_objects = isinstance(generators, tuple) and not generators
        self.objects = () if no_objects else objects.object_sources(generators)
        self.exclude = sources.check_names(exclude, "fixed_rng(exclude=...)") if exclude else _NONE
        self.switches: Switches | None = None
        if deterministic is not False or warn_only is not False:
            for flag, value in (("deterministic", deterministic), ("warn_only", warn_only)):
                if not isinstance(value, bool):
                    raise TypeError(f"{flag} must be True or False, got {value!r}")
            if warn_only and not deterministic:
                raise ValueError("warn_only=True needs deterministic=True")
            if deterministic:
                self.switches = TorchSwitches(warn_only=warn_only)
        self.seed: int = seed if type(seed) is int and 0 <= seed < MAX_SEED else resolve_seed(seed)
        if pin_entropy is not False:
            if not isinstance(pin_entropy, bool):
                raise TypeError(f"pin_entropy must be True or False, got {pin_entropy!r}")
            if pin_entropy:
                self.switches = cast(Switches, Pinning(self.seed, self.switches))
        # False for a block that only switches determinism settings (see switching_only).
        self.seeds = True
        # False for a block that keeps the streams as they are (see isolated).
        self.reseeds = True
        self._frames: list[Frame] = []

    def __repr__(self) -> str:
        if not self.seeds:
            return repr(self.switches)
        options = [f"seed={self.seed}"]
        if self.objects:
            options.append(f"generators=[{', '.join(source.name for source in self.objects)}]")
        if self.exclude:
            options.append(f"exclude={sorted(self.exclude)}")
        switches = self.switches
        if isinstance(switches, Pinning):
            options.append("pin_entropy=True")
            switches = switches.inner
        if switches is not None:
            options.append("deterministic=True")
            if switches.warn_only:
                options.append("warn_only=True")
        if self.timeout != DEFAULT_TIMEOUT:
            options.append(f"timeout={self.timeout}")
        return f"fixed_rng({', '.join(options)})"

    # One object may be open several times at once: nested, in tasks that
    # overlap, in a generator's body and in its caller. Each exit closes the
    # frame its own ``with`` entered, found by the Python frame running that
    # ``with`` (the same in whatever thread a generator is finished).

    # Entry and exit are written out in each method, not in helpers: a signal is
    # acted on when a call returns, and one landing there, after a helper had
    # done its work, would escape the method that has to undo or finish it.

    def __enter__(self) -> Self:
        frame = Frame(self, self._frames)
        try:
            caller = frame.caller = sys._getframe(1)
            frame.entered_at = caller.f_lasti
            self._frames.append(frame)
            enter_frame(frame, open_frames)
        except BaseException:
            undo_fully(frame)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        frame: Frame | None = None
        failure: BaseException | None = None
        attempts = 0
        while attempts < ATTEMPTS:
            attempts += 1
            try:
                if frame is None:
                    frame = self._frame_for(sys._getframe(1))
                if leave(frame):
                    warn_handed_over(frame)
                break
            except _MisuseError:
                raise
            except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
                failure = failure or error
        if failure is not None:
            raise failure

    async def __aenter__(self) -> Self:
        open_block(self, sys._getframe(1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        close_block(self, sys._getframe(1))

    def _frame_for(self, caller: FrameType) -> Frame:
        """The open frame the ``with`` run by ``caller`` entered; ``_MisuseError`` if none."""
        frames = self._frames
        if not frames:
            raise _MisuseError(f"{self!r} exited without being entered")
        frame = frames[-1]
        if frame.caller is caller and open_frames and open_frames[-1] is frame:
            return frame  # the innermost block, exited by the with that entered it
        index = len(frames) - 1
        while index >= 0 and frames[index].caller is not caller:
            index -= 1
        if index < 0:
            # Entered and exited from different Python frames (an ExitStack, a
            # fixture's setup and teardown): the last one this thread entered.
            thread = threading.get_ident()
            index = len(frames) - 1
            while index >= 0 and frames[index].thread != thread:
                index -= 1
            if index < 0:
                raise _MisuseError(f"{self!r} exited in a thread that has not entered it")
        frame = frames[index]
        if stacked(frame) is None:
            raise _MisuseError(
                f"{self!r} exited while not open: it was entered in a coroutine or "
                "generator that is suspended now; exit it in that body"
            )
        return frame

    def __call__(self, target: _F) -> _F:
        return decorate(target, lambda _function: self)


# What __enter__ and __exit__ do, for ``async with`` and ``deterministic()``,
# whose own methods call these (one more point where a signal could land
# between the work and the method that has to finish it).


def open_block(block: fixed_rng, caller: FrameType) -> None:
    """Enter ``block`` for the ``with`` that ``caller``, a Python frame, runs."""
    frame = Frame(block, block._frames)
    try:
        frame.caller = caller
        block._frames.append(frame)
        enter_frame(frame, open_frames)
    except BaseException:
        undo_fully(frame)
        raise


def close_block(block: fixed_rng, caller: FrameType) -> None:
    """Exit the frame of ``block`` that the ``with`` run by ``caller`` entered."""
    frame: Frame | None = None
    failure: BaseException | None = None
    attempts = 0
    while attempts < ATTEMPTS:
        attempts += 1
        try:
            if frame is None:
                frame = block._frame_for(caller)
            if leave(frame):
                warn_handed_over(frame, stacklevel=4)
            break
        except _MisuseError:
            raise
        except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
            failure = failure or error
    if failure is not None:
        raise failure


def switching_only(switches: Switches) -> fixed_rng:
    """A block that seeds nothing and only switches ``switches`` on, then back.

    It is a block all the same: it nests with others, hands over when blocks
    overlap, takes turns between threads and follows decorated coroutines
    and generators step by step.
    """
    block = fixed_rng(0)
    block.switches = switches
    block.seeds = False
    return block


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
