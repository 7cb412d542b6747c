"""``reprorng check`` tells the truth: the same environment as ``run``, stderr, stale files."""

from __future__ import annotations

import json
import os

import pytest

from .test_cli import check_json, reprorng, script

PROBE = """
    import json, os, sys
    from reprorng import fixed_rng, loader_generator

    seen = {
        "environment": {
            name: value
            for name, value in os.environ.items()
            if name.startswith(("REPRORNG", "PYTHON", "_REPRORNG"))
        },
        "argv": sys.argv,
        "block seed": fixed_rng().seed,
        "loader seed": loader_generator().initial_seed(),
    }
    with open("seen.json", "w") as file:
        json.dump(seen, file)
"""


def test_a_program_sees_the_same_under_run_and_under_check(tmp_path):
    name = script(tmp_path, "probe.py", PROBE)
    ran = reprorng("run", "--seed", "5", name, "an", "argument", cwd=tmp_path)
    assert ran.returncode == 0, ran.stderr
    under_run = json.loads((tmp_path / "seen.json").read_text())
    checked = reprorng(
        "check", "--seed", "5", "--same-hash-seed", name, "an", "argument", cwd=tmp_path
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    under_check = json.loads((tmp_path / "seen.json").read_text())
    # check marks every process of its runs, so that it can end them all, and has them note
    # the pools they hand work to
    assert under_check["environment"].pop("REPRORNG_CHECK_RUN")
    assert under_check["environment"].pop("REPRORNG_SCHEDULING")
    assert under_run == under_check
    assert under_run["block seed"] == 5
    assert under_run["environment"]["REPRORNG_SEED"] == "5"
    assert under_run["argv"] == ["probe.py", "an", "argument"]


def test_two_runs_give_an_unseeded_block_the_same_seed(tmp_path):
    name = script(tmp_path, "probe.py", PROBE)
    seen = []
    for _ in range(2):
        assert reprorng("run", "--seed", "5", name, cwd=tmp_path).returncode == 0
        seen.append(json.loads((tmp_path / "seen.json").read_text()))
    assert seen[0]["block seed"] == seen[1]["block seed"]
    assert seen[0]["loader seed"] == seen[1]["loader seed"]


LOGS_WEIGHTS = """
    import logging, random, time

    logging.basicConfig(level=logging.INFO)
    random.seed(time.time_ns())  # a clock seed: the weights differ from run to run
    logging.info("weights %s", [random.random() for _ in range(3)])
    print("done")
"""


def test_output_on_stderr_alone_is_compared_and_reported_plainly(tmp_path):
    name = script(tmp_path, "train.py", LOGS_WEIGHTS)
    status, report = check_json(tmp_path, name)
    assert status == 1
    assert [difference["what"] for difference in report["differences"]] == ["stderr"]
    human = reprorng("check", "--seed", "3", "--no-explain", name, cwd=tmp_path)
    assert human.returncode == 1
    assert "stderr differs at line 1, run 1 against run 2:" in human.stdout
    assert "only stderr differs" in human.stdout


def test_no_stderr_leaves_it_out(tmp_path):
    name = script(tmp_path, "train.py", LOGS_WEIGHTS)
    status, report = check_json(tmp_path, "--no-stderr", name)
    assert status == 0, report
    assert report["compared"]["stderr"] is False


TIMED = """
    import sys, time

    start = time.perf_counter()
    print("result 42")
    print(f"took {time.perf_counter() - start:.9f} s")
    for percent in (10, 50):
        sys.stderr.write(f"\\r{percent}% {time.perf_counter():.6f}")
    sys.stderr.write("\\r100%\\n")
"""


def test_ignore_masks_lines_meant_to_differ_and_progress_redraws_count_by_their_end(tmp_path):
    name = script(tmp_path, "timed.py", TIMED)
    status, report = check_json(tmp_path, name)
    assert status == 1
    assert [difference["what"] for difference in report["differences"]] == ["stdout"]
    status, report = check_json(tmp_path, "--ignore", r"took [0-9.]+ s", name)
    assert status == 0, report
    assert report["compared"]["ignored"] == [r"took [0-9.]+ s"]


def test_a_bad_ignore_pattern_is_a_usage_error(tmp_path):
    name = script(tmp_path, "timed.py", TIMED)
    result = reprorng("check", "--ignore", "(unclosed", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "--ignore '(unclosed' is not a regular expression" in result.stderr


NEVER_WRITES = """
    print("forgot to save")
"""


def test_a_compare_file_left_from_before_is_not_taken_for_the_programs(tmp_path):
    name = script(tmp_path, "forgets.py", NEVER_WRITES)
    (tmp_path / "out.txt").write_text("from an earlier run")
    result = reprorng("check", "--compare", "out.txt", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "--compare out.txt: no such file or directory after run 1" in result.stderr
    assert (tmp_path / "out.txt").read_text() == "from an earlier run"


WRITES_RANDOM_ONCE = """
    import os, random

    os.makedirs("out", exist_ok=True)
    if not os.path.exists("out/first.txt"):
        with open("out/first.txt", "w") as file:
            file.write(str(random.SystemRandom().random()))
"""


def test_each_run_starts_without_what_the_run_before_wrote(tmp_path):
    name = script(tmp_path, "once.py", WRITES_RANDOM_ONCE)
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "kept.txt").write_text("mine")
    status, report = check_json(tmp_path, "--compare", "out", name)
    assert status == 1  # each run wrote its own first.txt, from OS entropy
    assert [difference["what"] for difference in report["differences"]] == ["file"]
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["kept.txt"]


@pytest.mark.parametrize("path", [".", ".."])
def test_a_compare_path_holding_the_current_folder_is_refused(tmp_path, path):
    name = script(tmp_path, "forgets.py", NEVER_WRITES)
    result = reprorng("check", "--compare", path, name, cwd=tmp_path)
    assert result.returncode == 2
    assert "it holds the current folder" in result.stderr


def test_the_likely_cause_is_one_item_per_line(tmp_path):
    name = script(tmp_path, "timed.py", TIMED)
    result = reprorng(
        "check", "--seed", "3", "--same-hash-seed", "--no-explain", "--verbose", name, cwd=tmp_path
    )
    lines = result.stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if "likely cause" in line)
    items = [line for line in lines[start + 1 :] if line.startswith("    - ")]
    assert len(items) >= 3
    assert all(len(line) <= 100 for line in lines[start:])


RAISES = """
    def fail():
        raise ValueError("boom")

    fail()
"""


@pytest.mark.parametrize("form", ["script", "module"])
def test_a_programs_traceback_starts_in_the_program(tmp_path, form):
    name = script(tmp_path, "boom.py", RAISES)
    target = [name] if form == "script" else ["-m", "boom"]
    result = reprorng("run", "--seed", "1", *target, cwd=tmp_path)
    assert result.returncode == 1
    traceback = result.stderr[result.stderr.index("Traceback") :].splitlines()
    frames = [line for line in traceback if line.startswith("  File ")]
    assert len(frames) == 2, result.stderr
    assert all("boom.py" in frame for frame in frames)
    assert traceback[-1] == "ValueError: boom"


def test_a_compare_path_that_cannot_be_moved_aside_is_a_usage_error(tmp_path, monkeypatch):
    from reprorng.cli.options import UsageError
    from reprorng.cli.paths import Aside

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("TMPDIR", str(tmp_path / "registry"))
    (tmp_path / "registry").mkdir()
    (tmp_path / "first.txt").write_text("one")
    (tmp_path / "second.txt").write_text("two")
    rename = os.rename

    def refuse_second(source, target):
        if os.path.basename(source) == "second.txt":
            raise PermissionError("not allowed")
        rename(source, target)

    monkeypatch.setattr(os, "rename", refuse_second)
    with pytest.raises(UsageError, match=r"--compare \S*second\.txt: cannot move it aside"):
        Aside(["first.txt", "second.txt"], []).__enter__()
    # the first, already moved aside, was put back, and check's own folder is gone
    assert (tmp_path / "first.txt").read_text() == "one"
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "first.txt",
        "registry",
        "second.txt",
    ]


ALTERNATES = """
    import os
    import numpy as np

    n = int(open("count").read()) if os.path.exists("count") else 0
    open("count", "w").write(str(n + 1))
    values = np.array([1.0, {first}, 2.0])
    if n % 2:
        values[1] = {second}
    np.save("out.npy", values)
"""


@pytest.mark.parametrize(
    ("first", "second", "what"),
    [
        ("0.0", "-0.0", "0.0 against -0.0 (the sign of a zero)"),
        (
            "float('nan')",
            "np.array([0x7FF8000000000001]).view(np.float64)[0]",
            "(a NaN's payload)",
        ),
    ],
    ids=["signed zero", "NaN payload"],
)
def test_equal_numbers_with_other_bits_are_named_as_such(tmp_path, first, second, what):
    name = script(tmp_path, "prog.py", ALTERNATES.format(first=first, second=second))
    status, report = check_json(tmp_path, "--compare", "out.npy", name)
    assert status == 1
    (difference,) = report["differences"]
    assert difference["detail"].startswith(
        "array: equal as numbers, different bits: element [1] is"
    )
    assert difference["detail"].endswith(what)
