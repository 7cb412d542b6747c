"""A seed taken from the clock."""

import time

import torch

stamp = time.time()  # cause: clock
seed = int(stamp * 1000) % 100_000
torch.manual_seed(seed)
print(f"{torch.rand(3).sum().item():.6f}")
