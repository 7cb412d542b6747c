"""``tracing()``: what a trace records, where, and that it leaves the process as it found it."""

from __future__ import annotations

import os
import pickle
import random
import secrets
import subprocess
import sys
import threading
import uuid

import numpy as np
import pytest
import torch

from reprorng import fixed_rng
from reprorng.trace import load, tracing
from reprorng.trace._hash import device_digest
from reprorng.trace._record import STREAMED

HERE = os.path.abspath(__file__)


def events_of(function, *args):
    with tracing() as recorder:
        function(*args)
    return recorder.trace().events


def test_each_kind_of_event_is_placed_at_the_line_that_caused_it():
    def program():
        random.seed(5)
        np.random.seed(6)
        torch.manual_seed(7)
        os.urandom(4)
        torch.ones(2).add(1)

    events = events_of(program)
    lines = {event.name: event.line for event in events}
    first = program.__code__.co_firstlineno
    assert lines["random.seed"] == first + 1
    assert lines["numpy.random.seed"] == first + 2
    assert lines["torch.manual_seed"] == first + 3
    assert lines["os.urandom"] == first + 4
    assert lines["aten::add"] == first + 5
    assert {os.path.abspath(event.file) for event in events} == {HERE}
    assert {event.function for event in events} == {"program"}


def test_seeding_calls_record_their_values():
    def program():
        random.seed(11)
        np.random.default_rng(12)
        np.random.RandomState(13)
        np.random.SeedSequence(14)
        torch.manual_seed(15)
        torch.cuda.manual_seed_all(16)  # queued without a GPU, and seen
        with fixed_rng(17):
            pass

    seeds = [(e.name, e.value) for e in events_of(program) if e.kind == "seed"]
    assert seeds == [
        ("random.seed", "11"),
        ("numpy.random.default_rng", "12"),
        ("numpy.random.RandomState", "13"),
        ("numpy.random.SeedSequence", "14"),
        ("torch.manual_seed", "15"),
        ("torch.cuda.manual_seed_all", "16"),
        ("reprorng.fixed_rng", "17"),
    ]


def test_entropy_reads_are_recorded_once_each():
    def program():
        os.urandom(2)
        secrets.token_hex(4)
        random.SystemRandom().random()
        uuid.uuid4()
        uuid.uuid1()
        np.random.default_rng()
        np.random.SeedSequence()
        np.random.RandomState()
        random.seed()
        torch.seed()

    reads = [event for event in events_of(program) if event.kind == "entropy"]
    assert [event.name for event in reads] == [
        "os.urandom",
        "random.SystemRandom",
        "random.SystemRandom",
        "uuid.uuid4",
        "uuid.uuid1",
        "numpy.random.default_rng",
        "numpy.random.SeedSequence",
        "numpy.random.RandomState",
        "random.seed",
        "torch.seed",
    ]
    assert reads[1].note == "via secrets.token_hex"
    assert len({event.value for event in reads}) == len(reads)


def test_time_reads_are_not_entropy():
    import time

    events = events_of(lambda: (time.time(), time.perf_counter_ns()))
    assert events == []


def test_a_generator_handed_to_default_rng_is_not_a_seed():
    generator = np.random.default_rng(1)
    events = events_of(lambda: np.random.default_rng(generator))
    assert events == []


def test_operators_record_hashes_of_inputs_outputs_and_the_generator():
    def program(value):
        torch.manual_seed(0)
        x = torch.full((3,), value)
        return torch.nn.functional.dropout(x, 0.5)

    first = events_of(program, 1.0)
    again = events_of(program, 1.0)
    other = events_of(program, 2.0)
    assert [(e.name, e.inputs, e.outputs, e.rng) for e in first] == [
        (e.name, e.inputs, e.outputs, e.rng) for e in again
    ]
    draws = [event for event in first if event.name == "aten::bernoulli_"]
    assert draws
    assert all(event.rng for event in draws)
    full = [event for event in first if event.name == "aten::full"]
    full_other = [event for event in other if event.name == "aten::full"]
    assert full[0].inputs != full_other[0].inputs
    assert full[0].outputs != full_other[0].outputs


def test_the_generator_state_tells_apart_the_same_draw_from_another_stream():
    def program(seed):
        generator = torch.Generator().manual_seed(seed)
        torch.rand(2, generator=generator)

    (one,) = [e for e in events_of(program, 1) if e.name == "aten::rand"]
    (two,) = [e for e in events_of(program, 2) if e.name == "aten::rand"]
    assert one.inputs == two.inputs
    assert one.rng != two.rng


def test_backward_operators_are_traced_with_their_autograd_node():
    def program():
        w = torch.ones(3, requires_grad=True)
        (w * 2).sum().backward()

    events = events_of(program)
    backward = [event for event in events if event.note.startswith("backward: ")]
    assert any("MulBackward0" in event.note for event in backward)
    line = program.__code__.co_firstlineno + 2
    assert all(event.line == line for event in backward)


