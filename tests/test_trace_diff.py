"""The first divergence between two traces and its cause, and the trace file that carries them."""

from __future__ import annotations

import gzip

import pytest
from hypothesis import given
from hypothesis import strategies as st

from reprorng.trace import CAUSES, Event, Trace, TraceError, first_divergence, load, save
from reprorng.trace._file import FIELDS


def op(line, inputs="i", outputs="o", rng="", name="aten::add", note="", thread="main"):
    return Event("op", name, "/p/train.py", line, "step", thread, inputs, outputs, rng, "", note)


def read(line, value, name="uuid.uuid4"):
    return Event("entropy", name, "/p/train.py", line, "main", value=value)


def seed(line, value, name="random.seed"):
    return Event("seed", name, "/p/train.py", line, "main", value=value)


def diverge(mine, theirs, **options):
    return first_divergence(Trace({}, mine), Trace({}, theirs), **options)


def test_identical_traces_have_no_divergence():
    events = [seed(1, "3"), op(2), op(3, rng="r")]
    assert diverge(events, list(events)) is None


def test_same_inputs_different_outputs_is_a_kernel():
    found = diverge([op(1), op(2, outputs="a")], [op(1), op(2, outputs="b")])
    assert found.cause == "kernel"
    assert found.event.line == 2
    assert found.as_json()["detail"].startswith("same inputs, different output")


def test_an_entropy_read_logged_before_a_kernel_does_not_hide_it():
    found = diverge([read(1, "x"), op(2, outputs="a")], [read(1, "y"), op(2, outputs="b")])
    assert found.cause == "kernel"
    assert [event.line for event in found.candidates] == [1]
    assert any("also read entropy" in line for line in found.lines())


def test_differing_inputs_after_an_entropy_read_point_at_the_read():
    found = diverge([read(1, "x"), op(2, inputs="a")], [read(1, "y"), op(2, inputs="b")])
    assert found.cause == "entropy"
    assert found.event.line == 1
    assert found.parted.line == 2


def test_an_entropy_read_that_read_the_same_is_no_candidate():
    found = diverge([read(1, "x"), op(2, inputs="a")], [read(1, "x"), op(2, inputs="b")])
    assert found.cause == "data"


def test_a_seeding_call_with_different_values_is_a_seed_cause():
    found = diverge([seed(1, "10"), op(2, inputs="a")], [seed(1, "11"), op(2, inputs="b")])
    assert found.cause == "seed"
    assert found.event.line == 1
    assert "got 10 in one run, 11 in the other" in found.detail


def test_a_known_hash_seed_difference_is_a_hash_seed_cause():
    mine, theirs = [op(1, inputs="a")], [op(1, inputs="b")]
    assert diverge(mine, theirs).cause == "data"
    assert diverge(mine, theirs, hash_seed=True).cause == "hash-seed"


def test_reading_unwritten_memory_is_never_a_kernel():
    note = "reads memory no operator wrote"
    found = diverge([op(1, outputs="a", note=note)], [op(1, outputs="b", note=note)])
    assert found.cause == "data"


def test_another_generator_state_with_the_same_inputs_is_unknown():
    found = diverge([op(1, rng="r1", outputs="a")], [op(1, rng="r2", outputs="b")])
    assert found.cause == "unknown"
    assert "generator" in found.detail


def test_runs_that_call_different_operators_take_different_paths():
    found = diverge([op(1), op(2, name="aten::mul")], [op(1), op(3, name="aten::sub")])
    assert found.cause == "unknown"
    assert "different paths" in found.detail


def test_a_run_that_stops_early_parts_where_it_stopped():
    found = diverge([op(1), op(2)], [op(1)])
    assert found.cause == "unknown"
    assert found.event.line == 2


def test_only_entropy_differing_points_at_the_first_read():
    found = diverge([read(1, "x"), read(2, "p")], [read(1, "y"), read(2, "q")])
    assert found.cause == "entropy"
    assert found.event.line == 1
    assert found.detail == CAUSES["entropy"]


def test_a_read_made_only_in_one_run_does_not_shift_the_rest():
    mine = [read(1, "cache", name="os.urandom"), read(5, "x"), op(6)]
    theirs = [read(5, "x"), op(6)]
    found = diverge(mine, theirs)
    assert found.cause == "entropy"
    assert found.event.name == "os.urandom"


