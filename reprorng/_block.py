"""``fixed_rng``: the seeded block, its stack of snapshots, nesting, threads and late imports.

Generator state is process-wide, so the open blocks are too: one stack, in
entry order, that belongs to one thread at a time. A block entered in another
thread waits for that stack to empty (see :data:`DEFAULT_TIMEOUT`).

A coroutine or generator decorated to run seeded keeps its own streams in an
:class:`Isolated`: each step of its body runs as a short block of its own,
with the streams it had at its last suspension swapped in.
"""

from __future__ import annotations

import logging
import math
import os
import sys
import threading
import warnings
from collections.abc import Callable, Collection, Iterable
from types import FrameType, TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar

from reprorng import _objects, _sources
from reprorng._seed import SeedLike, resolve_seed
from reprorng._sources import WATCHED_MODULES, Source

if TYPE_CHECKING:
    from reprorng.determinism import deterministic as deterministic_settings

__all__ = [
    "DEFAULT_TIMEOUT",
    "Isolated",
    "block_sources",
    "capture_all",
    "check_timeout",
    "enter_ambient",
    "exclusive",
    "exit_ambient",
    "fixed_rng",
    "restore_all",
    "run_seeded",
    "switching_only",
    "watch_imports",
]

logger = logging.getLogger("reprorng")

_F = TypeVar("_F", bound=Callable[..., Any])
_T = TypeVar("_T")

#: How long, in seconds, a block waits for another thread's blocks to close
#: before it raises ``RuntimeError``. Finite, so that a block which waits for a
#: thread that itself enters a block fails instead of hanging.
DEFAULT_TIMEOUT = 10.0


class _Frame:
    """One open block: its seed and the state of each source at its entry."""

    __slots__ = ("block", "caller", "saved", "seed", "switched", "thread")

    def __init__(self, block: fixed_rng) -> None:
        self.block = block
        self.seed = block.seed
        self.saved: dict[Source, object] = {}
        # The determinism settings to put back on exit, as (switches, prior) pairs
        # in the order they were switched.
        self.switched: list[tuple[Any, object]] = []
        self.thread = threading.get_ident()
        # The Python frame whose ``with`` entered the block, if entered by one.
        self.caller: FrameType | None = None


# Re-entrant: an import inside a source's code may reach ``_on_import``.
_lock = threading.RLock()
# Notified when the open blocks of a thread have all closed.
_turn = threading.Condition(_lock)
_waiting = 0

# The open blocks, in entry order; all belong to the thread of ``_open[0]``.
_open: list[_Frame] = []
# Ambient seeding, below every open block and owned by no thread: a whole
# program under ``reprorng run``, a whole test under the pytest plugin. Blocks
# in any thread enter on top of it without waiting.
_ambient: list[_Frame] = []
_unwatched = list(WATCHED_MODULES)
# Once numpy and torch are imported, which sources are active no longer changes
# (until sources are added or switched off, which changes ``_sources.version``).
_settled: tuple[Source, ...] | None = None
_settled_version = -1


def _new_lock_in_child() -> None:
    # A fork while another thread held the lock would leave it held for good,
    # and that thread's blocks, which can never close here, open for good.
    global _lock, _turn, _waiting
    _lock = threading.RLock()
    _turn = threading.Condition(_lock)
    _waiting = 0
    if _open and _open[0].thread != threading.get_ident():
        _open.clear()


os.register_at_fork(after_in_child=_new_lock_in_child)


def _active_sources() -> tuple[Source, ...]:
    global _settled, _settled_version
    if _settled is not None and _settled_version == _sources.version:
        return _settled
    active = tuple(source for source in _sources.all_sources() if source.active())
    torch = sys.modules.get("torch")
    if "numpy.random" in sys.modules and hasattr(torch, "default_generator"):
        _settled, _settled_version = active, _sources.version
    return active


