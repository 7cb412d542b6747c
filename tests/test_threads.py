"""Blocks in several threads take turns; a block never sees another thread's stream."""

from __future__ import annotations

import math
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from reprorng import fixed_rng, reproducible
from reprorng._block import DEFAULT_TIMEOUT
from tests.helpers import draws, global_states, seed_by_hand, wait_until_a_block_waits

#: A block made without ``timeout=``.
DEFAULT = object()


def seeded_draws(seed: int, count: int = 2) -> list[Any]:
    seed_by_hand(seed)
    return [draws() for _ in range(count)]


def run_threads(*targets) -> None:
    threads = [threading.Thread(target=target) for target in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
        assert not thread.is_alive()


def test_blocks_in_many_threads_each_get_their_seeded_streams():
    expected = {seed: seeded_draws(seed) for seed in range(4)}
    before = global_states()
    results: dict[int, list[Any]] = {seed: [] for seed in range(4)}

    def work(seed: int) -> None:
        for _ in range(50):
            with fixed_rng(seed):
                first = draws()
                time.sleep(0)  # let the other threads try to enter
                results[seed].append([first, draws()])

    run_threads(*(lambda seed=seed: work(seed) for seed in range(4)))
    assert all(got == [expected[seed]] * 50 for seed, got in results.items())
    assert global_states() == before


def test_decorated_functions_in_a_thread_pool_give_their_solo_results():
    @reproducible(7)
    def augment(scale: float) -> list[Any]:
        return [scale * random.random(), draws()]

    solo = {scale: augment(scale) for scale in range(8)}
    before = global_states()
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(augment, list(range(8)) * 10))
    assert got == [solo[scale] for scale in range(8)] * 10
    assert global_states() == before


def test_a_block_waits_for_the_block_of_another_thread_to_close():
    events: list[str] = []
    first_in, second_trying = threading.Event(), threading.Event()
    seen: dict[str, list[Any]] = {}

    def first() -> None:
        with fixed_rng(1):
            events.append("first entered")
            first_in.set()
            second_trying.wait()
            wait_until_a_block_waits()  # the second thread is waiting at its block now
            seen["first"] = [draws(), draws()]
            events.append("first leaving")

    def second() -> None:
        first_in.wait()
        second_trying.set()
        with fixed_rng(2):
            events.append("second entered")
            seen["second"] = [draws(), draws()]

    expected = {"first": seeded_draws(1), "second": seeded_draws(2)}
    before = global_states()
    run_threads(first, second)
    assert global_states() == before
    assert events == ["first entered", "first leaving", "second entered"]
    assert seen == expected


def test_a_block_that_joins_a_thread_entering_a_block_does_not_deadlock():
    errors: list[BaseException] = []

    @reproducible(2)
    def worker() -> None:
        random.random()

    def in_thread() -> None:
        try:
            worker()
        except RuntimeError as error:
            errors.append(error)

    before = global_states()
    started = time.monotonic()
    with fixed_rng(1):
        inside = random.random()
        thread = threading.Thread(target=in_thread, name="worker-1")
        thread.start()
        thread.join(timeout=DEFAULT_TIMEOUT + 30)
        assert not thread.is_alive()
        random.seed(1)
        assert inside == random.random()
    waited = time.monotonic() - started
    assert DEFAULT_TIMEOUT <= waited < DEFAULT_TIMEOUT + 30
    assert global_states() == before
    [error] = errors
    message = str(error)
    assert "thread 'worker-1' waited 10 s" in message
    assert "open in thread 'MainThread' (outermost: fixed_rng(seed=1))" in message
    assert "timeout=None" in message


def hold_block_while(other, *, seed: int = 1) -> None:
    """Run ``other`` in a thread while this thread holds a block open; wait for it."""
    done = threading.Event()

    def target() -> None:
        try:
            other()
        finally:
            done.set()

    with fixed_rng(seed):
        thread = threading.Thread(target=target)
        thread.start()
        assert done.wait(timeout=60)
    thread.join(timeout=60)


def test_timeout_zero_raises_at_once_and_touches_nothing():
    outcome: dict[str, Any] = {}

    def other() -> None:
        states = global_states()
        with pytest.raises(RuntimeError, match="waited 0 s") as raised, fixed_rng(2, timeout=0):
            pass
        outcome["untouched"] = global_states() == states
        outcome["error"] = raised.value

    # At once: the block held here is let go only after ``other`` is done, so a wait
    # for it would last the whole timeout of hold_block_while.
    hold_block_while(other)
    assert outcome["untouched"]


