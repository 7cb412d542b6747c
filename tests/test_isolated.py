"""``isolated()``: the streams go on inside, and are put back after (fork_rng, isolate_rng)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reprorng import fixed_rng, isolated

from .helpers import global_states


# As torch's own test of fork_rng checks it.
def test_draws_after_the_block_repeat_those_inside_it():
    torch.manual_seed(123)
    with isolated():
        inside = torch.rand(3)
    assert torch.equal(torch.rand(3), inside)


# As Lightning's test of isolate_rng checks it, for each library.
def test_python_numpy_and_torch_are_all_isolated():
    torch.rand(1)  # wherever the streams are
    with isolated():
        generated = [(random.random(), np.random.random(), torch.rand(2)) for _ in range(3)]
    first_random, first_numpy, first_torch = generated[0]
    assert random.random() == first_random
    assert np.random.random() == first_numpy
    assert torch.equal(torch.rand(2), first_torch)


def test_nothing_is_seeded_inside():
    random.seed(5)
    expected = random.Random(5)
    with isolated():
        assert random.random() == expected.random()


def test_every_state_is_exactly_restored_also_on_an_exception():
    before = global_states()
    with pytest.raises(KeyError), isolated():
        random.random()
        np.random.standard_normal()
        torch.randn(3)
        raise KeyError("boom")
    assert global_states() == before


def test_enabled_false_does_nothing():
    torch.manual_seed(1)
    with isolated(enabled=False):
        inside = torch.rand(3)
    assert not torch.equal(torch.rand(3), inside)


def test_generator_objects_are_isolated_in_place():
    rng = np.random.default_rng(4)
    gen = torch.Generator().manual_seed(4)
    with isolated(generators=[rng, gen]):
        inside = rng.random(), torch.rand(1, generator=gen)
    assert rng.random() == inside[0]
    assert torch.equal(torch.rand(1, generator=gen), inside[1])


def test_no_devices_leaves_the_accelerators_out():
    block = isolated(devices=[])
    assert {"cuda", "xpu", "mtia", "mps"} <= block.exclude
    assert "cuda" not in isolated(devices=[0]).exclude


def test_as_a_decorator_the_callers_streams_are_untouched():
    @isolated()
    def draw() -> float:
        return random.random()

    random.seed(9)
    assert draw() == draw() == random.random()


def test_a_decorated_coroutine_forks_the_callers_streams_at_its_first_step():
    @isolated()
    async def draw() -> list[float]:
        first = random.random()
        await asyncio.sleep(0)
        return [first, random.random()]

    random.seed(2)
    expected = random.Random(2)
    assert asyncio.run(draw()) == [expected.random(), expected.random()]
    assert random.random() == random.Random(2).random()


def test_inside_a_seeded_block_it_continues_the_blocks_stream():
    with fixed_rng(3):
        with isolated():
            inside = random.random()
        assert random.random() == inside
    assert inside == random.Random(3).random()


@pytest.mark.parametrize(
    ("options", "error"),
    [({"enabled": 1}, TypeError), ({"devices": "cuda"}, TypeError), ({"devices": 3}, TypeError)],
)
def test_bad_options_are_refused(options, error):
    with pytest.raises(error, match=r"enabled|devices"):
        isolated(**options)


def test_its_repr_says_what_it_is():
    assert repr(isolated()) == "isolated()"
    assert repr(isolated(enabled=False)) == "isolated(enabled=False)"


DRAWS: dict[str, Callable[[], object]] = {
    "random": random.random,
    "gauss": lambda: random.gauss(0, 1),
    "numpy": np.random.random,
    "normal": np.random.standard_normal,
    "torch": lambda: torch.rand(1).item(),
    "torch normal": lambda: torch.randn(1).item(),
}


@given(
    before=st.lists(st.sampled_from(sorted(DRAWS)), max_size=4),
    inside=st.lists(st.sampled_from(sorted(DRAWS)), max_size=8),
    seed=st.integers(0, 2**64 - 1),
)
@settings(max_examples=40, deadline=None)
def test_any_draws_inside_leave_every_state_exactly_as_it_was(before, inside, seed):
    with fixed_rng(seed):
        for name in before:  # cached normals and all
            DRAWS[name]()
        start = global_states()
        with isolated():
            for name in inside:
                DRAWS[name]()
        assert global_states() == start
