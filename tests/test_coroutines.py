"""Decorated coroutine and async generator functions, and ``async with fixed_rng``."""

from __future__ import annotations

import asyncio
import inspect
import random
import sys
import warnings
from typing import Any

import pytest

from reprorng import fixed_rng, reproducible
from tests.helpers import draws, global_states, seed_by_hand


async def pause(times: int = 1) -> None:
    for _ in range(times):
        await asyncio.sleep(0)  # yields to the event loop


@reproducible(21)
async def sampler(pauses: tuple[int, ...] = (1, 1, 1)):
    out = []
    for times in pauses:
        out.append(draws())
        await pause(times)
    return out


async def noisy(pauses: tuple[int, ...] = (1, 1, 1), into: list[Any] | None = None):
    out = [] if into is None else into
    for times in pauses:
        out.append(draws())
        await pause(times)
    return out


def test_a_decorated_coroutine_draws_what_its_seed_gives():
    seed_by_hand(21)
    expected = [draws() for _ in range(3)]
    assert asyncio.run(sampler()) == expected


def test_gathered_coroutines_each_get_their_solo_results():
    solo = asyncio.run(sampler())
    seed_by_hand(100)
    undisturbed = asyncio.run(noisy())
    seed_by_hand(100)

    async def main():
        return await asyncio.gather(sampler(), noisy(), sampler())

    first, between, second = asyncio.run(main())
    assert first == solo
    assert second == solo
    assert between == undisturbed


async def shuffled(schedule: random.Random, plain_draws: list[Any]) -> list[Any]:
    """Four samplers and three noisy tasks, with pauses and start order from ``schedule``."""

    def pauses() -> tuple[int, ...]:
        return tuple(schedule.randint(0, 3) for _ in range(4))

    tasks = [sampler(pauses()) for _ in range(4)]
    tasks += [noisy(pauses(), into=plain_draws) for _ in range(3)]
    schedule.shuffle(tasks)
    return await asyncio.gather(*tasks)


def test_random_interleavings_of_many_tasks_keep_every_stream():
    solo = asyncio.run(sampler((0, 0, 0, 0)))
    for trial in range(40):
        seed_by_hand(trial)
        undisturbed = [draws() for _ in range(12)]
        seed_by_hand(trial)
        plain_draws: list[Any] = []
        results = asyncio.run(shuffled(random.Random(trial), plain_draws))
        assert [r for r in results if r is not plain_draws] == [solo] * 4
        assert plain_draws == undisturbed


def test_decorated_coroutine_function_is_still_one():
    assert inspect.iscoroutinefunction(sampler)
    coroutine = sampler()
    assert inspect.iscoroutine(coroutine)
    assert coroutine.__name__ == "sampler"
    coroutine.close()  # closing it unawaited is silent, as for any coroutine


def test_a_coroutine_never_awaited_is_reported_once_by_its_name():
    with pytest.warns(RuntimeWarning, match="coroutine 'sampler' was never awaited") as caught:
        sampler()  # type: ignore[unused-coroutine]  # dropped at once
    assert len([w for w in caught if "never awaited" in str(w.message)]) == 1


@reproducible(22)
async def draws_then_fails():
    random.random()
    await pause()
    random.random()
    raise ValueError("body failed")


def test_exceptions_pass_through_and_the_caller_state_is_restored():
    before = global_states()
    with pytest.raises(ValueError, match="body failed"):
        asyncio.run(draws_then_fails())
    assert global_states() == before


cleanups: list[float] = []


@reproducible(23)
async def waits_for_ever(started: asyncio.Event):
    random.random()
    try:
        started.set()
        await asyncio.sleep(3600)
    finally:
        cleanups.append(random.random())


def first_draw(seed: int) -> float:
    random.seed(seed)
    return random.random()


def second_draw(seed: int) -> float:
    random.seed(seed)
    random.random()
    return random.random()


def test_cancellation_cleans_up_in_the_body_stream_and_restores():
    cleanups.clear()

    async def main():
        started = asyncio.Event()
        task = asyncio.create_task(waits_for_ever(started))
        await started.wait()
        before = global_states()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return before

    before = asyncio.run(main())
    assert global_states() == before
    assert cleanups == [second_draw(23)]


def test_timeouts_cancel_cleanly():
    cleanups.clear()

    async def main():
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(waits_for_ever(asyncio.Event()), 0.01)

    before = global_states()
    asyncio.run(main())
    assert global_states() == before
    assert cleanups == [second_draw(23)]


@reproducible(26)
async def suspends_once():
    random.random()
    try:
        await pause()
    finally:
        cleanups.append(random.random())


