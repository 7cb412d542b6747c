"""numpy's global twister seeded with large seeds: through Python's seeding, and numpy's own."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprorng import fixed_rng
from reprorng.sources import numpy_memory

from .helpers import global_states

LARGE = st.integers(2**32, 2**64 - 1)


@pytest.fixture(params=["python", "numpy"])
def route(request, monkeypatch):
    """Each test runs with large seeds seeded by Python's code and, forced, by numpy's."""
    numpy_memory._python_scratch()
    if request.param == "numpy":
        monkeypatch.setattr(numpy_memory, "_python", None)
    return request.param


def test_the_python_route_is_confirmed_on_this_interpreter():
    assert numpy_memory._python_scratch() is not None


# The fixture holds for every example: it only chooses the route.
@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(seed=LARGE)
def test_a_large_seed_seeds_numpy_with_its_two_words_then_a_1(route, seed):
    np.random.seed(3)
    np.random.standard_normal()  # a cached normal, which seeding drops
    before = global_states()
    expected = np.random.RandomState([seed & 0xFFFFFFFF, seed >> 32, 1])
    with fixed_rng(seed):
        ours, theirs = np.random.get_state(legacy=False), expected.get_state(legacy=False)
        assert ours["state"]["key"].tolist() == theirs["state"]["key"].tolist()
        assert ours["state"]["pos"] == theirs["state"]["pos"]
        assert ours["has_gauss"] == theirs["has_gauss"] == 0  # seeding drops a cached normal
        assert np.random.standard_normal(3).tolist() == expected.standard_normal(3).tolist()
    assert global_states() == before


def test_a_python_twister_that_does_not_match_numpys_is_not_used(monkeypatch):
    monkeypatch.setattr(numpy_memory, "_python_checked", False)
    monkeypatch.setattr(numpy_memory, "_python", None)
    # A memory that is not the generator's: what it holds never matches numpy's twister.
    monkeypatch.setattr(numpy_memory, "memory_of", lambda _generator: memoryview(bytearray(2500)))
    assert numpy_memory._python_scratch() is None
    with fixed_rng(2**40 + 3):
        drawn = np.random.random(2).tolist()
    assert drawn == np.random.RandomState([3, 2**8, 1]).random(2).tolist()