def test_an_in_place_operator_hashes_its_input_before_it_changes():
    def program():
        x = torch.zeros(3)
        x.add_(1)
        x.add_(1)

    adds = [event for event in events_of(program) if event.name == "aten::add_"]
    assert adds[0].inputs != adds[1].inputs
    assert adds[0].outputs != adds[1].outputs


def test_a_write_through_data_is_seen_by_the_next_reader():
    def program(value):
        p = torch.nn.Parameter(torch.zeros(3))
        p.sum()
        p.data.fill_(value)  # another tensor object and version counter, same storage
        p.sum()

    sums = [e for e in events_of(program, 1.0) if e.name == "aten::sum"]
    other = [e for e in events_of(program, 2.0) if e.name == "aten::sum"]
    assert sums[0].inputs == other[0].inputs
    assert sums[1].inputs != other[1].inputs


def test_memory_torch_empty_left_unwritten_is_identified_by_shape_only():
    def program():
        x = torch.empty(1000)
        p = torch.nn.Parameter(x)
        p.view(10, 100).sum()
        x.fill_(1.0)
        x.sum()

    events = events_of(program)
    first_sum, second_sum = [event for event in events if event.name == "aten::sum"]
    assert "reads memory no operator wrote" in first_sum.note
    assert "reads memory" not in second_sum.note


def test_forked_children_do_not_trace():
    read, write = os.pipe()
    with tracing() as recorder:
        pid = os.fork()
        if pid == 0:
            torch.ones(1).add(1)
            os.write(write, str(len(recorder.events)).encode())
            os._exit(0)
        os.waitpid(pid, 0)
    assert os.read(read, 32) == b"0"


def test_other_threads_are_named_by_their_own_name():
    def work():
        os.urandom(1)

    with tracing() as recorder:
        thread = threading.Thread(target=work, name="loader")
        thread.start()
        thread.join()
    assert [event.thread for event in recorder.trace().events] == ["loader"]


def wrapped() -> tuple[object, ...]:
    """Everything a trace wraps, as the process has it now."""
    import numpy.random

    return (
        os.urandom,
        random.seed,
        random.SystemRandom.getrandbits,
        uuid.uuid4,
        numpy.random.default_rng,
        numpy.random.seed,
        numpy.random.RandomState,
        numpy.random.SeedSequence,
        torch.manual_seed,
        torch.random.manual_seed,
        torch.seed,
        torch.cuda.manual_seed,
    )


def test_tracing_puts_back_everything_it_wrapped():
    before = wrapped()
    with tracing():
        assert os.urandom is not before[0]
    after = wrapped()
    assert all(a is b for a, b in zip(before, after, strict=True))
    assert events_of(lambda: None) == []
    with tracing() as recorder:
        pass
    torch.ones(1).add(1)
    assert recorder.trace().events == []


def test_numpy_stand_ins_are_the_originals_to_isinstance_and_pickle():
    original_state, original_sequence = np.random.RandomState, np.random.SeedSequence
    with tracing():
        state = np.random.RandomState(3)
        sequence = np.random.SeedSequence(4)
        assert isinstance(np.random.mtrand._rand, np.random.RandomState)
        assert isinstance(state, original_state)
        assert issubclass(np.random.RandomState, original_state)
        assert issubclass(original_state, np.random.RandomState)
        assert isinstance(sequence, np.random.SeedSequence)
        state_copy = pickle.loads(pickle.dumps(state))
        sequence_copy = pickle.loads(pickle.dumps(sequence))
    assert type(state_copy) is original_state
    assert type(sequence_copy) is original_sequence
    assert state_copy.randint(1000) == np.random.RandomState(3).randint(1000)
    assert sequence_copy.entropy == 4


def test_calls_from_torch_numpy_and_imports_are_not_the_programs():
    def program():
        # torch.randn's first call imports modules that read entropy; numpy's
        # unpickling makes a SeedSequence of its own.
        torch.randn(2)
        pickle.loads(pickle.dumps(np.random.default_rng(1)))

    events = events_of(program)
    assert [event.kind for event in events if event.kind != "op"] == ["seed"]


@pytest.mark.parametrize("size", [0, 1, 3, 7, 1000])
def test_a_device_hash_changes_with_any_one_element(size):
    x = torch.rand(size)
    base = int(device_digest(x))
    assert int(device_digest(x.clone())) == base
    for index in range(min(size, 5)):
        changed = x.clone()
        changed[index] += 1
        assert int(device_digest(changed)) != base
    if size >= 2:
        assert int(device_digest(x.flip(0))) != base or torch.equal(x, x.flip(0))


