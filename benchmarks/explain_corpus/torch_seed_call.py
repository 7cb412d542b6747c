"""torch reseeded from OS entropy in a helper."""

import torch


def fresh_start() -> None:
    torch.seed()  # cause: entropy


torch.manual_seed(0)
fresh_start()
print(torch.randint(0, 1000, (3,)).tolist())
