"""Decorated generator functions: each generator's body runs in streams of its own."""

from __future__ import annotations

import gc
import inspect
import random
import sys
import threading

import numpy as np
import pytest
from numpy.random.mtrand import get_bit_generator, set_bit_generator

from reprorng import fixed_rng, reproducible
from tests.helpers import draws, global_states, run_python, seed_by_hand


@reproducible(11)
def three_draws():
    for _ in range(3):
        yield draws()


def test_a_decorated_generator_yields_what_its_seed_gives():
    seed_by_hand(11)
    expected = [draws() for _ in range(3)]
    assert list(three_draws()) == expected


def test_generators_advanced_alternately_each_yield_their_solo_sequence():
    solo = list(three_draws())
    seed_by_hand(100)
    undisturbed = [draws() for _ in range(6)]
    seed_by_hand(100)
    first, second = three_draws(), three_draws()
    got_first, got_second, between = [], [], []
    for _ in range(3):
        got_first.append(next(first))
        between.append(draws())
        got_second.append(next(second))
        between.append(draws())
    assert got_first == solo
    assert got_second == solo
    assert between == undisturbed


def test_the_caller_state_is_untouched_by_each_step():
    generator = three_draws()
    for _ in range(3):
        before = global_states()
        next(generator)
        assert global_states() == before
    before = global_states()
    with pytest.raises(StopIteration):
        next(generator)
    assert global_states() == before


def test_decorated_generator_function_is_still_one():
    assert inspect.isgeneratorfunction(three_draws)
    generator = three_draws()
    assert inspect.isgenerator(generator)
    assert generator.__name__ == "three_draws"
    assert generator.__qualname__ == "three_draws"
    assert not inspect.isawaitable(generator)
    generator.close()


@reproducible(12)
def accumulate():
    total = 0.0
    while True:
        factor = yield total
        if factor is None:
            return total
        total += factor * random.random()


def test_send_reaches_the_body_and_the_body_keeps_its_stream():
    random.seed(12)
    stream = [random.random() for _ in range(3)]
    expected = [2 * stream[0], 2 * stream[0] + 3 * stream[1], 2 * stream[0] + 3 * stream[1]]
    seed_by_hand(100)
    undisturbed = [draws() for _ in range(3)]
    seed_by_hand(100)
    generator = accumulate()
    assert next(generator) == 0.0
    got, between = [], []
    for factor in (2, 3):
        got.append(generator.send(factor))
        between.append(draws())
    with pytest.raises(StopIteration) as stop:
        generator.send(None)
    between.append(draws())
    got.append(stop.value.value)
    assert got == expected
    assert between == undisturbed


@reproducible(13)
def resilient():
    while True:
        try:
            yield random.random()
        except ValueError:
            yield ("caught", random.random())


def test_throw_is_handled_in_the_body_with_the_body_stream():
    random.seed(13)
    stream = [random.random() for _ in range(3)]
    seed_by_hand(100)
    undisturbed = [draws() for _ in range(3)]
    seed_by_hand(100)
    generator = resilient()
    between = []
    assert next(generator) == stream[0]
    between.append(draws())
    assert generator.throw(ValueError("in")) == ("caught", stream[1])
    between.append(draws())
    assert next(generator) == stream[2]
    between.append(draws())
    assert between == undisturbed


def test_an_exception_the_body_does_not_handle_leaves_the_caller_state_alone():
    generator = resilient()
    next(generator)
    before = global_states()
    with pytest.raises(KeyError, match="out"):
        generator.throw(KeyError("out"))
    assert global_states() == before
    assert inspect.getgeneratorstate(generator) == inspect.GEN_CLOSED


@reproducible(14)
def failing():
    yield random.random()
    random.random()
    raise RuntimeError("body failed")


def test_an_exception_raised_by_the_body_passes_through_and_restores():
    generator = failing()
    next(generator)
    before = global_states()
    with pytest.raises(RuntimeError, match="body failed"):
        next(generator)
    assert global_states() == before


cleanups: list[float] = []


@reproducible(15)
def with_cleanup():
    try:
        while True:
            yield random.random()
    finally:
        cleanups.append(random.random())


