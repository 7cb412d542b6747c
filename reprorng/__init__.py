"""Reproducible randomness for Python, numpy and torch.

``with fixed_rng(seed):`` and ``@reproducible(seed)`` seed Python's
:mod:`random`, numpy's global generator, torch's CPU generator and every
accelerator exactly as their own seeding calls do, run the block, and then put
every generator back bit for bit, as if the block had never run. Importing
reprorng imports neither numpy nor torch, and never initialises CUDA.
"""

from reprorng._block import fixed_rng
from reprorng._decorate import reproducible
from reprorng._seed import ENV_VAR, SeedLike

__all__ = ["ENV_VAR", "SeedLike", "fixed_rng", "reproducible"]
__version__ = "0.1.0"
