"""The order of a set of strings decides a model's input."""

import torch

torch.manual_seed(0)
names = {"alpha", "beta", "gamma", "delta", "epsilon", "zeta"}
features = {name: torch.rand(1) for name in sorted(names)}
total = torch.zeros(1)
for name in names:  # cause: hash-seed
    total = total * 3 + features[name]
print(f"{total.item():.6f}")
