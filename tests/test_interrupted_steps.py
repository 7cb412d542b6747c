"""Ctrl-C at any step of a decorated generator or coroutine loses no state, as for plain blocks.

Each point where CPython could act on a signal, in the caller's code, in
reprorng's and in the body, is tried in turn (:class:`InterruptAt`): the
caller's generators must come back as they were, and no block stays open.
"""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch

from reprorng import _stack, reproducible
from tests.helpers import InterruptAt, draws, global_states, seed_by_hand


@reproducible(3)
def numbers():
    for _ in range(2):
        yield sum(draws())


def iterate(_: int) -> float:
    steps = numbers()
    try:
        return float(sum(steps))
    finally:
        steps.close()


@types.coroutine
def pause():
    yield


@reproducible(4)
async def sample() -> float:
    first = sum(draws())
    await pause()
    return first + sum(draws())


def await_by_hand(_: int) -> float:
    """What an event loop does with a coroutine, without the loop's own thousands of steps."""
    coroutine = sample()
    try:
        while True:
            coroutine.send(None)
    except StopIteration as done:
        # No call in the handler: the harness interrupts at the step after a call, where
        # Python acts inside the call; here that step would be the handler's own end.
        result = done.value
    finally:
        coroutine.close()
    return float(result)


def prepare(seed: int) -> None:
    seed_by_hand(seed)
    np.random.standard_normal()  # a cached normal to lose, if anything loses it
    torch.randn(1)


@pytest.mark.filterwarnings("ignore:coroutine 'sample' was never awaited")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.parametrize("use", [iterate, await_by_hand], ids=["generator", "coroutine"])
def test_ctrl_c_at_any_step_of_a_decorated_body_loses_no_state(use: Callable[[int], Any]):
    counts: list[int] = []
    while len(counts) < 2 or counts[-1] != counts[-2]:  # until caches and first paths settle
        prepare(7)  # one state for every run: which path reprorng takes depends on it
        global_states()  # as before each run below
        with InterruptAt(0) as counting:
            use(7)
        counts.append(counting.count)
        assert len(counts) < 10
    assert counting.count > 50  # many steps, each tested below
    interrupted = 0
    for step in range(1, counting.count + 1):
        prepare(7)
        before = global_states()
        try:
            with InterruptAt(step):
                use(7)
        except KeyboardInterrupt:
            interrupted += 1
        assert global_states() == before, step
        assert _stack.open_frames == [], step
    assert interrupted == counting.count
    assert sys.exc_info() == (None, None, None)  # no handled exception left behind


def test_an_uninterrupted_body_gives_its_own_seeded_stream():
    random.seed(0)
    with_draws = iterate(0)
    assert iterate(0) == with_draws  # each call starts from the decorator's seed
    assert await_by_hand(0) == await_by_hand(0)


def test_collecting_a_decorated_coroutine_runs_no_code_of_reprorngs():
    """Python drops an exception raised during collection: a Ctrl-C landing there would be lost."""
    import gc
    import sys

    called: list[str] = []

    def watch(frame: Any, event: str, arg: object) -> None:
        if event == "call" and "reprorng" in frame.f_code.co_filename:
            called.append(frame.f_code.co_name)

    started = sample()
    with pytest.raises(StopIteration):
        while True:
            started.send(None)
    never_awaited = [sample()]
    sys.setprofile(watch)
    try:
        del started
        gc.collect()
        with pytest.warns(RuntimeWarning, match="coroutine 'sample' was never awaited"):
            never_awaited.clear()
    finally:
        sys.setprofile(None)
    assert called == []
