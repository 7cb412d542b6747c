"""``reprorng check``: run a program several times in fresh processes and compare the runs."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from reprorng._seed import ENV_VAR
from reprorng.cli import compare
from reprorng.cli.compare import Outcome
from reprorng.cli.options import (
    Options,
    RunTimeoutError,
    UsageError,
    command_flags,
    hash_seed,
    resolve,
)
from reprorng.cli.run import run_command

__all__ = ["check"]


def _command(options: Options, seed: int, run_hash_seed: int) -> list[str]:
    target = options.target
    if target.command:
        return target.command
    return run_command(options, seed, run_hash_seed)


def _environment(seed: int, run_hash_seed: int) -> dict[str, str]:
    return {**os.environ, ENV_VAR: str(seed), "PYTHONHASHSEED": str(run_hash_seed)}


def _execute(
    command: list[str], environment: dict[str, str], timeout: float | None
) -> tuple[bytes, bytes, int]:
    """Run ``command``; on Ctrl-C, SIGTERM or a timeout, stop it and what it started."""
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
    except OSError as error:
        raise UsageError(f"cannot run {shlex.join(command)}: {error}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise RunTimeoutError from None
    except BaseException:
        _stop(process)
        raise
    return stdout, stderr, process.returncode


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the program's whole process group: nothing is left running."""
    for each in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, each)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


CAUSES = {
    "hash seed": (
        "the runs agree when PYTHONHASHSEED is the same: the output depends on hash() of "
        "strings or bytes, usually through the iteration order of a set of them. `reprorng run` "
        "fixes the hash seed, plain `python` does not; sort before iterating to remove it"
    ),
    "other": (
        "the runs differ even with the same seed and hash seed: look for the time "
        "(time.time, datetime.now), OS entropy (os.urandom, uuid4, secrets, generators made "
        "without a seed such as np.random.default_rng()), threads or processes racing, "
        "or non-deterministic kernels (try --deterministic)"
    ),
}


def check(options: Options) -> int:
    seed = resolve(options)
    replay = shlex.join(
        ["reprorng", "check", *command_flags(options, seed), *options.target.describe()]
    )
    print(f"reprorng: seed={seed} (replay: {replay})", file=sys.stderr, flush=True)
    base = hash_seed(seed)
    outcomes: list[Outcome] = []
    differences: list[dict[str, Any]] = []
    with _Scratch() as scratch:
        for run in range(1, options.runs + 1):
            run_hash_seed = base if options.same_hash_seed else (base + run - 1) % 2**32
            outcome = _one_run(options, seed, run_hash_seed, run, scratch)
            outcomes.append(outcome)
            if run > 1:
                differences.extend(compare.differences(outcomes[0], outcome, run))
        cause = None
        if differences:
            cause = "other"
            if not options.same_hash_seed:
                # Which culprit? Two more runs, both with the first run's hash seed.
                again = _one_run(options, seed, base, options.runs + 1, scratch)
                if not compare.differences(outcomes[0], again, options.runs + 1):
                    cause = "hash seed"
    report = {
        "reproducible": not differences,
        "seed": seed,
        "runs": options.runs,
        "program": options.target.describe(),
        "exit_statuses": [outcome.status for outcome in outcomes],
        "seconds": [round(outcome.seconds, 3) for outcome in outcomes],
        "differences": differences,
        "cause": cause,
        "explanation": None if cause is None else CAUSES[cause],
        "replay": replay,
    }
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, outcomes)
    return 1 if differences else 0


def _one_run(
    options: Options, seed: int, run_hash_seed: int, run: int, scratch: _Scratch
) -> Outcome:
    command = _command(options, seed, run_hash_seed)
    total = options.runs
    label = f"run {run}/{total}" if run <= total else "one more run, to find the cause"
    print(f"reprorng check: {label} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        stdout, stderr, status = _execute(
            command, _environment(seed, run_hash_seed), options.timeout
        )
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
    return Outcome(stdout, stderr, status, seconds, files)


class _Scratch:
    """A temporary folder holding run 1's compared files, for numeric comparison."""

    def __enter__(self) -> _Scratch:
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="reprorng-check-")
        self._count = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()

    def keep(self, path: Path) -> Path:
        self._count += 1
        copy = Path(self._folder.name) / f"{self._count}{path.suffix}"
        copy.write_bytes(path.read_bytes())
        return copy


def _print_report(report: dict[str, Any], outcomes: list[Outcome]) -> None:
    program = shlex.join(report["program"])
    verdict = "reproducible" if report["reproducible"] else "NOT reproducible"
    print(
        f"reprorng check: {report['runs']} runs of {program} with seed {report['seed']}: {verdict}"
    )
    statuses = sorted(set(report["exit_statuses"]))
    if statuses != [0]:
        print(f"  exit status: {', '.join(map(str, report['exit_statuses']))}")
        tail = outcomes[0].stderr.decode(errors="replace").strip().splitlines()[-5:]
        for line in tail:
            print(f"  | {line}")
    for difference in report["differences"]:
        run = difference["run"]
        if difference["what"] == "stdout":
            mine, theirs = difference["values"]
            print(
                f"  stdout differs between run 1 and run {run}, first at line {difference['line']}:"
            )
            print(f"    run 1:   {mine}")
            print(f"    run {run}:   {theirs}")
        elif difference["what"] == "exit status":
            mine, theirs = difference["values"]
            print(f"  exit status differs: {mine} in run 1, {theirs} in run {run}")
        else:
            print(f"  {difference['path']} differs in run {run}: {difference['detail']}")
    if report["explanation"]:
        print(f"  likely cause: {report['explanation']}")
    if not report["reproducible"]:
        print(f"  replay: {report['replay']}")
