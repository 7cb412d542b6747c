"""The first place two traces part, and its likely cause.

Operators and seeding calls are compared by what they got and gave; entropy
reads only by where they happen (their values differ by nature), and those
whose values differed before the first divergence are its candidates. The
cause:

- ``kernel``: an operator got bit-identical inputs (and generator state) in
  both runs and gave different outputs;
- ``entropy``: an entropy read that differed comes before the divergence (or
  is all that differed);
- ``seed``: a seeding call got different values, with no entropy read before;
- ``hash-seed``: the runs agree once ``PYTHONHASHSEED`` is held fixed;
- ``data``: an operator's inputs differ and nothing traced before explains it
  (values from the clock, files, racing threads, worker processes);
- ``unknown``: anything else, such as the runs calling different operators.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from reprorng.trace._record import READS_UNWRITTEN, Event, Trace

__all__ = ["CAUSES", "Divergence", "first_divergence", "report_lines"]

#: Each cause, and what to do about it.
CAUSES: dict[str, str] = {
    "kernel": "a non-deterministic kernel (try --deterministic)",
    "entropy": "OS entropy: a different value each run (seed it from a fixed number)",
    "seed": "the seed itself changes from run to run (derive it from a fixed number)",
    "hash-seed": (
        "the runs agree with PYTHONHASHSEED fixed: the order of a set or dict of strings "
        "(sort before iterating)"
    ),
    "data": (
        "nothing traced explains it: values from the clock, files, threads racing or "
        "worker processes"
    ),
    "unknown": "no traced cause",
}


@dataclass
class Divergence:
    """Where two runs part: the event to look at, its cause, and the events before it."""

    event: Event
    cause: str
    detail: str
    parted: Event | None = None
    candidates: list[Event] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {**_event_json(self.event), "cause": self.cause, "detail": self.detail}

    def others_json(self) -> list[dict[str, Any]]:
        """The other entropy reads before it, each ``{"file", "line", "function", "event"}``."""
        return [_event_json(event) for event in self.candidates if event is not self.event]

    def lines(self) -> list[str]:
        """The report: the divergence in one line, then (at most five) other candidates."""
        return report_lines(self.as_json(), self.others_json()[:5])


def _event_json(event: Event) -> dict[str, Any]:
    return {"file": event.file, "line": event.line, "function": event.function, "event": event.name}


def report_lines(divergence: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """A divergence and the candidates before it (as JSON) in the words of every report."""
    found = [
        f"first divergence: {_shown(divergence)}: {divergence['event']} — {divergence['detail']}"
    ]
    found.extend(f"  also read entropy before it: {_shown(o)}: {o['event']}" for o in others)
    return found


def _shown(where: dict[str, Any]) -> str:
    return f"{where['file']}:{where['line']} in {where['function']}"


def _threads(events: Sequence[Event]) -> dict[str, list[tuple[int, Event]]]:
    by_thread: dict[str, list[tuple[int, Event]]] = {}
    for position, event in enumerate(events):
        by_thread.setdefault(event.thread, []).append((position, event))
    return by_thread


def _where(event: Event) -> tuple[str, str, int, str]:
    """What must match for two events to be the same step: kind, name and place."""
    file = event.file.replace("\\", "/").rpartition("/")[2]
    return event.kind, event.name, event.line, f"{file}:{event.function}"


def _same(mine: Event, theirs: Event) -> bool:
    if mine.kind == "op":
        return (mine.inputs, mine.rng, mine.outputs) == (theirs.inputs, theirs.rng, theirs.outputs)
    return mine.value == theirs.value


@dataclass
class _Part:
    """The first step where one thread's events differ."""

    position: int
    mine: Event | None
    theirs: Event | None


def _first_part(mine: list[tuple[int, Event]], theirs: list[tuple[int, Event]]) -> _Part | None:
    """The first operator or seeding call of a thread that differs between the runs."""
    mine = [step for step in mine if step[1].kind != "entropy"]
    theirs = [step for step in theirs if step[1].kind != "entropy"]
    for index in range(max(len(mine), len(theirs))):
        a = mine[index] if index < len(mine) else None
        b = theirs[index] if index < len(theirs) else None
        if a is None or b is None:
            position = a[0] if a is not None else mine[-1][0] + 1 if mine else 0
            return _Part(position, a and a[1], b and b[1])
        if _where(a[1]) != _where(b[1]) or not _same(a[1], b[1]):
            return _Part(a[0], a[1], b[1])
    return None


