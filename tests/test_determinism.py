"""Determinism switches: set for a block, every one put back after."""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import random
import threading
import warnings
from collections.abc import Generator, Iterator

import pytest
import torch

from reprorng import _switches, deterministic, fixed_rng, reproducible
from tests.helpers import wait_until_a_block_waits

VARIABLE = "CUBLAS_WORKSPACE_CONFIG"


def settings() -> tuple[bool, bool, bool, bool, str | None]:
    return (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        os.environ.get(VARIABLE),
    )


def set_settings(
    algorithms: bool, warn_only: bool, cudnn: bool, benchmark: bool, cublas: str | None
) -> None:
    torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
    torch.backends.cudnn.deterministic = cudnn
    torch.backends.cudnn.benchmark = benchmark
    if cublas is None:
        os.environ.pop(VARIABLE, None)
    else:
        os.environ[VARIABLE] = cublas


@pytest.fixture(autouse=True)
def _settings_put_back() -> Iterator[None]:
    before = settings()
    yield
    set_settings(*before)


PRIORS = list(
    itertools.product([False, True], [False, True], [False, True], [False, True], [None, ":16:8"])
)


def expected_inside(
    prior: tuple[bool, bool, bool, bool, str | None], warn_only: bool
) -> tuple[object, ...]:
    return (True, warn_only, True, False, prior[4] or ":4096:8")


@pytest.mark.parametrize("warn_only", [False, True])
def test_every_prior_combination_is_switched_and_put_back_by_deterministic(warn_only):
    for prior in PRIORS:
        set_settings(*prior)
        with deterministic(warn_only=warn_only):
            assert settings() == expected_inside(prior, warn_only), prior
        assert settings() == prior


@pytest.mark.parametrize("warn_only", [False, True])
def test_every_prior_combination_is_switched_and_put_back_by_a_block(warn_only):
    for prior in PRIORS:
        set_settings(*prior)
        with fixed_rng(3, deterministic=True, warn_only=warn_only):
            assert settings() == expected_inside(prior, warn_only), prior
            assert random.random() == random.Random(3).random()
        assert settings() == prior


def test_every_prior_combination_is_switched_off_and_put_back_by_deterministic_false():
    for prior in PRIORS:
        set_settings(*prior)
        with deterministic(False):
            assert settings() == (False, False, False, *prior[3:]), prior
        assert settings() == prior


def test_deterministic_false_allows_a_nondeterministic_stretch_inside_a_deterministic_block():
    set_settings(False, False, False, True, None)
    with fixed_rng(3, deterministic=True):
        assert torch.isnan(torch.empty(8)).all()  # deterministic: fresh memory is filled
        with deterministic(False):
            assert settings() == (False, False, False, False, ":4096:8")
            drawn = random.random()
        assert settings() == (True, False, True, False, ":4096:8")
        assert drawn == random.Random(3).random()  # the seeded stream went on through it
    assert settings() == (False, False, False, True, None)


def test_deterministic_false_nests_and_decorates():
    set_settings(*OFF)

    @deterministic(False)
    def loose() -> tuple[object, ...]:
        return settings()

    with deterministic(warn_only=True):
        assert loose() == (False, False, False, False, ":4096:8")
        with deterministic(False), deterministic():
            assert settings() == ON
        assert settings() == (True, True, True, False, ":4096:8")
    assert settings() == OFF
    assert repr(deterministic(False)) == "deterministic(False)"


def test_a_block_without_the_switch_leaves_the_settings_alone():
    set_settings(False, False, False, True, None)
    with fixed_rng(3):
        assert settings() == (False, False, False, True, None)


def test_settings_are_put_back_when_the_block_raises():
    set_settings(False, False, False, True, None)
    with pytest.raises(KeyError), fixed_rng(1, deterministic=True):
        raise KeyError
    assert settings() == (False, False, False, True, None)


def test_settings_changed_inside_are_put_back_too():
    set_settings(False, False, False, True, None)
    with deterministic():
        set_settings(False, False, False, True, ":0:0")
    assert settings() == (False, False, False, True, None)


def test_nested_switches_unwind_in_order():
    set_settings(False, False, False, True, None)
    with fixed_rng(1, deterministic=True, warn_only=True):
        with deterministic():
            assert settings()[:2] == (True, False)
        assert settings()[:2] == (True, True)
    assert settings() == (False, False, False, True, None)


def test_deterministic_decorates_functions():
    set_settings(False, False, False, True, None)

    @deterministic(warn_only=True)
    def inside() -> tuple[object, ...]:
        return settings()

    assert inside() == (True, True, True, False, ":4096:8")
    assert settings() == (False, False, False, True, None)


