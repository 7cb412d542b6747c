"""A DataLoader worker reseeds numpy from the clock."""

import time

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset


class Noisy(Dataset[torch.Tensor]):
    def __len__(self) -> int:
        return 8

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor(np.random.rand(2), dtype=torch.float32)


def reseed(worker_id: int) -> None:
    np.random.seed(int(time.time() * 1000) % 2**32)  # cause: clock


torch.manual_seed(0)
total = torch.zeros(2)
for batch in DataLoader(Noisy(), batch_size=2, num_workers=2, worker_init_fn=reseed):
    total = total + batch.sum(0)
print(total.tolist())
