"""Generator objects: ``generators=``, the registry, exclusions and added sources."""

from __future__ import annotations

import contextlib
import gc
import random
import weakref
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import reprorng
from reprorng import fixed_rng, register, reproducible, unregister

from .helpers import global_states, run_python

# Each kind: how to make one seeded with ``seed`` (as a user would, from scratch).
FRESH: dict[str, Callable[[int], Any]] = {
    "Generator(PCG64)": np.random.default_rng,
    "Generator(PCG64DXSM)": lambda seed: np.random.Generator(np.random.PCG64DXSM(seed)),
    "Generator(Philox)": lambda seed: np.random.Generator(np.random.Philox(seed)),
    "Generator(SFC64)": lambda seed: np.random.Generator(np.random.SFC64(seed)),
    "Generator(MT19937)": lambda seed: np.random.Generator(np.random.MT19937(seed)),
    "PCG64": np.random.PCG64,
    "Philox": np.random.Philox,
    "RandomState": np.random.RandomState,
    "RandomState(PCG64)": lambda seed: np.random.RandomState(np.random.PCG64(seed)),
    "torch.Generator": lambda seed: torch.Generator().manual_seed(seed),
    "random.Random": random.Random,
}
KINDS = sorted(FRESH)


def draw(generator: Any, count: int = 3) -> Any:
    """A few values that depend on every part of the state, buffered bits included."""
    if isinstance(generator, np.random.BitGenerator):
        return generator.random_raw(count).tolist()
    if isinstance(generator, np.random.Generator):
        # 32-bit draws leave half a 64-bit word buffered (has_uint32).
        words = generator.integers(0, 2**32, size=count, dtype=np.uint32).tolist()
        return [*words, generator.standard_normal()]
    if isinstance(generator, np.random.RandomState):
        return generator.standard_normal(count).tolist()  # odd count: a gaussian cached
    if isinstance(generator, torch.Generator):
        return torch.randn(count, generator=generator).tolist()
    return [generator.gauss(0, 1) for _ in range(count)]


def clone(generator: Any) -> Any:
    """An independent copy in exactly the same state."""
    if isinstance(generator, torch.Generator):
        return torch.Generator().set_state(generator.get_state())
    if isinstance(generator, random.Random):
        copy = random.Random()
        copy.setstate(generator.getstate())
        return copy
    import copy as copy_module

    return copy_module.deepcopy(generator)


@pytest.mark.parametrize("kind", KINDS)
def test_inside_a_block_each_kind_draws_like_a_fresh_one_seeded_with_the_seed(kind):
    generator = FRESH[kind](7)
    draw(generator)
    with fixed_rng(42, generators=[generator]):
        assert draw(generator) == draw(FRESH[kind](42))


def test_a_large_seed_seeds_a_random_state_as_np_random_seed_takes_it():
    generator = np.random.RandomState(1)
    seed = 2**40 + 5
    with fixed_rng(seed, generators=[generator]):
        assert draw(generator) == draw(np.random.RandomState([seed & 0xFFFFFFFF, seed >> 32, 1]))


@pytest.mark.parametrize("kind", KINDS)
@settings(max_examples=25, deadline=None)
@given(before=st.integers(0, 5), inside=st.integers(0, 5), seed=st.integers(0, 2**64 - 1))
def test_after_a_block_each_kind_continues_exactly_where_it_was(kind, before, inside, seed):
    generator = FRESH[kind](3)
    for _ in range(before):
        draw(generator, 1)
    reference = clone(generator)
    with fixed_rng(seed, generators=[generator]):
        for _ in range(inside):
            draw(generator, 1)
    assert draw(generator, 5) == draw(reference, 5)


def test_objects_are_seeded_in_place_so_every_reference_sees_it():
    bit_generator = np.random.PCG64(1)
    generator = np.random.Generator(bit_generator)
    other = np.random.Generator(bit_generator)  # shares the bit generator
    with fixed_rng(42, generators=[generator]):
        assert other.random() == np.random.default_rng(42).random()