def test_close_of_a_suspended_coroutine_cleans_up_in_the_body_stream():
    cleanups.clear()
    coroutine = suspends_once()
    before = global_states()
    coroutine.send(None)  # runs up to the sleep, which suspends it
    assert global_states() == before
    coroutine.close()
    assert global_states() == before
    assert cleanups == [second_draw(26)]


@reproducible(24)
async def nests():
    first = draws()
    inner = await sampler()
    await pause()
    return first, inner, draws()


def test_decorated_coroutines_awaiting_each_other_each_keep_their_streams():
    seed_by_hand(24)
    expected_outer = [draws() for _ in range(2)]
    solo = asyncio.run(sampler())

    async def main():
        return await asyncio.gather(nests(), noisy(), nests())

    first, _, second = asyncio.run(main())
    assert first == second == (expected_outer[0], solo, expected_outer[1])


class Trainer:
    def __init__(self, scale: float) -> None:
        self.scale = scale

    @reproducible(25)
    async def step(self) -> float:
        await pause()
        return self.scale * random.random()


def test_coroutine_methods_are_isolated_and_bound():
    random.seed(25)
    expected = 3 * random.random()

    async def main():
        return await asyncio.gather(Trainer(3).step(), Trainer(3).step())

    assert asyncio.run(main()) == [expected, expected]
    assert inspect.iscoroutinefunction(Trainer(1).step)


# --- async generators --------------------------------------------------------------


@reproducible(41)
async def stream(count: int = 3):
    for _ in range(count):
        await pause()
        yield draws()
        await pause()


async def collect(agen) -> list[Any]:
    return [item async for item in agen]


def test_async_generators_consumed_together_each_yield_their_solo_sequence():
    seed_by_hand(41)
    solo = [draws() for _ in range(3)]
    assert asyncio.run(collect(stream())) == solo
    seed_by_hand(100)
    undisturbed = asyncio.run(noisy((1,) * 4))
    seed_by_hand(100)

    async def main():
        return await asyncio.gather(collect(stream()), noisy((1,) * 4), collect(stream()))

    first, between, second = asyncio.run(main())
    assert first == second == solo
    assert between == undisturbed


def test_decorated_async_generator_function_is_still_one():
    assert inspect.isasyncgenfunction(stream)
    agen = stream()
    assert inspect.isasyncgen(agen)
    assert agen.__name__ == "stream"
    asyncio.run(agen.aclose())


@reproducible(42)
async def echo():
    total = 0.0
    try:
        while True:
            try:
                factor = yield total
            except ValueError:
                factor = -1
            await pause()
            total += factor * random.random()
    finally:
        cleanups.append(random.random())


def test_asend_athrow_and_aclose_reach_the_body_in_its_stream():
    cleanups.clear()
    random.seed(42)
    stream_values = [random.random() for _ in range(3)]

    async def main():
        agen = echo()
        got = [await agen.asend(None)]
        before = global_states()
        got.append(await agen.asend(2))
        got.append(await agen.athrow(ValueError("in")))
        assert global_states() == before
        await agen.aclose()
        assert global_states() == before
        return got

    got = asyncio.run(main())
    first = 2 * stream_values[0]
    assert got == [0.0, first, first - stream_values[1]]
    assert cleanups == [stream_values[2]]


def test_abandoned_async_generators_are_finalised_in_their_own_streams():
    cleanups.clear()
    expected = first_draw(42)

    async def main():
        abandoned = [echo() for _ in range(10)]
        for agen in abandoned:
            async for _ in agen:
                break
        return global_states()  # the loop closes them as it shuts down

    before = asyncio.run(main())
    assert global_states() == before
    assert cleanups == [expected] * 10


def test_the_event_loop_closes_only_the_returned_async_generator():
    # Were the generator inside known to the loop too, the loop could close
    # it directly at shutdown, its clean-up drawing from the caller's streams.
    async def main():
        hooks = sys.get_asyncgen_hooks()
        first_iterated = []

        def firstiter(agen):
            first_iterated.append(agen)
            assert hooks.firstiter is not None
            hooks.firstiter(agen)

        sys.set_asyncgen_hooks(firstiter=firstiter, finalizer=hooks.finalizer)
        try:
            agen = echo()
            await agen.asend(None)
            await agen.aclose()
        finally:
            sys.set_asyncgen_hooks(*hooks)
        return first_iterated, agen

    first_iterated, agen = asyncio.run(main())
    assert first_iterated == [agen]


# --- async with ----------------------------------------------------------------------


def test_async_with_seeds_and_restores_like_with():
    seed_by_hand(31)
    expected = [draws() for _ in range(2)]

    async def main():
        before = global_states()
        async with fixed_rng(31) as block:
            got = [draws()]
            await pause()
            got.append(draws())
        assert block.seed == 31
        assert global_states() == before
        return got

    assert asyncio.run(main()) == expected


