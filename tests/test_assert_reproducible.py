"""``assert_reproducible``: results compared bit for bit, and the report of where runs part."""

from __future__ import annotations

import math
import random
import time

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprorng import assert_reproducible
from reprorng._assert import first_difference

from .helpers import global_states


@torch.library.custom_op("reprorng_tests::jitter", mutates_args=())
def jitter(x: torch.Tensor) -> torch.Tensor:
    """An operator whose output changes from call to call, as some GPU kernels' do."""
    return x + (time.perf_counter_ns() % 1000003) * 1e-6


def seeded_work(size, *, scale=1.0):
    return {
        "tensor": torch.randn(size) * scale,
        "array": np.random.rand(size),
        "numbers": [random.random(), 3, float("nan")],
    }


def test_returns_the_first_result_when_every_run_agrees():
    result = assert_reproducible(seeded_work, 4, scale=2.0, seed=9, runs=3)
    assert set(result) == {"tensor", "array", "numbers"}
    assert result["tensor"].shape == (4,)


def test_the_generators_are_left_as_they_were():
    before = global_states()
    assert_reproducible(seeded_work, 3)
    assert global_states() == before


def test_a_kernel_that_differs_is_reported_at_its_line():
    def step():
        x = torch.ones(3)
        return jitter(x * 2)

    with pytest.raises(AssertionError) as raised:
        assert_reproducible(step)
    message = str(raised.value)
    line = step.__code__.co_firstlineno + 2
    assert "step is not reproducible with seed 0: run 1 and run 2 differ at result" in message
    assert f"test_assert_reproducible.py:{line} in step: reprorng_tests::jitter" in message
    assert "non-deterministic kernel" in message


def test_an_unseeded_generator_is_reported_as_entropy():
    def step():
        return np.random.default_rng().random()

    with pytest.raises(AssertionError, match=r"numpy\.random\.default_rng — OS entropy"):
        assert_reproducible(step)


def test_a_difference_nothing_traced_explains_says_so():
    calls = []

    def step():
        calls.append(1)
        return len(calls)

    with pytest.raises(AssertionError, match="nothing traced differed"):
        assert_reproducible(step)


@pytest.mark.parametrize(
    ("arguments", "error", "message"),
    [
        ((42,), TypeError, "needs a function"),
        ((seeded_work, 2), ValueError, "at least 2"),
    ],
)
def test_bad_arguments_are_refused(arguments, error, message):
    runs = 1 if error is ValueError else 2
    with pytest.raises(error, match=message):
        assert_reproducible(*arguments, runs=runs)


def test_runs_and_seed_are_checked_before_anything_runs():
    calls: list[int] = []
    with pytest.raises(TypeError, match="runs must be a whole number"):
        assert_reproducible(calls.append, 1, runs=2.5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        assert_reproducible(calls.append, 1, seed="abc")  # type: ignore[arg-type]
    assert calls == []


leaves = (
    st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=5)
    | st.none()
    | st.booleans()
    | st.lists(st.floats(width=32), max_size=5).map(lambda v: torch.tensor(v, dtype=torch.float32))
    | st.lists(st.integers(-100, 100), max_size=5).map(np.array)
)
results = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=3), inner, max_size=3)
    ),
    max_leaves=8,
)


def copy(value):
    if isinstance(value, torch.Tensor):
        return value.clone()
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [copy(item) for item in value]
    if isinstance(value, tuple):
        return tuple(copy(item) for item in value)
    if isinstance(value, dict):
        return {key: copy(item) for key, item in value.items()}
    return value


@given(results)
def test_a_result_equals_its_copy_bit_for_bit(result):
    assert first_difference(result, copy(result)) is None


@given(
    st.lists(st.floats(allow_nan=False, allow_infinity=False, width=32), min_size=1, max_size=6),
    st.data(),
)
def test_any_changed_element_is_found(values, data):
    first = torch.tensor(values)
    index = data.draw(st.integers(0, len(values) - 1))
    second = first.clone()
    second[index] = torch.nextafter(second[index], torch.tensor(math.inf))
    found = first_difference({"w": [first]}, {"w": [second]})
    assert found is not None
    assert found.startswith("result['w'][0]: flattened element")


def test_minus_zero_and_zero_differ_but_a_nan_equals_itself():
    assert first_difference(0.0, -0.0) is not None
    assert first_difference(torch.tensor([0.0]), torch.tensor([-0.0])) is not None
    assert first_difference(float("nan"), float("nan")) is None
    assert first_difference(torch.tensor([math.nan]), torch.tensor([math.nan])) is None


def test_shapes_types_and_keys_are_compared():
    assert "against" in str(first_difference(torch.zeros(2), torch.zeros(3)))
    assert "int against float" in str(first_difference(1, 1.0))
    assert "keys" in str(first_difference({"a": 1}, {"b": 1}))
    assert "2 items against 3" in str(first_difference([1, 2], [1, 2, 3]))
