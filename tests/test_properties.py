"""Property tests: random programs of draws and nested blocks restore bit-exactly,
registered objects may be collected at any step, and decorated generators
advanced in random interleavings keep their streams.

A program is a list of steps: a draw from some source (several kinds leave
cached normals behind), a reseed by hand, or a block with its own seed, body
and way out (normally, by exception, by KeyboardInterrupt). The model is the
plain libraries: a block's direct draws must equal those of each library
seeded by hand, and a block must leave every state exactly as it found it, so
the code around it draws exactly what it would have drawn without it.
"""

from __future__ import annotations

import contextlib
import gc
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprorng import _stack, fixed_rng, register, reproducible, unregister
from tests.helpers import InterruptAt, examples, global_states, seed_by_hand

DRAWS = {
    "random.random": lambda: random.random(),
    "random.gauss": lambda: random.gauss(0.0, 1.0),
    "random.getrandbits": lambda: random.getrandbits(70),
    "numpy.random": lambda: np.random.random(2).tobytes(),
    "numpy.normal": lambda: float(np.random.standard_normal()),
    "numpy.randint": lambda: int(np.random.randint(0, 1000)),
    "torch.rand": lambda: torch.rand(2).numpy().tobytes(),
    "torch.randn1": lambda: torch.randn(1).numpy().tobytes(),
    "torch.randn20": lambda: torch.randn(20).numpy().tobytes(),
}

# A few seeds come up again and again, so blocks also meet seeds they saw just before.
seeds = st.one_of(
    st.sampled_from([0, 7, 2**32 + 7]),
    st.integers(0, 2**32 - 1),
    st.integers(2**32, 2**64 - 1),
)


@dataclass(frozen=True)
class Draw:
    kind: str


@dataclass(frozen=True)
class Reseed:
    seed: int


@dataclass(frozen=True)
class Block:
    seed: int
    body: tuple[Any, ...]
    exit: str  # "normal", "error" or "interrupt"


class Planned(Exception):
    pass


draws = st.sampled_from(sorted(DRAWS)).map(Draw)
reseeds = st.integers(0, 2**32 - 1).map(Reseed)
programs = st.recursive(
    st.lists(st.one_of(draws, draws, reseeds), max_size=6).map(tuple),
    lambda bodies: st.lists(
        st.one_of(
            draws,
            st.builds(Block, seeds, bodies, st.sampled_from(["normal", "error", "interrupt"])),
        ),
        max_size=6,
    ).map(tuple),
    max_leaves=25,
)


