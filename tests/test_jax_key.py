"""``jax_key``: keys drawn from the block's stream, for every seed and JAX precision mode.

JAX starts threads of its own, and a process that has them must not fork, as other tests
here do: each case runs in a fresh interpreter.
"""

from __future__ import annotations

import pytest

from .helpers import run_python

PRELUDE = """
import random, sys
import jax
from reprorng import fixed_rng, jax_key

jax.config.update("jax_enable_x64", sys.argv[1] == "64")

def data(key):
    return [int(word) for word in jax.random.key_data(key)]
"""


def run_case(code: str, precision: str) -> None:
    assert run_python(PRELUDE + code + '\nprint("ok")\n', precision).split()[-1] == "ok"


@pytest.mark.parametrize("precision", ["32", "64"])
def test_keys_repeat_by_seed_use_all_64_bits_and_are_valid_in_either_mode(precision):
    run_case(
        """
for seed in (0, 5, 2**63, 2**64 - 1):
    with fixed_rng(seed):
        first = [data(jax_key()) for _ in range(3)]
    with fixed_rng(seed):
        again = [data(jax_key()) for _ in range(3)]
    assert first == again
    assert len({tuple(key) for key in first}) == 3
    bits = random.Random(seed).getrandbits(64)
    assert first[0] == [bits >> 32, bits & 0xFFFFFFFF], seed  # all 64 bits, in either mode
    if sys.argv[1] == "64":  # jax's own key of the bits, as a signed 64-bit seed
        assert first[0] == data(jax.random.key(bits - 2**64 if bits >= 2**63 else bits))
    with fixed_rng(seed):
        assert jax.random.normal(jax_key(), (2,)).shape == (2,)  # a valid key

# Another default key type: a valid key of its own kind, repeating too.
jax.config.update("jax_default_prng_impl", "rbg")
with fixed_rng(3):
    key = jax_key()
with fixed_rng(3):
    again = jax_key()
assert data(key) == data(again)
assert jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0))
assert jax.random.uniform(key).shape == ()
""",
        precision,
    )
