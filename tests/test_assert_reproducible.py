"""``assert_reproducible``: results compared bit for bit, and the report of where runs part."""

from __future__ import annotations

import collections
import dataclasses
import math
import random
import time

import attrs
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprorng import assert_reproducible, fixed_rng
from reprorng._results import first_difference

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
    assert "an operator that is not deterministic" in message
    assert "fix: run with --deterministic" in message


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


# -- results of every shape: compared by structure, refused by name when they cannot be -----


@dataclasses.dataclass
class Result:
    loss: float
    weights: torch.Tensor


Point = collections.namedtuple("Point", ["x", "y"])


@attrs.define
class Logged:
    step: int
    values: list[float]


class Plain:
    def __init__(self, value: list[float]) -> None:
        self.value = value


def made_fresh():
    """The same values each run, in new objects (NaNs included), of every kind users return."""
    return {
        "dataclass": Result(float("nan"), torch.rand(2)),
        "module": torch.nn.Linear(2, 2),
        "set": {float("nan"), random.random(), "a"},
        "object array": np.array([float("nan"), "x", None, random.random()], dtype=object),
        "named tuple": Point(float("nan"), random.random()),
        "attrs": Logged(3, [float("nan"), random.random()]),
        "plain object": Plain([float("nan"), random.random()]),
        "torch generator": torch.Generator().manual_seed(int(torch.randint(2**31, (1,)))),
        "numpy generator": np.random.default_rng(int(np.random.randint(2**31))),
        "random.Random": random.Random(random.random()),
        "sparse COO": torch.rand(3, 3).to_sparse(),
        "sparse CSR": torch.rand(3, 3).to_sparse_csr(),
        "sparse CSC": torch.rand(3, 3).to_sparse_csc(),
        "nested": torch.nested.nested_tensor([torch.rand(2), torch.rand(3)]),
        "meta": torch.empty(3, device="meta"),
        "quantized": torch.quantize_per_tensor(torch.rand(3), 0.1, 2, torch.quint8),
    }


KINDS = [
    "dataclass",
    "module",
    "set",
    "object array",
    "named tuple",
    "attrs",
    "plain object",
    "torch generator",
    "numpy generator",
    "random.Random",
    "sparse COO",
    "sparse CSR",
    "sparse CSC",
    "nested",
    "meta",
    "quantized",
]
prototype_layouts = [
    pytest.mark.filterwarnings("ignore:The PyTorch API of nested tensors"),
    pytest.mark.filterwarnings("ignore:Sparse CSR tensor support is in beta"),
    pytest.mark.filterwarnings("ignore:torch.quantize_per_tensor"),
]


pytestmark = prototype_layouts


def test_every_kind_is_made():
    assert list(made_fresh()) == KINDS


@pytest.mark.parametrize("kind", KINDS)
def test_results_of_every_kind_made_the_same_way_are_reproducible(kind):
    assert_reproducible(lambda: made_fresh()[kind], seed=4)


@pytest.mark.parametrize("kind", KINDS)
def test_results_of_every_kind_that_differ_are_found(kind):
    with fixed_rng(1):
        first = made_fresh()[kind]
    with fixed_rng(2):
        second = made_fresh()[kind]
    if kind in ("meta",):
        assert first_difference(first, second) is None  # nothing but dtype and shape
        return
    found = first_difference(first, second)
    assert found is not None, kind


def test_where_a_structure_differs_is_named_by_its_fields():
    found = first_difference(
        Point(1.0, Result(0.0, torch.zeros(1))), Point(1.0, Result(-0.0, torch.zeros(1)))
    )
    assert found == "result.y.loss: 0.0 against -0.0"
    layer = torch.nn.Linear(2, 2)
    other = torch.nn.Linear(2, 2)
    other.load_state_dict(layer.state_dict())
    with torch.no_grad():
        other.bias[1] += 1
    assert str(first_difference(layer, other)).startswith(
        "result (its state)['bias']: flattened element 1"
    )
    values = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    changed = values.clone()
    changed[1, 0] = 3.0
    assert str(first_difference(values.to_sparse(), changed.to_sparse())).startswith(
        "result.values:"
    )
    assert "one set" not in str(first_difference({1.0}, {1.0}))
    assert first_difference({0.0}, {-0.0}) == "result: 0.0 is in the first only"


def test_a_result_that_holds_itself_is_compared_without_end():
    mine: list[object] = [1.0]
    mine.append(mine)
    theirs: list[object] = [1.0]
    theirs.append(theirs)
    assert first_difference(mine, theirs) is None


def lazily():
    yield random.random()


class Opaque:
    __slots__ = ("value",)

    def __init__(self) -> None:
        self.value = 1


@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (lazily, "builtins.generator"),
        (Opaque, "Opaque"),
        (lambda: torch.rand(2).to_mkldnn(), "Tensor"),
    ],
)
def test_a_result_that_cannot_be_compared_is_refused_naming_its_type(fn, name):
    with pytest.raises(TypeError, match=rf"cannot compare results of type \S*{name}"):
        assert_reproducible(fn)
