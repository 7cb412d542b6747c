"""The clock in arithmetic: a warm-up factor from the elapsed time."""

import time

import torch


def warmup(steps: int) -> float:
    return (time.perf_counter() % 1) / steps  # cause: clock


torch.manual_seed(0)
lr = 0.1 * warmup(3)
weights = torch.ones(3) - lr * torch.rand(3)
print(weights.tolist())
