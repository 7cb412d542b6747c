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

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from reprorng.trace._columns import Columns, differing_reads, first_step_apart, where
from reprorng.trace._record import READS_UNWRITTEN, Event, Trace

__all__ = [
    "CAUSES",
    "Divergence",
    "divergence_between",
    "first_divergence",
    "printable",
    "report_lines",
]

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
    """A divergence and the candidates before it (as JSON) in the words of every report.

    What a trace says is shown, never obeyed: control characters are escaped.
    """
    found = [
        f"first divergence: {_shown(divergence)}: {divergence['event']} — {divergence['detail']}"
    ]
    found.extend(f"  also read entropy before it: {_shown(o)}: {o['event']}" for o in others)
    if any(each["event"] in UNSEEDED for each in (divergence, *others)):
        found.append(
            "  a generator made without a seed: give it one, or run with --pin-entropy "
            "(reprorng run/check) to have each seeded from the run's seed and its line"
        )
    return [printable(line) for line in found]


#: The traced events of generators made or reseeded without a seed, which pinning fixes.
UNSEEDED = frozenset({"numpy.random.default_rng", "numpy.random.seed", "random.seed", "torch.seed"})


def printable(text: str) -> str:
    """``text`` with every control, format or unpaired surrogate character escaped.

    A trace from elsewhere may hold terminal escape sequences, or a newline
    that would forge a line of the report: each shows as ``\\x1b``, ``\\n``...
    """
    if text.isprintable():
        return text
    return "".join(
        char
        if char.isprintable() or char == " "
        else char.encode("unicode_escape", "backslashreplace").decode("ascii")
        for char in text
    )


def _shown(where: dict[str, Any]) -> str:
    return f"{where['file']}:{where['line']} in {where['function']}"


@dataclass
class _Part:
    """The first step where the runs differ, and each run's event there."""

    position: int
    mine: Event | None
    theirs: Event | None


#: At most this many candidates are read back and reported.
MOST_CANDIDATES = 1000


def first_divergence(a: Trace, b: Trace, *, hash_seed: bool = False) -> Divergence | None:
    """The first divergence between two runs' traces, or ``None`` if nothing traced differs.

    ``hash_seed``: the runs are known to agree once ``PYTHONHASHSEED`` is fixed.
    """
    return divergence_between(
        Columns(a.events),
        Columns(b.events),
        lambda positions: [a.events[p] for p in positions],
        lambda positions: [b.events[p] for p in positions],
        hash_seed,
    )


def divergence_between(
    a: Columns,
    b: Columns,
    mine: Callable[[list[int]], list[Event]],
    theirs: Callable[[list[int]], list[Event]],
    hash_seed: bool = False,
) -> Divergence | None:
    """The first divergence, from two traces' columns; ``mine``/``theirs`` read events back."""
    apart = first_step_apart(a, b)
    reads = differing_reads(a, b)
    if apart is None:
        if len(reads) == 0:
            return None
        read = mine(reads[:MOST_CANDIDATES].tolist())
        return Divergence(read[0], "entropy", CAUSES["entropy"], None, read)
    before = reads[reads < apart.position][:MOST_CANDIDATES].tolist()
    wanted = before if apart.mine is None else [*before, apart.mine]
    found = mine(wanted)
    part = _Part(
        apart.position,
        None if apart.mine is None else found[-1],
        None if apart.theirs is None else theirs([apart.theirs])[0],
    )
    return _explain(part, found[: len(before)], hash_seed)


def _kernel(mine: Event, theirs: Event) -> bool:
    """Whether one operator got the same inputs and generator state in both runs."""
    same_inputs = (mine.inputs, mine.rng) == (theirs.inputs, theirs.rng)
    trusted = READS_UNWRITTEN not in mine.note  # memory no operator wrote may hold anything
    return mine.kind == "op" and where(mine) == where(theirs) and same_inputs and trusted


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
    if mine is not None and theirs is not None and where(mine) == where(theirs):
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
