"""The report ``reprorng check`` prints.

Its first screen holds the answer: the verdict, the first difference cut to
where it starts (with a marker under the first character that differs),
where the runs part and why, the fix, and the command that replays the
check. ``--verbose`` adds every difference, every other line that read
entropy and what to look for; ``--json`` holds all of it.
"""

from __future__ import annotations

import shlex
import textwrap
import unicodedata
from typing import Any

from reprorng.trace._report import FIXES, candidate_lines, place, printable

__all__ = ["CAUSES", "cut", "explain", "print_report", "report_text"]

#: Each likely cause ``check`` names without a trace: a summary, then what to look for,
#: one item per line, then the fix in one line.
CAUSES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "hash seed": (
        "the runs agree when PYTHONHASHSEED is the same: the output depends on hash() of "
        "strings or bytes",
        (
            "usually through the iteration order of a set of them",
            "`reprorng run` fixes the hash seed, plain `python` does not",
            "sort before iterating to remove it",
        ),
        "sort before iterating over a set of strings or bytes",
    ),
    "other": (
        "the runs differ even with the same seed and hash seed; look for",
        (
            "the time (time.time, datetime.now) in what is printed or computed",
            "OS entropy: os.urandom, uuid4, secrets",
            "generators made without a seed, such as np.random.default_rng()",
            "threads or processes racing",
            "operators that are not deterministic (try --deterministic)",
        ),
        "the clock, OS entropy, a generator made without a seed, threads or processes "
        "racing, an operator that is not deterministic (try --deterministic)",
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
        FIXES["schedule"],
    ),
}

#: The one line said when the hash seed parts the runs: why ``run`` repeats and check not.
HASH_SEED = (
    "hash seed: reprorng run fixes it; reprorng run --hash-seed random varies it, as check does"
)

#: The widest line of the first screen, in columns.
WIDTH = 100
_END = "(end of output)"


def explain(cause: str) -> str:
    """The cause as one string, for ``--json``."""
    summary, items, _fix = CAUSES[cause]
    return f"{summary}: {'; '.join(items)}"


def print_report(report: dict[str, Any], first_stderr: bytes, *, verbose: bool = False) -> None:
    """The human report: the first screen, and with ``verbose`` the details after it."""
    print(report_text(report, first_stderr, verbose=verbose), end="")


def report_text(report: dict[str, Any], first_stderr: bytes, *, verbose: bool = False) -> str:
    """The report as printed, one finding per line, so it can be scanned."""
    lines = _first_screen(report, first_stderr, verbose=verbose)
    if verbose:
        lines += _details(report)
    return "".join(f"{printable(line)}\n" for line in lines)


def _first_screen(report: dict[str, Any], first_stderr: bytes, *, verbose: bool) -> list[str]:
    program = shlex.join(report["program"])
    verdict = "reproducible" if report["reproducible"] else "NOT reproducible"
    runs = f"{report['runs']} runs of {program} with seed {report['seed']}"
    lines = [f"reprorng check: {runs}: {verdict}"]
    statuses = sorted(set(report["exit_statuses"]))
    if statuses != [0]:
        lines.append(f"  exit status: {', '.join(map(str, report['exit_statuses']))}")
        tail = first_stderr.decode(errors="replace").strip().splitlines()[-5:]
        lines.extend(f"  | {line}" for line in tail)
    used = ", ".join(report["scheduling"])
    if report["reproducible"]:
        if used:
            lines.append(f"  hands work to {used}: every run agreed, but a race may show later")
        return lines
    differences = report["differences"]
    lines += _difference(differences[0], whole=False)
    if all(difference["what"] == "stderr" for difference in differences):
        lines += _said(
            2,
            "only stderr differs: mask what is meant to differ with --ignore REGEX, "
            "or leave stderr out with --no-stderr",
        )
    lines += _why(report)
    lines.append(f"  replay: {report['replay']}")
    hidden = _hidden(report)
    if hidden and not verbose:
        lines += _said(2, f"more: {', '.join(hidden)} with --verbose; all of it with --json")
    return lines


def _said(indent: int, text: str) -> list[str]:
    """``text`` at ``indent``, wrapped at :data:`WIDTH`, its further lines two columns in."""
    return textwrap.wrap(
        text,
        WIDTH,
        initial_indent=" " * indent,
        subsequent_indent=" " * (indent + 2),
        break_long_words=False,
        break_on_hyphens=False,
    )


