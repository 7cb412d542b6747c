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

from reprorng.cli.options import Options, RunTimeoutError, hash_seed
from reprorng.cli.paths import Aside
from reprorng.cli.process import environment, execute
from reprorng.cli.run import run_command

__all__ = ["where_runs_part"]


def where_runs_part(
    options: Options, seed: int, cause: str | None, aside: Aside
) -> tuple[dict[str, Any] | None, list[dict[str, Any]], str | None]:
    """The first divergence as JSON (or ``None``), the candidates, and why nothing was traced."""
    from reprorng.trace import TraceError, compare_files

    if options.target.command:
        return None, [], "a command after -- cannot be traced; give a Python script or -m MODULE"
    base = hash_seed(seed)
    same_hash_seed = options.same_hash_seed or cause != "hash seed"
    traces: list[str] = []
    with tempfile.TemporaryDirectory(prefix="reprorng-trace-") as folder:
        for run in (1, 2):
            run_hash_seed = base if same_hash_seed else (base + run - 1) % 2**32
            out = str(Path(folder) / f"run{run}.trace")
            command = run_command(replace(options, trace_out=out), seed, run_hash_seed)
            print(
                f"reprorng check: traced run {run}/2, to find where the runs part ...",
                file=sys.stderr,
                flush=True,
            )
            try:
                marked = environment(options, seed, run_hash_seed, aside.marker)
                execute(command, marked, options.timeout)
            except RunTimeoutError:
                return None, [], f"traced run {run} did not finish within --timeout"
            finally:
                aside.clear()
            traces.append(out)
        try:
            compared = compare_files(*traces, hash_seed=cause == "hash seed")
        except TraceError as error:
            run = 1 if str(error).startswith(traces[0]) else 2
            return None, [], f"traced run {run} left no trace: {error}"
    divergence = compared.divergence
    if divergence is None:
        return None, [], "the traced runs did not part: nothing traced differed"
    return divergence.as_json(), divergence.others_json(), None
