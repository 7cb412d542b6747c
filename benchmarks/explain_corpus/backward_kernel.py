"""A non-deterministic kernel in the backward pass."""

import time

import torch


@torch.library.custom_op("corpus::scale", mutates_args=())
def scale(x: torch.Tensor) -> torch.Tensor:
    return x * 2


@scale.register_fake
def _(x: torch.Tensor) -> torch.Tensor:
    return torch.empty_like(x)


@torch.library.custom_op("corpus::noisy_grad", mutates_args=())
def noisy_grad(grad: torch.Tensor) -> torch.Tensor:
    # Stands in for a GPU kernel whose atomics add in a different order each run.
    return grad * (2 + (time.perf_counter_ns() % 1000003) * 1e-9)


scale.register_autograd(lambda ctx, grad: noisy_grad(grad))

torch.manual_seed(0)
w = torch.rand(3, requires_grad=True)
loss = scale(w).sum()  # cause: kernel
loss.backward()
assert w.grad is not None
print(w.grad.tolist())
