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
from reprorng.trace._origin import Origin, Runs, origin
from reprorng.trace._record import READS_UNWRITTEN, Event, Trace
from reprorng.trace._report import CAUSES, FIXES, PIN, UNSEEDED, event_json, report_lines

__all__ = [
    "Divergence",
    "divergence_between",
    "first_divergence",
    "settled_lightly",
    "unsettled",
    "with_children",
]

#: What a line tagged so (:func:`reprorng.trace._lines.tags_of`) is blamed for, strongest first.
_BY_TAG = {
    "clock": "clock",
    "schedule": "schedule",
    "reseed": "entropy",
    "address": "address",
    "file": "data",
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
        fix = FIXES[self.cause]
        if self.event.name in UNSEEDED or any(each.name in UNSEEDED for each in self.candidates):
            fix += f"; {PIN}"
        return {**event_json(self.event), "cause": self.cause, "detail": self.detail, "fix": fix}

    def others_json(self) -> list[dict[str, Any]]:
        """The other entropy reads before it, each ``{"file", "line", "function", "event"}``."""
        return [event_json(event) for event in self.candidates if event is not self.event]

    def lines(self) -> list[str]:
        """The report: the divergence in one line, then (at most five) other candidates."""
        return report_lines(self.as_json(), self.others_json()[:5])


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
    runs: Runs | None = None,
    output: tuple[str, int] | None = None,
) -> Divergence | None:
    """The first divergence, from two traces' columns; ``mine``/``theirs`` read events back.

    ``runs``: both runs' lines, to follow the difference back to its line.
    ``output``: the stream and line where the runs' output first differs.
    """
    apart = first_step_apart(a, b)
    writer = None if output is None else a.writer(*output)
    reads = differing_reads(a, b)
    if writer is not None and (apart is None or writer < apart.position):
        before = _own(mine(reads[reads < writer][:MOST_CANDIDATES].tolist()))
        (wrote,) = mine([writer])
        return _traced_back(runs, writer, wrote, before, hash_seed, mine) or Divergence(
            wrote, "output", CAUSES["output"], wrote, before
        )
    if apart is None:
        read = _own(mine(reads[:MOST_CANDIDATES].tolist()))
        if not read:
            return None  # only a library's own entropy differed, which reaches nothing traced
        return Divergence(read[0], "entropy", CAUSES["entropy"], None, read)
    before = reads[reads < apart.position][:MOST_CANDIDATES].tolist()
    wanted = before if apart.mine is None else [*before, apart.mine]
    found = mine(wanted)
    part = _Part(
        apart.position,
        None if apart.mine is None else found[-1],
        None if apart.theirs is None else theirs([apart.theirs])[0],
    )
    own = _own(found[: len(before)])
    divergence = _explain(part, own, hash_seed)
    if divergence.cause == "kernel" or part.mine is None:
        return divergence
    return _traced_back(runs, apart.position, part.mine, own, hash_seed, mine) or divergence


def with_children(main: Divergence | None, child: Divergence | None) -> Divergence | None:
    """A worker process's divergence explains the run's when all the run saw is data that
    differed (what the worker sent) or nothing traced."""
    if child is None or (main is not None and main.cause not in ("data", "unknown", "output")):
        return main
    if main is not None:
        surfaced = main.parted or main.event
        child.detail += f"; the run parts after it, at {surfaced.place()}: {surfaced.name}"
        child.parted = surfaced
    return child


def unsettled(event: Event) -> Divergence | None:
    """An event that differs from run to run by its nature, as the divergence it would be:
    an entropy read of the program's own, or a seed read from the clock."""
    if event.kind == "entropy" and _own([event]):
        return Divergence(event, "entropy", CAUSES["entropy"], event)
    if event.kind == "seed" and event.note.startswith("clock: "):
        return Divergence(event, "clock", CAUSES["clock"], event)
    return None


def settled_lightly(divergence: Divergence | None) -> Divergence | None:
    """A light trace's divergence (no operators, no lines) if it settles the cause alone.

    It does when a seed read from the clock differs, or an entropy read of the
    program's own came before the runs part and is one that cannot go unseen:
    a generator made or reseeded from OS entropy, or a read on the very line
    whose write parts them. Anything else (a plain seed that differs, which a
    hash seed may explain too; an entropy read that may reach nothing) needs
    the full trace.
    """
    if divergence is None or divergence.cause == "clock":
        return divergence
    if divergence.cause not in ("entropy", "output"):
        return None
    surfaced = divergence.parted or divergence.event
    # Where the runs part if that is a write to the output, else nowhere a read can be.
    where_written = (surfaced.file, surfaced.line) if surfaced.kind == "output" else None
    reads = [
        event for event in (divergence.event, *divergence.candidates) if event.kind == "entropy"
    ]
    for read in reads:
        written = (read.file, read.line) == where_written
        if read.name in _STREAMS or written:
            if read is divergence.event:
                return divergence
            detail = CAUSES["entropy"]
            if not written:  # on the line itself, "after it, at" the same line says nothing
                detail += f"; the runs part after it, at {surfaced.place()}"
            return Divergence(read, "entropy", detail, surfaced, reads)
    return None


