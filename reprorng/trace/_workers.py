"""Forked children of a traced run (DataLoader and pool workers), traced into files of their own.

When ``reprorng check`` traces a run, each child forked from it goes on
recording its own events (not its lines), written as they come to a file
named after the child's ``multiprocessing`` identity (``1``, ``2.1``...), the
same in both runs, so a worker's events are compared with the same worker's.
Each event is written as it comes, so a child stopped by SIGTERM (a pool's
``terminate``) loses at most the event it was writing; a Process's events
before its target starts are written with its first after.
"""

from __future__ import annotations

import atexit
import multiprocessing
import os
import threading
from pathlib import Path
from typing import TextIO

from reprorng.trace._compare import compare_files
from reprorng.trace._diff import Divergence, first_divergence, unsettled, with_children
from reprorng.trace._file import TraceError, event_of, line_of
from reprorng.trace._record import Event, Recorder, Trace

__all__ = [
    "CHILD",
    "child_traces",
    "children_part",
    "follow_child",
    "read_child",
    "where_runs_part",
]

#: What a child's file name adds to the run's lines file name, before the child's identity.
CHILD = ".child-"
#: The most events a child's file is read for.
_MOST_EVENTS = 1_000_000


class _Writer:
    """A child's events, handed on by its recorder as they come, written to the child's file."""

    def __init__(self, recorder: Recorder, prefix: str) -> None:
        self.recorder = recorder
        self.prefix = prefix
        self.lock = threading.Lock()
        self.path: str | None = None
        self.file: TextIO | None = None

    def added(self) -> None:
        if self.path is not None or self._named(last=False):
            self.recorder.flush()

    def _named(self, *, last: bool) -> bool:
        """Name the file once the child's identity is known, and take the recorder's events
        from then on: a Process's identity is known once it starts its target (its first
        events come before, and wait)."""
        with self.lock:
            if self.path is not None:
                return True
            identity = multiprocessing.current_process()._identity
            if not identity and not last:
                return False
            name = ".".join(map(str, identity)) or f"pid{os.getpid()}"
            self.path = f"{self.prefix}{CHILD}{name}"
            if identity and not last:
                # At a Process's normal end (its start clears what was registered before).
                from multiprocessing import util

                util.Finalize(None, self.close, exitpriority=100)
            self.recorder.sink = self.write
            return True

    def write(self, events: list[Event]) -> None:
        if self.file is None:
            assert self.path is not None
            self.file = open(self.path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
        self.file.writelines(map(line_of, events))
        self.file.flush()  # each event reaches the file: a SIGTERM may come at any time

    def close(self) -> None:
        self.recorder.active = False
        if self.recorder.events:
            self._named(last=True)
        self.recorder.flush()
        if self.file is not None:
            self.file.close()
            self.file = None


def follow_child(recorder: Recorder, prefix: str) -> None:
    """In a child just forked from a traced run: record its own events into its own file."""
    # Another thread may have held the parent's locks.
    recorder.lock, recorder._flushing = threading.Lock(), threading.Lock()
    recorder.events, recorder.pending, recorder.marks = [], [], []
    recorder.sink, recorder.flushed = None, 0  # the run's own file is the parent's
    if recorder.lines is not None:
        recorder.lines.stop()
        recorder.lines = None
    writer = _Writer(recorder, prefix)
    recorder.on_add = writer.added
    atexit.register(writer.close)  # a plain fork's end (a Process's is registered later)


def child_traces(prefix: str) -> dict[str, str]:
    """The files the children of a run wrote, by the child's identity."""
    folder, name = os.path.split(prefix)
    start = f"{name}{CHILD}"
    found = {}
    for path in Path(folder or ".").glob(f"{name}{CHILD}*"):
        found[path.name[len(start) :]] = str(path)
    return found


def read_child(path: str) -> list[Event]:
    """A child's events; one line that is not an event ends them (a child killed mid-write)."""
    events = []
    with open(path, encoding="utf-8") as source:
        for number, line in enumerate(source, 1):
            if number > _MOST_EVENTS:
                break
            try:
                events.append(event_of(number, line))
            except TraceError:
                break
    return events


def children_part(first: str, second: str) -> Divergence | None:
    """Where the children of two runs part (children in identity order).

    Which task a pool's worker gets is the schedule's doing, so a worker's
    events are first searched for what differs by nature (an entropy read, a
    seed from the clock) that the other run's children have at the same
    place; only then is each child compared with the same child of the other run.
    """
    mine, theirs = child_traces(first), child_traces(second)
    names = sorted(mine.keys() & theirs.keys(), key=_order)
    # Every child of each run, not only those the other run has too: the schedule may
    # have left one worker idle in one run and the other idle in the other.
    places = {
        (event.file, event.line, event.name)
        for path in theirs.values()
        for event in read_child(path)
        if unsettled(event) is not None
    }
    for name in sorted(mine, key=_order):
        for event in read_child(mine[name]):
            found = unsettled(event)
            if found is not None and (event.file, event.line, event.name) in places:
                found.detail = f"in worker process {name}: {found.detail}"
                return found
    for name in names:
        found = first_divergence(
            Trace({}, read_child(mine[name])), Trace({}, read_child(theirs[name]))
        )
        if found is not None:
            found.detail = f"in worker process {name}: {found.detail}"
            return found
    return None


def _order(name: str) -> list[int]:
    return [int(part) if part.isdigit() else 0 for part in name.split(".")]


def where_runs_part(
    traces: tuple[str, str],
    lines: tuple[str, str] | None,
    *,
    hash_seed: bool = False,
    output: tuple[str, int] | None = None,
) -> Divergence | None:
    """The first divergence of two traced runs of ``reprorng check``: from their traces, the
    lines they ran (``None`` for a light trace, whose children are named after the trace),
    and their forked children's events (:class:`TraceError` for a bad trace)."""
    compared = compare_files(*traces, hash_seed=hash_seed, lines=lines, output=output)
    return with_children(compared.divergence, children_part(*(lines or traces)))
