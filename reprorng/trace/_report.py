"""The words a divergence is reported in: one line for it, one per other candidate.

What a trace says is shown, never obeyed: every control character is escaped.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reprorng.trace._record import Event

__all__ = ["UNSEEDED", "event_json", "printable", "report_lines"]


def event_json(event: Event) -> dict[str, Any]:
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