def _differing_reads(a: Trace, b: Trace) -> list[tuple[int, Event]]:
    """Entropy reads of the first run that read something else (or nothing) in the second.

    The n-th read at a place in one run is matched with the n-th at that place
    in the other, so reads that only one run makes (a cache filled once) do not
    shift the rest.
    """
    theirs: dict[tuple[str, str, tuple[str, str, int, str]], list[str]] = {}
    for event in b.events:
        if event.kind == "entropy":
            theirs.setdefault((event.thread, event.name, _where(event)), []).append(event.value)
    seen: dict[tuple[str, str, tuple[str, str, int, str]], int] = {}
    differing = []
    for position, event in enumerate(a.events):
        if event.kind != "entropy":
            continue
        key = (event.thread, event.name, _where(event))
        count = seen[key] = seen.get(key, -1) + 1
        values = theirs.get(key, [])
        if count >= len(values) or values[count] != event.value:
            differing.append((position, event))
    return differing


def first_divergence(a: Trace, b: Trace, *, hash_seed: bool = False) -> Divergence | None:
    """The first divergence between two runs' traces, or ``None`` if nothing traced differs.

    ``hash_seed``: the runs are known to agree once ``PYTHONHASHSEED`` is fixed.
    """
    parts: list[_Part] = []
    theirs = _threads(b.events)
    for thread, mine in _threads(a.events).items():
        part = _first_part(mine, theirs.pop(thread, []))
        if part is not None:
            parts.append(part)
    for events in theirs.values():  # threads that only the second run had
        part = _first_part([], events)
        if part is not None:
            parts.append(_Part(len(a.events), None, part.theirs))
    reads = _differing_reads(a, b)
    if not parts:
        if not reads:
            return None
        read = [event for _position, event in reads]
        return Divergence(read[0], "entropy", CAUSES["entropy"], None, read)
    part = min(parts, key=lambda part: part.position)
    before = [event for position, event in reads if position < part.position]
    return _explain(part, before, hash_seed)


def _kernel(mine: Event, theirs: Event) -> bool:
    """Whether one operator got the same inputs and generator state in both runs."""
    same_inputs = (mine.inputs, mine.rng) == (theirs.inputs, theirs.rng)
    trusted = READS_UNWRITTEN not in mine.note  # memory no operator wrote may hold anything
    return mine.kind == "op" and _where(mine) == _where(theirs) and same_inputs and trusted


def _explain(part: _Part, before: list[Event], hash_seed: bool) -> Divergence:
    mine, theirs = part.mine, part.theirs
    shown = mine or theirs
    assert shown is not None
    if mine is not None and theirs is not None and _kernel(mine, theirs):
        detail = f"same inputs, different output: {CAUSES['kernel']}"
        return Divergence(mine, "kernel", detail, mine, before)
    if before:
        detail = f"{CAUSES['entropy']}; the runs part after it, at {shown.place()}: {shown.name}"
        return Divergence(before[0], "entropy", detail, shown, before)
    if mine is not None and theirs is not None and _where(mine) == _where(theirs):
        if mine.kind == "seed":
            detail = f"got {mine.value} in one run, {theirs.value} in the other: {CAUSES['seed']}"
            return Divergence(mine, "seed", detail, mine, before)
        if hash_seed:
            return Divergence(mine, "hash-seed", _differs(mine, theirs, "hash-seed"), mine)
        if mine.inputs != theirs.inputs or READS_UNWRITTEN in mine.note:
            return Divergence(mine, "data", _differs(mine, theirs, "data"), mine)
        return Divergence(mine, "unknown", _differs(mine, theirs, "unknown"), mine)
    if hash_seed:
        return Divergence(shown, "hash-seed", f"{_path(mine, theirs)}; {CAUSES['hash-seed']}")
    return Divergence(shown, "unknown", f"{_path(mine, theirs)}; {CAUSES['unknown']}")


def _differs(mine: Event, theirs: Event, cause: str) -> str:
    if mine.kind == "op" and READS_UNWRITTEN in mine.note and mine.inputs == theirs.inputs:
        what = "it reads memory no operator wrote (torch.empty's, or filled through numpy)"
    elif mine.inputs != theirs.inputs:
        what = "inputs differ"
    elif mine.rng != theirs.rng:
        what = "same inputs, but the generator it drew from was in another state"
    else:
        what = f"got {mine.value} in one run, {theirs.value} in the other"
    return f"{what}: {CAUSES[cause]}"


def _path(mine: Event | None, theirs: Event | None) -> str:
    if mine is None or theirs is None:
        ended = "the first" if mine is None else "the second"
        return f"the runs take different paths: {ended} run has no more events here"
    return (
        f"the runs take different paths: one calls {mine.name} at {mine.place()}, "
        f"the other {theirs.name} at {theirs.place()}"
    )