def test_async_with_is_not_isolated_across_its_awaits():
    seed_by_hand(32)
    in_block = [draws() for _ in range(2)]

    async def holder(entered: asyncio.Event, drawn: asyncio.Event):
        async with fixed_rng(32):
            got = draws()
            entered.set()
            await drawn.wait()
            return got

    async def other(entered: asyncio.Event, drawn: asyncio.Event):
        await entered.wait()
        got = draws()  # runs while the other task's block is open
        drawn.set()
        return got

    async def main():
        entered, drawn = asyncio.Event(), asyncio.Event()
        return await asyncio.gather(holder(entered, drawn), other(entered, drawn))

    before = global_states()
    assert asyncio.run(main()) == in_block
    assert global_states() == before


def test_async_with_blocks_of_two_tasks_exiting_out_of_order_are_detected():
    async def block(seed: int, entered: asyncio.Event, leave: asyncio.Event):
        async with fixed_rng(seed):
            entered.set()
            await leave.wait()

    async def main():
        first_in, second_in = asyncio.Event(), asyncio.Event()
        first_out, second_out = asyncio.Event(), asyncio.Event()
        first = asyncio.create_task(block(1, first_in, first_out))
        await first_in.wait()
        second = asyncio.create_task(block(2, second_in, second_out))
        await second_in.wait()
        first_out.set()
        await first
        second_out.set()
        await second

    before = global_states()
    with pytest.warns(RuntimeWarning, match=r"fixed_rng\(seed=1\) exited while a block"):
        asyncio.run(main())
    assert global_states() == before


def test_async_with_inside_a_decorated_coroutine_is_isolated():
    @reproducible(33)
    async def body():
        async with fixed_rng(34):
            first = random.random()
            await pause()
            return first, random.random()

    random.seed(34)
    expected = (random.random(), random.random())

    async def main():
        return await asyncio.gather(body(), noisy(), body())

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        first, _, second = asyncio.run(main())
    assert first == second == expected


# --- another event loop ----------------------------------------------------------------


def test_under_trio_tasks_keep_their_streams_and_cancellation_cleans_up():
    import trio  # a test dependency: its absence is a failure, not a skip

    @reproducible(27)
    async def steps():
        drawn = []
        for _ in range(3):
            drawn.append(draws())
            await trio.sleep(0)
        return drawn

    @reproducible(28)
    async def sleeps_for_ever():
        random.random()
        try:
            await trio.sleep_forever()
        finally:
            cleanups.append(random.random())

    async def plain(into: list[Any]) -> None:
        for _ in range(3):
            into.append(draws())
            await trio.sleep(0)

    async def main():
        solo = await steps()
        seed_by_hand(100)
        undisturbed = [draws() for _ in range(3)]
        seed_by_hand(100)
        results: dict[int, Any] = {}
        between: list[Any] = []

        async def run(key: int) -> None:
            results[key] = await steps()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(run, 0)
            nursery.start_soon(plain, between)
            nursery.start_soon(run, 1)
        assert results == {0: solo, 1: solo}
        assert between == undisturbed

        before = global_states()
        with trio.move_on_after(0.01):
            await sleeps_for_ever()
        assert global_states() == before

    cleanups.clear()
    expected = second_draw(28)
    trio.run(main)
    assert cleanups == [expected]


# --- one block object shared by several tasks ----------------------------------------


def test_one_block_object_shared_by_overlapping_tasks_closes_each_tasks_own_block():
    shared = fixed_rng(1)
    b_draws: list[float] = []

    async def main() -> None:
        a_in, b_in, a_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def task_a() -> None:
            async with shared:
                random.random()
                a_in.set()
                await b_in.wait()  # B enters meanwhile; A exits first
            a_out.set()

        async def task_b() -> None:
            await a_in.wait()
            async with shared:
                b_draws.append(random.random())
                b_in.set()
                await a_out.wait()  # A exits meanwhile
                b_draws.extend([random.random(), random.random()])

        await asyncio.gather(task_a(), task_b())

    random.seed(123)
    before = global_states()
    with pytest.warns(RuntimeWarning, match="exited while a block entered after it"):
        asyncio.run(main())
    alone = random.Random(1)
    assert b_draws == [alone.random() for _ in range(3)]
    assert global_states() == before


def test_decorated_coroutines_sharing_one_block_object_across_awaits():
    shared = fixed_rng(0)

    @reproducible(1)
    async def step(delay: float) -> float:
        async with shared:
            await asyncio.sleep(delay)
            return random.random()

    async def main() -> list[float]:
        return list(await asyncio.gather(step(0.01), step(0.02)))

    random.seed(5)
    before = global_states()
    assert asyncio.run(main()) == [random.Random(0).random()] * 2
    assert global_states() == before
