"""The report ``reprorng check`` prints: the verdict, each difference, the likely cause."""

from __future__ import annotations

import shlex
from typing import Any

__all__ = ["CAUSES", "explain", "print_report"]

#: Each likely cause: a summary, then what to look for, one item per line.
CAUSES: dict[str, tuple[str, tuple[str, ...]]] = {
    "hash seed": (
        "the runs agree when PYTHONHASHSEED is the same: the output depends on hash() of "
        "strings or bytes",
        (
            "usually through the iteration order of a set of them",
            "`reprorng run` fixes the hash seed, plain `python` does not",
            "sort before iterating to remove it",
        ),
    ),
    "other": (
        "the runs differ even with the same seed and hash seed; look for",
        (
            "the time (time.time, datetime.now) in what is printed or computed",
            "OS entropy: os.urandom, uuid4, secrets",
            "generators made without a seed, such as np.random.default_rng()",
            "threads or processes racing",
            "non-deterministic kernels (try --deterministic)",
        ),
    ),
    "scheduling": (
        "the program hands work to others, and the order its tasks end in can differ from run "
        "to run though each task draws the same numbers; look for",
        (
            "results taken as they come (imap_unordered, as_completed, return_as='generator_"
            "unordered') and then summed or printed in that order",
            "floating-point sums whose order follows the tasks' (sort, or sum in task order)",
            "shared state that tasks or threads change",
            "the hash seed: if the order cannot matter, compare with --same-hash-seed",
        ),
    ),
}


def explain(cause: str) -> str:
    """The cause as one string, for ``--json``."""
    summary, items = CAUSES[cause]
    return f"{summary}: {'; '.join(items)}"


def print_report(report: dict[str, Any], first_stderr: bytes) -> None:
    """The human report: one finding per line, so it can be scanned."""
    program = shlex.join(report["program"])
    verdict = "reproducible" if report["reproducible"] else "NOT reproducible"
    print(
        f"reprorng check: {report['runs']} runs of {program} with seed {report['seed']}: {verdict}"
    )
    statuses = sorted(set(report["exit_statuses"]))
    if statuses != [0]:
        print(f"  exit status: {', '.join(map(str, report['exit_statuses']))}")
        tail = first_stderr.decode(errors="replace").strip().splitlines()[-5:]
        for line in tail:
            print(f"  | {line}")
    differences = report["differences"]
    for difference in differences:
        run = difference["run"]
        if difference["what"] in ("stdout", "stderr"):
            mine, theirs = difference["values"]
            print(
                f"  {difference['what']} differs between run 1 and run {run}, "
                f"first at line {difference['line']}:"
            )
            print(f"    run 1:   {mine}")
            print(f"    run {run}:   {theirs}")
        elif difference["what"] == "exit status":
            mine, theirs = difference["values"]
            print(f"  exit status differs: {mine} in run 1, {theirs} in run {run}")
        else:
            print(f"  {difference['path']} differs in run {run}: {difference['detail']}")
    if differences and all(difference["what"] == "stderr" for difference in differences):
        print("  only stderr differs: stdout, the exit status and the compared files agree")
        print("    - mask lines meant to differ (timings, progress) with --ignore REGEX")
        print("    - or leave stderr out with --no-stderr")
    if report["scheduling"]:
        used = ", ".join(report["scheduling"])
        if report["reproducible"]:
            print(f"  hands work to {used}: every run agreed, but a race may show in a later one")
        else:
            print(f"  hands work to {used}: which of its tasks ends first may differ between runs")
    divergence = report["divergence"]
    # A divergence found says more than the list of what to look for.
    if report["cause"] is not None and (divergence is None or report["cause"] != "other"):
        summary, items = CAUSES[report["cause"]]
        print(f"  likely cause: {summary}:")
        for item in items:
            print(f"    - {item}")
    if divergence is not None:
        from reprorng.trace import report_lines

        for line in report_lines(divergence, report["candidates"]):
            print(f"  {line}")
    elif report["untraced"] is not None:
        print(f"  first divergence: not found: {report['untraced']}")
    if not report["reproducible"]:
        print(f"  replay: {report['replay']}")