@pytest.mark.parametrize(("timeout", "waits_for"), [(None, None), (DEFAULT, DEFAULT_TIMEOUT)])
def test_timeout_none_waits_as_long_as_it_takes(monkeypatch, timeout, waits_for):
    from reprorng import _stack

    asked: list[float | None] = []

    class Recording(threading.Condition):
        """The stack's condition, noting how long each wait for a turn may last."""

        def wait_for(self, predicate: Any, timeout: float | None = None) -> Any:
            asked.append(timeout)
            return super().wait_for(predicate, timeout)

    monkeypatch.setattr(_stack, "turn", Recording(_stack.lock))
    order: list[str] = []

    def waiter() -> None:
        block = fixed_rng(2) if timeout is DEFAULT else fixed_rng(2, timeout=timeout)
        with block:
            order.append("waiter in")

    thread = threading.Thread(target=waiter)
    with fixed_rng(1):
        thread.start()
        wait_until_a_block_waits()
        order.append("holder out")
    thread.join(timeout=60)
    assert order == ["holder out", "waiter in"]
    assert asked == [waits_for]  # for ever, not the default's 10 s


def test_a_generator_step_in_another_thread_waits_too():
    @fixed_rng(3, timeout=0.05)
    def steps():
        yield random.random()

    outcome: list[BaseException] = []

    def other() -> None:
        try:
            next(steps())
        except RuntimeError as error:
            outcome.append(error)

    hold_block_while(other)
    assert len(outcome) == 1
    assert "fixed_rng(seed=3)" in str(outcome[0])


def test_blocks_in_one_thread_never_wait():
    with fixed_rng(1, timeout=0), fixed_rng(2, timeout=0):
        random.seed(2)
        expected = random.random()
        with fixed_rng(2, timeout=0):
            assert random.random() == expected


@pytest.mark.parametrize("timeout", ["5", True, [1], object()])
def test_timeout_of_the_wrong_type_is_a_type_error(timeout):
    with pytest.raises(TypeError, match="timeout must be a number of seconds or None"):
        fixed_rng(1, timeout=timeout)


@pytest.mark.parametrize("timeout", [-1, -0.5, math.nan])
def test_timeout_out_of_range_is_a_value_error(timeout):
    with pytest.raises(ValueError, match="timeout must be a number of seconds >= 0"):
        fixed_rng(1, timeout=timeout)


def test_infinite_timeout_means_waiting_for_ever():
    assert fixed_rng(1, timeout=math.inf).timeout is None
    assert fixed_rng(1, timeout=3).timeout == 3.0
    assert fixed_rng(1).timeout == DEFAULT_TIMEOUT
    assert repr(fixed_rng(1, timeout=None)) == "fixed_rng(seed=1, timeout=None)"


def test_a_generator_with_a_block_around_its_yields_can_finish_in_another_thread():
    def samples():
        with fixed_rng(1):
            for _ in range(3):
                yield random.random()

    random.seed(7)
    before = global_states()
    stream = samples()
    first = next(stream)  # this thread opens the block
    rest: list[float] = []
    errors: list[BaseException] = []

    def consume() -> None:
        try:
            rest.extend(stream)  # the block exits in this thread
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    worker = threading.Thread(target=consume)
    worker.start()
    worker.join()
    assert errors == []
    alone = random.Random(1)
    assert [first, *rest] == [alone.random() for _ in range(3)]
    assert global_states() == before

    other: list[float] = []

    def enter_elsewhere() -> None:
        with fixed_rng(2, timeout=1):
            other.append(random.random())

    thread = threading.Thread(target=enter_elsewhere)
    thread.start()
    thread.join()
    assert other[-1] == random.Random(2).random()


def test_ambient_seeding_left_while_a_threads_block_is_open_is_put_back_by_that_block():
    from reprorng._entry import enter_ambient, exit_ambient

    random.seed(4)
    before = global_states()
    ambient = enter_ambient(fixed_rng(8))
    assert random.random() == random.Random(8).random()
    entered, release = threading.Event(), threading.Event()
    drawn: list[float] = []

    def worker() -> None:
        with fixed_rng(9, timeout=5):  # enters without waiting for the ambient seeding
            entered.set()
            release.wait(60)
            drawn.append(random.random())

    thread = threading.Thread(target=worker)
    thread.start()
    assert entered.wait(60)
    exit_ambient(ambient)  # the worker's block is still open: it will put things back
    release.set()
    thread.join()
    assert drawn == [random.Random(9).random()]
    assert global_states() == before