def test_a_generator_and_its_bit_generator_are_managed_once():
    generator = np.random.default_rng(1)
    reference = clone(generator)
    with fixed_rng(42, generators=[generator, generator.bit_generator, generator]) as block:
        assert len(block.objects) == 1
        assert generator.random() == np.random.default_rng(42).random()
    assert generator.random() == reference.random()


def test_spawn_inside_a_block_uses_the_objects_own_seed_sequence():
    generator = np.random.default_rng(1)
    with fixed_rng(42, generators=[generator]):
        (child,) = generator.spawn(1)
    assert child.random() == np.random.default_rng(1).spawn(1)[0].random()
    # The spawn counter is the seed sequence's own and is not put back.
    seed_sequence: Any = generator.bit_generator.seed_seq
    assert seed_sequence.n_children_spawned == 1


def test_global_generators_are_seeded_too():
    generator = np.random.default_rng(1)
    with fixed_rng(42, generators=[generator]):
        inside = random.random()
    with fixed_rng(42):
        assert random.random() == inside


@pytest.mark.parametrize(
    ("bad", "words"),
    [
        (5, "int"),
        ("rng", "str"),
        (random.SystemRandom(), "SystemRandom"),
        (np.zeros(3), "ndarray"),
        (np.random.SeedSequence(1), "SeedSequence"),
    ],
    ids=["int", "str", "SystemRandom", "array", "SeedSequence"],
)
def test_anything_else_in_generators_is_a_type_error_naming_its_type(bad, words):
    good = np.random.default_rng(1)
    reference = clone(good)
    before = global_states()
    with pytest.raises(TypeError, match=words):
        fixed_rng(1, generators=[good, bad])
    assert global_states() == before
    assert good.random() == reference.random()


class OwnBitGenerator(np.random.PCG64):
    """A subclass whose constructor takes no seed: reprorng cannot make a seeded one."""

    def __init__(self) -> None:
        super().__init__(0)


def test_a_bit_generator_reprorng_cannot_seed_is_refused_before_entry():
    generator = np.random.Generator(OwnBitGenerator())
    with pytest.raises(TypeError, match="OwnBitGenerator"):
        fixed_rng(1, generators=[generator])
    with pytest.raises(TypeError, match="OwnBitGenerator"):
        register(generator)


def test_a_bit_generator_subclass_seeded_like_its_base_is_managed():
    class Tagged(np.random.PCG64):
        pass

    generator = np.random.Generator(Tagged(1))
    with fixed_rng(3, generators=[generator]):
        assert generator.random() == np.random.default_rng(3).random()


def test_one_generator_instead_of_a_list_says_to_pass_a_list():
    with pytest.raises(TypeError, match=r"generators=\[...\]"):
        fixed_rng(1, generators=np.random.default_rng(1))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="iterable"):
        fixed_rng(1, generators=3)  # type: ignore[arg-type]


def test_reproducible_takes_generators_and_checks_them_when_decorating():
    generator = np.random.default_rng(1)

    @reproducible(42, generators=[generator])
    def run() -> float:
        return float(generator.random())

    assert run() == run() == np.random.default_rng(42).random()
    with pytest.raises(TypeError, match="int"):
        reproducible(42, generators=[1])


def test_a_decorated_generator_function_keeps_objects_streams_between_steps():
    generator = np.random.default_rng(1)
    reference = clone(generator)

    @reproducible(42, generators=[generator])
    def numbers():
        while True:
            yield float(generator.random())

    stream = numbers()
    first = next(stream)
    assert generator.random() == reference.random()  # the caller's stream in between
    second = next(stream)
    fresh = np.random.default_rng(42)
    assert [first, second] == [fresh.random(), fresh.random()]


# -- the registry ------------------------------------------------------------------------


@pytest.fixture
def registered():
    objects: list[Any] = []

    def add(obj: Any) -> Any:
        register(obj)
        objects.append(obj)
        return obj

    yield add
    for obj in objects:
        with contextlib.suppress(ValueError):
            unregister(obj)


