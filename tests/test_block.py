from __future__ import annotations

import gc
import random
import threading
import weakref
from typing import Any

import numpy as np
import pytest
import torch
from numpy.random.mtrand import get_bit_generator, set_bit_generator

from reprorng import _stack, fixed_rng
from reprorng.sources import SOURCES
from tests.helpers import InterruptAt, global_states, run_python, seed_by_hand


def draw_everything() -> tuple[object, ...]:
    return (
        random.random(),
        random.gauss(0, 1),
        np.random.random(3).tobytes(),
        np.random.standard_normal(),
        torch.rand(3).numpy().tobytes(),
        torch.randn(3).numpy().tobytes(),
    )


# --- the seeding contract -------------------------------------------------------------


def test_torch_tutorial_table():
    with fixed_rng(42):
        table = torch.rand(3, 4)
    expected = torch.tensor([0.8823, 0.9150, 0.3829, 0.9593])
    assert torch.allclose(table[0], expected, atol=5e-5)


def test_numpy_tutorial_values():
    with fixed_rng(17):
        values = np.random.randn(3)
    assert np.allclose(values, [0.27626589, -1.85462808, 0.62390111], atol=5e-9)


@pytest.mark.parametrize("seed", [0, 5, 42, 2**31, 2**32 - 1, 2**32 + 5, 2**64 - 1])
def test_block_gives_what_each_library_seeding_call_gives(seed):
    before = global_states()
    seed_by_hand(seed)
    seeded = global_states()
    expected = draw_everything()
    random.setstate(before[0])  # the block starts from elsewhere
    with fixed_rng(seed):
        assert global_states() == seeded
        assert draw_everything() == expected


def test_seeds_used_again_and_again_are_seeded_exactly_each_time():
    expected = {}
    for seed in (5, 6):
        seed_by_hand(seed)
        expected[seed] = global_states()
    for seed in (5, 5, 5, 6, 5, 5, 6, 6, 6, 5):
        leave_cached_normals()
        with fixed_rng(seed):
            assert global_states() == expected[seed]
            draw_everything()


def test_large_seed_is_not_truncated_for_numpy():
    with fixed_rng(2**32 + 5):
        large = np.random.random(4)
    with fixed_rng(5):
        small = np.random.random(4)
    assert not np.array_equal(large, small)


def test_large_seeds_seed_numpy_from_both_words():
    with fixed_rng(2**32 + 5):
        ours = np.random.random(4)
    np.random.seed([5, 1, 1])
    assert np.array_equal(ours, np.random.random(4))


@pytest.mark.parametrize("seed", [0, 5, 2**32 - 1, 2**32, 2**32 + 5, 2**63 + 11, 2**64 - 1])
def test_python_and_numpy_never_draw_the_same_numbers(seed):
    with fixed_rng(seed):
        python = [random.random() for _ in range(4)]
        numpy = np.random.random(4).tolist()
    assert not set(python) & set(numpy)


# --- exact restore ---------------------------------------------------------------------


def leave_cached_normals() -> None:
    """Put every generator in a state that holds a cached normal sample."""
    random.gauss(0, 1)  # caches gauss_next
    np.random.standard_normal()  # caches the second of the pair
    torch.randn(1)  # caches the second double normal


def test_state_after_block_is_bit_identical_including_cached_normals():
    leave_cached_normals()
    before = global_states()
    with fixed_rng(3):
        draw_everything()
        leave_cached_normals()
    assert global_states() == before


def test_code_after_block_draws_what_it_would_have_drawn():
    leave_cached_normals()
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    before = global_states()
    without_block = draw_everything()
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.set_rng_state(saved[2])
    assert global_states() == before
    with fixed_rng(11):
        draw_everything()
    assert draw_everything() == without_block


class Boom(Exception):
    pass


