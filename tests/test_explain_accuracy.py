"""Each program of the corpus (``benchmarks/explain_corpus``) is explained to its planted line.

A culprit runs twice under a trace, as ``reprorng check``'s traced runs do
(with two hash seeds when the planted cause is the hash seed), and the first
divergence must name the line marked ``# cause: KIND`` with that cause. A
reproducible program must be found so by ``reprorng check``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reprorng.cli.trace import LINES
from reprorng.trace._workers import where_runs_part

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
from explain_accuracy import Planted, corpus

PROGRAMS = corpus()


def traced_pair(program: Planted, folder: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """Two traced runs of the program: their traces and lines files, and their stdouts."""
    files, outputs = [], []
    for run in (1, 2):
        hash_seed = 11 + (run if program.cause == "hash-seed" else 0)
        out, lines = folder / f"{run}.trace", folder / f"{run}.lines"
        command = ["trace", "--seed", "3", "--hash-seed", str(hash_seed), "--out", str(out)]
        done = subprocess.run(
            [sys.executable, "-m", "reprorng", *command, str(program.path)],
            capture_output=True,
            text=True,
            cwd=program.path.parent,
            env={**os.environ, LINES: str(lines)},
            timeout=300,
            check=False,
        )
        files.append((str(out), str(lines)))
        outputs.append(done.stdout)
    return files, outputs


def first_differing_line(outputs: list[str]) -> int | None:
    mine, theirs = (output.split("\n") for output in outputs)
    if mine == theirs:
        return None
    pairs = enumerate(zip(mine, theirs, strict=False), 1)
    return next((n for n, (one, other) in pairs if one != other), min(len(mine), len(theirs)) + 1)


#: Scored by the benchmark alone, to keep the suite short: each starts torch, and a program
#: here that does not holds it to the same rule (clock_in_object, hash_of_string...).
BENCHMARK_ONLY = {
    "clock_seed",
    "clock_arithmetic",
    "set_of_strings",
    "torch_seed_call",
    "control_logged_entropy",
}
CULPRITS = [program for program in PROGRAMS if program.line is not None]
CONTROLS = [program for program in PROGRAMS if program.line is None]
TESTED = [program for program in CULPRITS if program.path.stem not in BENCHMARK_ONLY]


def test_the_corpus_holds_every_cause_and_controls():
    expected = {"entropy", "clock", "schedule", "hash-seed", "address", "data", "output", "kernel"}
    assert {program.cause for program in CULPRITS} == expected
    assert {program.cause for program in TESTED} == expected
    assert len(CONTROLS) >= 2


@pytest.mark.parametrize("program", TESTED, ids=lambda program: program.path.stem)
def test_the_planted_line_and_cause_are_named(program, tmp_path):
    for _attempt in range(3):  # a race may, rarely, run the same way twice
        files, outputs = traced_pair(program, tmp_path)
        line = first_differing_line(outputs)
        if line is not None:
            break
    assert line is not None, f"the runs of {program.path.name} did not differ: {outputs}"
    (trace_a, lines_a), (trace_b, lines_b) = files
    divergence = where_runs_part(
        (trace_a, trace_b),
        (lines_a, lines_b),
        hash_seed=program.cause == "hash-seed",
        output=("stdout", line),
    )
    assert divergence is not None
    named = divergence.as_json()
    assert (named["line"], named["cause"]) == (program.line, program.cause), named
    assert Path(named["file"]).name == program.path.name
    # A library's own entropy reads are never candidates, and a place is listed once.
    listed = [(each.file, each.line, each.name) for each in divergence.candidates]
    assert not any(each.note.startswith("via ") for each in divergence.candidates)
    assert len(listed) == len(set(listed))


@pytest.mark.parametrize(
    "program",
    [program for program in CONTROLS if program.path.stem not in BENCHMARK_ONLY],
    ids=lambda program: program.path.stem,
)
def test_a_reproducible_program_of_the_corpus_has_no_culprit(program):
    done = subprocess.run(
        [sys.executable, "-m", "reprorng", "check", "--json", str(program.path)],
        capture_output=True,
        text=True,
        cwd=program.path.parent,
        timeout=300,
        check=False,
    )
    report = json.loads(done.stdout)
    assert report["reproducible"], report
    assert report["divergence"] is None