def test_a_decorated_generator_switches_only_while_its_body_runs():
    set_settings(False, False, False, True, None)

    @reproducible(1, deterministic=True)
    def body():
        while True:
            yield settings()

    steps = body()
    assert next(steps)[0] is True
    assert settings() == (False, False, False, True, None)
    assert next(steps)[0] is True
    steps.close()
    assert settings() == (False, False, False, True, None)


def test_bad_options_are_errors():
    with pytest.raises(TypeError, match="deterministic"):
        fixed_rng(1, deterministic="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="needs deterministic=True"):
        fixed_rng(1, warn_only=True)
    with pytest.raises(TypeError, match="warn_only"):
        deterministic(warn_only=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="mode must be True or False, got 'off' of type str"):
        deterministic("off")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="warn_only=True needs deterministic algorithms"):
        deterministic(False, warn_only=True)


def test_with_cuda_initialised_an_unset_cublas_variable_warns_once(monkeypatch):
    set_settings(False, False, False, True, None)
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(_switches, "_warned_about_cublas", False)
    with (
        pytest.warns(RuntimeWarning, match="CUBLAS_WORKSPACE_CONFIG.*already initialised"),
        deterministic(),
    ):
        pass
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with deterministic():
            pass


def test_with_the_variable_already_set_nothing_warns(monkeypatch):
    set_settings(False, False, False, True, ":4096:8")
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(_switches, "_warned_about_cublas", False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with deterministic():
            pass


def test_a_switching_block_open_across_a_yield_is_switched_off_in_between():
    prior = (False, False, False, True, None)
    set_settings(*prior)

    @reproducible(1)
    def body():
        with fixed_rng(2, deterministic=True):
            yield settings()
            yield settings()

    steps = body()
    assert next(steps)[0] is True
    assert settings() == prior
    assert next(steps)[0] is True
    assert settings() == prior
    steps.close()
    assert settings() == prior


# --- deterministic() alone, as blocks are: overlapping, in threads, on coroutines --------

OFF = (False, False, False, True, None)
ON = (True, False, True, False, ":4096:8")


# What deterministic(False) leaves inside a region switched on from OFF.
LOOSE = (False, False, False, False, ":4096:8")
MODES = pytest.mark.parametrize(("mode", "prior", "inside"), [(True, OFF, ON), (False, ON, LOOSE)])


@MODES
def test_deterministic_blocks_overlapping_in_tasks_put_everything_back(mode, prior, inside):
    set_settings(*prior)
    seen: list[tuple[object, ...]] = []

    async def main() -> None:
        # The first enters, the second enters, the first exits while the second is open.
        first_in, second_in, first_out = asyncio.Event(), asyncio.Event(), asyncio.Event()

        async def first() -> None:
            with deterministic(mode):
                first_in.set()
                await second_in.wait()
            first_out.set()

        async def second() -> None:
            await first_in.wait()
            with deterministic(mode):
                second_in.set()
                await first_out.wait()
                seen.append(settings())

        await asyncio.gather(first(), second())

    with pytest.warns(RuntimeWarning, match=r"deterministic\((False)?\) exited while a block"):
        asyncio.run(main())
    assert seen == [inside]
    assert settings() == prior


@MODES
def test_deterministic_blocks_in_threads_take_turns(mode, prior, inside):
    set_settings(*prior)
    seen: list[tuple[object, ...]] = []
    first_in = threading.Event()

    def worker(first: bool) -> None:
        if not first:
            first_in.wait()
        with deterministic(mode):
            if first:
                first_in.set()
                wait_until_a_block_waits()  # the other thread is at its block's door
            seen.append(settings())

    threads = [threading.Thread(target=worker, args=(True,))]
    threads.append(threading.Thread(target=worker, args=(False,)))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == [inside, inside]
    assert settings() == prior


def test_deterministic_on_coroutine_and_generator_functions_switches_their_bodies():
    set_settings(*OFF)

    @deterministic()
    async def coroutine() -> tuple[object, ...]:
        await asyncio.sleep(0)
        return settings()

    @deterministic()
    def generator() -> Generator[tuple[object, ...]]:
        yield settings()
        yield settings()

    assert inspect.iscoroutinefunction(coroutine)
    assert asyncio.run(coroutine()) == ON
    assert settings() == OFF
    steps = generator()
    assert next(steps) == ON
    assert settings() == OFF  # only while the body runs
    assert next(steps) == ON
    steps.close()
    assert settings() == OFF


def test_deterministic_leaves_the_generators_alone():
    random.seed(3)
    expected = random.Random(3).random()
    with deterministic():
        assert random.random() == expected