@pytest.mark.parametrize("error", [Boom("x"), KeyboardInterrupt(), SystemExit(3), GeneratorExit()])
def test_restore_on_any_base_exception_which_propagates_unchanged(error):
    leave_cached_normals()
    before = global_states()
    with pytest.raises(type(error)) as caught, fixed_rng(8):
        draw_everything()
        raise error
    assert caught.value is error
    assert global_states() == before


def test_generators_reseeded_inside_block_are_still_restored():
    before = global_states()
    with fixed_rng(1):
        random.seed(99)
        np.random.seed(99)
        torch.manual_seed(99)
        draw_everything()
    assert global_states() == before


def test_state_replaced_inside_block_is_restored():
    before = global_states()
    with fixed_rng(1):
        random.setstate(random.Random(5).getstate())
        np.random.set_state(np.random.RandomState(5).get_state())
        torch.default_generator.set_state(torch.Generator().manual_seed(5).get_state())
    assert global_states() == before


def numpy_state_at(position: int, cached: bool) -> Any:
    """A legacy numpy state at a given twister position, with or without a cached gaussian."""
    legacy: Any = np.random.RandomState(position).get_state(legacy=True)
    return ("MT19937", legacy[1], position, int(cached), 0.25 if cached else 0.0)


@pytest.mark.parametrize("position", [0, 1, 2, 311, 621, 622, 623, 624])
@pytest.mark.parametrize("cached", [False, True])
def test_numpy_state_at_every_twister_position_is_restored_bit_for_bit(position, cached):
    state = numpy_state_at(position, cached)
    np.random.set_state(state)
    expected_after = np.random.standard_normal(5).tobytes()
    np.random.set_state(state)
    with fixed_rng(position):
        np.random.standard_normal(3)
    restored: Any = np.random.get_state()
    assert restored[1].tobytes() == state[1].tobytes()
    assert restored[2:] == state[2:]
    assert np.random.standard_normal(5).tobytes() == expected_after


def test_numpy_global_bit_generator_keeps_its_seed_sequence():
    # np.random.seed drops seed_seq for good; a block must not.
    run_python(
        """
        import numpy as np
        from reprorng import fixed_rng

        bit_generator = np.random.get_bit_generator()
        seed_seq = bit_generator.seed_seq
        assert seed_seq is not None
        with fixed_rng(3):
            np.random.random()
        assert np.random.get_bit_generator() is bit_generator
        assert bit_generator.seed_seq is seed_seq
        bit_generator.spawn(1)
        """
    )


@pytest.fixture
def global_bit_generator():
    """Set numpy's global bit generator for one test, then put the original back."""
    original = get_bit_generator()
    yield set_bit_generator
    set_bit_generator(original)


@pytest.mark.parametrize("kind", ["PCG64", "Philox", "SFC64"])
def test_numpy_global_with_another_bit_generator_is_seeded_and_restored(kind, global_bit_generator):
    global_bit_generator(getattr(np.random, kind)(3))
    np.random.standard_normal()
    before = np.random.get_state(legacy=False)
    with fixed_rng(17):
        inside = np.random.randn(3)
    after = np.random.get_state(legacy=False)
    # np.random.seed(17) on a generator with no normal cached (numpy's own seed
    # keeps a cached one with these bit generators; a block never does).
    global_bit_generator(getattr(np.random, kind)(0))
    np.random.seed(17)
    assert np.array_equal(inside, np.random.randn(3))
    assert before["has_gauss"] == 1
    np.testing.assert_equal(after, before)


@pytest.mark.parametrize("kind", ["MT19937", "PCG64", "Philox", "SFC64"])
def test_a_normal_cached_before_a_block_never_reaches_it(kind, global_bit_generator):
    global_bit_generator(getattr(np.random, kind)(123))

    @fixed_rng(42)
    def seeded_noise() -> list[float]:
        return [float(value) for value in np.random.standard_normal(3)]

    first = seeded_noise()
    np.random.standard_normal()  # an odd number of normals leaves one cached
    assert seeded_noise() == first
    np.random.standard_normal()
    assert seeded_noise() == first


