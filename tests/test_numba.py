"""numba's own generators, behind ``np.random`` and ``random`` in ``@njit`` code: a source."""

from __future__ import annotations

import random
import struct
import textwrap
import threading
from typing import Any

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprorng import RngState, fixed_rng, snapshot
from reprorng.sources import numba as numba_source

from .helpers import run_python, run_seeded

helper: Any = numba._helperlib
njit: Any = numba.njit  # compiled functions, untyped here


@njit  # type: ignore[untyped-decorator]
def drawn() -> tuple[float, float, float]:
    return np.random.random(), random.random(), np.random.standard_normal()


@njit  # type: ignore[untyped-decorator]
def seeded_by_numba(seed: int) -> tuple[float, float, float]:
    np.random.seed(seed)
    random.seed(seed)
    return np.random.random(), random.random(), np.random.standard_normal()


@njit  # type: ignore[untyped-decorator]
def normal() -> float:
    return np.random.standard_normal()


def numba_states() -> tuple[bytes, bytes]:
    """This thread's two numba states, cached normal included, as bytes."""
    numpy_state, python_state = helper.rnd_get_np_state_ptr(), helper.rnd_get_py_state_ptr()
    import ctypes

    size = numba_source._STATE.size
    return ctypes.string_at(numpy_state, size), ctypes.string_at(python_state, size)


@pytest.fixture(params=["memory", "fallback"])
def path(request, monkeypatch):
    """Each test runs on the memory path and, forced, on numba's getter and setter."""
    numba_source._in_memory()
    if request.param == "fallback":
        monkeypatch.setattr(numba_source, "_confirmed", False)
    return request.param


def test_the_memory_layout_is_confirmed_with_this_numba():
    assert numba_source._in_memory()


@pytest.mark.parametrize("seed", [0, 5, 2**32 - 1])
def test_a_block_seeds_numba_as_its_own_seeding_in_compiled_code(path, seed):
    with fixed_rng(seed):
        inside = drawn()
    assert inside == seeded_by_numba(seed)


@pytest.mark.parametrize("seed", [2**32, 2**32 + 5, 2**63 + 11, 2**64 - 1])
def test_a_large_seed_seeds_numba_as_numpy_and_python_seed_their_own(seed):
    with fixed_rng(seed):
        numpy_words = helper.rnd_get_state(helper.rnd_get_np_state_ptr())[1]
        inside = drawn()[:2]
    expected_numpy = np.random.RandomState([seed & 0xFFFFFFFF, seed >> 32, 1])
    assert numpy_words == [*expected_numpy.get_state(legacy=False)["state"]["key"].tolist()]
    assert inside == (expected_numpy.random_sample(), random.Random(seed).random())


def test_numba_is_put_back_bit_for_bit_with_its_cached_normal():
    seeded_by_numba(7)
    normal()  # leaves the second normal of a pair cached
    before = numba_states()
    with fixed_rng(3):
        drawn()
    assert numba_states() == before
    after_cached = normal()
    seeded_by_numba(7)
    normal()
    assert after_cached == normal()  # the very cached value was handed out


@settings(max_examples=40, deadline=None)
@given(outer=st.integers(0, 2**64 - 1), inner=st.integers(0, 2**64 - 1))
def test_nested_blocks_restore_numba_exactly(outer, inner):
    before = numba_states()
    with fixed_rng(outer):
        first = drawn()
        with fixed_rng(inner):
            drawn()
        second = drawn()
    assert numba_states() == before
    with fixed_rng(outer):
        assert drawn() == first
        assert drawn() == second


def test_numbas_own_getter_and_setter_put_back_all_but_a_cached_normal(monkeypatch):
    monkeypatch.setattr(numba_source, "_confirmed", False)
    seeded_by_numba(7)
    normal()  # a cached normal, which numba's setter drops
    before = numba_states()
    with fixed_rng(3):
        drawn()
    after = numba_states()
    assert after[1] == before[1]
    assert after[0][: numba_source._NORMAL_AT] == before[0][: numba_source._NORMAL_AT]
    assert after[0][numba_source._NORMAL_AT :] != before[0][numba_source._NORMAL_AT :]


def test_a_snapshot_saves_and_restores_numba():
    seeded_by_numba(11)
    saved = RngState.from_bytes(snapshot().to_bytes())
    expected = drawn()
    drawn()
    saved.restore()
    assert drawn() == expected


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"np.random": (0, (1,) * 624, None)}, "dict of 'np.random' and 'random'"),
        ({"np.random": (700, (1,) * 624, None), "random": (0, (1,) * 624, None)}, "position"),
        ({"np.random": (0, (0,) * 624, None), "random": (0, (1,) * 624, None)}, "not all 0"),
        ({"np.random": (0, (1,) * 624, "x"), "random": (0, (1,) * 624, None)}, "finite float"),
    ],
)
def test_a_bad_saved_state_is_refused_by_name(data, words):
    with pytest.raises(ValueError, match=words):
        numba_source.NumbaRandom().load(data)


def test_a_block_exited_in_another_thread_puts_back_the_first_threads_states():
    source = numba_source.NumbaRandom()
    captured = source.capture()
    ours = numba_states()
    seeded_by_numba(1)
    theirs: list[tuple[bytes, bytes]] = []

    def elsewhere() -> None:
        seeded_by_numba(2)
        before = numba_states()
        source.restore(captured)  # into this (main) thread's states, not its own
        assert numba_states() == before
        theirs.append(before)

    thread = threading.Thread(target=elsewhere)
    thread.start()
    thread.join()
    assert theirs
    assert numba_states() == ours


def test_the_states_of_a_thread_that_has_ended_are_left_alone():
    source = numba_source.NumbaRandom()
    captured: list[object] = []
    thread = threading.Thread(target=lambda: captured.append(source.capture()))
    thread.start()
    thread.join()
    seeded_by_numba(3)
    ours = numba_states()
    source.restore(captured[0])  # nothing to put back: nothing can draw from them
    assert numba_states() == ours


PROGRAM = """
    import random, sys
    import numpy as np
    from numba import njit

    @njit  # type: ignore[untyped-decorator]
    def draw():
        return np.random.random(), random.random()

    print(draw())
"""


def test_reprorng_run_and_seed_everything_seed_numba(tmp_path):
    (tmp_path / "draw.py").write_text(textwrap.dedent(PROGRAM))
    runs = [
        run_python("import runpy, sys; runpy.run_path(sys.argv[1])", str(tmp_path / "draw.py"))
        for _ in range(2)
    ]
    assert runs[0] != runs[1]  # unseeded, numba draws from entropy
    under_run = [run_seeded(tmp_path / "draw.py", 4) for _ in range(2)]
    assert under_run[0] == under_run[1]
    everything = run_python(
        """
        import reprorng
        reprorng.seed_everything(4, verbose=False)
        from numba import njit
        import numpy as np, random

        @njit  # type: ignore[untyped-decorator]
        def draw():
            return np.random.random(), random.random()

        print(draw())
        """
    )
    assert everything == under_run[0]  # imported after seeding: seeded as it is imported


def test_the_saved_form_is_the_states_words():
    seeded_by_numba(2)
    normal()  # takes the cached normal out: none is cached now
    dumped = numba_source.NumbaRandom().dump(numba_source.NumbaRandom().capture())
    assert isinstance(dumped, dict)
    index, words, cached = dumped["np.random"]
    assert (index, list(words)) == tuple(helper.rnd_get_state(helper.rnd_get_np_state_ptr()))
    assert cached is None
    assert struct.calcsize("=i624Iid") == numba_source._STATE.size