def second_draw(seed: int) -> float:
    random.seed(seed)
    random.random()
    return random.random()


def test_close_runs_the_cleanup_in_the_body_stream():
    cleanups.clear()
    generator = with_cleanup()
    next(generator)
    before = global_states()
    generator.close()
    assert global_states() == before
    assert cleanups == [second_draw(15)]


def test_an_abandoned_generator_is_cleaned_up_in_its_own_stream_when_collected():
    cleanups.clear()
    expected = second_draw(15)
    generator = with_cleanup()
    next(generator)
    before = global_states()
    del generator
    gc.collect()
    assert global_states() == before
    assert cleanups == [expected]


def test_an_unstarted_generator_can_be_dropped():
    before = global_states()
    generator = with_cleanup()
    generator.close()
    del generator
    gc.collect()
    assert global_states() == before


def plain_inner():
    sent = yield random.random()
    yield sent
    return "inner done"


@reproducible(16)
def delegating():
    result = yield from plain_inner()
    yield result
    yield random.random()


def test_yield_from_in_the_body_delegates_within_the_body_stream():
    random.seed(16)
    stream = [random.random() for _ in range(2)]
    seed_by_hand(100)
    undisturbed = [draws() for _ in range(4)]
    seed_by_hand(100)
    generator = delegating()
    got, between = [], []
    got.append(next(generator))
    between.append(draws())
    got.append(generator.send("sent"))
    between.append(draws())
    got.append(next(generator))
    between.append(draws())
    got.append(next(generator))
    between.append(draws())
    assert got == [stream[0], "sent", "inner done", stream[1]]
    assert between == undisturbed


def test_yield_from_a_decorated_generator_passes_send_throw_and_the_result():
    def outer():
        result = yield from accumulate()
        return ("outer got", result)

    random.seed(12)
    first = random.random()
    generator = outer()
    assert next(generator) == 0.0
    assert generator.send(2) == 2 * first
    with pytest.raises(StopIteration) as stop:
        generator.send(None)
    assert stop.value.value == ("outer got", 2 * first)


def test_yield_from_a_decorated_generator_passes_throw_and_close():
    def outer():
        yield from with_cleanup()

    cleanups.clear()
    random.seed(15)
    stream = [random.random() for _ in range(2)]
    generator = outer()
    assert next(generator) == stream[0]
    with pytest.raises(ValueError, match="through"):
        generator.throw(ValueError("through"))
    assert cleanups == [stream[1]]
    cleanups.clear()
    generator = outer()
    next(generator)
    generator.close()
    assert cleanups == [stream[1]]


@reproducible(17)
def block_across_yields():
    yield random.random()
    with fixed_rng(2):
        yield random.random()
        yield random.random()
    yield random.random()


def test_a_block_in_the_body_stays_open_across_its_yields_only_for_the_body():
    random.seed(17)
    first, last = random.random(), random.random()
    random.seed(2)
    inner = [random.random() for _ in range(2)]
    solo = [first, *inner, last]
    seed_by_hand(100)
    undisturbed = [draws() for _ in range(8)]
    seed_by_hand(100)
    one, two = block_across_yields(), block_across_yields()
    got_one, got_two, between = [], [], []
    for _ in range(4):
        got_one.append(next(one))
        between.append(draws())
        got_two.append(next(two))
        between.append(draws())
    assert got_one == solo
    assert got_two == solo
    assert between == undisturbed


def test_a_block_left_open_in_a_suspended_body_cannot_be_exited_outside_it():
    block = fixed_rng(3)

    @reproducible(18)
    def enters(block):
        block.__enter__()
        yield random.random()
        block.__exit__(None, None, None)
        yield random.random()

    random.seed(3)
    in_block = random.random()
    random.seed(18)
    after_block = random.random()
    before = global_states()
    generator = enters(block)
    assert next(generator) == in_block
    assert global_states() == before
    with pytest.raises(RuntimeError, match=r"fixed_rng\(seed=3\) exited while not open"):
        block.__exit__(None, None, None)
    assert next(generator) == after_block
    generator.close()
    assert global_states() == before


