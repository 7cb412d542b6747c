"""Where ``reprorng check``'s runs part: two more runs under a trace, and their first divergence.

When the runs agreed once ``PYTHONHASHSEED`` was held fixed, the two traced
runs get the hash seeds runs 1 and 2 had, to show where the hash seed makes
them part. Otherwise both get run 1's: whatever else differs is then the
only thing that can part them, and a harmless difference in the order of a
set of strings cannot pose as the culprit.
"""

from __future__ import annotations

import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from reprorng.cli import compare
from reprorng.cli.options import Options, RunTimeoutError, hash_seed
from reprorng.cli.paths import Aside
from reprorng.cli.process import environment, execute
from reprorng.cli.run import run_command
from reprorng.cli.trace import LINES

__all__ = ["where_runs_part"]


def _first_output(
    options: Options, outputs: list[tuple[bytes, bytes, int]]
) -> tuple[str, int] | None:
    """The stream and line where the traced runs' output first differs, as ``check`` compares."""
    streams = [("stdout", [stdout for stdout, _stderr, _status in outputs])]
    if options.stderr:
        streams.append(("stderr", [compare.program_stderr(err) for _out, err, _s in outputs]))
    for stream, texts in streams:
        mine, theirs = (compare.shown(text, options.ignore) for text in texts)
        if mine != theirs:
            return stream, compare.first_line_difference(mine, theirs)[0]
    return None


def where_runs_part(
    options: Options, seed: int, cause: str | None, aside: Aside
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """The first divergence as JSON (or ``None``), the candidates, and why nothing was traced."""
    from reprorng.trace import TraceError
    from reprorng.trace._workers import where_runs_part as parted

    if options.target.command:
        return None, [], "a command after -- cannot be traced; give a Python script or -m MODULE"
    base = hash_seed(seed)
    same_hash_seed = options.same_hash_seed or cause != "hash seed"
    traces: list[str] = []
    lines: list[str] = []
    outputs: list[tuple[bytes, bytes, int]] = []
    with tempfile.TemporaryDirectory(prefix="reprorng-trace-") as folder:
        for run in (1, 2):
            run_hash_seed = base if same_hash_seed else (base + run - 1) % 2**32
            out = str(Path(folder) / f"run{run}.trace")
            lines.append(str(Path(folder) / f"run{run}.lines"))
            command = run_command(replace(options, trace_out=out), seed, run_hash_seed)
            print(
                f"reprorng check: traced run {run}/2, to find where the runs part ...",
                file=sys.stderr,
                flush=True,
            )
            try:
                marked = environment(options, seed, run_hash_seed, aside.marker)
                marked[LINES] = lines[-1]
                outputs.append(execute(command, marked, options.timeout))
            except RunTimeoutError:
                return None, [], f"traced run {run} did not finish within --timeout"
            finally:
                aside.clear()
            traces.append(out)
        try:
            divergence = parted(
                (traces[0], traces[1]),
                (lines[0], lines[1]),
                hash_seed=cause == "hash seed",
                output=_first_output(options, outputs),
            )
        except TraceError as error:
            run = 1 if str(error).startswith(traces[0]) else 2
            return None, [], f"traced run {run} left no trace: {error}"
    if divergence is None:
        return None, [], "the traced runs did not part: nothing traced differed"
    return divergence.as_json(), divergence.others_json(), None