#: Entropy reads that seed a whole stream: every draw from it after differs.
_STREAMS = UNSEEDED | {"random.Random", "torch.cuda.seed", "torch.cuda.seed_all"}


def _own(reads: list[Event]) -> list[Event]:
    """Entropy reads the program made itself, each place once: not a library's, inside it."""
    seen: set[tuple[str, int, str]] = set()
    found = []
    for read in reads:
        key = (read.file, read.line, read.name)
        if not read.note.startswith("via ") and key not in seen:
            seen.add(key)
            found.append(read)
    return found


def _traced_back(
    runs: Runs | None,
    position: int,
    surfaced: Event,
    before: list[Event],
    hash_seed: bool,
    mine: Callable[[list[int]], list[Event]],
) -> Divergence | None:
    """The line the difference began on, and why, from both runs' lines (if known)."""
    if runs is None:
        return None
    found = origin(runs, position)
    if found is None:
        return None
    info = found.info
    here = mine(runs.events_in(found.record))
    if surfaced.kind != "output":
        here = [event for event in here if event.kind != "output"]  # written after, if at all
    cause, name = _cause(found, here, hash_seed)
    if cause is None and before:
        # Nothing the lines show: a global generator reseeded from OS entropy, say.
        detail = f"{CAUSES['entropy']}; the runs part after it, at {info.file}:{info.line}"
        return Divergence(before[0], "entropy", detail, surfaced, before)
    if cause is None:
        if (info.file, info.line) == (surfaced.file, surfaced.line):
            return None  # nothing more than where it surfaced
        cause = "data"
    event = Event("line", name or surfaced.name, info.file, info.line, info.function, found.thread)
    detail = CAUSES[cause]
    if (info.file, info.line) != (surfaced.file, surfaced.line):
        what = f"a write to {surfaced.name}" if surfaced.kind == "output" else surfaced.name
        detail += f"; the runs part after it, at {surfaced.place()}: {what}"
    others = [read for read in before if (read.file, read.line) != (info.file, info.line)]
    return Divergence(event, cause, detail, surfaced, others)


def _cause(found: Origin, here: list[Event], hash_seed: bool) -> tuple[str | None, str]:
    """Why the line made a difference, and what it called that did, from what it is."""
    tags = found.info.tags
    if "clock" in tags:
        return "clock", tags["clock"]
    entropy = [event for event in here if event.kind == "entropy"]
    if entropy:
        return "entropy", entropy[0].name
    if found.shared:
        return "schedule", "threads sharing an object"
    for tag, cause in _BY_TAG.items():
        if tag in tags:
            return cause, tags[tag]
    if hash_seed:
        return "hash-seed", tags.get("hash", "")
    if found.by_address or "hash" in tags:
        return "address", tags.get("hash", "a set of objects")
    if any(event.kind == "output" and event.note for event in here):
        return "address", "an address printed"
    seeds = [event for event in here if event.kind == "seed"]
    if seeds:
        return "seed", seeds[0].name
    writes = [event for event in here if event.kind == "output"]
    if writes:
        return "output", writes[0].name
    return None, ""


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
        made = _forward(mine)
        if made is None:
            return Divergence(mine, "kernel", detail, mine, before)
        detail += f"; in the backward pass, at {mine.place()}"
        return Divergence(made, "kernel", detail, mine, before)
    if before:
        detail = f"{CAUSES['entropy']}; the runs part after it, at {shown.place()}: {shown.name}"
        return Divergence(before[0], "entropy", detail, shown, before)
    if mine is not None and theirs is not None and where(mine) == where(theirs):
        if mine.kind == "seed":
            cause = "clock" if mine.note.startswith("clock: ") else "seed"
            detail = f"got {mine.value} in one run, {theirs.value} in the other: {CAUSES[cause]}"
            return Divergence(mine, cause, detail, mine, before)
        if hash_seed:
            return Divergence(mine, "hash-seed", _differs(mine, theirs, "hash-seed"), mine)
        if mine.inputs != theirs.inputs or READS_UNWRITTEN in mine.note:
            return Divergence(mine, "data", _differs(mine, theirs, "data"), mine)
        return Divergence(mine, "unknown", _differs(mine, theirs, "unknown"), mine)
    if hash_seed:
        return Divergence(shown, "hash-seed", f"{_path(mine, theirs)}; {CAUSES['hash-seed']}")
    return Divergence(shown, "unknown", f"{_path(mine, theirs)}; {CAUSES['unknown']}")


def _forward(event: Event) -> Event | None:
    """A backward operator as the forward line that made its autograd node, if known."""
    for note in event.note.split("; "):
        if note.startswith("forward: "):
            line, _space, rest = note[len("forward: ") :].partition(" ")
            function, _space, file = rest.partition(" ")
            if line.isdigit() and file:
                return Event(event.kind, event.name, file, int(line), function, event.thread)
    return None


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
