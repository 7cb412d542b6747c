"""A trace's events as three compact columns, so that two traces of any length compare in bounded
memory and linear time.

Each event becomes 17 bytes: whether it is an entropy read, a key and a value.
For an operator or seeding call (a *step*) the key hashes its thread and the
value everything that must match for two runs' steps to be the same (kind,
name, place, and what it got and gave); for an entropy read the key hashes
its thread, name and place and the value what it read. Hashes are Python's,
taken in one process for both traces. The events themselves are read again
only for the few positions a report names.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from reprorng.trace._record import Event

__all__ = ["Columns", "differing_reads", "first_step_apart", "where"]

_Ints = npt.NDArray[np.int64]


def where(event: Event) -> tuple[str, str, int, str]:
    """What must match for two events to be the same step: kind, name and place."""
    file = event.file.replace("\\", "/").rpartition("/")[2]
    return event.kind, event.name, event.line, f"{file}:{event.function}"


def _same(event: Event) -> tuple[str, ...]:
    if event.kind == "op":
        return event.inputs, event.rng, event.outputs
    return (event.value,)


class _Kind:
    """The steps (or the entropy reads) of a trace: key, value and position, as they come."""

    def __init__(self) -> None:
        self.keys = array("q")
        self.values = array("q")
        self.positions = array("i")

    def sorted(self) -> _Sorted:
        """Sorted by key, then position; the entries are given up, to hold the memory once."""
        keys = np.frombuffer(self.keys, dtype=np.int64)
        order = np.argsort(keys, kind="stable")
        keys = keys[order]
        positions = np.frombuffer(self.positions, dtype=np.int32)[order]
        values = np.frombuffer(self.values, dtype=np.int64)[order]
        del order
        self.keys, self.values, self.positions = array("q"), array("q"), array("i")
        starts = np.ones(len(keys), dtype=bool)
        starts[1:] = keys[1:] != keys[:-1]
        begins = np.flatnonzero(starts).astype(np.int32)
        del starts
        sizes = np.diff(np.append(begins, len(keys))).astype(np.int32)
        counts = np.arange(len(keys), dtype=np.int32) - np.repeat(begins, sizes)
        return _Sorted(keys, counts, positions, values, begins)


@dataclass
class _Sorted:
    """Entries sorted by key, then position: the n-th entry of a key is its occurrence n."""

    keys: _Ints
    counts: npt.NDArray[np.int32]
    positions: npt.NDArray[np.int32]
    values: _Ints
    #: Where each key's entries begin.
    begins: npt.NDArray[np.int32]

    def matched(self, other: _Sorted) -> _Ints:
        """For each entry, the index of the same key and occurrence in ``other``, or -1."""
        index = np.searchsorted(other.keys, self.keys, side="left") + self.counts
        end = np.searchsorted(other.keys, self.keys, side="right")
        return np.where(index < end, index, -1)

    def differs(self, other: _Sorted, index: _Ints) -> npt.NDArray[np.bool_]:
        """Which entries ``other`` lacks or has with another value (``index``: :meth:`matched`)."""
        if len(other.values) == 0:
            return index < 0
        found: npt.NDArray[np.bool_] = (index < 0) | (
            other.values[np.maximum(index, 0)] != self.values
        )
        return found

    def first_of_each_key(self, chosen: npt.NDArray[np.bool_]) -> list[int]:
        """Among the chosen entries, the first of each key."""
        indices = np.flatnonzero(chosen)
        starts = np.ones(len(indices), dtype=bool)
        starts[1:] = self.keys[indices[1:]] != self.keys[indices[:-1]]
        return [int(index) for index in indices[starts]]


class Columns:
    """The events of one trace, in order, as hashes; :meth:`steps` and :meth:`reads` sort them."""

    def __init__(self, events: Iterable[Event] = ()) -> None:
        self._steps, self._reads = _Kind(), _Kind()
        self._count = 0
        #: Each stream written to: where each write began, and the lines it had written before.
        self._outputs: dict[str, tuple[array[int], array[int]]] = {}
        self._written: dict[str, int] = {}
        for event in events:
            self.add(event)

    def add(self, event: Event) -> None:
        if event.kind == "output":
            # Not compared: what differs in the output is known (``reprorng check`` compares
            # it); which write made it is wanted (:meth:`writer`).
            positions, starts = self._outputs.setdefault(event.name, (array("q"), array("q")))
            positions.append(self._count)
            starts.append(self._written.get(event.name, 0))
            newlines, _colon, _digest = event.value.partition(":")
            self._written[event.name] = starts[-1] + (int(newlines) if newlines.isdigit() else 0)
            self._count += 1
            return
        if event.kind == "entropy":
            kind = self._reads
            kind.keys.append(hash((event.thread, event.name, where(event))))
            kind.values.append(hash(event.value))
        else:
            kind = self._steps
            kind.keys.append(hash(event.thread))
            kind.values.append(hash((where(event), _same(event))))
        kind.positions.append(self._count)
        self._count += 1

    def writer(self, stream: str, line: int) -> int | None:
        """The position of the write that began line ``line`` (1 is the first) of ``stream``."""
        positions, starts = self._outputs.get(stream, (array("q"), array("q")))
        wanted = line - 1
        found = None
        for position, start in zip(positions, starts, strict=True):
            if start == wanted:
                return int(position)
            if start > wanted:
                break
            found = int(position)
        return found

    def __len__(self) -> int:
        return self._count

    def steps(self) -> _Sorted:
        """Operators and seeding calls by thread (once: the columns give them up)."""
        return self._steps.sorted()

    def reads(self) -> _Sorted:
        """Entropy reads by thread, name and place (once)."""
        return self._reads.sorted()


@dataclass
class StepApart:
    """Where two runs' steps first differ: the position to rank it by, and each run's event."""

    position: int
    mine: int | None
    theirs: int | None


def first_step_apart(a: Columns, b: Columns) -> StepApart | None:
    """The first operator or seeding call, over all threads, where the runs differ.

    A thread's steps are compared in order, the n-th with the n-th; the first
    that differs (or that one run lacks) is that thread's; the earliest of
    those in the first run is the runs'. A step only the second run has is
    placed just after its thread's last step in the first run, or after all
    of the first run for a thread it does not have. Ties go to the thread
    that started first.
    """
    mine, theirs = a.steps(), b.steps()
    in_b = mine.matched(theirs)
    threads = mine.keys[mine.begins]
    ends = np.append(mine.begins[1:], len(mine.keys)) - 1
    best: dict[int, tuple[int, int, StepApart]] = {}  # thread: occurrence, rank, where
    for index in mine.first_of_each_key(mine.differs(theirs, in_b)):
        slot = int(np.searchsorted(threads, mine.keys[index]))
        position = int(mine.positions[index])
        other = int(theirs.positions[in_b[index]]) if in_b[index] >= 0 else None
        rank = int(mine.positions[mine.begins[slot]])
        best[int(mine.keys[index])] = (
            int(mine.counts[index]),
            rank,
            StepApart(position, position, other),
        )
    for index in theirs.first_of_each_key(theirs.matched(mine) < 0):
        key = int(theirs.keys[index])
        slot = int(np.searchsorted(threads, key))
        if slot < len(threads) and threads[slot] == key:
            position = int(mine.positions[ends[slot]]) + 1
            rank = int(mine.positions[mine.begins[slot]])
        else:
            position, rank = len(a), len(a) + int(theirs.positions[index])
        count = int(theirs.counts[index])
        if key not in best or count < best[key][0]:
            best[key] = (count, rank, StepApart(position, None, int(theirs.positions[index])))
    if not best:
        return None
    return min(best.values(), key=lambda entry: (entry[2].position, entry[1]))[2]


def differing_reads(a: Columns, b: Columns) -> _Ints:
    """Positions (ascending) of the first run's entropy reads that read otherwise in the second.

    The n-th read at a place in one run is matched with the n-th at that place
    in the other, so reads that only one run makes (a cache filled once) do not
    shift the rest.
    """
    mine, theirs = a.reads(), b.reads()
    differs = mine.differs(theirs, mine.matched(theirs))
    return np.sort(mine.positions[differs]).astype(np.int64)