def test_a_registered_generator_is_managed_by_every_block(registered):
    generator = registered(np.random.default_rng(1))
    reference = clone(generator)
    with fixed_rng(42):
        assert generator.random() == np.random.default_rng(42).random()
    assert generator.random() == reference.random()


def test_unregister_stops_it_and_unknown_objects_are_a_value_error(registered):
    generator = registered(torch.Generator().manual_seed(1))
    unregister(generator)
    reference = clone(generator)
    with fixed_rng(42):
        assert (
            torch.rand(2, generator=generator).tolist()
            == torch.rand(2, generator=reference).tolist()
        )
    with pytest.raises(ValueError, match="not registered"):
        unregister(generator)


def test_registering_anything_else_is_a_type_error():
    with pytest.raises(TypeError, match="list"):
        register([1, 2])


def weakly_referenced(make: Callable[[], object]) -> bool:
    try:
        weakref.ref(make())
    except TypeError:
        return False
    return True


@pytest.mark.parametrize("make", [random.Random, torch.Generator], ids=["Random", "torch"])
def test_registration_never_keeps_a_weakly_referenced_object_alive(make):
    if not weakly_referenced(make):  # torch.Generator before torch 2.12
        pytest.skip(f"{make.__name__} takes no weak references in this version")
    generator = make()
    register(generator)
    alive = weakref.ref(generator)
    del generator
    gc.collect()
    assert alive() is None
    with fixed_rng(1):  # a collected object is dropped silently
        pass


WEAKLY_HELD = [
    pytest.param(random.Random, id="Random"),
    pytest.param(
        torch.Generator,
        id="torch",
        marks=pytest.mark.skipif(
            not weakly_referenced(torch.Generator), reason="no weak references to it here"
        ),
    ),
]


@pytest.mark.parametrize("make", WEAKLY_HELD)
def test_a_registered_object_collected_inside_a_block_is_dropped_at_exit(make):
    holder = [make()]
    register(holder[0])
    before = global_states()
    with fixed_rng(0):
        holder.clear()
        gc.collect()
    assert global_states() == before
    assert reprorng.snapshot().generator_kinds == ()


@pytest.mark.parametrize("make", WEAKLY_HELD)
def test_the_bodys_exception_passes_through_when_a_registered_object_is_collected(make):
    holder = [make()]
    register(holder[0])
    with pytest.raises(KeyError) as raised, fixed_rng(0):
        holder.clear()
        gc.collect()
        raise KeyError("from the body")
    assert raised.value.args == ("from the body",)
    assert raised.value.__context__ is None


@pytest.mark.parametrize("make", WEAKLY_HELD)
def test_a_registered_object_collected_in_a_nested_block_leaves_the_outer_one_intact(make):
    holder = [make()]
    register(holder[0])
    before = global_states()
    expected = random.Random(1)
    with fixed_rng(1):
        assert random.random() == expected.random()
        with fixed_rng(2):
            holder.clear()
            gc.collect()
        assert random.random() == expected.random()  # the outer stream goes on
    assert global_states() == before


@pytest.mark.parametrize("make", WEAKLY_HELD)
def test_a_registered_object_collected_during_a_decorated_generators_step(make):
    holder = [make()]
    register(holder[0])

    @reproducible(3)
    def numbers():
        yield random.random()
        holder.clear()  # collected during a step, and gone at the next one
        gc.collect()
        yield random.random()
        yield random.random()

    expected = random.Random(3)
    before = global_states()
    assert list(numbers()) == [expected.random() for _ in range(3)]
    assert global_states() == before


def test_the_registry_lets_go_of_a_numpy_object_once_it_holds_the_last_reference():
    # numpy's generators take no weak references; their lock does, and dies with them.
    bit_generator = np.random.PCG64(1)
    register(bit_generator)
    alive = weakref.ref(bit_generator.lock)
    with fixed_rng(1):
        pass
    assert alive() is not None
    del bit_generator
    with fixed_rng(1):
        pass
    gc.collect()
    assert alive() is None


