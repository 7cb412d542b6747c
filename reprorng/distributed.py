"""Seeds across the ranks of ``torch.distributed``: one for all, or one per rank.

Two patterns cover data-parallel training:

- **the same stream on every rank** (model initialisation, anything that must
  agree): every rank enters ``fixed_rng(broadcast_seed())``;
- **a different stream per rank** (dropout, augmentation, sampling noise):
  every rank enters ``fixed_rng(rank_seed(seed))``.

Both work unchanged from one process to many nodes: the rank comes from the
initialised process group, else from ``$RANK`` (set by ``torchrun`` on every
node), else it is 0.
"""

from __future__ import annotations

import os
from typing import Any

from reprorng._seed import SeedLike, check_seed, derive_seed, resolve_seed

__all__ = ["broadcast_seed", "current_rank", "rank_seed"]


def _process_group() -> Any:
    """``torch.distributed`` if a process group is initialised, else ``None``."""
    import torch.distributed as dist

    return dist if dist.is_available() and dist.is_initialized() else None


def current_rank() -> int:
    """This process's global rank: the process group's, else ``$RANK``, else 0."""
    dist = _process_group()
    if dist is not None:
        return int(dist.get_rank())
    text = os.environ.get("RANK")
    if text is None:
        return 0
    try:
        rank = int(text)
    except ValueError:
        rank = -1
    if rank < 0:
        raise ValueError(f"$RANK must be a rank, an integer >= 0, got {text!r}")
    return rank


def rank_seed(seed: SeedLike) -> int:
    """A seed for this rank alone: ``derive_seed(seed, "rank", current_rank())``.

    Every rank gets a different seed, and the same one in every run with
    ``seed``. Use it where ranks must not draw the same numbers.
    """
    return derive_seed(check_seed(seed), "rank", current_rank())


def broadcast_seed(seed: SeedLike | None = None) -> int:
    """The same seed on every rank: rank 0's, sent to the others by a broadcast.

    On rank 0 ``seed`` is resolved as by ``fixed_rng`` (``None``: ``$REPRORNG_SEED``
    if set, else fresh OS entropy); the other ranks' ``seed`` is checked, then
    ignored. Every rank of the process group must call it, as for any
    collective. Without a process group it returns the resolved ``seed``.
    """
    if seed is not None:
        seed = check_seed(seed)
    dist = _process_group()
    if dist is None:
        return resolve_seed(seed)
    value: list[int | None] = [resolve_seed(seed) if dist.get_rank() == 0 else None]
    dist.broadcast_object_list(value, src=0)
    return check_seed(value[0])