def reseed_by_hand(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def run(program: tuple[Any, ...]) -> list[Any]:
    """Run a program under reprorng; return its direct draws, checking every block."""
    drawn = []
    for step in program:
        if isinstance(step, Draw):
            drawn.append(DRAWS[step.kind]())
        elif isinstance(step, Reseed):
            reseed_by_hand(step.seed)
        else:
            before = global_states()
            expected = model_of_block(step)
            errors = {"error": Planned, "interrupt": KeyboardInterrupt}
            try:
                with fixed_rng(step.seed):
                    assert run(step.body) == expected
                    if step.exit in errors:
                        raise errors[step.exit]()
            except (Planned, KeyboardInterrupt) as error:
                assert type(error) is errors[step.exit]
            assert global_states() == before
    return drawn


def direct_draws(program: tuple[Any, ...]) -> list[Any]:
    """The draws a program makes with every block left out."""
    drawn = []
    for step in program:
        if isinstance(step, Draw):
            drawn.append(DRAWS[step.kind]())
        elif isinstance(step, Reseed):
            reseed_by_hand(step.seed)
    return drawn


def model_of_block(block: Block) -> list[Any]:
    """What the block's own draws must be: each library seeded by hand."""
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        seed_by_hand(block.seed)
        return direct_draws(block.body)
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


@settings(max_examples=examples(3000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(0, 2**32 - 1), program=programs)
def test_blocks_in_random_programs_restore_bit_exactly(start, program):
    reseed_by_hand(start)
    initial = global_states()
    without_blocks = direct_draws(program)
    reseed_by_hand(start)
    assert global_states() == initial
    assert run(program) == without_blocks


# --- Ctrl-C at a random step -----------------------------------------------------------


def run_plainly(program: tuple[Any, ...]) -> None:
    """Run a program's draws and blocks, checking nothing on the way."""
    for step in program:
        if isinstance(step, Draw):
            DRAWS[step.kind]()
        elif isinstance(step, Reseed):
            reseed_by_hand(step.seed)
        else:
            with fixed_rng(step.seed):
                run_plainly(step.body)


@settings(max_examples=examples(100), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    start=st.integers(0, 2**32 - 1),
    block=st.builds(Block, seeds, programs, st.just("normal")),
    where=st.floats(0, 1, exclude_max=True),
)
def test_a_ctrl_c_at_a_random_step_of_nested_blocks_loses_no_state(start, block, where):
    with fixed_rng(0):  # what the first block in a process imports, imported
        pass
    with InterruptAt(0) as counting:  # where a Ctrl-C could land in this program
        run_plainly((block,))
    reseed_by_hand(start)
    np.random.standard_normal()  # a cached normal, to be kept too
    before = global_states()
    # (The seed memo can change the count a little from run to run: the step
    # may fall just past the end, and the program then runs uninterrupted.)
    with contextlib.suppress(KeyboardInterrupt), InterruptAt(1 + int(where * counting.count)):
        run_plainly((block,))
    assert global_states() == before
    assert _stack.open_frames == []


# --- registered objects that may be collected at any step ---------------------------


@dataclass(frozen=True)
class ObjectDraw:
    index: int


@dataclass(frozen=True)
class Vanish:
    index: int


# Registered objects held only weakly by reprorng: the last reference may go at any step.
OBJECTS: dict[str, tuple[Callable[[int], Any], Callable[[Any], Any]]] = {
    "random.Random": (random.Random, lambda generator: generator.random()),
    "torch.Generator": (
        lambda seed: torch.Generator().manual_seed(seed),
        lambda generator: torch.rand(1, generator=generator).item(),
    ),
}
OBJECT_KINDS = sorted(OBJECTS)
object_steps = st.integers(0, 3).map(ObjectDraw)
vanishes = st.integers(0, 3).map(Vanish)
exits = st.sampled_from(["normal", "error", "interrupt"])
vanishing_programs = st.recursive(
    st.lists(st.one_of(draws, object_steps, object_steps, vanishes), max_size=6).map(tuple),
    lambda bodies: st.lists(
        st.one_of(draws, object_steps, vanishes, st.builds(Block, seeds, bodies, exits)),
        max_size=6,
    ).map(tuple),
    max_leaves=25,
)


def object_state(generator: Any) -> Any:
    if isinstance(generator, random.Random):
        return generator.getstate()
    return generator.get_state().numpy().tobytes()


class World:
    """Four registered objects, two of each kind; only ``alive`` holds them."""

    def __init__(self, start: int) -> None:
        self.kinds = [OBJECT_KINDS[index % 2] for index in range(4)]
        self.alive = {
            index: OBJECTS[kind][0](start + index) for index, kind in enumerate(self.kinds)
        }
        for generator in self.alive.values():
            register(generator)

    def draw(self, index: int, generators: dict[int, Any] | None = None) -> Any:
        generator = (self.alive if generators is None else generators).get(index)
        return None if generator is None else OBJECTS[self.kinds[index]][1](generator)

    def vanish(self, index: int) -> None:
        self.alive.pop(index, None)
        gc.collect()

    def close(self) -> None:
        for generator in self.alive.values():
            unregister(generator)


def vanished_in(program: tuple[Any, ...]) -> set[int]:
    found = set()
    for step in program:
        if isinstance(step, Vanish):
            found.add(step.index)
        elif isinstance(step, Block):
            found |= vanished_in(step.body)
    return found


def model_with_objects(block: Block, world: World) -> list[Any]:
    """A block's own draws: each library seeded by hand, each live object a fresh one."""
    fresh = {index: OBJECTS[world.kinds[index]][0](block.seed) for index in world.alive}
    saved = (random.getstate(), np.random.get_state(), torch.get_rng_state())
    try:
        seed_by_hand(block.seed)
        drawn = []
        for step in block.body:
            if isinstance(step, Draw):
                drawn.append(DRAWS[step.kind]())
            elif isinstance(step, ObjectDraw):
                drawn.append(world.draw(step.index, fresh))
            elif isinstance(step, Vanish):
                fresh.pop(step.index, None)
            elif isinstance(step, Block):
                for index in vanished_in(step.body):
                    fresh.pop(index, None)
        return drawn
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.set_rng_state(saved[2])


def run_with_objects(program: tuple[Any, ...], world: World) -> list[Any]:
    """Run a program, checking that every block exits cleanly and restores what is still alive."""
    drawn = []
    for step in program:
        if isinstance(step, Draw):
            drawn.append(DRAWS[step.kind]())
        elif isinstance(step, ObjectDraw):
            drawn.append(world.draw(step.index))
        elif isinstance(step, Vanish):
            world.vanish(step.index)
        else:
            before = global_states()
            objects_before = {index: object_state(g) for index, g in world.alive.items()}
            expected = model_with_objects(step, world)
            errors = {"error": Planned, "interrupt": KeyboardInterrupt}
            try:
                with fixed_rng(step.seed):
                    assert run_with_objects(step.body, world) == expected
                    if step.exit in errors:
                        raise errors[step.exit]()
            except (Planned, KeyboardInterrupt) as error:
                assert type(error) is errors[step.exit]
                assert error.__context__ is None  # the body's own, unchanged
            assert global_states() == before
            for index, generator in world.alive.items():
                assert object_state(generator) == objects_before[index]
    return drawn


@settings(max_examples=examples(150), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(0, 2**32 - 1), program=vanishing_programs)
def test_registered_objects_collected_at_any_step_never_break_a_block(start, program):
    world = World(start)
    try:
        run_with_objects(program, world)
    finally:
        world.close()


# --- decorated generators, interleaved --------------------------------------------


@dataclass(frozen=True)
class Body:
    """A generator body: draws, the middle ones inside a block of its own if ``inner`` is set."""

    seed: int
    before: tuple[str, ...]
    middle: tuple[str, ...]
    after: tuple[str, ...]
    inner: int | None


kinds = st.lists(st.sampled_from(sorted(DRAWS)), max_size=3).map(tuple)
bodies = st.builds(Body, seeds, kinds, kinds, kinds, st.one_of(st.none(), seeds))


def decorated(body: Body) -> Any:
    @reproducible(body.seed)
    def generator() -> Any:
        for kind in body.before:
            yield DRAWS[kind]()
        if body.inner is None:
            for kind in body.middle:
                yield DRAWS[kind]()
        else:
            with fixed_rng(body.inner):
                for kind in body.middle:
                    yield DRAWS[kind]()
        for kind in body.after:
            yield DRAWS[kind]()

    return generator


def model_of_body(body: Body) -> list[Any]:
    """What the generator yields, with each library seeded and restored by hand."""
    seed_by_hand(body.seed)
    drawn = [DRAWS[kind]() for kind in body.before]
    if body.inner is None:
        drawn += [DRAWS[kind]() for kind in body.middle]
    else:
        drawn += model_of_block(Block(body.inner, tuple(map(Draw, body.middle)), "normal"))
    return drawn + [DRAWS[kind]() for kind in body.after]


EXHAUSTED = object()


@st.composite
def interleavings(draw: st.DrawFn) -> tuple[list[Body], list[Any]]:
    generators = draw(st.lists(bodies, min_size=1, max_size=4))
    steps = st.one_of(st.integers(0, len(generators) - 1), draws)
    return generators, draw(st.lists(steps, max_size=30))


@settings(max_examples=examples(1000), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(start=st.integers(0, 2**32 - 1), plan=interleavings(), close_early=st.booleans())
def test_generators_interleaved_with_plain_draws_keep_every_stream(start, plan, close_early):
    generators, steps = plan
    solo = [model_of_body(body) for body in generators]
    reseed_by_hand(start)
    plain = [DRAWS[step.kind]() for step in steps if isinstance(step, Draw)]
    after_plain = global_states()

    reseed_by_hand(start)
    running = [decorated(body)() for body in generators]
    yielded: list[list[Any]] = [[] for _ in generators]
    drawn = []
    for step in steps:
        if isinstance(step, Draw):
            drawn.append(DRAWS[step.kind]())
        else:
            item = next(running[step], EXHAUSTED)
            if item is not EXHAUSTED:
                yielded[step].append(item)
    if close_early:
        for generator in running:
            generator.close()
    else:
        for index, generator in enumerate(running):
            yielded[index].extend(generator)

    assert drawn == plain
    assert global_states() == after_plain
    for index, got in enumerate(yielded):
        expected = solo[index]
        assert got == (expected[: len(got)] if close_early else expected)
