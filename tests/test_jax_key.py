"""``jax_key``: keys drawn from the block's stream, for every seed and JAX precision mode."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import jax as jax_module
import pytest

from reprorng import fixed_rng, jax_key

jax: Any = jax_module  # its configuration's attributes are not in its stubs


@pytest.fixture(params=[False, True], ids=["32-bit", "64-bit"])
def precision(request) -> Iterator[bool]:
    before = jax.config.jax_enable_x64
    jax.config.update("jax_enable_x64", request.param)
    yield request.param
    jax.config.update("jax_enable_x64", before)


def data(key: Any) -> list[int]:
    return [int(word) for word in jax.random.key_data(key)]


@pytest.mark.parametrize("seed", [0, 5, 2**63, 2**64 - 1])
def test_the_same_seed_gives_the_same_keys_and_each_call_the_next(precision, seed):
    with fixed_rng(seed):
        first = [data(jax_key()) for _ in range(3)]
    with fixed_rng(seed):
        again = [data(jax_key()) for _ in range(3)]
    assert first == again
    assert len({tuple(key) for key in first}) == 3
    bits = random.Random(seed).getrandbits(64)
    assert first[0] == [bits >> 32, bits & 0xFFFFFFFF]  # all 64 bits, in either mode


def test_a_key_is_jaxs_own_key_of_the_bits_in_64_bit_mode(precision):
    with fixed_rng(2**63 + 9):
        key = jax_key()
    bits = random.Random(2**63 + 9).getrandbits(64)
    if precision:
        assert data(key) == data(jax.random.key(bits - 2**64 if bits >= 2**63 else bits))
    sample = jax.random.normal(key, (2,))  # a valid key
    assert sample.shape == (2,)


def test_another_default_key_type_gets_a_valid_key_of_its_own_kind():
    before = jax.config.jax_default_prng_impl
    jax.config.update("jax_default_prng_impl", "rbg")
    try:
        with fixed_rng(3):
            key, again = jax_key(), None
        with fixed_rng(3):
            again = jax_key()
        assert data(key) == data(again)
        assert jax.random.key_impl(key) == jax.random.key_impl(jax.random.key(0))
        assert jax.random.uniform(key).shape == ()
    finally:
        jax.config.update("jax_default_prng_impl", before)
