"""The line where a difference began: followed back from where it surfaced, through what lines read.

Two runs' lines (:mod:`reprorng.trace._lines`) are compared position by
position in each thread. From the line where the runs part (the line that
ran the first differing operator, or wrote the first differing output), the
walk goes back: to where a name it read that differs was last stored or
changed, to the caller for a parameter, into a function whose return value
differs. It stops at a line that read only values equal in both runs, yet
made a difference: the clock, OS entropy, a set's order, a file, whichever
task ended first. A value that differs but never reaches the divergence (a
time taken for a log) is never on the way, so never blamed.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from typing import Any

from reprorng.trace._lines import LineInfo
from reprorng.trace._values import IDENTITY, compared

__all__ = ["Origin", "Runs", "origin"]

#: The most steps a walk takes.
_MOST_STEPS = 100_000


@dataclass
class Origin:
    """The line a difference began on, in the first run: where, and what the line is."""

    record: int
    info: LineInfo
    thread: str
    #: The names it read that are marked as sets walked in address order.
    by_address: bool
    #: Another thread changed what the line followed (so which ran first decides).
    shared: bool = False


class _Run:
    """One run's lines, with each thread's records in order."""

    def __init__(self, lines: dict[str, Any]) -> None:
        self.records: list[list[Any]] = lines["records"]
        self.infos: list[LineInfo] = lines["infos"]
        self.frames: list[list[Any]] = lines["frames"]
        self.threads: list[str] = lines["threads"]
        self.marks: list[int] = lines["marks"]
        self.streams: dict[int, list[int]] = {}
        self.position: dict[int, int] = {}
        #: Each frame's records, in order.
        self.by_frame: dict[int, list[int]] = {}
        for index, record in enumerate(self.records):
            stream = self.streams.setdefault(record[0], [])
            self.position[index] = len(stream)
            stream.append(index)
            self.by_frame.setdefault(record[1], []).append(index)
        self._readers: dict[int, list[int]] | None = None
        #: Each record's place: its thread, its frame's order there, and its order among the
        #: frame's lines (a return: among its returns; its last return: -1, as a coroutine
        #: returns at each wait, as many times as the schedule makes it wait).
        self.where: list[tuple[str, int, int, bool]] = []
        frames: dict[int, int] = {}
        counts: dict[tuple[int, bool], int] = {}
        order: dict[int, int] = {}
        for index, record in enumerate(self.records):
            thread, frame, line = record[0], record[1], record[2] >= 0
            if frame not in frames:
                frames[frame] = order[thread] = order.get(thread, -1) + 1
            count = counts[frame, line] = counts.get((frame, line), -1) + 1
            if not line and self.by_frame[frame][-1] == index:
                count = -1
            self.where.append((self.threads[thread], frames[frame], count, line))
        self.at = {where: index for index, where in enumerate(self.where)}

    def readers(self, ident: int) -> list[int]:
        """The records that read the object ``ident``, in order (worked out once)."""
        if self._readers is None:
            self._readers = {}
            for index, record in enumerate(self.records):
                if record[2] >= 0:
                    for _name, _value, seen in record[3]:
                        if seen:
                            self._readers.setdefault(seen, []).append(index)
        return self._readers.get(ident, [])

    def key(self, index: int) -> tuple[Any, ...]:
        thread, _frame, info, _values = self.records[index]
        if info < 0:
            return (self.threads[thread], "return")
        line = self.infos[info]
        return (self.threads[thread], line.file, line.function, line.line)

    def values(self, index: int) -> dict[str, tuple[str, int]]:
        return {name: (value, ident) for name, value, ident in self.records[index][3]}


class Runs:
    """Two runs' lines, aligned thread by thread."""

    def __init__(self, a: dict[str, Any], b: dict[str, Any]) -> None:
        self.a, self.b = _Run(a), _Run(b)

    def mark(self, event: int) -> int | None:
        """The record (in the first run) that event number ``event`` happened in."""
        marks = self.a.marks
        if not 0 <= event < len(marks) or marks[event] < 0:
            return None
        return marks[event]

    def events_in(self, record: int) -> list[int]:
        """The events (of the first run) that happened while the line ``record`` ran."""
        return [event for event, mark in enumerate(self.a.marks) if mark == record]

    def _other(self, index: int) -> int | None:
        """The second run's record that is the same line of the same frame: frames matched by
        their thread and the order they began in there (coroutines interleave, threads race)."""
        return self.b.at.get(self.a.where[index])

    def aligned(self, index: int) -> int:
        """``index``, or the last record of its frame before it where the runs still ran the
        same lines (past it, they took another path)."""
        records = self.a.by_frame[self.a.records[index][1]]
        found = index
        for mine in records[: bisect.bisect_right(records, index)]:
            other = self._other(mine)
            if other is None or self.a.key(mine) != self.b.key(other):
                break
            found = mine
        return found

    def differing(self, index: int) -> list[str]:
        """The names the record read whose fingerprints differ between the runs."""
        other = self._other(index)
        if other is None:
            return []
        theirs = self.b.values(other)
        return [
            name
            for name, (value, _ident) in self.a.values(index).items()
            if compared(theirs.get(name, (value, 0))[0]) != compared(value)
        ]


