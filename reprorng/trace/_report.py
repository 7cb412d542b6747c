"""The words a divergence is reported in: each cause and its fix, one line for the
divergence, one per other candidate.

What a trace says is shown, never obeyed: every control character is escaped.
"""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reprorng.trace._record import Event

__all__ = [
    "CAUSES",
    "FIXES",
    "PIN",
    "UNSEEDED",
    "candidate_lines",
    "event_json",
    "place",
    "printable",
    "report_lines",
]

#: Each cause, in plain words.
CAUSES: dict[str, str] = {
    "kernel": "an operator that is not deterministic",
    "entropy": "OS entropy: a different value each run",
    "seed": "the seed itself changes from run to run",
    "hash-seed": (
        "the runs agree with PYTHONHASHSEED fixed: the order of a set or dict of strings"
    ),
    "clock": "the clock: a different time each run",
    "schedule": "the order in which tasks or threads finish",
    "address": (
        "object addresses: a set of objects hashed by address, id(), or an address printed"
    ),
    "output": "only what this line writes differs",
    "data": "nothing traced explains it: values from files, threads racing or worker processes",
    "unknown": "no traced cause",
}

#: What to do about each cause.
FIXES: dict[str, str] = {
    "kernel": "run with --deterministic, which picks deterministic algorithms",
    "entropy": "seed it from a fixed number",
    "seed": "derive the seed from a fixed number",
    "hash-seed": "sort before iterating",
    "clock": "keep times out of results and seeds",
    "schedule": "take results in the order they were given, or sort them",
    "address": "order by a key of their own",
    "output": "write what repeats, or mask it with --ignore",
    "data": "look at what the line reads: a file, another thread, a worker",
    "unknown": "compare the two traces by hand: reprorng trace, then reprorng diff",
}


def event_json(event: Event) -> dict[str, Any]:
    return {"file": event.file, "line": event.line, "function": event.function, "event": event.name}


def report_lines(divergence: dict[str, Any], others: list[dict[str, Any]]) -> list[str]:
    """A divergence, its fix and the candidates before it (as JSON) in the words of every
    report, each place once.

    What a trace says is shown, never obeyed: control characters are escaped.
    """
    found = [
        f"first divergence: {place(divergence)}: {divergence['event']} — {divergence['detail']}"
    ]
    if divergence.get("fix"):
        found.append(f"  fix: {divergence['fix']}")
    found.extend(f"  also read entropy before it: {line}" for line in candidate_lines(others))
    return [printable(line) for line in found]


def candidate_lines(others: list[dict[str, Any]]) -> list[str]:
    """Each place of the candidates once, with how often it read when more than once."""
    counted = Counter(f"{place(other)}: {other['event']}" for other in others)
    return [line if times == 1 else f"{line} ({times} times)" for line, times in counted.items()]


#: How to fix a generator made without a seed, without an edit.
PIN = (
    "or run with --pin-entropy (reprorng run/check) to seed each generator made without a "
    "seed from the run's seed and its line"
)

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


def place(where: dict[str, Any]) -> str:
    return f"{where['file']}:{where['line']} in {where['function']}"
