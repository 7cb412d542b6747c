"""``jax_key``: a JAX PRNG key drawn from the seeded stream, for every seed and precision."""

from __future__ import annotations

import random
from typing import Any

__all__ = ["jax_key"]


def jax_key() -> Any:
    """A JAX PRNG key drawn from the current block's stream (or the run's).

    The key is made from 64 bits drawn from Python's :mod:`random`, which a
    block (``reprorng run``, ``seed_everything``) seeds: the same seed gives
    the same keys, each call the next one. With JAX's default key type
    (threefry) it is the key ``jax.random.key(bits)`` gives with 64-bit mode on,
    in either precision mode: ``jax.random.key`` itself keeps 32 bits of a seed
    with 64-bit mode off, and raises ``OverflowError`` for seeds of ``2**63``
    and more. With another default key type (``rbg``), it is
    ``jax.random.fold_in(jax.random.key(low), high)`` of the 64 bits' two halves.
    Outside any block and run, it draws from ``random`` as it is.
    """
    import importlib

    import numpy as np

    jax: Any = importlib.import_module("jax")  # only now, and untyped here: its stubs lag

    bits = random.getrandbits(64)
    high, low = bits >> 32, bits & 0xFFFFFFFF
    if jax.config.jax_default_prng_impl == "threefry2x32":
        return jax.random.wrap_key_data(np.array([high, low], dtype=np.uint32))
    return jax.random.fold_in(jax.random.key(low), high)