def test_a_generator_can_be_advanced_in_another_thread():
    solo = list(three_draws())
    generator = three_draws()
    got = [next(generator)]

    def advance():
        got.append(next(generator))

    thread = threading.Thread(target=advance)
    thread.start()
    thread.join()
    got.append(next(generator))
    assert got == solo


class Augmenter:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    @reproducible(19)
    def samples(self, count):
        for _ in range(count):
            yield self.scale * random.random()


def test_generator_methods_are_isolated_and_bound():
    random.seed(19)
    expected = [10 * random.random() for _ in range(2)]
    assert list(Augmenter(10).samples(2)) == expected
    assert list(Augmenter(10).samples(2)) == expected


def test_a_library_imported_while_the_body_is_suspended_is_seeded_for_the_body():
    out = run_python(
        """
        import random, sys
        from reprorng import fixed_rng, reproducible

        @reproducible(5)
        def body():
            yield random.random()
            with fixed_rng(6):
                yield random.random()
                import torch
                yield torch.rand(2).tolist()
            yield torch.rand(2).tolist()

        generator = body()
        next(generator)
        next(generator)
        assert "torch" not in sys.modules
        import torch
        before = torch.get_rng_state()
        in_block = next(generator)
        after_block = next(generator)
        assert torch.equal(torch.get_rng_state(), before)
        torch.manual_seed(6)
        assert in_block == torch.rand(2).tolist()
        torch.manual_seed(5)
        assert after_block == torch.rand(2).tolist()
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_generators_can_nest_decorated_generators():
    @reproducible(20)
    def outer():
        yield random.random()
        yield from three_draws()
        yield random.random()

    random.seed(20)
    expected_outer = [random.random() for _ in range(2)]
    solo_inner = list(three_draws())
    got = list(outer())
    assert got == [expected_outer[0], *solo_inner, expected_outer[1]]


def test_a_body_that_swaps_numpy_bit_generator_keeps_it_only_for_itself():
    original = get_bit_generator()

    @reproducible(21)
    def swaps():
        set_bit_generator(np.random.PCG64(5))
        yield float(np.random.standard_normal())
        yield float(np.random.standard_normal())

    legacy = np.random.RandomState(np.random.PCG64(5))
    expected_body = [float(legacy.standard_normal()) for _ in range(2)]
    before = global_states()
    generator = swaps()
    got = [next(generator)]
    assert get_bit_generator() is original
    assert global_states() == before
    got.append(next(generator))
    assert get_bit_generator() is original
    assert global_states() == before
    assert got == expected_body


def test_generators_are_isolated_with_another_numpy_global_bit_generator():
    original = get_bit_generator()
    set_bit_generator(np.random.PCG64(3))
    try:
        solo = list(three_draws())
        first, second = three_draws(), three_draws()
        before = global_states()
        got = [(next(first), next(second)) for _ in range(3)]
        assert global_states() == before
        assert got == [(value, value) for value in solo]
    finally:
        set_bit_generator(original)


def test_one_block_object_used_by_a_caller_and_inside_a_decorated_generator():
    shared = fixed_rng(0)

    @reproducible(1)
    def batches():
        with shared:
            while True:
                yield random.random()

    random.seed(5)
    before = global_states()
    stream = batches()
    with shared:  # the caller's own block
        first = next(stream)  # the body enters the same object and suspends inside it
        assert random.random() == random.Random(0).random()
    assert first == random.Random(0).random()
    assert global_states() == before
    stream.close()
    assert global_states() == before


def test_a_body_that_ignores_generator_exit_never_draws_from_the_callers_stream():
    @reproducible(1)
    def stubborn():
        while True:
            try:
                yield random.random()
            except GeneratorExit:
                random.random()  # clean-up that draws, and then (wrongly) yields again

    random.seed(9)
    before = global_states()
    unraisable: list[object] = []
    hook, sys.unraisablehook = sys.unraisablehook, unraisable.append
    try:
        stream = stubborn()
        next(stream)
        with pytest.raises(RuntimeError, match="ignored GeneratorExit"):
            stream.close()
        del stream
        gc.collect()
    finally:
        sys.unraisablehook = hook
    assert global_states() == before
    # Python closes such a generator once more when it is collected, and reports
    # that it ignored GeneratorExit again: here, inside its own streams, at once.
    assert len(unraisable) == 1