@pytest.mark.parametrize("seed_inside", [7, None])
def test_legacy_seeding_inside_a_block_leaves_the_global_seed_sequence(
    seed_inside, global_bit_generator
):
    bit_generator = np.random.MT19937(np.random.SeedSequence(1234))
    global_bit_generator(bit_generator)
    seed_seq = bit_generator.seed_seq
    np.random.random()
    expected = np.random.get_state(legacy=False)
    with fixed_rng(42):
        np.random.seed(seed_inside)  # drops the bit generator's seed_seq
    assert get_bit_generator() is bit_generator
    assert bit_generator.seed_seq is seed_seq
    np.testing.assert_equal(np.random.get_state(legacy=False), expected)
    assert len(bit_generator.spawn(2)) == 2


def test_blocks_keep_no_former_global_bit_generator_alive(global_bit_generator):
    # numpy's bit generators take no weak references; their lock does, and dies with them.
    bit_generator = np.random.MT19937(0)
    alive = weakref.ref(bit_generator.lock)
    global_bit_generator(bit_generator)
    with fixed_rng(1):
        np.random.random()
    global_bit_generator(np.random.MT19937(1))
    with fixed_rng(1):
        np.random.random()
    del bit_generator
    gc.collect()
    assert alive() is None


def test_numpy_bit_generator_swapped_inside_block_is_put_back():
    original = get_bit_generator()
    before = global_states()
    with fixed_rng(2):
        set_bit_generator(np.random.PCG64(1))
        np.random.random()
    assert get_bit_generator() is original
    assert global_states() == before


# --- nesting and reuse ----------------------------------------------------------------


def test_inner_block_restores_the_outer_stream_mid_way():
    with fixed_rng(1):
        first = draw_everything()
        second = draw_everything()
    with fixed_rng(1):
        assert draw_everything() == first
        with fixed_rng(2):
            inner = draw_everything()
        assert draw_everything() == second
    with fixed_rng(2):
        assert draw_everything() == inner


def test_same_object_entered_sequentially():
    block = fixed_rng(4)
    with block:
        first = draw_everything()
    with block:
        assert draw_everything() == first


def test_same_object_entered_reentrantly():
    block = fixed_rng(4)
    before = global_states()
    with block:
        first = draw_everything()
        middle = global_states()
        with block:
            assert draw_everything() == first
        assert global_states() == middle
    assert global_states() == before


def test_enter_returns_the_block_with_its_seed():
    block = fixed_rng(12)
    with block as ctx:
        assert ctx is block
        assert ctx.seed == 12
    assert repr(block) == "fixed_rng(seed=12)"


def test_exit_without_enter_is_an_error():
    with pytest.raises(RuntimeError, match=r"fixed_rng\(seed=1\) exited without being entered"):
        fixed_rng(1).__exit__(None, None, None)


def test_exit_out_of_order_warns_and_still_restores_the_state_from_before():
    before = global_states()
    outer, inner = fixed_rng(1), fixed_rng(2)
    outer.__enter__()
    inner.__enter__()
    in_inner = global_states()
    with pytest.warns(RuntimeWarning, match=r"fixed_rng\(seed=1\) exited while a block"):
        outer.__exit__(None, None, None)
    assert global_states() == in_inner  # the open block's stream is left alone
    inner.__exit__(None, None, None)
    assert global_states() == before


def test_block_entered_in_another_thread_exits_there():
    block = fixed_rng(5)
    before = global_states()
    seen = []

    def work():
        with block:
            seen.append(random.random())

    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
    with fixed_rng(5):
        assert seen == [random.random()]
    assert global_states() == before


def test_block_in_a_child_forked_while_another_thread_held_the_lock():
    run_python(
        """
        import os, random, threading
        from reprorng import _stack, fixed_rng

        held, release = threading.Event(), threading.Event()

        def hold():
            with _stack.lock:
                held.set()
                release.wait()

        thread = threading.Thread(target=hold)
        thread.start()
        held.wait()
        pid = os.fork()
        if pid == 0:
            with fixed_rng(1):
                random.random()
            os._exit(0)
        release.set()
        thread.join()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        """
    )