def test_registering_twice_registers_once(registered):
    generator = registered(random.Random(1))
    register(generator)
    unregister(generator)
    with pytest.raises(ValueError, match="not registered"):
        unregister(generator)


def test_an_object_registered_inside_a_block_is_seeded_and_restored_with_it(registered):
    generator = random.Random(1)
    reference = clone(generator)
    with fixed_rng(42):
        registered(generator)
        assert generator.random() == random.Random(42).random()
    assert generator.random() == reference.random()


# -- exclusions --------------------------------------------------------------------------


def test_an_excluded_source_is_left_alone_by_the_block():
    np.random.seed(5)
    expected = np.random.random(3).tolist()
    np.random.seed(5)
    with fixed_rng(42, exclude={"numpy"}):
        inside = np.random.random(3).tolist()
        assert random.random() == random.Random(42).random()
    assert inside == expected


def test_sources_are_switched_off_and_on_globally():
    reprorng.exclude("torch")
    try:
        torch.manual_seed(5)
        expected = torch.rand(2).tolist()
        torch.manual_seed(5)
        with fixed_rng(42):
            assert torch.rand(2).tolist() == expected
    finally:
        reprorng.include("torch")
    with fixed_rng(42):
        inside = torch.rand(2).tolist()
    assert inside == torch.rand(2, generator=torch.Generator().manual_seed(42)).tolist()


def test_exclusions_name_known_sources():
    assert {"random", "numpy", "torch", "cuda"} <= set(reprorng.source_names())
    with pytest.raises(ValueError, match=r"'nmupy'.*'numpy'"):
        fixed_rng(1, exclude={"nmupy"})
    with pytest.raises(TypeError, match="set, list or tuple"):
        fixed_rng(1, exclude="numpy")
    with pytest.raises(ValueError, match="no source named"):
        reprorng.exclude("nope")


# -- sources added from outside ----------------------------------------------------------

TOY_MODULE = """
class Simulator:
    '''A toy library with a global generator of its own.'''
    state = 1

    @classmethod
    def draw(cls):
        cls.state = (cls.state * 6364136223846793005 + 1442695040888963407) % 2**64
        return cls.state


class SimulatorSource:
    name = "simulator"

    def active(self):
        return True

    def capture(self):
        return Simulator.state

    def seed(self, seed):
        Simulator.state = seed

    def restore(self, state):
        Simulator.state = state
"""

TOY_CHECK = """
import reprorng
from toy import Simulator

Simulator.draw()
before = Simulator.state
with reprorng.fixed_rng(42):
    inside = Simulator.draw()
    with reprorng.fixed_rng(42, exclude={"simulator"}):
        Simulator.draw()
assert Simulator.state == before, "not restored"
Simulator.state = 42
assert inside == Simulator.draw(), "not seeded"
print("simulator" in reprorng.source_names())
"""


def test_a_source_declared_by_an_entry_point_is_managed(tmp_path):
    (tmp_path / "toy.py").write_text(TOY_MODULE)
    info = tmp_path / "toy-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[reprorng.sources]\nsimulator = toy:SimulatorSource\n")
    out = run_python(TOY_CHECK, env={"PYTHONPATH": str(tmp_path)})
    assert out.split() == ["True"]


