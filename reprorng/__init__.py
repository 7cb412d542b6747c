"""Reproducible randomness for Python, numpy and torch.

``with fixed_rng(seed):`` and ``@reproducible(seed)`` seed Python's
:mod:`random`, numpy's global generator, torch's CPU generator and every
accelerator exactly as their own seeding calls do, run the block, and then put
every generator back bit for bit, as if the block had never run. Importing
reprorng imports neither numpy nor torch, and never initialises CUDA.

Generator objects are seeded in place with ``generators=`` or ``register``;
``snapshot()`` returns an ``RngState`` that can be restored, saved and put
in torch checkpoints; ``deterministic()`` switches torch to deterministic
algorithms for a block; other generator families plug in as sources
(``add_source``, the ``reprorng.sources`` entry points) and any source can
be left out (``exclude``). ``derive_seed`` derives independent seeds from
one; ``worker_init_fn`` and ``loader_generator`` seed ``DataLoader`` workers
and shuffling; ``rank_seed`` and ``broadcast_seed`` give per-rank and shared
seeds under ``torch.distributed``; ``task`` seeds a callable by a key of its own,
for pools and clusters (whose tasks are seeded so under ``reprorng run``).
``assert_reproducible`` runs a function twice under one seed and, if the results
differ, says where the runs part.
"""

from typing import TYPE_CHECKING

from reprorng._block import fixed_rng, reproducible
from reprorng._isolated import isolated
from reprorng._jax import jax_key
from reprorng._seed import ENV_VAR, SeedLike, derive_seed
from reprorng.data import WorkerInit, loader_generator, worker_init_fn
from reprorng.determinism import deterministic
from reprorng.distributed import broadcast_seed, rank_seed
from reprorng.sources import ENTRY_POINT_GROUP, add_source, exclude, include, source_names
from reprorng.sources.objects import register, unregister
from reprorng.tasks import task

__all__ = [
    "ENTRY_POINT_GROUP",
    "ENV_VAR",
    "RngState",
    "SeedLike",
    "WorkerInit",
    "add_source",
    "assert_reproducible",
    "broadcast_seed",
    "derive_seed",
    "deterministic",
    "exclude",
    "fixed_rng",
    "include",
    "isolated",
    "jax_key",
    "loader_generator",
    "rank_seed",
    "register",
    "reproducible",
    "seed_everything",
    "snapshot",
    "source_names",
    "task",
    "unregister",
    "worker_init_fn",
]
__version__ = "0.1.0"

if TYPE_CHECKING:
    from reprorng._assert import assert_reproducible
    from reprorng._seed_everything import seed_everything
    from reprorng._state import RngState, snapshot
del TYPE_CHECKING


def __getattr__(name: str) -> object:
    # Imported on first use, not with reprorng: snapshots need json and hashlib,
    # seed_everything subprocess and multiprocessing.
    if name in ("RngState", "snapshot"):
        from reprorng import _state

        return getattr(_state, name)
    if name == "assert_reproducible":
        from reprorng._assert import assert_reproducible

        return assert_reproducible
    if name == "seed_everything":
        from reprorng._seed_everything import seed_everything

        return seed_everything
    raise AttributeError(f"module 'reprorng' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
