"""``reprorng check``: run a program several times in fresh processes and compare the runs."""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import replace
from typing import Any

from reprorng.cli import compare
from reprorng.cli.compare import Outcome
from reprorng.cli.explain import Found, lightly, where_runs_part
from reprorng.cli.options import (
    Options,
    RunTimeoutError,
    command_flags,
    hash_seed,
    resolve,
)
from reprorng.cli.paths import Aside, Scratch, program_files
from reprorng.cli.process import environment, execute
from reprorng.cli.report import explain, print_report
from reprorng.cli.run import run_command
from reprorng.cli.trace import LIGHT

__all__ = ["check"]


def _command(options: Options, seed: int, run_hash_seed: int) -> list[str]:
    target = options.target
    if target.command:
        return target.command
    return run_command(options, seed, run_hash_seed)


def check(options: Options) -> int:
    seed = resolve(options)
    flags = [*command_flags(options, seed), *_check_flags(options)]
    replay = shlex.join(["reprorng", "check", *flags, *options.target.describe()])
    print(f"reprorng: seed={seed} (replay: {replay})", file=sys.stderr, flush=True)
    base = hash_seed(seed)
    outcomes: list[Outcome] = []
    differences: list[dict[str, Any]] = []
    with Aside(options.compare, program_files(options.target)) as aside, Scratch() as scratch:
        # Runs 1 and 2 record a light trace, to explain a difference at no further cost.
        traced = scratch.light_traces() if _explainable(options) else ()
        run = 0
        while run < options.runs:
            run += 1
            run_hash_seed = base if options.same_hash_seed else (base + run - 1) % 2**32
            trace = traced[run - 1] if run <= len(traced) else None
            outcome = _one_run(options, seed, run_hash_seed, run, scratch, aside.marker, trace)
            outcomes.append(outcome)
            if run > 1:
                differences.extend(_compared(options, outcomes[0], outcome, run))
            aside.clear()
            if run == options.runs and not differences and _more_runs(options, scratch):
                options.runs = ADAPTED_RUNS
        cause = None
        found = Found()
        if differences:
            cause = "other"
            light = None if not traced else lightly(options, traced, (outcomes[0], outcomes[1]))
            if light is not None:
                found = Found(light.as_json(), light.others_json())
            elif traced:
                found = where_runs_part(options, seed, aside, racing=bool(scratch.scheduling()))
                cause = "hash seed" if found.hash_seed else cause
            else:
                if not options.same_hash_seed:
                    # Which culprit? One more run, with the first run's hash seed.
                    again = _one_run(options, seed, base, options.runs + 1, scratch, aside.marker)
                    if not _compared(options, outcomes[0], again, options.runs + 1):
                        cause = "hash seed"
                if options.explain:
                    found = where_runs_part(options, seed, aside)  # says why it cannot
            if scratch.scheduling():
                cause = "scheduling"  # runs agreeing prove nothing for a race
    report = {
        "reproducible": not differences,
        "seed": seed,
        "runs": options.runs,
        "scheduling": scratch.scheduling(),
        "program": options.target.describe(),
        "exit_statuses": [outcome.status for outcome in outcomes],
        "seconds": [round(outcome.seconds, 3) for outcome in outcomes],
        "compared": _what_is_compared(options),
        "differences": differences,
        "cause": cause,
        "explanation": None if cause is None else explain(cause),
        "divergence": found.divergence,
        "candidates": found.candidates,
        "untraced": found.untraced,
        "replay": replay,
    }
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        print_report(report, outcomes[0].raw_stderr, verbose=options.full_report)
    return 1 if differences else 0


#: Runs in all when the first two agree but the program handed work to a pool, a cluster or
#: threads: which task ends first is a race, which two runs that agree cannot rule out.
ADAPTED_RUNS = 4


def _more_runs(options: Options, scratch: Scratch) -> bool:
    """Whether to run more: ``--runs`` not given, and the runs handed work to others."""
    used = scratch.scheduling()
    if options.runs_given or options.runs >= ADAPTED_RUNS or not used:
        return False
    print(
        f"reprorng check: the program hands work to {', '.join(used)}: "
        f"{ADAPTED_RUNS - options.runs} more runs, as two that agree cannot rule out a race",
        file=sys.stderr,
        flush=True,
    )
    return True


def _check_flags(options: Options) -> list[str]:
    flags = ["--runs", str(options.runs)] if options.runs_given else []
    for path in options.compare:
        flags += ["--compare", path]
    for pattern in options.ignore:
        flags += ["--ignore", pattern.pattern]
    if not options.stderr:
        flags.append("--no-stderr")
    if options.same_hash_seed:
        flags.append("--same-hash-seed")
    if not options.explain:
        flags.append("--no-explain")
    return flags


def _what_is_compared(options: Options) -> dict[str, Any]:
    return {
        "exit status": True,
        "stdout": True,
        "stderr": options.stderr,
        "paths": list(options.compare),
        "ignored": [pattern.pattern for pattern in options.ignore],
    }


def _compared(options: Options, first: Outcome, other: Outcome, run: int) -> list[dict[str, Any]]:
    return compare.differences(first, other, run, stderr=options.stderr)


def _explainable(options: Options) -> bool:
    """Whether a difference would be explained: asked for, and a program reprorng runs."""
    return options.explain and not options.target.command


def _one_run(
    options: Options,
    seed: int,
    run_hash_seed: int,
    run: int,
    scratch: Scratch,
    marker: str,
    trace: str | None = None,
) -> Outcome:
    """One run of the program, recording a light trace into ``trace`` if given."""
    run_options = options if trace is None else replace(options, trace_out=trace)
    command = _command(run_options, seed, run_hash_seed)
    total = options.runs
    label = f"run {run}/{total}" if run <= total else "one more run, to find the cause"
    print(f"reprorng check: {label} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        marked = environment(options, seed, run_hash_seed, marker, scratch.notes)
        if trace is not None:
            marked[LIGHT] = "1"
        stdout, stderr, status = execute(command, marked, options.timeout)
    except RunTimeoutError:
        raise RunTimeoutError(
            f"{label.partition('/')[0]} did not finish within --timeout {options.timeout:g} s; "
            "it was stopped, with everything it started"
        ) from None
    seconds = time.perf_counter() - start
    files = compare.files(options.compare, run)
    if run == 1:
        for record in files.values():
            record["saved"] = scratch.keep(record["path"])
    print(
        f"reprorng check: {label}: exit status {status}, {seconds:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    if not options.target.command:
        stderr = compare.program_stderr(stderr)
    shown_stderr = compare.shown(stderr, options.ignore)
    return Outcome(
        compare.shown(stdout, options.ignore), shown_stderr, stderr, status, seconds, files
    )