def origin(runs: Runs, event: int) -> Origin | None:
    """The line where the difference that parts the runs at event ``event`` began."""
    start = runs.mark(event)
    if start is None:
        return None
    a = runs.a
    index = runs.aligned(start)
    seen: set[int] = set()
    shared = False
    for _step in range(_MOST_STEPS):
        if index in seen:
            break
        seen.add(index)
        record = a.records[index]
        if record[2] < 0:  # a return that differs: the line that returned
            before = _in_frame(a, index, lambda other: True)
            if before is None:
                break
            index = before
            continue
        info = a.infos[record[2]]
        if "schedule" in info.tags:
            break  # takes whichever task ends first: the order begins here, whatever it read
        differing = runs.differing(index)
        if not differing:
            callee = _differing_return(runs, index)
            if callee is None:
                written = _written(a, index) if "file" in info.tags else None
                if written is None:
                    # An awaited task, or an item of a queue, taken where the order began.
                    index = _scheduled(a, index) or index
                    break
                index = written  # read back what the run itself wrote: go on from the write
                continue
            index = callee
            continue
        name = differing[0]
        found, shared = _source(runs, index, name)
        if found is None or shared:
            index = index if found is None else found
            break
        index = found
    info = a.infos[a.records[index][2]]
    marked = any(value.startswith(IDENTITY) for _name, value, _ident in a.records[index][3])
    return Origin(index, info, a.threads[a.records[index][0]], marked, shared)


def _scheduled(run: _Run, index: int) -> int | None:
    """The line that stored a name ``index`` reads, if it takes tasks as they finish."""
    info = run.infos[run.records[index][2]]
    for name in info.reads:
        stored = _in_frame(run, index, lambda other, name=name: _stores(run, other, name))
        if stored is not None and "schedule" in run.infos[run.records[stored][2]].tags:
            return stored
    return None


def _stores(run: _Run, record: list[Any], name: str) -> bool:
    return record[2] >= 0 and name in run.infos[record[2]].stores


def _in_frame(run: _Run, index: int, wanted: Any) -> int | None:
    """The last record of ``index``'s frame before it that is ``wanted``."""
    records = run.by_frame[run.records[index][1]]
    for position in range(bisect.bisect_left(records, index) - 1, -1, -1):
        if wanted(run.records[records[position]]):
            return records[position]
    return None


def _previous(run: _Run, index: int, wanted: Any) -> int | None:
    stream = run.streams[run.records[index][0]]
    for position in range(run.position[index] - 1, -1, -1):
        other = stream[position]
        if wanted(run.records[other]):
            return other
    return None


def _mentions(run: _Run, record: list[Any], name: str) -> bool:
    if record[2] < 0:
        return False
    info = run.infos[record[2]]
    return name in info.reads or name in info.stores


def _written(run: _Run, index: int) -> int | None:
    """The last line before ``index`` that wrote the file the line reads (``file:w|path``)."""
    paths = {
        value.partition("|")[2]
        for _name, value, _ident in run.records[index][3]
        if value.startswith("file:")
    }
    if not paths:
        return None

    def writes(record: list[Any]) -> bool:
        return any(
            value.startswith("file:") and value.partition("|")[2] in paths and _writing(value)
            for _name, value, _ident in record[3]
        )

    return _previous(run, index, writes)


def _writing(value: str) -> bool:
    mode = value[len("file:") :].partition("|")[0]
    return any(letter in mode for letter in "wax+")


def _source(runs: Runs, index: int, name: str) -> tuple[int | None, bool]:
    """Where the value of ``name`` read at ``index`` came to differ: a line to go on from, and
    whether it is another thread's line (which changed a shared object)."""
    found = _source_in_thread(runs, index, name)
    shared = _other_threads(runs.a, index, runs.a.values(index)[name][1])
    if shared is not None:
        return shared, True
    return found, False


def _source_in_thread(runs: Runs, index: int, name: str) -> int | None:
    a = runs.a
    frame = a.records[index][1]
    here = index
    while True:
        before = _in_frame(a, here, lambda other: _mentions(a, other, name))
        if before is None:
            break
        info = a.infos[a.records[before][2]]
        if name in info.stores:
            return before
        if name in runs.differing(before):
            here = before
            continue
        return before  # read the same in both runs there, and not stored since: changed there
    parent, params = a.frames[frame]
    if name in params and parent >= 0:
        return int(parent)
    # A global: the line that last stored it, in any frame of the thread.
    return _previous(a, index, lambda other: other[2] >= 0 and name in a.infos[other[2]].stores)


def _other_threads(run: _Run, index: int, ident: int) -> int | None:
    """The first line of another thread that read the object ``ident`` (which it may change)."""
    if ident == 0:
        return None
    thread = run.records[index][0]
    return next((other for other in run.readers(ident) if run.records[other][0] != thread), None)


def _differing_return(runs: Runs, index: int) -> int | None:
    """A function the line called whose return value differs: its last line."""
    a = runs.a
    stream = a.streams[a.records[index][0]]
    for position in range(a.position[index] + 1, len(stream)):
        other = stream[position]
        record = a.records[other]
        parent = a.frames[record[1]][0]
        if record[1] == a.records[index][1]:
            return None  # back in the line's own frame: no callee differed
        if record[2] < 0 and parent == index and runs.differing(other):
            return other
    return None
