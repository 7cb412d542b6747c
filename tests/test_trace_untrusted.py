"""Traces from others are untrusted: refused in one line, shown escaped, read in bounded memory."""

from __future__ import annotations

import gzip
import json
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reprorng.trace import (
    Event,
    Trace,
    TraceError,
    _file,
    compare_files,
    first_divergence,
    load,
    save,
)

from .test_cli import reprorng

HEADER = {"format": "reprorng-trace", "version": 2, "events": 1, "meta": {}}
EVENT = ["op", "aten::add", "x.py", 1, "f", "main", "a", "b", "c", "", ""]


def write(path: Path, text: str) -> Path:
    with gzip.open(path, "wt", encoding="utf-8", errors="surrogatepass") as out:
        out.write(text)
    return path


def trace_text(header: dict[str, object] = HEADER, *events: object) -> str:
    lines = [json.dumps(header), *(json.dumps(event) for event in (events or [EVENT]))]
    return "\n".join(lines) + "\n"


MALFORMED = {
    "deep JSON in the header": "[" * 100_000 + "\n",
    "deep JSON in an event": json.dumps(HEADER) + "\n" + "[" * 100_000 + "]" * 100_000 + "\n",
    "a 5,000-digit line number": json.dumps(HEADER)
    + '\n["op","n","f",'
    + "9" * 5000
    + ',"f","main","a","b","c","",""]\n',
    "a line number past any file": trace_text(HEADER, [*EVENT[:3], 2**40, *EVENT[4:]]),
    "meta.versions a list": trace_text({**HEADER, "meta": {"versions": ["torch"]}}),
    "a fact that is a table of tables": trace_text({**HEADER, "meta": {"host": {"a": {"b": 1}}}}),
    "a lone surrogate in a name": trace_text(HEADER, [EVENT[0], "\ud800", *EVENT[2:]]),
    "a line longer than any trace writes": json.dumps(HEADER) + "\n" + "x" * (2**20 + 10),
    "more events than the header says": trace_text(HEADER, EVENT, EVENT),
    "a version that is a list": trace_text({**HEADER, "version": [1] * 1000}),
}