def exclusive() -> threading.RLock:
    """The lock held while generator state is captured, seeded or restored."""
    return _lock


def block_sources(block: fixed_rng) -> tuple[Source, ...]:
    """What a block manages: the active sources it does not exclude, then its objects."""
    if not block.seeds:
        return ()
    sources = _active_sources()
    if block.exclude:
        sources = tuple(source for source in sources if source.name not in block.exclude)
    objects = block.objects
    if _objects.has_registered():
        objects = _objects.merge(objects, _objects.registered())
    return sources + objects if objects else sources


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


def capture_all() -> dict[Source, object]:
    """The state of every active source and registered object, as :func:`restore_all` puts back."""
    with _lock:
        return {source: source.capture() for source in block_sources(_EVERYTHING)}


def restore_all(states: dict[Source, object]) -> None:
    """Put back states from :func:`capture_all`, every source even if one fails."""
    with _lock:
        _restore(states)


def _thread_name(ident: int) -> str:
    for thread in threading.enumerate():
        if thread.ident == ident:
            return thread.name
    return f"thread {ident}"


def _named(frame: _Frame) -> str:
    """How messages name a frame's block."""
    block = frame.block
    return f"fixed_rng(seed={frame.seed})" if block.seeds else repr(block.switches)


def _take_turn(frame: _Frame, timeout: float | None) -> None:
    """Holding ``_lock``, with another thread's blocks open: wait until they close."""
    global _waiting
    _waiting += 1
    try:
        free = _turn.wait_for(lambda: not _open or _open[0].thread == frame.thread, timeout)
    finally:
        _waiting -= 1
    if not free:
        owner = _open[0]
        raise RuntimeError(
            f"{_named(frame)} in thread {_thread_name(frame.thread)!r} waited "
            f"{timeout:g} s for the blocks open in thread {_thread_name(owner.thread)!r} "
            f"(outermost: {_named(owner)}) to close. Generator state is "
            "process-wide, so blocks in different threads take turns; if that thread is "
            "waiting for this one (joining it, or waiting for its result), it never will. "
            "Enter blocks in one of the two threads only, or pass a longer timeout "
            "(timeout=None waits for ever)"
        )


# Entry and exit are safe against an exception arriving at any step (Ctrl-C's
# KeyboardInterrupt, or whatever a signal handler raises): every state is
# recorded before it is changed, and every step of leaving a frame can be done
# again, so a cut step is finished by repeating it, up to _ATTEMPTS times, and
# the first exception is raised after. The loops that repeat are written out
# where they are needed: the first step of calling a helper could be cut too.
_ATTEMPTS = 3


def _enter_frame(frame: _Frame, stack: list[_Frame]) -> None:
    """Enter ``frame``'s block onto ``stack``; cut anywhere, :func:`_undo` puts all back."""
    block = frame.block
    seed = block.seed
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("reprorng: entering block with seed=%d", seed)
    with _lock:
        _admit(frame, block.timeout)
        saved = frame.saved
        for source in block_sources(block):
            saved[source] = source.capture()  # recorded before it changes
            source.seed(seed)
        _switch_on(frame)
        stack.append(frame)


def _stacked(frame: _Frame) -> tuple[list[_Frame], list[_Frame]] | None:
    """Holding ``_lock``: the stack ``frame`` is on and the frames above it, if it is on one."""
    for stack in (_ambient, _open):
        for index, each in enumerate(stack):
            if each is frame:
                above = stack[index + 1 :]
                return stack, above + _open if stack is _ambient else above
    return None


def _leave(frame: _Frame) -> bool:
    """Close ``frame``; again after a cut, it finishes the job. True if it handed over.

    With blocks still open above it, restoring would overwrite their streams:
    its saved state goes to the lowest of them instead, so that once every
    block has exited the state is exactly what it was before this one.
    """
    handed = False
    with _lock:
        where = _stacked(frame)
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
                _switch_back(frame)
                _restore(frame.saved)
            stack.remove(frame)
        _forget(frame)
        _wake()
    return handed


