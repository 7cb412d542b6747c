"""``check --compare`` and ``trace --out`` never lose a user's file, whatever happens to check."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

from .test_cli import reprorng, script

STORE = ".reprorng-check"


def start_check(
    folder: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "reprorng", "check", "--seed", "1", "--no-explain", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )


def wait_for(path: Path, process: subprocess.Popen[str] | None = None) -> str:
    """Block until ``path`` holds text (written by a program of the test's own)."""
    import time

    while not path.exists() or not path.read_text():
        if process is not None and process.poll() is not None:
            raise AssertionError(f"check ended first: {process.communicate()}")
        time.sleep(0.01)  # polling for an event, not timing one
    return path.read_text()


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    # A zombie is gone too: it runs nothing.
    status = Path(f"/proc/{pid}/status")
    return status.exists() and "State:\tZ" in status.read_text()


def user_files(folder: Path) -> None:
    (folder / "out").mkdir()
    (folder / "out" / "result.txt").write_text("ORIGINAL")


def originals_intact(folder: Path) -> bool:
    if not (folder / "out").is_dir():
        return False
    return (
        sorted(p.name for p in (folder / "out").iterdir()) == ["result.txt"]
        and (folder / "out" / "result.txt").read_text() == "ORIGINAL"
    )


# A program that says it started, then waits until the test lets it go on.
WAITS = """
    import os, pathlib, sys, time
    gate = sys.argv[1] if len(sys.argv) > 1 else "go"
    pathlib.Path("started").write_text(str(os.getpid()))
    while not os.path.exists(gate):
        time.sleep(0.01)
    os.makedirs("out", exist_ok=True)
    open("out/result.txt", "w").write("written by a run")
"""


def test_a_second_check_on_a_path_in_use_is_refused_in_one_line(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", WAITS)
    first = start_check(tmp_path, "--compare", "out", name)
    wait_for(tmp_path / "started", first)
    second = reprorng("check", "--seed", "1", "--compare", "out/result.txt", name, cwd=tmp_path)
    assert second.returncode == 2
    assert "another reprorng check" in second.stderr.splitlines()[-2]
    assert "is comparing" in second.stderr
    (tmp_path / "go").write_text("1")
    first.communicate(timeout=120)
    assert first.returncode == 0
    assert originals_intact(tmp_path)
    assert not (tmp_path / STORE).exists()


def test_the_original_is_kept_outside_the_compared_path_while_the_program_runs(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", WAITS)
    check = start_check(tmp_path, "--compare", "out/result.txt", name)
    wait_for(tmp_path / "started", check)
    kept = list((tmp_path / STORE).glob("*/0"))
    assert [path.read_text() for path in kept] == ["ORIGINAL"]
    assert not (tmp_path / "out" / "result.txt").exists()
    (tmp_path / "go").write_text("1")
    check.communicate(timeout=120)
    assert originals_intact(tmp_path)


WIPES_ITS_FOLDER = """
    import json, os, random, shutil
    shutil.rmtree("out", ignore_errors=True)
    os.makedirs("out")
    json.dump({"acc": 0.5}, open("out/result.txt", "w"))
"""


def test_a_program_that_removes_the_compared_folder_loses_nothing(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", WIPES_ITS_FOLDER)
    result = reprorng("check", "--no-explain", "--compare", "out/result.txt", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert originals_intact(tmp_path)


REPLACES_ITS_FOLDER_WITH_A_FILE = """
    import shutil
    shutil.rmtree("out")
    open("out", "w").write("a file where the folder was")
"""


def test_an_original_that_cannot_go_back_stays_kept_and_the_next_check_puts_it_back(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", REPLACES_ITS_FOLDER_WITH_A_FILE)
    result = reprorng("check", "--no-explain", "--compare", "out/result.txt", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "cannot put back" in result.stderr
    assert "it is kept at" in result.stderr
    (kept,) = (tmp_path / STORE).glob("*/0")
    assert kept.read_text() == "ORIGINAL"
    (tmp_path / "out").unlink()  # the user clears the way
    (tmp_path / "out").mkdir()
    recovered = reprorng("check", "--recover", cwd=tmp_path)
    assert recovered.returncode == 0
    (line,) = recovered.stderr.splitlines()
    assert "put back" in line
    assert "interrupted" in line
    assert originals_intact(tmp_path)
    assert not (tmp_path / STORE).exists()


# A helper that outlives the program and ignores SIGTERM, as an async checkpoint writer might.
HELPER = """
    import os, pathlib, signal, time
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    while True:
        os.makedirs("out", exist_ok=True)
        open("out/result.txt", "w").write("written by a leftover process")
        pathlib.Path("helper.new").write_text(str(os.getpid()))
        os.replace("helper.new", "helper")  # whole, or not there yet
        time.sleep(0.01)
"""

STARTS_A_HELPER = """
    import subprocess, sys, time
    subprocess.Popen([sys.executable, "helper.py"])
    while True:
        time.sleep(0.01)
"""


def test_a_timed_out_run_is_over_with_every_process_it_started_before_files_go_back(tmp_path):
    user_files(tmp_path)
    script(tmp_path, "helper.py", HELPER)
    name = script(tmp_path, "prog.py", STARTS_A_HELPER)
    # The timeout is the behaviour under test; its margin for a bare interpreter to start
    # the helper is generous, and what is asserted is order: nothing runs once check is done.
    check = start_check(tmp_path, "--timeout", "10", "--compare", "out", "--", sys.executable, name)
    _out, err = check.communicate(timeout=240)
    assert check.returncode == 124, err
    assert (tmp_path / "helper").exists(), "the helper had not started"
    assert gone(int((tmp_path / "helper").read_text()))
    assert originals_intact(tmp_path)


def test_a_helper_left_running_by_a_finished_program_is_ended_too(tmp_path):
    user_files(tmp_path)
    script(tmp_path, "helper.py", HELPER)
    name = script(
        tmp_path,
        "prog.py",
        """
        import os, subprocess, sys, time
        if os.path.exists("helper"):
            os.remove("helper")
        subprocess.Popen([sys.executable, "helper.py"], start_new_session=True)
        while not os.path.exists("helper"):
            time.sleep(0.01)
        """,
    )
    result = reprorng("check", "--no-explain", "--compare", "out", name, cwd=tmp_path)
    assert result.returncode in (0, 1), result.stderr
    assert gone(int((tmp_path / "helper").read_text()))
    assert originals_intact(tmp_path)


SAVES_ON_SIGTERM = """
    import os, pathlib, signal, time
    def save(*_):
        pathlib.Path("terminated").write_text("1")
        while True:  # a checkpoint that takes for ever
            os.makedirs("out", exist_ok=True)
            open("out/result.txt", "w").write("checkpoint of the interrupted run")
            time.sleep(0.01)
    signal.signal(signal.SIGTERM, save)
    pathlib.Path("started").write_text(str(os.getpid()))
    while True:
        time.sleep(0.01)
"""


def test_ctrl_c_twice_still_ends_the_run_before_the_files_go_back(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", SAVES_ON_SIGTERM)
    check = start_check(tmp_path, "--compare", "out", name)
    program = int(wait_for(tmp_path / "started", check))
    check.send_signal(signal.SIGINT)
    wait_for(tmp_path / "terminated", check)
    check.send_signal(signal.SIGINT)  # impatient: while check waits for the run
    _out, err = check.communicate(timeout=120)
    assert check.returncode == 130, err
    assert "putting your files back first" in err
    assert gone(program)
    assert originals_intact(tmp_path)


@pytest.mark.parametrize("stop", [signal.SIGHUP, signal.SIGTERM])
def test_a_closed_terminal_or_sigterm_puts_everything_back(tmp_path, stop):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", WAITS)
    check = start_check(tmp_path, "--compare", "out", name)
    program = int(wait_for(tmp_path / "started", check))
    check.send_signal(stop)
    check.communicate(timeout=120)
    assert check.returncode == 128 + stop
    assert gone(program)
    assert originals_intact(tmp_path)
    assert not (tmp_path / STORE).exists()


def test_after_kill_9_the_next_check_ends_the_orphaned_run_and_puts_back_first(tmp_path):
    user_files(tmp_path)
    name = script(tmp_path, "prog.py", WAITS)
    registry = {"TMPDIR": str(tmp_path)}  # this test's own registry of running checks
    check = start_check(tmp_path, "--compare", "out", name, env=registry)
    program = int(wait_for(tmp_path / "started", check))
    check.kill()
    check.communicate()
    assert not (tmp_path / "out").exists()  # hidden, but kept
    (tmp_path / "open").write_text("1")  # the next check's runs will not wait; the orphan does
    again = reprorng(
        "check", "--no-explain", "--compare", "out", name, "open", cwd=tmp_path, env=registry
    )
    assert again.returncode == 0, again.stderr
    said = [line for line in again.stderr.splitlines() if "interrupted" in line]
    assert len(said) == 1
    assert "put back" in said[0]
    assert "out" in said[0]
    assert gone(program)
    assert originals_intact(tmp_path)
    assert not (tmp_path / STORE).exists()


def test_recover_with_nothing_to_do_says_so(tmp_path):
    result = reprorng("check", "--recover", cwd=tmp_path)
    assert result.returncode == 0
    assert "nothing to recover" in result.stderr


def test_a_huge_timeout_means_no_limit(tmp_path):
    name = script(tmp_path, "p.py", "print(1)\n")
    result = reprorng("check", "--no-explain", "--timeout", "1e10", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("target", ["train.py", "helpers.py", "pkg"])
def test_compare_refuses_the_program_and_the_modules_it_imports(tmp_path, target):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "helpers.py").write_text("X = 1\n")
    name = script(tmp_path, "train.py", "import helpers\nfrom pkg import x\nprint(1)\n")
    result = reprorng("check", "--compare", target, name, cwd=tmp_path)
    assert result.returncode == 2
    assert "it holds the program's own" in result.stderr
    assert (tmp_path / "helpers.py").read_text() == "X = 1\n"


def test_compare_refuses_the_safekeeping_folder(tmp_path):
    name = script(tmp_path, "p.py", "print(1)\n")
    result = reprorng("check", "--compare", STORE, name, cwd=tmp_path)
    assert result.returncode == 2
    assert "safekeeping folder" in result.stderr


@pytest.mark.parametrize("target", ["train.py", "helpers.py"])
def test_trace_out_never_writes_over_the_program_or_its_modules(tmp_path, target):
    (tmp_path / "helpers.py").write_text("X = 1\n")
    name = script(tmp_path, "train.py", "import helpers\nprint(1)\n")
    before = (tmp_path / target).read_bytes()
    for force in ([], ["--force"]):
        result = reprorng("trace", *force, "--out", target, name, cwd=tmp_path)
        assert result.returncode == 2
        assert "it is the program's own" in result.stderr
        assert (tmp_path / target).read_bytes() == before


def test_trace_out_writes_over_a_file_that_is_not_a_trace_only_with_force(tmp_path):
    name = script(tmp_path, "p.py", "print(1)\n")
    (tmp_path / "notes.txt").write_text("my notes")
    refused = reprorng("trace", "--out", "notes.txt", name, cwd=tmp_path)
    assert refused.returncode == 2
    assert "exists and is not a trace; give --force" in refused.stderr
    assert (tmp_path / "notes.txt").read_text() == "my notes"
    assert reprorng("trace", "--force", "--out", "notes.txt", name, cwd=tmp_path).returncode == 0
    # a trace is written over without --force, as an output is
    assert reprorng("trace", "--out", "notes.txt", name, cwd=tmp_path).returncode == 0


# -- fault injection: check killed at every step of its file handling -----------------------

KILLED_AT = textwrap.dedent(
    """
    import os, signal, sys
    kill_at, record = int(sys.argv[1]), sys.argv[2]
    ours = os.path.join("reprorng", "cli", "")
    steps = []

    def step(frame, event, arg):
        if event == "line":
            steps.append(f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}")
            if len(steps) == kill_at:
                os.kill(os.getpid(), signal.SIGKILL)
        return step

    def calls(frame, event, arg):
        name = frame.f_code.co_filename
        if not frame.f_code.co_flags & 2:  # no CO_NEWLOCALS: a module or class body, imported
            return None
        if ours in name and name.endswith(("safekeeping.py", "paths.py")):
            return step
        return None

    def save():
        with open(record, "w") as out:
            out.write("\\n".join(steps))

    import atexit
    atexit.register(save)
    sys.settrace(calls)
    from reprorng.cli import main
    raise SystemExit(main(sys.argv[3:]))
    """
)

WRITES = """
    import os
    os.makedirs("out", exist_ok=True)
    open("out/result.txt", "w").write("written by a run")
"""

#: The kill points are shared out among this many tests, so that they run in parallel.
SHARES = 4


def killed_check(folder: Path, kill_at: int) -> subprocess.CompletedProcess[str]:
    command = ["check", "--seed", "1", "--no-explain", "--compare", "out", "--"]
    return subprocess.run(
        [
            sys.executable,
            "-c",
            KILLED_AT,
            str(kill_at),
            str(folder / "steps"),
            *command,
            sys.executable,
            "prog.py",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "TMPDIR": str(folder)},
    )


@pytest.mark.parametrize("share", range(SHARES))
def test_check_killed_at_any_step_of_its_file_handling_loses_nothing(tmp_path, share, monkeypatch):
    from reprorng.cli.process import end_run
    from reprorng.cli.safekeeping import recover_all

    # What reprorng check --recover does, in this process: one interpreter fewer per step.
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # the killed checks' registry
    script(tmp_path, "prog.py", WRITES)
    user_files(tmp_path)
    whole = killed_check(tmp_path, 0)  # never killed: which steps are there?
    assert whole.returncode == 0, whole.stderr
    steps = (tmp_path / "steps").read_text().splitlines()
    first_at: dict[str, int] = {}
    last_at: dict[str, int] = {}
    for number, place in enumerate(steps, 1):
        first_at.setdefault(place, number)
        last_at[place] = number
    # Each line the first and the last time it runs: a loop's first and last turns.
    kill_points = sorted({*first_at.values(), *last_at.values()})[share::SHARES]
    assert kill_points
    for kill_at in kill_points:
        killed = killed_check(tmp_path, kill_at)
        assert killed.returncode == -signal.SIGKILL, (kill_at, killed.stderr)
        said = recover_all(tmp_path.resolve(), end_run)
        where = f"killed at step {kill_at} ({steps[kill_at - 1]}): {said}"
        assert originals_intact(tmp_path), where
        store = tmp_path / STORE
        left = sorted(p.name for p in store.glob("*/*")) if store.exists() else []
        assert all(name.startswith("leftover-") for name in left), where