@pytest.mark.parametrize("label", list(MALFORMED))
def test_a_malformed_trace_is_refused_in_one_line_naming_it_with_exit_2(tmp_path, label):
    bad = write(tmp_path / "bad.trace", MALFORMED[label])
    good = write(tmp_path / "good.trace", trace_text())
    result = reprorng("diff", "bad.trace", "good.trace", cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("reprorng diff: bad.trace: ")
    assert len(line) < 200
    with pytest.raises(TraceError):
        load(bad)
    assert load(good).events


def test_more_events_than_a_trace_may_hold_are_refused(tmp_path, monkeypatch):
    monkeypatch.setattr(_file, "MOST_EVENTS", 3)
    path = write(tmp_path / "long.trace", trace_text({**HEADER, "events": 5}, *[EVENT] * 5))
    with pytest.raises(TraceError, match="more than 3 events, the most a trace may hold"):
        load(path)


def test_what_a_trace_says_reaches_the_terminal_escaped(tmp_path):
    forged = "x.py\nreprorng diff: a.trace (1 events) and b.trace (1 events): the same"
    meta = {"host": "\x1b]0;window title\x07\x1b[2J", "\x1b[31mkey": "\u202eevil"}
    write(
        tmp_path / "a.trace", trace_text({**HEADER, "meta": meta}, [*EVENT[:2], forged, *EVENT[3:]])
    )
    write(tmp_path / "b.trace", trace_text(HEADER, [*EVENT[:2], "y.py", *EVENT[3:]]))
    result = subprocess.run(
        [sys.executable, "-m", "reprorng", "diff", "a.trace", "b.trace"],
        cwd=tmp_path,
        capture_output=True,
        timeout=240,
    )
    assert result.returncode == 1
    shown = result.stdout.decode()
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert "\x07" not in shown
    assert "\\x1b]0;window title\\x07" in shown
    lines = shown.splitlines()
    assert lines[0].endswith(": they part")
    assert not any(line.endswith(": the same") for line in lines)


def test_a_trace_bomb_is_compared_in_bounded_memory(tmp_path):
    """A small file of the most events a trace may hold: diff stays under 150 MB."""
    count = _file.MOST_EVENTS
    line = (json.dumps(EVENT) + "\n").encode()
    path = tmp_path / "bomb.trace"
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write((json.dumps({**HEADER, "events": count}) + "\n").encode())
        for _ in range(count // 10_000):
            out.write(line * 10_000)
    # Measured by a small launcher: a child's peak counts from the size of what started it.
    probe = (
        "import resource, subprocess, sys\n"
        "diff = [sys.executable, '-m', 'reprorng', 'diff', sys.argv[1], sys.argv[1]]\n"
        "done = subprocess.run(diff)\n"
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe, str(path)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr
    status, peak = result.stdout.split()[-2:]
    assert status == "0"
    kilobytes = int(peak) if sys.platform != "darwin" else int(peak) // 1024
    assert kilobytes < 150 * 1024, f"peak {kilobytes // 1024} MB"


# -- the streamed comparison gives what comparing whole lists gives -------------------------


def reference(a: list[Event], b: list[Event]) -> tuple[int | None, int | None, list[int]]:
    """The first differing step of each run and the differing reads before it, from whole lists.

    Written plainly, for the test: each thread's steps compared in order, the
    n-th read at a place matched with the n-th.
    """

    def place(event: Event) -> tuple[object, ...]:
        return event.kind, event.name, event.line, event.file.rpartition("/")[2], event.function

    def same(x: Event, y: Event) -> bool:
        if x.kind == "op":
            return (x.inputs, x.rng, x.outputs) == (y.inputs, y.rng, y.outputs)
        return x.value == y.value

    def steps(events: list[Event]) -> dict[str, list[int]]:
        found: dict[str, list[int]] = {}
        for position, event in enumerate(events):
            if event.kind != "entropy":
                found.setdefault(event.thread, []).append(position)
        return found

    mine, theirs = steps(a), steps(b)
    parts: list[tuple[int, int, int | None, int | None]] = []  # position, rank, mine, theirs
    for rank, thread in enumerate([*mine, *(t for t in theirs if t not in mine)]):
        x, y = mine.get(thread, []), theirs.get(thread, [])
        for n in range(max(len(x), len(y))):
            if n >= len(x):
                position = x[-1] + 1 if x else len(a)
                parts.append((position, rank, None, y[n]))
                break
            if n >= len(y) or place(a[x[n]]) != place(b[y[n]]) or not same(a[x[n]], b[y[n]]):
                parts.append((x[n], rank, x[n], y[n] if n < len(y) else None))
                break
    reads: dict[tuple[object, ...], list[str]] = {}
    for event in b:
        if event.kind == "entropy":
            reads.setdefault((event.thread, *place(event)), []).append(event.value)
    seen: dict[tuple[object, ...], int] = {}
    differing = []
    for position, event in enumerate(a):
        if event.kind == "entropy":
            key = (event.thread, *place(event))
            n = seen[key] = seen.get(key, -1) + 1
            values = reads.get(key, [])
            if n >= len(values) or values[n] != event.value:
                differing.append(position)
    if not parts:
        return None, None, differing
    position, _rank, x_at, y_at = min(parts)
    return x_at, y_at, [p for p in differing if p < position]


def event(kind: str, thread: str, line: int, value: str) -> Event:
    if kind == "op":
        return Event("op", "aten::add", "/p/t.py", line, "f", thread, value, "o", "", "", "")
    return Event(kind, f"{kind}.call", "/q/t.py", line, "f", thread, value=value)


events = st.builds(
    event,
    st.sampled_from(["op", "seed", "entropy"]),
    st.sampled_from(["main", "worker"]),
    st.integers(1, 3),
    st.sampled_from(["a", "b"]),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(events, max_size=12), st.lists(events, max_size=12), st.data())
def test_the_streamed_comparison_finds_what_whole_lists_find(mine, theirs, data):
    if data.draw(st.booleans()):  # often: the same run, changed a little
        theirs = [*mine[: len(mine) // 2], *theirs[: len(theirs) // 2]]
    found = first_divergence(Trace({}, mine), Trace({}, theirs))
    x_at, y_at, before = reference(mine, theirs)
    if found is None:
        assert (x_at, y_at, before) == (None, None, [])
        return
    if found.parted is None and found.cause == "entropy" and (x_at, y_at) == (None, None):
        assert [id(e) for e in found.candidates] == once_each(mine, before)
        return
    expected = mine[x_at] if x_at is not None else theirs[y_at or 0]
    assert expected in (found.event, found.parted)
    assert [id(e) for e in found.candidates] == once_each(mine, before)


def once_each(events, positions):
    """The reads at ``positions``, each place and name once (a report lists a place once)."""
    seen, found = set(), []
    for position in positions:
        read = events[position]
        if (read.file, read.line, read.name) not in seen:
            seen.add((read.file, read.line, read.name))
            found.append(id(read))
    return found


def test_files_compare_as_the_traces_in_memory_do(tmp_path):
    mine = [
        event("seed", "main", 1, "a"),
        event("entropy", "main", 2, "x"),
        event("op", "main", 3, "a"),
    ]
    theirs = [
        event("seed", "main", 1, "a"),
        event("entropy", "main", 2, "y"),
        event("op", "main", 3, "b"),
    ]
    save(Trace({"seed": 1}, mine), tmp_path / "a.trace")
    save(Trace({"seed": 2}, theirs), tmp_path / "b.trace")
    compared = compare_files(tmp_path / "a.trace", tmp_path / "b.trace")
    in_memory = first_divergence(Trace({}, mine), Trace({}, theirs))
    assert compared.events == (3, 3)
    assert compared.meta == ({"seed": 1}, {"seed": 2})
    assert compared.divergence is not None
    assert in_memory is not None
    assert compared.divergence.as_json() == in_memory.as_json()
    assert compared.divergence.others_json() == in_memory.others_json()