def test_a_broken_entry_point_is_skipped_with_a_warning(tmp_path):
    info = tmp_path / "broken-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[reprorng.sources]\nbad = no_such_module:Source\n")
    out = run_python(
        """
        import warnings, reprorng, random
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with reprorng.fixed_rng(1):
                value = random.random()
        print(value == random.Random(1).random())
        print(any("'bad'" in str(w.message) and "skips" in str(w.message) for w in caught))
        """,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert out.split() == ["True", "True"]


def test_add_source_checks_the_protocol(tmp_path):
    (tmp_path / "toy.py").write_text(TOY_MODULE)
    out = run_python(
        """
        import reprorng
        from toy import Simulator, SimulatorSource

        class Nameless:
            pass

        for bad, error in ((Nameless(), TypeError), (SimulatorSource(), None)):
            try:
                reprorng.add_source(bad)
            except error or Exception as caught:
                print(type(caught).__name__)
        try:
            reprorng.add_source(SimulatorSource())
        except ValueError as caught:
            print("taken" if "already" in str(caught) else caught)
        with reprorng.fixed_rng(9):
            inside = Simulator.draw()
        Simulator.state = 9
        print(inside == Simulator.draw())
        """,
        env={"PYTHONPATH": str(tmp_path)},
    )
    assert out.split() == ["TypeError", "taken", "True"]


# -- finalisers: the cyclic garbage collector runs them at any allocation -----------------

# A collection, and so any finaliser, can run at any allocation: here it runs every
# time the registry looks at its entries, under its lock. Fails (not hangs) after 60 s.
COLLECT_OFTEN = """
import faulthandler, gc, random
import numpy as np
from reprorng import fixed_rng, register, snapshot, unregister
from reprorng.sources import objects as registry
faulthandler.dump_traceback_later(60, exit=True)
sweep = registry._sweep
def collect_then_sweep():
    gc.collect()
    sweep()
registry._sweep = collect_then_sweep
"""


def test_a_finaliser_entering_a_block_during_a_registry_call_does_not_hang():
    output = run_python(
        COLLECT_OFTEN
        + """
keep = random.Random(1)
register(keep)

class Resource:
    def __init__(self):
        self.cycle = self
    def __del__(self):
        with fixed_rng(0):
            random.random()

before = random.getstate()
for i in range(300):
    Resource()
    with fixed_rng(i):
        pass
    snapshot()
print("finished", random.getstate() == before)
"""
    )
    assert output.split() == ["finished", "True"]


def test_a_finaliser_unregistering_its_generator_does_not_hang_or_raise():
    output = run_python(
        COLLECT_OFTEN
        + """
class Env:
    def __init__(self, seed):
        self.rng = np.random.default_rng(seed) if seed % 2 else random.Random(seed)
        register(self.rng)
        self.cycle = self
    def __del__(self):
        unregister(self.rng)  # its weak reference may be cleared already

for i in range(300):
    Env(i)
    if i % 10 == 0:
        with fixed_rng(i):
            pass
gc.collect()
print("finished")
"""
    )
    assert output.split() == ["finished"]


def test_owners_that_unregister_in_del_work_under_ordinary_collection():
    # Default thresholds: collections land anywhere, inside the registry's loops too.
    output = run_python(
        """
import faulthandler
import numpy as np
from reprorng import fixed_rng, register, unregister
faulthandler.dump_traceback_later(60, exit=True)

class Env:
    def __init__(self):
        self.rng = np.random.default_rng(0)
        register(self.rng)
        self.step = self.reset  # a bound method: a reference cycle
    def reset(self):
        pass
    def __del__(self):
        unregister(self.rng)

for i in range(20000):
    Env()
    if i % 100 == 0:
        with fixed_rng(i):
            pass
print("finished")
"""
    )
    assert output.split() == ["finished"]


def test_unregister_of_an_object_collected_with_its_owner_is_silent():
    class Owner:
        def __init__(self) -> None:
            self.rng = random.Random(0)
            register(self.rng)
            self.cycle = self

        def __del__(self) -> None:
            try:
                unregister(self.rng)
                finalised.append(True)
            except BaseException as error:  # noqa: BLE001 - reported below
                errors.append(error)

    errors: list[BaseException] = []
    finalised: list[bool] = []
    Owner()
    gc.collect()
    assert errors == []
    assert finalised == [True]  # the finaliser ran, and unregister in it said nothing


def test_legacy_seeding_inside_a_block_leaves_a_random_states_seed_sequence(registered):
    generator = registered(np.random.RandomState(np.random.MT19937(np.random.SeedSequence(5))))
    seed_seq = generator._bit_generator.seed_seq
    reference = clone(generator)
    with fixed_rng(42):
        generator.seed(7)  # drops the bit generator's seed_seq
    assert generator._bit_generator.seed_seq is seed_seq
    assert draw(generator) == draw(reference)
