"""check's report: its first screen holds the answer, and the rest is one flag away.

Each ``tests/golden/check/NAME.json`` holds the ``--json`` report of a real
``reprorng check --seed 7`` and the first run's stderr; ``NAME.txt`` is the
first screen printed for it and ``NAME.verbose.txt`` the report with
``--verbose``. To accept a deliberate change of wording, rewrite them with
``REPRORNG_UPDATE_GOLDEN=1 python -m pytest tests/test_report.py`` and read
the diff.
"""

from __future__ import annotations

import json
import os
import unicodedata
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from reprorng.cli.report import WIDTH, cut, report_text
from reprorng.trace._report import candidate_lines

from .test_cli import reprorng, script

GOLDEN = Path(__file__).parent / "golden" / "check"
CASES = sorted(path.stem for path in GOLDEN.glob("*.json"))
UPDATE = os.environ.get("REPRORNG_UPDATE_GOLDEN") == "1"


def golden(name: str) -> tuple[dict[str, Any], bytes]:
    saved = json.loads((GOLDEN / f"{name}.json").read_text())
    return saved["report"], saved["stderr"].encode()


def matches(text: str, path: Path) -> None:
    if UPDATE:
        path.write_text(text)
    assert text == path.read_text(), f"{path.name} differs; see this module's docstring"


def test_there_are_golden_reports_of_every_kind():
    assert len(CASES) >= 8
    reports = [golden(name)[0] for name in CASES]
    assert any(report["reproducible"] for report in reports)
    causes = {report["divergence"]["cause"] for report in reports if report["divergence"]}
    assert {"entropy", "clock", "schedule", "hash-seed"} <= causes
    assert any(report["divergence"] is None and not report["reproducible"] for report in reports)
    assert any(set(report["exit_statuses"]) != {0} for report in reports)


@pytest.mark.parametrize("name", CASES)
def test_the_first_screen_is_as_kept(name):
    report, stderr = golden(name)
    matches(report_text(report, stderr), GOLDEN / f"{name}.txt")


@pytest.mark.parametrize("name", CASES)
def test_the_verbose_report_is_as_kept(name):
    report, stderr = golden(name)
    matches(report_text(report, stderr, verbose=True), GOLDEN / f"{name}.verbose.txt")


@pytest.mark.parametrize("name", CASES)
def test_the_first_screen_is_short_and_says_what_to_do(name):
    report, stderr = golden(name)
    lines = report_text(report, stderr).splitlines()
    assert len(lines) <= 16
    # Only the lines that must stay whole to be copied (a command, a place) may be wider.
    wide = [line for line in lines if len(line) > WIDTH]
    assert all(line.lstrip().startswith(("replay:", "first divergence:")) for line in wide)
    if not report["reproducible"]:
        assert lines[-2 if lines[-1].lstrip().startswith("more:") else -1].startswith("  replay: ")
        assert any(line.lstrip().startswith(("fix:", "look for:")) for line in lines)


@pytest.mark.parametrize("name", CASES)
def test_the_verbose_report_shows_every_difference_whole(name):
    report, stderr = golden(name)
    text = report_text(report, stderr, verbose=True)
    assert text.startswith(report_text(report, stderr).removesuffix(_more(report, stderr)))
    for difference in report["differences"]:
        for value in difference.get("values", []):
            assert str(value) in text


def _more(report: dict[str, Any], stderr: bytes) -> str:
    """The first screen's closing pointer to --verbose, if it has one."""
    lines = report_text(report, stderr).splitlines(keepends=True)
    at = next((i for i, line in enumerate(lines) if line.startswith("  more: ")), len(lines))
    return "".join(lines[at:])


def test_the_hash_seed_line_shows_whenever_the_runs_agreed_on_one_hash_seed():
    report, stderr = golden("set_of_strings")
    assert report["cause"] == "hash seed"
    line = "  hash seed: reprorng run fixes it; reprorng run --hash-seed random varies it"
    assert line in report_text(report, stderr)
    # The line the runs part on may be named for what it does (objects ordered by address)...
    report["divergence"]["cause"] = "address"
    assert line in report_text(report, stderr)
    # ...and a cause that is not the hash seed says nothing of it.
    report["cause"] = "other"
    assert "hash seed:" not in report_text(report, stderr)


def test_the_golden_reports_have_the_shape_check_gives_today(tmp_path):
    name = script(tmp_path, "unseeded.py", "import os\nprint(os.urandom(4).hex())\n")
    result = reprorng("check", "--json", "--seed", "7", name, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    real = json.loads(result.stdout)
    for case in CASES:
        report = golden(case)[0]
        assert report.keys() == real.keys(), case
        if report["divergence"] is not None:
            assert report["divergence"].keys() == real["divergence"].keys(), case


def test_each_place_that_read_entropy_is_listed_once_with_how_often():
    read = {"file": "a.py", "line": 3, "function": "f", "event": "os.urandom"}
    other = {**read, "line": 4}
    assert candidate_lines([read, other, read, read]) == [
        "a.py:3 in f: os.urandom (3 times)",
        "a.py:4 in f: os.urandom",
    ]


def _columns(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(char) in "WF" else 1 for char in text)


texts = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "Zs")), max_size=300)


def _upto(line: str, column: int) -> str:
    """The start of ``line`` that fills its first ``column`` terminal columns."""
    taken = ""
    for char in line:
        if _columns(taken + char) > column:
            break
        taken += char
    return taken


@given(texts, texts, st.integers(min_value=20, max_value=120))
def test_cut_lines_fit_and_the_marker_is_under_the_first_difference(mine, theirs, width):
    if mine == theirs:
        theirs += "x"
    assume("(end of output)" not in (mine, theirs))  # a missing line: no marker (below)
    first, second, marker = cut(mine, theirs, width)
    assert _columns(first) <= width
    assert _columns(second) <= width
    assert marker.strip() == "^"
    column = len(marker) - 1
    # Before the marker both lines show the same; at it they differ (or one has ended).
    before = _upto(first, column)
    assert _columns(before) == column
    assert _upto(second, column) == before
    assert first[len(before) : len(before) + 1] != second[len(before) : len(before) + 1]
    for line, text in ((first, mine), (second, theirs)):
        assert line.removeprefix("…").removesuffix("…") in text


def test_a_missing_line_has_no_marker():
    assert cut("(end of output)", "epoch 3", 40) == ["(end of output)", "epoch 3"]


LONG_LINES = """
    import os

    print("loss by step: " + " ".join(f"{byte:>4}" for byte in os.urandom(60)))
    print("done")
"""


def test_a_program_that_differs_in_every_run_checked_five_times_gets_one_short_screen(tmp_path):
    name = script(tmp_path, "race.py", LONG_LINES)
    shown = reprorng("check", "--runs", "5", "--no-explain", "--seed", "1", name, cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    lines = shown.stdout.splitlines()
    assert len(shown.stdout) < 1500
    assert lines[0].endswith("NOT reproducible")
    assert lines[1].startswith("  stdout differs at line 1, run 1 against run ")
    assert lines[2].startswith("    run 1: ")
    assert lines[2].endswith("…")
    assert lines[4].strip() == "^"
    assert "  replay: reprorng check --seed 1 --runs 5 --no-explain race.py" in lines
    whole = reprorng(
        "check", "--runs", "5", "--no-explain", "--seed", "1", "--verbose", name, cwd=tmp_path
    )
    details = whole.stdout.partition("  every difference:\n")[2]
    assert details
    assert "…" not in details
    for run in range(2, 6):  # each run's line, whole
        assert f"stdout differs at line 1, run 1 against run {run}:" in details
