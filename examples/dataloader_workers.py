"""Seeded DataLoader workers: run with ``python examples/dataloader_workers.py``.

Each sample is augmented with draws from Python's random, numpy and torch, in
two worker processes. reprorng's ``worker_init_fn`` seeds every generator in
each worker (distinct per worker, epoch and rank), and ``loader_generator``
makes the shuffling and the workers' seeds independent of the global stream.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

import reprorng


class Augmented(Dataset[torch.Tensor]):
    """Eight samples: the index, then one random draw from each library."""

    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        draws = [random.random(), np.random.rand(), torch.rand(()).item()]
        return torch.tensor([index, *draws], dtype=torch.float64)


def epochs(seed: int, count: int = 2) -> list[torch.Tensor]:
    """Every sample of ``count`` epochs, in the order the loader gave them."""
    loader = DataLoader(
        Augmented(),
        batch_size=2,
        shuffle=True,
        num_workers=2,
        worker_init_fn=reprorng.worker_init_fn,
        generator=reprorng.loader_generator(seed),
    )
    return [torch.cat(list(loader)) for _ in range(count)]


def main() -> None:
    first = epochs(7)
    for number, epoch in enumerate(first):
        order = [int(i) for i in epoch[:, 0]]
        print(f"epoch {number}: order {order}, random column {epoch[:4, 1].numpy().round(3)} ...")

    # The same seed, the same batches: in this process or any other.
    again = epochs(7)
    assert all(torch.equal(a, b) for a, b in zip(first, again, strict=True))
    print("the same seed replays every batch:", True)

    # Every draw in an epoch is its own: no two workers share a stream.
    for epoch in first:
        augmentations = epoch[:, 1:].flatten().tolist()
        assert len(set(augmentations)) == len(augmentations)
    assert not torch.equal(first[0][:, 1:], first[1][:, 1:])
    print("workers and epochs draw distinct streams:", True)

    # Other draws from the global generators do not move the data.
    torch.rand(1000)
    np.random.rand(1000)
    assert all(torch.equal(a, b) for a, b in zip(first, epochs(7), strict=True))
    print("independent of the global stream:", True)


if __name__ == "__main__":
    main()