def _why(report: dict[str, Any]) -> list[str]:
    """Where the runs part, the cause and the fix: traced if it could be, else the likely one."""
    divergence, cause = report["divergence"], report["cause"]
    if divergence is not None:
        lines = [
            f"  first divergence: {place(divergence)}: {divergence['event']}",
            *_said(4, f"cause: {printable(divergence['detail'])}"),
            *_said(4, f"fix: {divergence['fix']}"),
        ]
        # The runs agreed once they shared a hash seed, whatever the line turned out to do.
        by_hash_seed = divergence["cause"] == "hash-seed" or cause == "hash seed"
    else:
        untraced = report["untraced"] or "not traced (--no-explain)"
        lines = [f"  first divergence: not found: {untraced}"]
        summary, _items, fix = CAUSES[cause]
        if cause != "other":
            lines += _said(4, f"likely cause: {summary}")
        lines += _said(4, f"{'look for' if cause == 'other' else 'fix'}: {fix}")
        by_hash_seed = cause == "hash seed"
    if by_hash_seed:
        lines += _said(2, HASH_SEED)
    return lines


def _hidden(report: dict[str, Any]) -> list[str]:
    """What ``--verbose`` would add to the first screen."""
    hidden = []
    more = len(report["differences"]) - 1
    if more:
        hidden.append(f"{more} more difference{'s' * (more > 1)}")
    reads = len(candidate_lines(report["candidates"]))
    if reads:
        hidden.append(f"{reads} more line{'s' * (reads > 1)} that read entropy")
    if _look_for(report):
        hidden.append("what to look for")
    return hidden


def _look_for(report: dict[str, Any]) -> bool:
    """Whether the list of what to look for says more than the divergence found, if any."""
    return report["cause"] is not None and (
        report["divergence"] is None or report["cause"] != "other"
    )


def _details(report: dict[str, Any]) -> list[str]:
    """What the first screen leaves out: every difference whole, what to look for, and every
    other line that read entropy before the divergence."""
    if report["reproducible"]:
        return []
    lines = ["  every difference:"]
    for difference in report["differences"]:
        lines += [f"  {line}" for line in _difference(difference, whole=True)]
    used = ", ".join(report["scheduling"])
    if used:
        lines.append(f"  hands work to {used}: which of its tasks ends first may differ")
    if _look_for(report):
        summary, items, _fix = CAUSES[report["cause"]]
        lines.append(f"  likely cause: {summary}:")
        lines.extend(f"    - {item}" for item in items)
    reads = candidate_lines(report["candidates"])
    if reads:
        lines.append("  also read entropy before the first divergence:")
        lines.extend(f"    {read}" for read in reads)
    return lines


def _difference(difference: dict[str, Any], *, whole: bool) -> list[str]:
    run = difference["run"]
    if difference["what"] in ("stdout", "stderr"):
        mine, theirs = difference["values"]
        lines = [
            f"  {difference['what']} differs at line {difference['line']}, run 1 against run {run}:"
        ]
        labels = ["run 1: ", f"run {run}: "]
        width = max(map(len, labels))
        labels = [label.ljust(width) for label in labels]
        if whole:
            return [*lines, f"    {labels[0]}{mine}", f"    {labels[1]}{theirs}"]
        shown = cut(printable(mine), printable(theirs), WIDTH - 4 - width)
        lines += [f"    {label}{text}" for label, text in zip(labels, shown[:2], strict=True)]
        if len(shown) == 3:
            lines.append(f"    {' ' * width}{shown[2]}")
        return lines
    if difference["what"] == "exit status":
        mine, theirs = difference["values"]
        return [f"  exit status differs: {mine} in run 1, {theirs} in run {run}"]
    return [f"  {difference['path']} differs in run {run}: {difference['detail']}"]


def _columns(text: str) -> int:
    """How many columns ``text`` takes on a terminal: wide characters take two."""
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


def cut(mine: str, theirs: str, width: int) -> list[str]:
    """Two differing lines cut to ``width`` columns around where they first differ, and a
    marker line with ``^`` under that place (none if either line is the end of the output)."""
    same = 0
    while same < min(len(mine), len(theirs)) and mine[same] == theirs[same]:
        same += 1
    start = 0
    if max(_columns(mine), _columns(theirs)) > width:
        start = max(0, same - width // 3)
    lead = "…" if start else ""

    def window(text: str) -> str:
        shown = lead + text[start : start + width]  # a column or more each
        if _columns(shown) <= width and start + width >= len(text):
            return shown
        while _columns(shown) > width - 1:
            shown = shown[:-1]
        return shown + "…"

    shown = [window(mine), window(theirs)]
    if _END in (mine, theirs):
        return shown
    return [*shown, " " * _columns(lead + mine[start:same]) + "^"]
