"""Two trace files compared as streams: their first divergence, in memory that does not
grow with their length."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from reprorng.trace._columns import Columns
from reprorng.trace._diff import Divergence, divergence_between
from reprorng.trace._file import Reader
from reprorng.trace._lines import LinesError, load_lines
from reprorng.trace._origin import Runs
from reprorng.trace._record import Event

__all__ = ["Compared", "compare_files"]


def _events_at(path: str | os.PathLike[str], positions: Sequence[int]) -> list[Event]:
    """The events at ``positions`` (0 is the first), read in one pass that stops at the last.

    The file was read whole and checked before: the rest need not be read again.
    """
    wanted = set(positions)
    last = max(wanted, default=-1)
    found: dict[int, Event] = {}
    with Reader(path) as reader:
        for number, event in enumerate(reader.events()):
            if number > last:
                break
            if number in wanted:
                found[number] = event
    return [found[position] for position in positions]


@dataclass
class Compared:
    """Two trace files compared: each one's facts and number of events, and the divergence."""

    meta: tuple[dict[str, Any], dict[str, Any]]
    events: tuple[int, int]
    divergence: Divergence | None


def compare_files(
    first: str | os.PathLike[str],
    second: str | os.PathLike[str],
    *,
    hash_seed: bool = False,
    lines: tuple[str, str] | None = None,
    output: tuple[str, int] | None = None,
) -> Compared:
    """Two trace files' first divergence, read as streams: memory does not grow with their length.

    Each file is read once whole, as hashes (:class:`Columns`), and once more
    for the few events the report names. ``lines``: the files of the lines each
    run executed (``reprorng check`` writes them), to follow a difference back
    to the line it began on; one that cannot be read is left out. ``output``:
    the stream and line (1 is the first) where the runs' output first differs.
    """
    meta, columns = [], []
    for path in (first, second):
        with Reader(path) as reader:
            columns.append(Columns(reader.events()))
            meta.append(reader.header["meta"])
    divergence = divergence_between(
        columns[0],
        columns[1],
        lambda positions: _events_at(first, positions),
        lambda positions: _events_at(second, positions),
        hash_seed,
        _runs(lines),
        output,
    )
    return Compared((meta[0], meta[1]), (len(columns[0]), len(columns[1])), divergence)


def _runs(lines: tuple[str, str] | None) -> Runs | None:
    if lines is None:
        return None
    try:
        return Runs(load_lines(lines[0]), load_lines(lines[1]))
    except (LinesError, KeyError, TypeError, IndexError):
        return None
