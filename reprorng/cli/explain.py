"""Where ``reprorng check``'s runs part, at the least cost that finds it.

Runs 1 and 2 of ``check`` record a light trace (seeding calls, entropy
reads, output writes; no operators, no lines), which costs next to nothing.
When that settles the cause (:func:`~reprorng.trace._diff.settled_lightly`)
nothing more is run. Otherwise two runs are traced in full, both with run
1's hash seed: whatever else differs is then the only thing that can part
them, and a harmless difference in the order of a set of strings cannot
pose as the culprit. If those two agree, the hash seed is what parted runs 1
and 2, and one more traced run, with run 2's hash seed, shows where.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reprorng.cli import compare
from reprorng.cli.compare import Outcome
from reprorng.cli.options import Options, RunTimeoutError, hash_seed
from reprorng.cli.paths import Aside
from reprorng.cli.process import environment, execute
from reprorng.cli.run import run_command
from reprorng.cli.trace import LINES

if TYPE_CHECKING:
    from reprorng.trace import Divergence

__all__ = ["Found", "lightly", "where_runs_part"]


def _first_output(
    options: Options, runs: list[tuple[str, str, tuple[bytes, bytes, int]]]
) -> tuple[str, int] | None:
    """The stream and line where two traced runs' output first differs, as ``check`` compares
    (``None`` also for fewer than two runs)."""
    if len(runs) < 2:
        return None
    first, second = (output for _trace, _lines, output in runs[:2])
    streams = [("stdout", first[0], second[0])]
    if options.stderr:
        errors = compare.program_stderr(first[1]), compare.program_stderr(second[1])
        streams.append(("stderr", *errors))
    shown = [
        (stream, compare.shown(mine, options.ignore), compare.shown(theirs, options.ignore))
        for stream, mine, theirs in streams
    ]
    return _parting(shown)


def _parting(streams: list[tuple[str, str, str]]) -> tuple[str, int] | None:
    """The first stream, of (name, one run's output, the other's), where the two differ,
    and the line (1 is the first)."""
    for stream, mine, theirs in streams:
        if mine != theirs:
            return stream, compare.first_line_difference(mine, theirs)[0]
    return None


def lightly(
    options: Options, traces: tuple[str, str], outcomes: tuple[Outcome, Outcome]
) -> Divergence | None:
    """Where runs 1 and 2 part, from their light traces, if that settles the cause."""
    from reprorng.trace import TraceError
    from reprorng.trace._diff import settled_lightly
    from reprorng.trace._workers import where_runs_part as parted

    first, second = outcomes
    streams = [("stdout", first.stdout, second.stdout)]
    if options.stderr:
        streams.append(("stderr", first.stderr, second.stderr))
    try:
        return settled_lightly(parted(traces, None, output=_parting(streams)))
    except TraceError:
        return None  # a run that left no trace: the full one will say why


@dataclass
class Found:
    """What the traced runs found: the divergence (JSON) and candidates, why nothing was
    traced, and whether the runs agreed once they shared a hash seed."""

    divergence: dict[str, Any] | None = None
    candidates: list[dict[str, Any]] = field(default_factory=list)
    untraced: str | None = None
    hash_seed: bool = False


def where_runs_part(options: Options, seed: int, aside: Aside, *, racing: bool = False) -> Found:
    """Trace runs in full until they part: run 1's hash seed twice, then run 2's if needed.

    ``racing``: the program hands work to pools or threads, so two runs that agree may
    only have been lucky: the third keeps run 1's hash seed, for another chance to part.
    """
    from reprorng.trace import TraceError
    from reprorng.trace._workers import where_runs_part as parted

    if options.target.command:
        return Found(
            untraced="a command after -- cannot be traced; give a Python script or -m MODULE"
        )
    base = hash_seed(seed)
    with tempfile.TemporaryDirectory(prefix="reprorng-trace-") as folder:
        runs: list[tuple[str, str, tuple[bytes, bytes, int]]] = []
        # A third run, if two agree: run 2's hash seed, or run 1's again for a race.
        third = None if options.same_hash_seed else base if racing else (base + 1) % 2**32
        for run, run_hash_seed in enumerate((base, base, third), 1):
            if run_hash_seed is None or (run == 3 and _first_output(options, runs) is not None):
                break
            total = 3 if run == 3 else 2
            try:
                runs.append(_traced(options, seed, run_hash_seed, aside, Path(folder), run, total))
            except RunTimeoutError:
                return Found(untraced=f"traced run {run} did not finish within --timeout")
        by_hash_seed = len(runs) == 3 and third != base
        pair = (runs[0], runs[-1])
        try:
            divergence = parted(
                (pair[0][0], pair[1][0]),
                (pair[0][1], pair[1][1]),
                hash_seed=by_hash_seed,
                output=_first_output(options, list(pair)),
            )
        except TraceError as error:
            run = 1 if str(error).startswith(pair[0][0]) else len(runs)
            return Found(
                untraced=f"traced run {run} left no trace: {error}", hash_seed=by_hash_seed
            )
    if divergence is None:
        why = "the traced runs did not part: nothing traced differed"
        return Found(untraced=why, hash_seed=by_hash_seed)
    return Found(divergence.as_json(), divergence.others_json(), None, by_hash_seed)


def _traced(
    options: Options,
    seed: int,
    run_hash_seed: int,
    aside: Aside,
    folder: Path,
    run: int,
    total: int,
) -> tuple[str, str, tuple[bytes, bytes, int]]:
    """One run traced in full: its trace file, its lines file, and what it wrote."""
    out = str(folder / f"run{run}.trace")
    lines = str(folder / f"run{run}.lines")
    command = run_command(replace(options, trace_out=out), seed, run_hash_seed)
    own = run_hash_seed == hash_seed(seed)
    what = "to find where the runs part" if own else "with run 2's hash seed"
    print(f"reprorng check: traced run {run}/{total}, {what} ...", file=sys.stderr, flush=True)
    try:
        marked = environment(options, seed, run_hash_seed, aside.marker)
        marked[LINES] = lines
        return out, lines, execute(command, marked, options.timeout)
    finally:
        aside.clear()
