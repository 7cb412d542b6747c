"""Seeded blocks in one minute: run with ``python examples/quickstart.py``."""

from __future__ import annotations

import random

import numpy as np
import torch

from reprorng import fixed_rng, reproducible

# The problem: every call draws new numbers, so two runs of an experiment differ.
first, second = torch.rand(3), torch.rand(3)
print("two unseeded draws differ:   ", first.tolist(), second.tolist())
assert not torch.equal(first, second)

# The fix: a seeded block. Inside, each library is seeded as by its own seeding call.
with fixed_rng(42):
    a = torch.rand(3, 4)
with fixed_rng(42):
    b = torch.rand(3, 4)
print("seeded torch.rand(3, 4)[0]:  ", [round(x, 4) for x in a[0].tolist()])
assert torch.equal(a, b)
torch.manual_seed(42)
assert torch.equal(a, torch.rand(3, 4)), "same as torch.manual_seed(42)"


# A decorated experiment runs seeded on every call.
@reproducible(7)
def augment(batch: np.ndarray) -> np.ndarray:
    noise = np.random.normal(scale=0.1, size=batch.shape)
    return batch + noise + random.random()


batch = np.zeros(4)
print("augment(batch), twice:       ", augment(batch).round(4), augment(batch).round(4))
assert np.array_equal(augment(batch), augment(batch))

# The caller's streams are untouched: the code after a block draws exactly
# what it would have drawn had the block never run.
state = (random.getstate(), np.random.get_state(), torch.get_rng_state())
expected = (random.random(), np.random.random(), torch.rand(1).item())
random.setstate(state[0])
np.random.set_state(state[1])
torch.set_rng_state(state[2])

with fixed_rng(123):
    torch.rand(1000)
    np.random.random(1000)
augment(batch)

after = (random.random(), np.random.random(), torch.rand(1).item())
print("caller's stream untouched:   ", after == expected)
assert after == expected

# No seed: $REPRORNG_SEED if set, else a fresh one, printed so the run can be replayed.
with fixed_rng() as ctx:
    value = torch.rand(1).item()
print(f"fresh seed {ctx.seed} drew {value:.4f}; replay with fixed_rng({ctx.seed})")
with fixed_rng(ctx.seed):
    assert torch.rand(1).item() == value
