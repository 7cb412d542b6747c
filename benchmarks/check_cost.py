"""What ``reprorng check`` costs, in plain runs of the program, over the explanation corpus.

Each program of ``explain_corpus/`` is run once as a user runs it
(``python PROGRAM``), then checked (``reprorng check PROGRAM``), and the two
wall times are compared: a check that costs three plain runs prints 3.0. The
runs ``check`` made are counted from what it says on stderr (``run 1/2``,
``traced run 1/2``...), a figure that does not depend on the machine.

Goals, over the programs whose plain run takes a second or more (in a
shorter one, the start of each run, a fraction of a second, is most of what
is measured): the median over the culprits at most 3 plain runs, each
reproducible program at most 2.2. The median over all culprits, and of the
runs made, is printed too. Exits 1 when a goal is missed.

    python benchmarks/check_cost.py [--jobs N] [NAME ...]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from explain_accuracy import Planted, corpus

CULPRIT_GOAL = 3.0
#: Programs whose plain run takes this many seconds or more are held to the goals.
LONG = 1.0
REPRODUCIBLE_GOAL = 2.2


@dataclass
class Cost:
    program: Planted
    plain: float
    check: float
    runs: list[str]

    @property
    def ratio(self) -> float:
        return self.check / self.plain


def timed(command: list[str], program: Planted) -> tuple[float, str]:
    """Seconds the command took, and its stderr."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    begun = time.perf_counter()
    done = subprocess.run(
        command,
        capture_output=True,
        text=True,
        cwd=program.path.parent,
        env=environment,
        check=False,
    )
    return time.perf_counter() - begun, done.stderr


def cost(program: Planted) -> Cost:
    plain, _stderr = timed([sys.executable, str(program.path)], program)
    check, stderr = timed([sys.executable, "-m", "reprorng", "check", str(program.path)], program)
    runs = [
        line.split(": ", 1)[1].removesuffix(" ...")
        for line in stderr.splitlines()
        if line.startswith("reprorng check: ") and line.endswith(" ...")
    ]
    return Cost(program, plain, check, runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1, help="programs measured at once")
    parser.add_argument("names", nargs="*", help="only these programs (file names without .py)")
    options = parser.parse_args(argv)
    with ThreadPoolExecutor(options.jobs) as pool:
        costs = list(pool.map(cost, corpus(options.names)))
    for each in costs:
        traced = sum(run.startswith("traced") for run in each.runs)
        print(
            f"{each.program.path.name}: plain {each.plain:.2f} s, check {each.check:.2f} s "
            f"= {each.ratio:.1f} plain runs; {len(each.runs)} runs made, {traced} traced"
        )
    missed = False
    culprits = [each for each in costs if each.program.line is not None]
    if culprits:
        median = statistics.median(each.ratio for each in culprits)
        made = statistics.median(len(each.runs) for each in culprits)
        print(f"culprits: median {median:.1f} plain runs, median {made:g} runs made")
        long = [each.ratio for each in culprits if each.plain >= LONG]
        if long:
            median = statistics.median(long)
            print(
                f"culprits of {LONG:g} s or more ({len(long)}): median {median:.1f} plain runs "
                f"(goal <= {CULPRIT_GOAL:g})"
            )
            missed |= median > CULPRIT_GOAL
    reproducible = [each for each in costs if each.program.line is None]
    if reproducible:
        worst = max(each.ratio for each in reproducible)
        print(f"reproducible: at most {worst:.1f} plain runs")
        long = [each.ratio for each in reproducible if each.plain >= LONG]
        if long:
            worst = max(long)
            print(
                f"reproducible of {LONG:g} s or more ({len(long)}): at most {worst:.1f} plain "
                f"runs (goal <= {REPRODUCIBLE_GOAL:g})"
            )
            missed |= worst > REPRODUCIBLE_GOAL
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