def test_threads_are_compared_each_with_its_own():
    mine = [op(1, thread="main"), op(2, thread="worker"), op(3, thread="main")]
    theirs = [op(2, thread="worker"), op(1, thread="main"), op(3, thread="main")]
    assert diverge(mine, theirs) is None


def test_paths_from_another_machine_still_match():
    here = [op(1)]
    there = [
        Event("op", "aten::add", "/cluster/home/u/train.py", 1, "step", inputs="i", outputs="o")
    ]
    assert diverge(here, there) is None


events = st.builds(
    Event,
    kind=st.sampled_from(["op", "entropy", "seed"]),
    name=st.text(max_size=20),
    file=st.text(max_size=30),
    line=st.integers(0, 10**6),
    function=st.text(max_size=20),
    thread=st.text(max_size=10),
    inputs=st.text(alphabet="0123456789abcdef", max_size=16),
    outputs=st.text(alphabet="0123456789abcdef", max_size=16),
    rng=st.text(alphabet="0123456789abcdef", max_size=16),
    value=st.text(max_size=40),
    note=st.text(max_size=40),
)
# "versions" is the one fact that must be a table (names and versions): it is drawn as one.
facts = st.dictionaries(
    st.text(max_size=10).filter(lambda key: key != "versions"),
    st.integers() | st.text(max_size=10),
    max_size=4,
) | st.builds(lambda versions: {"versions": versions}, st.dictionaries(st.text(), st.text()))


@given(st.lists(events, max_size=30), facts)
def test_a_saved_trace_loads_back_exactly(tmp_path_factory, saved, meta):
    path = tmp_path_factory.mktemp("t") / "run.trace"
    save(Trace(meta, saved), path)
    loaded = load(path)
    assert loaded.meta == meta
    assert loaded.events == saved


def test_the_file_is_json_lines_in_gzip_with_a_versioned_header(tmp_path):
    path = tmp_path / "run.trace"
    save(Trace({"seed": 1}, [op(3)]), path)
    with gzip.open(path, "rt") as file:
        lines = file.read().splitlines()
    assert (
        lines[0] == '{"events": 1, "format": "reprorng-trace", "meta": {"seed": 1}, "version": 2}'
    )
    assert len(FIELDS) == 11
    assert lines[1].startswith('["op", "aten::add", "/p/train.py", 3,')


def test_no_partial_file_is_left_behind(tmp_path):
    save(Trace({}, [op(1)]), tmp_path / "run.trace")
    assert [path.name for path in tmp_path.iterdir()] == ["run.trace"]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('["op"]', "not a list of 11 fields"),
        ('["op", "a", "f", "3", "fn", "t", "", "", "", "", ""]', "line is not int"),
        ('["other", "a", "f", 3, "fn", "t", "", "", "", "", ""]', "unknown kind"),
        ("{not json", "is not JSON"),
    ],
)
def test_a_damaged_event_is_refused_with_its_number(tmp_path, line, message):
    header = '{"events": 1, "format": "reprorng-trace", "meta": {}, "version": 2}'
    path = tmp_path / "bad.trace"
    path.write_bytes(gzip.compress(f"{header}\n{line}\n".encode()))
    with pytest.raises(TraceError, match=message) as raised:
        load(path)
    assert "event 1" in str(raised.value)
    assert isinstance(raised.value, ValueError)


def test_a_flipped_byte_is_refused(tmp_path):
    path = tmp_path / "run.trace"
    save(Trace({}, [op(line) for line in range(50)]), path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(TraceError):
        load(path)


def test_a_workers_entropy_read_is_found_when_each_run_used_another_worker(tmp_path):
    import json

    from reprorng.trace._workers import CHILD, children_part

    def child(prefix, identity, value):
        event = Event("entropy", "numpy.random.seed", "task.py", 9, "augment", value=value)
        path = tmp_path / f"{prefix}{CHILD}{identity}"
        path.write_text(json.dumps([getattr(event, name) for name in FIELDS]) + "\n")

    child("1.lines", "1", "a")  # the schedule gave every task to worker 1 in run 1
    child("2.lines", "2", "b")  # and to worker 2 in run 2
    found = children_part(str(tmp_path / "1.lines"), str(tmp_path / "2.lines"))
    assert found is not None
    assert (found.cause, found.event.line) == ("entropy", 9)
    assert "in worker process 1" in found.detail
