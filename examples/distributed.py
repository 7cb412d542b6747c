"""Seeds across torch.distributed ranks, on CPU with the gloo backend.

Run with ``torchrun --standalone --nproc_per_node=2 examples/distributed.py``, on
as many nodes as you like, or with ``python examples/distributed.py``, which
starts two local ranks itself. ``REPRORNG_SEED=N`` replays a run.

- Model initialisation must agree on every rank: ``fixed_rng(broadcast_seed())``.
- Dropout and augmentation must differ between ranks: ``fixed_rng(rank_seed(seed))``.
"""

from __future__ import annotations

import datetime
import os
import tempfile

import torch
import torch.distributed as dist
from torch.multiprocessing.spawn import spawn

import reprorng
from reprorng import fixed_rng


def train_step() -> None:
    shared = reprorng.broadcast_seed()  # rank 0's seed, on every rank

    with fixed_rng(shared):  # the same stream on every rank
        model = torch.nn.Linear(4, 2)

    with fixed_rng(reprorng.rank_seed(shared)):  # a stream of this rank's own
        mask = torch.nn.functional.dropout(torch.ones(12), p=0.5)

    weights = torch.cat([p.detach().flatten() for p in model.parameters()]).tolist()
    mine: tuple[int, list[float], list[float]] = (
        reprorng.rank_seed(shared),
        weights,
        mask.tolist(),
    )
    gathered = [mine] * dist.get_world_size()  # filled in with every rank's
    dist.all_gather_object(gathered, mine)
    if dist.get_rank() == 0:
        rank_seeds = [seed for seed, _, _ in gathered]
        all_weights = [w for _, w, _ in gathered]
        masks = [m for _, _, m in gathered]
        print(f"shared seed: {shared}")
        print(f"rank seeds: {rank_seeds}")
        print(f"model weights equal on all ranks: {all(w == all_weights[0] for w in all_weights)}")
        print(f"dropout masks distinct per rank: {len({tuple(m) for m in masks}) == len(masks)}")
        for rank, m in enumerate(masks):
            print(f"rank {rank} dropout mask: {''.join('1' if x else '0' for x in m)}")
        assert all(w == all_weights[0] for w in all_weights)
        assert len(set(rank_seeds)) == len(rank_seeds)


def run(rank: int, world_size: int, store: str) -> None:
    """One rank, started by ``python examples/distributed.py``: the ranks meet through a file."""
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world_size))
    main(f"file://{store}")


def main(meeting: str = "env://") -> None:
    rank, world_size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    dist.init_process_group(
        "gloo",
        init_method=meeting,
        rank=rank,
        world_size=world_size,
        timeout=datetime.timedelta(seconds=120),
    )
    try:
        train_step()
    finally:
        dist.destroy_process_group()


if __name__ == "__main__":
    if "RANK" in os.environ:  # started by torchrun
        main()
    else:
        with tempfile.TemporaryDirectory() as folder:
            store = os.path.join(folder, "store")
            spawn(run, args=(2, store), nprocs=2)  # type: ignore[no-untyped-call]