def test_device_hashes_are_read_back_in_batches_and_fill_their_events(monkeypatch):
    """The accelerator path, run on CPU: hashes stay on the device until a batch is read."""
    from reprorng.trace import _record, _tensors
    from reprorng.trace._hash import tensor_parts

    def on_device(tensor):
        found = tensor_parts(tensor)
        return [*found[:-1], device_digest(tensor)]

    monkeypatch.setattr(_tensors, "tensor_parts", on_device)
    monkeypatch.setattr(_record, "BATCH", 4)

    def program(value):
        x = torch.full((5,), value)
        for _ in range(6):
            x = x * 2 + 1
        return x

    runs = []
    for value in (1.0, 1.0, 2.0):
        with tracing() as recorder:
            program(value)
            assert 0 < len(recorder.pending) < 4  # read back whenever a batch was full
            assert any(event.outputs == "" for event in recorder.events)
        runs.append(recorder.trace().events)
    assert not recorder.pending
    hashes = [(event.inputs, event.outputs) for event in runs[0]]
    assert all(len(text) == 16 for pair in hashes for text in pair)
    assert hashes == [(event.inputs, event.outputs) for event in runs[1]]
    assert hashes[0][1] != runs[2][0].outputs


def test_files_inside_the_current_folder_are_shown_relative_to_it(monkeypatch):
    monkeypatch.chdir(os.path.dirname(HERE))
    (event,) = events_of(lambda: random.seed(1))
    assert event.file == os.path.basename(HERE)
    monkeypatch.chdir(os.path.dirname(os.path.dirname(HERE)))
    (event,) = events_of(lambda: random.seed(1))
    assert event.file == os.path.join("tests", os.path.basename(HERE))


def test_a_read_with_no_python_caller_is_recorded_at_no_place():
    import _thread
    import time

    with tracing() as recorder:
        _thread.start_new_thread(os.urandom, (1,))  # the thread runs the wrapper alone
        while not recorder.events:
            time.sleep(0.01)  # polling for an event, not timing one
    (event,) = recorder.trace().events
    assert (event.name, event.file, event.line) == ("os.urandom", "<none>", 0)


def test_a_views_hash_follows_its_base_and_what_it_shows():
    def program(value, row):
        x = torch.arange(12.0).reshape(3, 4) * value
        x[row].sum()
        x.t().sum()

    def views(value, row):
        events = events_of(program, value, row)
        return [e.outputs for e in events if e.name in ("aten::select", "aten::t")]

    assert views(1.0, 0) == views(1.0, 0)
    one, other = views(1.0, 0), views(2.0, 0)
    assert one[0] != other[0]  # another base
    assert one[1] != other[1]
    assert views(1.0, 0)[0] != views(1.0, 1)[0]  # another row of the same base
    assert views(1.0, 0)[1] == views(1.0, 1)[1]


def test_writes_are_recorded_at_their_line_and_a_stream_the_program_sets_is_left():
    import io
    import sys

    mine = io.StringIO()
    saved = sys.stdout
    try:
        with tracing() as recorder:
            print("hello")  # the line of the first write
            line = sys._getframe().f_lineno - 1
            sys.stdout = mine
            print("kept")
        assert sys.stdout is mine
    finally:
        sys.stdout = saved
    writes = [event for event in recorder.events if event.kind == "output"]
    assert [(event.name, event.line) for event in writes] == [("stdout", line)] * 2
    assert writes[0].value.startswith("0:")  # "hello": no line ended
    assert writes[1].value.startswith("1:")  # its newline
    assert mine.getvalue() == "kept\n"


def test_a_trace_written_as_it_goes_keeps_a_batch_at_most_and_reads_back_whole(tmp_path):
    def program():
        torch.manual_seed(3)
        x = torch.zeros(4)
        for _ in range(STREAMED + 100):  # two operators each
            x = x + torch.rand(4)

    in_memory = events_of(program)
    held = []
    with tracing(out=tmp_path / "run.trace") as recorder:
        recorder.meta["program"] = "loop"
        handed_on = recorder.sink
        assert handed_on is not None

        def counting(batch):
            held.append(len(batch))
            handed_on(batch)

        recorder.sink = counting
        program()
    assert held  # it handed batches on while the program ran
    assert max(held) <= STREAMED
    assert len(recorder.events) == 0
    streamed = load(tmp_path / "run.trace")
    assert streamed.meta == {"program": "loop"}
    assert streamed.events == in_memory
    assert [path.name for path in tmp_path.iterdir()] == ["run.trace"]


def test_a_light_trace_records_seeds_and_entropy_but_no_operator():
    with tracing(operators=False) as recorder:
        torch.manual_seed(7)
        torch.ones(2).add(1)
        os.urandom(2)
    kinds = [event.kind for event in recorder.trace().events]
    assert kinds == ["seed", "entropy"]


def test_tracing_operators_does_not_import_the_compiler(tmp_path):
    code = (
        "import sys, torch\n"
        "from reprorng.trace import tracing\n"
        "with tracing() as recorder:\n"
        "    torch.rand(3).add(1)\n"
        "print(len(recorder.trace().events), 'torch._dynamo' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["2", "False"]
