"""A torch generator of its own, seeded from OS entropy."""

import torch

torch.manual_seed(0)
generator = torch.Generator()
generator.seed()  # cause: entropy
dropout = torch.rand(5, generator=generator) > 0.5
print(dropout.tolist())
