"""Python's twister through its memory, and the fallback when that layout is not confirmed."""

from __future__ import annotations

import random
from typing import Any

import pytest

from reprorng import RngState, fixed_rng, snapshot
from reprorng.sources import SOURCES
from reprorng.sources import python as python_source
from reprorng.sources.base import Repeats

from .helpers import global_states


@pytest.fixture(params=["memory", "fallback"])
def path(request, monkeypatch):
    """Each test runs on the memory path and, forced, on the fallback."""
    if request.param == "fallback":
        monkeypatch.setattr(python_source, "OFFSET", None)
    for source in SOURCES:
        if isinstance(source, python_source.PythonRandom):
            monkeypatch.setattr(source, "_known", (None, None))
            monkeypatch.setattr(source, "_repeats", Repeats())
    return request.param


def test_the_layout_is_confirmed_on_this_interpreter():
    assert python_source.OFFSET is not None
    assert python_source.memory_of(random.Random()) is not None


def test_blocks_seed_as_random_seed_and_restore_exactly(path):
    random.seed(3)
    random.gauss(0, 1)  # a cached normal
    before = global_states()
    for _ in range(3):  # the seed kept after its second use, then set
        with fixed_rng(7):
            inside = [random.random(), random.gauss(0, 1)]
        assert global_states() == before
        expected = random.Random(7)
        assert inside == [expected.random(), expected.gauss(0, 1)]


def test_a_snapshot_saves_the_same_bytes_on_either_path(path):
    random.seed(11)
    random.random()
    data = snapshot().to_bytes()
    expected = random.random()
    RngState.from_bytes(data).restore()
    assert random.random() == expected


def test_generator_objects_restore_exactly_in_place(path):
    mine = random.Random(5)
    mine.gauss(0, 1)
    state = mine.getstate()
    for _ in range(3):
        with fixed_rng(9, generators=[mine]):
            inside = [mine.random(), mine.gauss(0, 1)]
        assert mine.getstate() == state
        expected = random.Random(9)
        assert inside == [expected.random(), expected.gauss(0, 1)]
    saved = snapshot(generators=[mine]).to_bytes()
    mine.random()
    RngState.from_bytes(saved).restore(generators=[mine])
    assert mine.getstate() == state


class Counting(random.Random):
    """A subclass with state of its own, which its methods save and restore."""

    def __init__(self, seed: int) -> None:
        self.draws = 0
        super().__init__(seed)

    def random(self) -> float:
        self.draws += 1
        return super().random()

    def getstate(self) -> Any:
        return (*super().getstate(), self.draws)

    def setstate(self, state: Any) -> None:
        *base, self.draws = state
        super().setstate(tuple(base))


def test_a_subclass_with_state_of_its_own_goes_through_its_methods():
    mine = Counting(1)
    mine.random()
    with fixed_rng(2, generators=[mine]):
        mine.random()
        mine.random()
    assert mine.draws == 1


def test_a_layout_that_does_not_check_out_is_not_used(monkeypatch):
    import struct

    # As on an interpreter whose random objects hold the words another way.
    monkeypatch.setattr(python_source, "_TWISTER", struct.Struct("=i624H"))
    assert python_source._find_twister() is None
    probe = random.Random(4)
    assert probe.getstate() == random.Random(4).getstate()  # the probes wrote nothing wrong