# --- accelerators, lazily ------------------------------------------------------------


def lazy_queue() -> tuple[object, ...]:
    tracker = torch.cuda._lazy_seed_tracker
    return (tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order))


def test_block_never_initialises_cuda_nor_touches_its_lazy_queue():
    queue = lazy_queue()
    with fixed_rng(3):
        torch.rand(2)
    assert not torch.cuda.is_initialized()
    assert lazy_queue() == queue


@pytest.fixture
def cuda_reported_available(monkeypatch):
    """Drive the lazy-accelerator path on a machine without CUDA.

    torch's own lazy queue is used for real; only the device's availability
    is forced, so the block queues seeding for a device never initialised.
    """
    tracker = torch.cuda._lazy_seed_tracker
    saved = (tracker.manual_seed_all_cb, tracker.manual_seed_cb, list(tracker.call_order))
    cuda = next(source for source in SOURCES if source.name == "cuda")
    monkeypatch.setattr(cuda, "_available", True)
    monkeypatch.setattr(_stack, "_settled", None)
    yield
    tracker.manual_seed_all_cb, tracker.manual_seed_cb, tracker.call_order = saved


def test_uninitialised_cuda_queue_is_seeded_inside_and_left_as_it_was(cuda_reported_available):
    torch.cuda.manual_seed_all(7)  # a seed the user queued before the block
    queue = lazy_queue()
    with fixed_rng(3):
        inside = lazy_queue()
    assert inside != queue  # the block queued its own seed for CUDA
    assert lazy_queue() == queue  # ... which can never fire after the block
    assert lazy_queue()[0] is queue[0]
    assert not torch.cuda.is_initialized()


def test_the_seed_a_block_queues_seeds_each_device_as_manual_seed_all_would(
    cuda_reported_available, monkeypatch
):
    devices = (torch.Generator(), torch.Generator())
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "default_generators", devices, raising=False)
    tracker: Any = torch.cuda._lazy_seed_tracker
    with fixed_rng(3):
        queued, _stack = tracker.manual_seed_all_cb
    queued()
    ours = [device.get_state() for device in devices]
    torch.cuda.manual_seed_all(3)
    torchs, _stack = tracker.manual_seed_all_cb
    torchs()
    assert all(torch.equal(a, b.get_state()) for a, b in zip(ours, devices, strict=True))
    assert torch.equal(ours[0], torch.Generator().manual_seed(3).get_state())


