"""Faker's and polyfactory's shared generators, seeded and put back by every block."""

from __future__ import annotations

import dataclasses
import random
from typing import Any

import faker.generator
import pytest
from faker import Faker
from hypothesis import given, settings
from hypothesis import strategies as st
from polyfactory.factories import DataclassFactory
from polyfactory.factories.base import BaseFactory

from reprorng import RngState, fixed_rng, snapshot
from reprorng.sources.shared import FakerRandom

from .helpers import run_python, run_seeded

fake = Faker()


@dataclasses.dataclass
class Person:
    age: int
    name: str


class PersonFactory(DataclassFactory[Person]): ...


def faker_state() -> tuple[object, ...]:
    generator_class = faker.generator.Generator
    return (
        faker.generator.random,
        faker.generator.random.getstate(),
        generator_class.__dict__.get("_is_seeded"),
        generator_class.__dict__.get("_global_seed"),
    )


def polyfactory_state() -> tuple[object, ...]:
    return BaseFactory.__random__, BaseFactory.__random__.getstate()


@pytest.fixture(autouse=True)
def _marks_put_back():
    before: Any = faker_state(), polyfactory_state()
    yield
    faker.generator.random = before[0][0]
    faker.generator.Generator._is_seeded = before[0][2]
    faker.generator.Generator._global_seed = before[0][3]
    BaseFactory.__random__ = before[1][0]


def test_a_block_seeds_faker_as_faker_seed_does_and_puts_it_back():
    before = faker_state()
    with fixed_rng(1):
        inside = fake.name(), fake.binary(8)
    assert faker_state() == before
    Faker.seed(1)
    assert (fake.name(), fake.binary(8)) == inside  # binary() draws from the seeded generator


def test_faker_is_put_back_even_when_the_block_reseeds_or_replaces_it():
    fake.name()
    before = faker_state()
    with fixed_rng(2):
        Faker.seed(99)
        faker.generator.random = random.Random(3)
        fake.name()
    assert faker_state() == before


@settings(max_examples=30, deadline=None)
@given(outer=st.integers(0, 2**64 - 1), inner=st.integers(0, 2**64 - 1))
def test_nested_blocks_restore_faker_and_polyfactory_exactly(outer, inner):
    before = faker_state(), polyfactory_state()
    with fixed_rng(outer):
        first = fake.name(), PersonFactory.build()
        with fixed_rng(inner):
            fake.name()
            PersonFactory.build()
        second = fake.name(), PersonFactory.build()
    assert (faker_state(), polyfactory_state()) == before
    with fixed_rng(outer):
        assert (fake.name(), PersonFactory.build()) == first
        assert (fake.name(), PersonFactory.build()) == second


def test_a_block_seeds_polyfactory_as_seed_random_does_and_puts_it_back():
    before = polyfactory_state()
    with fixed_rng(5):
        built = PersonFactory.build()
        BaseFactory.seed_random(77)  # puts a new generator in place
    assert polyfactory_state() == before
    BaseFactory.seed_random(5)
    Faker.seed(5)  # what the block also seeds: the name comes from Faker's generator
    assert PersonFactory.build().age == built.age


def test_a_snapshot_saves_and_restores_faker_and_polyfactory():
    Faker.seed(4)
    saved = RngState.from_bytes(snapshot().to_bytes())
    expected = fake.name(), PersonFactory.build()
    fake.name()
    saved.restore()
    assert (fake.name(), PersonFactory.build()) == expected


def test_a_bad_saved_faker_state_is_refused_by_name():
    source = FakerRandom()
    with pytest.raises(ValueError, match="dict of 'state' and 'marks'"):
        source.load({"state": None})
    good = source.dump(source.capture())
    assert isinstance(good, dict)
    with pytest.raises(ValueError, match="marks are"):
        source.load({**good, "marks": ("yes", None)})


def test_seed_everything_and_reprorng_run_seed_faker(tmp_path):
    program = "from faker import Faker\nprint(Faker().name(), Faker().name())\n"
    (tmp_path / "names.py").write_text(program)
    run = [run_seeded(tmp_path / "names.py", 8) for _ in range(2)]
    assert run[0] == run[1]
    everything = run_python(
        "import reprorng\nreprorng.seed_everything(8, verbose=False)\n" + program
    )
    assert everything == run[0]
    unseeded = {run_python(program) for _ in range(2)}
    assert len(unseeded) > 1


def test_a_snapshot_saved_before_these_sources_existed_still_loads_and_restores(tmp_path):
    import numba  # noqa: F401 - with every new source active here

    saved = tmp_path / "old.rng"
    run_python(
        """
        import random, sys
        from reprorng import snapshot
        random.seed(12)
        assert not {"numba", "faker", "polyfactory"} & set(sys.modules)
        open(sys.argv[1], "wb").write(snapshot().to_bytes())
        """,
        str(saved),
    )
    state = RngState.from_bytes(saved.read_bytes())
    fake.name()
    before = faker_state()
    state.restore()
    assert random.random() == random.Random(12).random()
    assert faker_state() == before  # what the snapshot did not hold is left as it is
