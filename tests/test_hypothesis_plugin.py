"""The Hypothesis plugin: every example starts every reprorng source from the same state."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import pytest
import torch
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.internal.entropy import RANDOMS_TO_MANAGE

from reprorng._hypothesis import EVERY_SOURCE, EverySource

fake = Faker()
njit: Any = numba.njit  # compiled functions, untyped here


@njit  # type: ignore[untyped-decorator]
def numba_draw() -> float:
    return np.random.random()


def test_the_plugin_is_loaded_through_hypothesis_entry_point():
    assert any(ref() is EVERY_SOURCE for ref in RANDOMS_TO_MANAGE.data.values())  # type: ignore[attr-defined]


def test_every_example_starts_torch_numba_and_faker_from_the_same_state():
    firsts: list[tuple[float, float, str]] = []
    before = torch.default_generator.get_state()

    @settings(max_examples=15, database=None, deadline=None)
    @given(st.integers())
    def example(_value: int) -> None:
        firsts.append((torch.rand(1).item(), numba_draw(), fake.name()))

    example()
    assert len(firsts) == 15
    assert len(set(firsts)) == 1
    torch.manual_seed(0)
    assert firsts[0][0] == torch.rand(1).item()  # seeded as Hypothesis seeds: with 0
    torch.default_generator.set_state(before)


def test_the_sources_are_put_back_after_the_test():
    torch.manual_seed(3)
    numba_draw()
    fake.name()
    before = EVERY_SOURCE.getstate()
    expected = torch.rand(1).item(), numba_draw(), fake.name()
    EVERY_SOURCE.setstate(before)

    @settings(max_examples=5, database=None, deadline=None)
    @given(st.integers())
    def example(_value: int) -> None:
        torch.rand(3)
        numba_draw()
        fake.name()

    example()
    assert (torch.rand(1).item(), numba_draw(), fake.name()) == expected


def test_a_seed_that_is_not_an_int_is_refused():
    with pytest.raises(TypeError, match="an int in"):
        EverySource().seed("zero")  # type: ignore[arg-type]