def _undo(frame: _Frame) -> None:
    """Put back what a cut entry of ``frame`` changed; again after a cut, it finishes."""
    with _lock:
        if _stacked(frame) is not None:
            _leave(frame)
            return
        _switch_back(frame)
        _restore(frame.saved)
        _forget(frame)
        _wake()


def _forget(frame: _Frame) -> None:
    frames = frame.block._frames
    if frame in frames:
        frames.remove(frame)


def _warn_handed_over(frame: _Frame, stacklevel: int = 3) -> None:
    warnings.warn(
        f"{_named(frame)} exited while a block entered after it is still "
        "open; its state will be restored when that block exits",
        RuntimeWarning,
        stacklevel=stacklevel,  # 3: the with statement, whose __exit__ calls this
    )


def enter_ambient(block: fixed_rng) -> _Frame:
    """Seed as ``block`` does, below every block and for no thread in particular.

    Blocks entered afterwards, in any thread, enter on top without waiting
    for it; :func:`exit_ambient` puts back what it found. A frame never
    exited seeds until the process ends (``reprorng run``).
    """
    frame = _Frame(block)
    try:
        _enter_frame(frame, _ambient)
    except BaseException:
        _undo_fully(frame)
        raise
    return frame


def exit_ambient(frame: _Frame) -> None:
    """Put back what :func:`enter_ambient` found, or hand it to what is open above."""
    failure: BaseException | None = None
    attempts = 0
    while attempts < _ATTEMPTS:
        attempts += 1
        try:
            _leave(frame)
            break
        except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
            failure = failure or error
    if failure is not None:
        raise failure


def _undo_fully(frame: _Frame) -> None:
    """In an exception handler: :func:`_undo`, repeated if it is cut; the handled one goes on."""
    attempts = 0
    while attempts < _ATTEMPTS:
        attempts += 1
        try:
            _undo(frame)
            break
        except BaseException:  # noqa: BLE001 - finish the undo
            continue


def _admit(frame: _Frame, timeout: float | None) -> None:
    """Holding ``_lock``: wait for another thread's blocks, and watch imports, before entry."""
    if _open and _open[0].thread != frame.thread:
        _take_turn(frame, timeout)
    if _unwatched:
        _watch_imports()


def _wake() -> None:
    """Holding ``_lock``, after a block's exit: let threads waiting for their turn go on."""
    if _waiting and not _open:
        _turn.notify_all()


def _switch_on(frame: _Frame) -> None:
    """Switch the determinism settings ``frame``'s block asks for, if any, keeping the prior."""
    switches = frame.block.switches
    if switches is not None:
        prior = switches.current()
        frame.switched.append((switches, prior))  # recorded before it changes
        switches.switch(prior)


def _switch_back(frame: _Frame) -> None:
    """Put back the determinism settings ``frame`` switched, if any, latest first."""
    for switches, prior in reversed(frame.switched):
        switches.restore(prior)
    frame.switched = []


def _watch_imports() -> None:
    """Seed numpy or torch if they are first imported while a block is open."""
    import wrapt  # only now: it costs more to import than the rest of reprorng

    for name in list(_unwatched):
        _unwatched.remove(name)
        if name not in sys.modules:
            wrapt.register_post_import_hook(_on_import, name)


def watch_imports() -> None:
    """Watch for numpy and torch to be imported, as the first block does."""
    with _lock:
        if _unwatched:
            _watch_imports()


def _on_import(module: object) -> None:
    with _lock:
        try:
            for source in _sources.all_sources():
                if not source.active():
                    continue
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
    """Holding ``_lock``: have the open blocks manage ``source``, new to them, from now on."""
    for frame in (*_ambient, *_open):
        block = frame.block
        if block.seeds and source not in frame.saved and source.name not in block.exclude:
            frame.saved[source] = source.capture()
            source.seed(frame.seed)


