"""A numpy generator made without a seed feeds a model's input."""

import numpy as np
import torch

torch.manual_seed(0)
weights = torch.rand(4)
rng = np.random.default_rng()  # cause: entropy
noise = torch.from_numpy(rng.normal(size=4)).float()
print(f"{float((weights * noise).sum()):.6f}")