def test_an_initialised_device_is_seeded_directly(cuda_reported_available, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(torch.cuda, "is_initialized", lambda: True)
    monkeypatch.setattr(torch.cuda, "default_generators", (), raising=False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", lambda: [])
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", lambda states: None)

    def manual_seed_all(seed: int) -> None:
        with torch.cuda._initialization_lock:  # as torch's own takes it
            calls.append(seed)

    monkeypatch.setattr(torch.cuda, "manual_seed_all", manual_seed_all)
    # In a thread, so that a deadlock on torch's initialisation lock fails instead of hanging.
    thread = threading.Thread(
        target=lambda: fixed_rng(3).__enter__().__exit__(None, None, None), daemon=True
    )
    thread.start()
    thread.join(10)
    assert not thread.is_alive(), "deadlocked"
    assert calls == [3]


def test_seed_queued_inside_block_by_user_does_not_outlive_it(cuda_reported_available):
    queue = lazy_queue()
    with fixed_rng(3):
        torch.cuda.manual_seed(11)
        torch.manual_seed(12)
    assert lazy_queue() == queue
    assert not torch.cuda.is_initialized()


def test_custom_backend_is_seeded_like_torch_manual_seed_and_restored():
    run_python(
        """
        import types
        import torch
        from reprorng import fixed_rng

        # A stand-in backend registered the way out-of-tree devices are.
        torch.utils.rename_privateuse1_backend("stand_in")
        device = types.ModuleType("stand_in")
        states = [torch.zeros(2), torch.zeros(2)]
        device.is_available = lambda: True
        device._is_in_bad_fork = lambda: False
        device.manual_seed_all = lambda seed: states.__setitem__(
            slice(None), [torch.full((2,), float(seed))] * 2
        )
        device.get_rng_state_all = lambda: [state.clone() for state in states]
        device.set_rng_state_all = lambda new: states.__setitem__(slice(None), list(new))
        torch._register_device_module("stand_in", device)

        torch.manual_seed(42)
        seeded = device.get_rng_state_all()
        torch.manual_seed(5)
        before = device.get_rng_state_all()
        with fixed_rng(42):
            assert all(torch.equal(a, b) for a, b in zip(states, seeded))
            device.manual_seed_all(9)
        assert all(torch.equal(a, b) for a, b in zip(states, before))
        """
    )


# --- light import ----------------------------------------------------------------------


def test_import_loads_neither_numpy_nor_torch():
    out = run_python(
        """
        import sys, reprorng
        print(sorted(m for m in ("numpy", "torch") if m in sys.modules))
        """
    )
    assert out.strip() == "[]"


def test_libraries_imported_inside_a_block_are_seeded_and_restored():
    out = run_python(
        """
        import random
        from reprorng import fixed_rng

        with fixed_rng(42):
            import torch
            import numpy as np
            table = torch.rand(3, 4)
            values = np.random.random(3)
            after_import = torch.default_generator.get_state()
        torch.manual_seed(42)
        np.random.seed(42)
        assert torch.equal(table, torch.rand(3, 4)), table
        assert (values == np.random.random(3)).all()
        print(table[0].tolist())
        """
    )
    assert out.startswith("[0.88226")


def test_late_import_leaves_the_state_the_library_would_have_had():
    run_python(
        """
        import wrapt
        from reprorng import fixed_rng

        at_import = {}

        @wrapt.when_imported("torch")
        def _(torch):
            at_import["torch"] = torch.default_generator.get_state()

        @wrapt.when_imported("numpy.random")
        def _(random):
            at_import["numpy"] = random.get_state(legacy=False)

        with fixed_rng(1):
            with fixed_rng(2):
                import torch
                import numpy as np
                inner = torch.rand(2), np.random.random(2)
            outer = torch.rand(2), np.random.random(2)

        assert torch.equal(torch.default_generator.get_state(), at_import["torch"])
        state = np.random.get_state(legacy=False)
        assert (state["state"]["key"] == at_import["numpy"]["state"]["key"]).all()
        assert state["state"]["pos"] == at_import["numpy"]["state"]["pos"]

        for seed, (t, n) in ((2, inner), (1, outer)):
            torch.manual_seed(seed)
            np.random.seed(seed)
            assert torch.equal(t, torch.rand(2)), seed
            assert (n == np.random.random(2)).all(), seed
        """
    )


def test_nothing_breaks_without_numpy_or_torch_installed():
    out = run_python(
        """
        import sys

        class NotInstalled:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("numpy", "torch"):
                    raise ModuleNotFoundError(f"No module named {name!r}", name=name)

        sys.meta_path.insert(0, NotInstalled())
        import random
        from reprorng import fixed_rng, reproducible

        state = random.getstate()
        with fixed_rng(3):
            first = random.random()
            try:
                import numpy
            except ModuleNotFoundError:
                pass

        @reproducible(3)
        def draw():
            return random.random()

        assert random.getstate() == state
        assert draw() == first
        print("ok")
        """
    )
    assert out.strip() == "ok"


# --- Ctrl-C at any step ------------------------------------------------------------------


def one_block(seed: int) -> float:
    with fixed_rng(seed):
        return random.random() + float(np.random.standard_normal()) + torch.randn(1).item()


def prepare(seed: int) -> None:
    seed_by_hand(seed)
    np.random.standard_normal()  # a cached normal to lose, if anything loses it


def test_ctrl_c_at_any_step_of_a_block_loses_no_state():
    one_block(0)  # imports and caches made once
    prepare(1)  # counted as each step below runs: the path depends on what is cached
    with InterruptAt(0) as counting:
        one_block(1)
    assert counting.count > 50  # many steps, each tested below
    for step in range(1, counting.count + 1):
        prepare(step)
        before = global_states()
        interrupted = False
        try:
            with InterruptAt(step):
                one_block(step)
        except KeyboardInterrupt:
            interrupted = True
        assert interrupted, step
        assert global_states() == before, step
        assert _stack.open_frames == [], step


def test_without_the_cached_normals_memory_layout_blocks_still_restore_exactly(monkeypatch):
    from reprorng.sources.numpy import NumpyGlobal
    from reprorng.sources.numpy_memory import _NormalSlot

    # As on a numpy whose layout is not confirmed: the cache is found by drawing.
    monkeypatch.setattr(_NormalSlot, "_offset", None)
    monkeypatch.setattr(_NormalSlot, "_looked", True)
    for source in SOURCES:
        if isinstance(source, NumpyGlobal):
            monkeypatch.setattr(source._twister, "_normal", None)
    for cached in (False, True):
        seed_by_hand(5)
        if cached:
            np.random.standard_normal()
        before = global_states()
        with fixed_rng(7):
            inside = np.random.standard_normal(3).tolist()
        assert global_states() == before
        np.random.seed(7)
        assert inside == np.random.standard_normal(3).tolist()


# --- an interrupt as __exit__ starts, before any of its code runs ---------------------------


def interrupted_as_exit_starts(body: Any = None) -> None:
    """A block whose __exit__ is interrupted at its very first step, as Ctrl-C can do."""

    def interrupt(frame, event, arg):
        if event == "call" and frame.f_code is fixed_rng.__exit__.__code__:
            raise KeyboardInterrupt
        return None

    import sys

    sys.settrace(interrupt)
    try:
        with fixed_rng(1):
            draw_everything()
            if body is not None:
                body()
    except KeyboardInterrupt:
        pass
    finally:
        sys.settrace(None)


@pytest.mark.parametrize("next_step", ["block", "snapshot", "exit of an outer block"])
def test_a_block_an_interrupt_left_open_is_put_back_at_the_next_step(next_step):
    from reprorng import snapshot

    before = global_states()
    if next_step == "exit of an outer block":
        with fixed_rng(2):
            inner = draw_everything()
            interrupted_as_exit_starts()
            assert len(_stack.open_frames) == 2  # left open by the interrupt
            leaving = pytest.warns(RuntimeWarning, match=r"fixed_rng\(seed=1\) was left open")
            leaving.__enter__()
        leaving.__exit__(None, None, None)
        with fixed_rng(2):
            assert draw_everything() == inner  # the outer block's stream was its own
        assert global_states() == before
        assert not _stack.open_frames
        return
    interrupted_as_exit_starts()
    assert len(_stack.open_frames) == 1  # what no code can guard: left open
    step = (lambda: fixed_rng(3)(lambda: None)()) if next_step == "block" else snapshot
    with pytest.warns(RuntimeWarning, match=r"fixed_rng\(seed=1\) was left open"):
        step()
    assert not _stack.open_frames
    assert global_states() == before


def test_blocks_whose_with_is_still_running_are_never_taken_for_left_open():
    before = global_states()

    def nested() -> None:
        try:
            with fixed_rng(5):
                raise ValueError
        except ValueError:
            with fixed_rng(6):
                pass
        assert len(_stack.open_frames) == 1  # only the outer one

    def generator():
        with fixed_rng(7):
            yield 1
            yield 2

    with fixed_rng(4):
        expected = random.random()
    with fixed_rng(4):
        nested()
        steps = generator()
        next(steps)
        with fixed_rng(8):
            pass
        assert len(_stack.open_frames) == 2
        next(steps)
        steps.close()
        assert len(_stack.open_frames) == 1
    assert global_states() == before
    with fixed_rng(4):
        assert random.random() == expected
