"""A training script that does not repeat; ``reprorng check`` says where and why.

Run ``reprorng check examples/why_runs_differ.py``: the runs' losses differ,
and the report names the line that makes them differ, and the cause.
"""

import numpy as np
import torch
from torch import nn


def augment(images: torch.Tensor) -> torch.Tensor:
    """A little noise on each image, from a generator made without a seed."""
    rng = np.random.default_rng()
    noise = rng.normal(0.0, 0.01, size=tuple(images.shape)).astype(np.float32)
    return images + torch.from_numpy(noise)


def main() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    images, labels = torch.randn(32, 8, 8), torch.randint(0, 10, (32,))
    for epoch in range(3):
        optimizer.zero_grad()
        loss = nn.functional.cross_entropy(model(augment(images)), labels)
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        print(f"epoch {epoch}: loss {loss.item():.6f}")


if __name__ == "__main__":
    main()