def _on_register(source: Source) -> None:
    with _lock:
        if not _open or _open[0].thread == threading.get_ident():
            _join_open_blocks(source)


_objects.on_register.append(_on_register)


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


def run_seeded(block: fixed_rng, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
    """Call ``function(*args, **kwargs)`` inside ``block``."""
    frame = _Frame(block)
    try:
        _enter_frame(frame, _open)
    except BaseException:
        _undo_fully(frame)
        raise
    try:
        return function(*args, **kwargs)
    finally:
        failure: BaseException | None = None
        attempts = 0
        while attempts < _ATTEMPTS:
            attempts += 1
            try:
                if _leave(frame):
                    _warn_handed_over(frame)
                break
            except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
                failure = failure or error
        if failure is not None:
            raise failure


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

    def __init__(self, block: fixed_rng) -> None:
        self.block = block
        self._state: dict[Source, object] | None = None
        # Blocks entered in the body and still open while it is suspended.
        self._frames: list[_Frame] = []

    def step(self, action: Callable[..., _T], *args: Any) -> _T:
        frame = self._resume()
        try:
            return action(*args)
        finally:
            self._suspend(frame)

    def _resume(self) -> _Frame:
        block = self.block
        frame = _Frame(block)
        with _lock:
            _admit(frame, block.timeout)
            saved, state = frame.saved, self._state
            fresh: list[Source] = []
            try:
                for source in block_sources(block):
                    if state is not None and source in state:
                        saved[source] = source.exchange(state[source])
                    else:
                        saved[source] = source.swap(block.seed)
                        fresh.append(source)
                _switch_on(frame)
                for inner in self._frames:
                    inner.thread = frame.thread
                    # A library imported while the body was suspended:
                    # as if imported before these blocks were entered.
                    for source in fresh:
                        if inner.block.seeds and source.name not in inner.block.exclude:
                            inner.saved[source] = source.swap(inner.seed)
                    inner.switched = [
                        (switches, switches.switch()) for switches, _ in inner.switched
                    ]
            except BaseException:
                _switch_back(frame)
                _restore(saved)
                raise
            _open.append(frame)
            _open.extend(self._frames)
            self._frames = []
        return frame

    def _suspend(self, frame: _Frame) -> None:
        with _lock:
            if _open[-1] is frame:
                _open.pop()
            else:
                index = _open.index(frame)
                self._frames = _open[index + 1 :]
                del _open[index:]
            saved = frame.saved
            state: dict[Source, object] = {}
            try:
                for inner in reversed(self._frames):
                    for switches, prior in reversed(inner.switched):
                        switches.restore(prior)
                _switch_back(frame)
                for source, outer in saved.items():
                    state[source] = source.exchange(outer)
            except BaseException:
                _restore({source: saved[source] for source in saved if source not in state})
                raise
            finally:
                _wake()
            self._state = state


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
    ``deterministic=True`` also switches torch to deterministic algorithms
    for the block, as :class:`reprorng.deterministic` does (``warn_only=True``
    passed on), and switches back after.

    Generator state is process-wide, so blocks in different threads take
    turns: entering a block while another thread has one open waits for it to
    close, at most ``timeout`` seconds (``None``: for ever), then raises
    ``RuntimeError``. Blocks in one thread never wait.
    """

    __slots__ = ("_frames", "exclude", "objects", "seed", "seeds", "switches", "timeout")

    def __init__(
        self,
        seed: SeedLike | None = None,
        *,
        generators: Iterable[object] = (),
        exclude: Collection[str] = frozenset(),
        deterministic: bool = False,
        warn_only: bool = False,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        self.timeout = check_timeout(timeout)
        no_objects = isinstance(generators, tuple) and not generators
        self.objects = () if no_objects else _objects.object_sources(generators)
        self.exclude = (
            _sources.check_names(exclude, "fixed_rng(exclude=...)") if exclude else frozenset()
        )
        for flag, value in (("deterministic", deterministic), ("warn_only", warn_only)):
            if not isinstance(value, bool):
                raise TypeError(f"{flag} must be True or False, got {value!r}")
        if warn_only and not deterministic:
            raise ValueError("warn_only=True needs deterministic=True")
        self.switches: deterministic_settings | None = None
        if deterministic:
            from reprorng.determinism import deterministic as deterministic_settings

            self.switches = deterministic_settings(warn_only=warn_only)
        self.seed: int = resolve_seed(seed)
        # False for a block that only switches determinism settings (see switching_only).
        self.seeds = True
        self._frames: list[_Frame] = []

    def __repr__(self) -> str:
        if not self.seeds:
            return repr(self.switches)
        options = [f"seed={self.seed}"]
        if self.objects:
            options.append(f"generators=[{', '.join(source.name for source in self.objects)}]")
        if self.exclude:
            options.append(f"exclude={sorted(self.exclude)}")
        if self.switches is not None:
            options.append("deterministic=True")
            if self.switches.warn_only:
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
        frame = _Frame(self)
        try:
            frame.caller = sys._getframe(1)
            self._frames.append(frame)
            _enter_frame(frame, _open)
        except BaseException:
            _undo_fully(frame)
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        frame: _Frame | None = None
        failure: BaseException | None = None
        attempts = 0
        while attempts < _ATTEMPTS:
            attempts += 1
            try:
                if frame is None:
                    frame = self._frame_for(sys._getframe(1))
                if _leave(frame):
                    _warn_handed_over(frame)
                break
            except _MisuseError:
                raise
            except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
                failure = failure or error
        if failure is not None:
            raise failure

    async def __aenter__(self) -> Self:
        self._open_from(sys._getframe(1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._close_from(sys._getframe(1))

    # What __enter__ and __exit__ do, for ``async with`` and ``deterministic()``,
    # whose own methods call these (one more point where a signal could land
    # between the work and the method that has to finish it).

    def _open_from(self, caller: FrameType) -> None:
        frame = _Frame(self)
        try:
            frame.caller = caller
            self._frames.append(frame)
            _enter_frame(frame, _open)
        except BaseException:
            _undo_fully(frame)
            raise

    def _close_from(self, caller: FrameType) -> None:
        frame: _Frame | None = None
        failure: BaseException | None = None
        attempts = 0
        while attempts < _ATTEMPTS:
            attempts += 1
            try:
                if frame is None:
                    frame = self._frame_for(caller)
                if _leave(frame):
                    _warn_handed_over(frame, stacklevel=4)
                break
            except _MisuseError:
                raise
            except BaseException as error:  # noqa: BLE001 - finish leaving; the first is raised
                failure = failure or error
        if failure is not None:
            raise failure

    def _frame_for(self, caller: FrameType) -> _Frame:
        """The open frame the ``with`` run by ``caller`` entered; ``_MisuseError`` if none."""
        frames = self._frames
        if not frames:
            raise _MisuseError(f"{self!r} exited without being entered")
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
        if _stacked(frame) is None:
            raise _MisuseError(
                f"{self!r} exited while not open: it was entered in a coroutine or "
                "generator that is suspended now; exit it in that body"
            )
        return frame

    def __call__(self, target: _F) -> _F:
        from reprorng._decorate import decorate

        return decorate(target, lambda _function: self)


# What capture_all takes: every active source and registered object.
_EVERYTHING = fixed_rng(0)


def switching_only(switches: deterministic_settings) -> fixed_rng:
    """A block that seeds nothing and only switches ``switches`` on, then back.

    It is a block all the same: it nests with others, hands over when blocks
    overlap, takes turns between threads and follows decorated coroutines
    and generators step by step.
    """
    block = fixed_rng(0)
    block.switches = switches
    block.seeds = False
    return block
