"""``torch.utils.data.DataLoader`` helpers: seeded workers and a generator for shuffling.

``DataLoader`` draws a base seed for each iterator (each epoch) from its
``generator``, or from torch's global generator when it has none, and gives
worker ``i`` the torch seed ``base + i``. :data:`worker_init_fn` seeds every
generator in the worker from that seed and the rank, so workers, epochs and
ranks all draw distinct streams, and the whole run replays from the seed of
the ``generator`` (or of the block the loader is iterated in).
"""

from __future__ import annotations

import functools
import random
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from reprorng._seed import SeedLike, derive_seed, resolve_seed
from reprorng.distributed import current_rank
from reprorng.sources.numpy import numpy_seed
from reprorng.sources.objects import registered

if TYPE_CHECKING:
    import torch

__all__ = ["WorkerInit", "loader_generator", "seed_every_loader", "worker_init_fn"]


class WorkerInit:
    """A ``DataLoader`` ``worker_init_fn`` that seeds the worker, then calls ``then``.

    In the worker, Python's :mod:`random`, numpy's global generator, torch and
    every generator object given to :func:`reprorng.register` are seeded with
    ``derive_seed(torch.initial_seed(), "worker", rank)``:
    ``torch.initial_seed()`` is the seed the ``DataLoader`` gave this worker
    for this epoch, and ``rank`` is :func:`reprorng.distributed.current_rank`.
    ``then(worker_id)``, if given, runs afterwards: your own initialisation.
    Picklable when ``then`` is, so it works with every multiprocessing context.
    """

    __slots__ = ("then",)

    def __init__(self, then: Callable[[int], object] | None = None) -> None:
        if then is not None and not callable(then):
            raise TypeError(
                f"WorkerInit takes a function of the worker id to call after seeding, "
                f"got {then!r} of type {type(then).__name__}"
            )
        self.then = then

    def __repr__(self) -> str:
        return "reprorng.worker_init_fn" if self.then is None else f"WorkerInit({self.then!r})"

    def __call__(self, worker_id: int) -> None:
        import numpy as np
        import torch

        seed = derive_seed(torch.initial_seed(), "worker", current_rank())
        random.seed(seed)
        np.random.seed(numpy_seed(seed))
        torch.manual_seed(seed)
        # Copies of the parent's registered generators: without this, every
        # worker would draw the same numbers from them.
        for source in registered():
            source.seed(seed)
        if self.then is not None:
            self.then(worker_id)


#: ``DataLoader(worker_init_fn=reprorng.worker_init_fn)``; chain your own with
#: ``WorkerInit(your_function)``.
worker_init_fn = WorkerInit()


def loader_generator(seed: SeedLike | None = None) -> torch.Generator:
    """A CPU ``torch.Generator`` for ``DataLoader(generator=...)``, seeded from ``seed``.

    With it, the loader's shuffling and its workers' seeds come from this
    generator alone, not from torch's global one, so other draws (model
    initialisation, say) do not change the data order. ``seed`` resolves as
    for ``fixed_rng``: ``None`` means ``$REPRORNG_SEED``, else fresh entropy.
    The generator is seeded with ``derive_seed(seed, "loader")``, not ``seed``
    itself: inside ``fixed_rng(seed)`` (or after ``seed_everything(seed)``)
    torch's global generator is seeded with ``seed``, and the data order must
    not be the same stream as the model's initialisation.
    """
    import torch

    generator = torch.Generator()
    generator.manual_seed(derive_seed(resolve_seed(seed), "loader"))
    return generator


def seed_every_loader() -> None:
    """Give every ``DataLoader`` made from now on :data:`worker_init_fn`.

    A loader given a ``worker_init_fn`` of its own gets ``WorkerInit(it)``:
    the seeding, then yours. torch need not be imported yet.
    """
    data = sys.modules.get("torch.utils.data")
    if data is not None:
        _give_worker_init(data)
        return
    from reprorng._imports import when_imported

    when_imported(_give_worker_init, "torch.utils.data")


def _give_worker_init(data: Any) -> None:
    loader = data.DataLoader
    original = loader.__init__
    if getattr(original, "_reprorng_worker_init", False):
        return

    @functools.wraps(original)
    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) <= 10:  # worker_init_fn not given by position (it is the eleventh)
            given = kwargs.get("worker_init_fn")
            if given is None:
                kwargs["worker_init_fn"] = worker_init_fn
            elif not isinstance(given, WorkerInit):
                kwargs["worker_init_fn"] = WorkerInit(given)
        original(self, *args, **kwargs)

    init._reprorng_worker_init = True  # type: ignore[attr-defined]
    loader.__init__ = init
