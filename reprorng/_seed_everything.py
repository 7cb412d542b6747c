"""``seed_everything``: seed every generator once, for the rest of the program.

The first line of most training scripts. Unlike a block nothing is put back:
the generators stay seeded, and the seed is exported so that the processes
the program starts afterwards derive their own (as under ``reprorng run``).
"""

from __future__ import annotations

import os

from reprorng import _stack
from reprorng._block import fixed_rng
from reprorng._children import Run, program_environment, watch
from reprorng._pinning import pin_for_good
from reprorng._seed import ENV_VAR, SeedLike, resolve_seed
from reprorng.sources import Source

__all__ = ["seed_everything"]

# The last seed_everything's seed and the sources it has seeded, so that numpy
# or torch imported later is seeded with it too.
_seeded: set[Source] = set()
_last: list[int] = []


def _seed_on_import(source: Source) -> None:
    if _last and source not in _seeded:
        _seeded.add(source)
        source.seed(_last[0])


def seed_everything(
    seed: SeedLike | None = None,
    *,
    workers: bool = False,
    verbose: bool = True,
    pin_entropy: bool = False,
) -> int:
    """Seed every generator reprorng manages, and leave them so; return the seed.

    Python's :mod:`random`, numpy's global generator, torch's CPU generator,
    every initialised accelerator, sources added by packages (not those
    switched off with :func:`reprorng.exclude`) and registered generator
    objects are seeded as a block seeds them; numpy or torch imported later
    are seeded with it as they are imported. Nothing is put back afterwards:
    called inside a block, the seeding outlasts the block; called while
    another thread is inside a block, it waits for that block to close, as a
    block would.

    ``seed=None`` means ``$REPRORNG_SEED`` if set, else a fresh seed, as for
    blocks. The seed is exported as ``$REPRORNG_SEED`` (so a second call
    without a seed gives the same one, and so do ``fixed_rng()`` and bare
    ``@reproducible``) and, as ``reprorng run`` does, to every Python child
    process started afterwards, each of which derives streams of its own.
    ``workers=True`` also gives every ``DataLoader`` made afterwards
    :func:`reprorng.worker_init_fn` (before its own ``worker_init_fn``, if it
    has one). ``pin_entropy=True`` gives every generator made without a seed
    from now on (``np.random.default_rng()``, ``random.Random()``, ...) one
    derived from the seed and the line that makes it, in this process and its
    children; security entropy (``os.urandom``, ``secrets``, ``uuid``, ...)
    stays real. The seed is logged at INFO on the ``reprorng`` logger
    (``verbose=False`` keeps quiet).
    """
    for flag, value in (("workers", workers), ("verbose", verbose), ("pin_entropy", pin_entropy)):
        if not isinstance(value, bool):
            raise TypeError(f"{flag} must be True or False, got {value!r}")
    resolved = resolve_seed(seed)
    block = fixed_rng(resolved)
    with _stack.exclusive():
        # Like a block: blocks open in another thread close first.
        _stack.admit(_stack.Frame(block), block.timeout)
        chosen = _stack.block_sources(block)
        for source in chosen:
            source.seed(resolved)
        if _stack.open_frames:
            # Inside this thread's own blocks: the seeding outlasts them.
            outermost = _stack.open_frames[0].saved
            for source in chosen:
                if source in outermost:
                    outermost[source] = source.capture()
        _seeded.clear()
        _seeded.update(chosen)
        _last[:] = [resolved]
        if _seed_on_import not in _stack.on_first_import:
            _stack.on_first_import.append(_seed_on_import)
    _stack.watch_imports()
    os.environ[ENV_VAR] = str(resolved)
    if pin_entropy:
        pin_for_good(resolved)
    run = Run(resolved, deterministic=False, warn_only=False, pin_entropy=pin_entropy)
    program_environment(run)
    watch(run)
    if workers:
        from reprorng.data import seed_every_loader

        seed_every_loader()
    if verbose:
        _stack.logger.info("seed set to %d", resolved)
    return resolved
