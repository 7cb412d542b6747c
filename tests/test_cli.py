"""The command line, through real processes: ``reprorng run`` and ``reprorng check``."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from reprorng.cli import hash_seed, parser


def reprorng(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in ("REPRORNG_SEED", "PYTHONHASHSEED")
    }
    return subprocess.run(
        [sys.executable, "-m", "reprorng", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        input=stdin,
        env={**environment, **(env or {})},
    )


def script(folder: Path, name: str, code: str) -> str:
    (folder / name).write_text(textwrap.dedent(code))
    return name


DRAWS = """
    import os, random, sys
    import numpy as np
    import torch

    print(random.random(), np.random.random(), torch.rand(1).item())
    print(os.environ["PYTHONHASHSEED"], hash("reprorng"))
"""


# -- run ---------------------------------------------------------------------------------


def test_run_seeds_every_generator_and_repeats_in_fresh_processes(tmp_path):
    name = script(tmp_path, "draws.py", DRAWS)
    first = reprorng("run", "--seed", "42", name, cwd=tmp_path)
    second = reprorng("run", "--seed", "42", name, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    values = first.stdout.split()
    random_value, numpy_value, torch_value = map(float, values[:3])
    assert random_value == __import__("random").Random(42).random()
    assert numpy_value == np.random.RandomState(42).random()
    assert torch_value == torch.rand(1, generator=torch.Generator().manual_seed(42)).item()
    assert reprorng("run", "--seed", "43", name, cwd=tmp_path).stdout != first.stdout


def test_run_fixes_the_hash_seed_from_the_seed(tmp_path):
    name = script(tmp_path, "draws.py", DRAWS)
    seed = 2**40 + 7
    out = reprorng("run", "--seed", str(seed), name, cwd=tmp_path).stdout.split()
    assert out[3] == str(hash_seed(seed)) == str(7)
    expected = subprocess.run(
        [sys.executable, "-c", "print(hash('reprorng'))"],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONHASHSEED": "7"},
    ).stdout.split()
    assert out[4:] == expected


def test_run_behaves_like_python_argv_name_path_stdin_and_exit_status(tmp_path):
    (tmp_path / "helper.py").write_text("VALUE = 5\n")
    name = script(
        tmp_path,
        "program.py",
        """
        import sys
        import helper  # found next to the script, as python finds it

        print(sys.argv, __name__, helper.VALUE, sys.stdin.read().strip())
        sys.exit(int(sys.argv[1]))
        """,
    )
    result = reprorng("run", "--seed", "1", name, "3", "--flag", cwd=tmp_path, stdin="hello")
    assert result.returncode == 3
    assert result.stdout.strip() == "['program.py', '3', '--flag'] __main__ 5 hello"


def test_run_reports_the_programs_exception_and_exit_status(tmp_path):
    name = script(tmp_path, "fails.py", "raise KeyError('boom')\n")
    result = reprorng("run", "--seed", "1", name, cwd=tmp_path)
    assert result.returncode == 1
    assert "KeyError: 'boom'" in result.stderr


def test_run_a_module_with_dash_m(tmp_path):
    package = tmp_path / "tool"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "__main__.py").write_text(
        "import sys, random\nprint(sys.argv[1:], random.random())\n"
    )
    result = reprorng("run", "--seed", "42", "-m", "tool", "x", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["['x']", str(__import__("random").Random(42).random())]


def test_run_prints_a_replayable_seed_and_takes_it_from_the_environment(tmp_path):
    name = script(tmp_path, "draws.py", DRAWS)
    fresh = reprorng("run", name, cwd=tmp_path)
    line = next(line for line in fresh.stderr.splitlines() if line.startswith("reprorng: seed="))
    seed = int(line.split("=")[1].split()[0])
    assert f"(replay: reprorng run --seed {seed} draws.py)" in line
    assert reprorng("run", "--seed", str(seed), name, cwd=tmp_path).stdout == fresh.stdout
    from_env = reprorng("run", name, cwd=tmp_path, env={"REPRORNG_SEED": str(seed)})
    assert from_env.stdout == fresh.stdout


def test_run_with_deterministic_switches_torch(tmp_path):
    name = script(
        tmp_path,
        "det.py",
        "import torch\nprint(torch.are_deterministic_algorithms_enabled(), "
        "torch.is_deterministic_algorithms_warn_only_enabled())\n",
    )
    out = reprorng("run", "--seed", "1", "--deterministic", "--warn-only", name, cwd=tmp_path)
    assert out.stdout.split() == ["True", "True"]
    assert reprorng("run", "--seed", "1", name, cwd=tmp_path).stdout.split() == ["False", "False"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["run", "missing.py"], "no such script: 'missing.py'"),
        (["run", "-m", "no_such_module_here"], "no module named 'no_such_module_here'"),
        (["check", "-m", "no_such.module"], "no module named 'no_such.module'"),
        (["run", "--seed", "abc", "x.py"], "bad --seed 'abc'"),
        (["run", "--seed", "-1", "x.py"], "bad --seed '-1'"),
        (["run", "--seed", str(2**64), "x.py"], "bad --seed"),
        (["run"], "needs a program to run"),
        (["run", "--warn-only", "x.py"], "--warn-only needs --deterministic"),
        (["run", "--bogus", "x.py"], "unknown option '--bogus'"),
        (["launch", "x.py"], "unknown command 'launch'"),
        (["check", "--runs", "1", "x.py"], "at least 2"),
        (["check", "--runs", "\u00b3", "x.py"], "--runs takes a whole number"),
        (["run", "--hash-seed", "\u00b2", "x.py"], "--hash-seed takes a whole number"),
        (["run", "--hash-seed", "+5", "x.py"], "--hash-seed takes a whole number"),
        (["run", "--seed", "\u0664\u0662", "x.py"], "bad --seed"),
        (["run", "--seed", "4_2", "x.py"], "bad --seed"),
        (["run", "--seed", "+42", "x.py"], "bad --seed"),
        (["check", "--"], "-- needs a command"),
    ],
)
def test_usage_errors_exit_2_with_a_clear_message(tmp_path, args, message):
    (tmp_path / "x.py").write_text("print(1)\n")
    result = reprorng(*args, cwd=tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


def test_a_bad_seed_in_the_environment_is_a_usage_error(tmp_path):
    (tmp_path / "x.py").write_text("print(1)\n")
    result = reprorng("run", "x.py", cwd=tmp_path, env={"REPRORNG_SEED": "soon"})
    assert result.returncode == 2
    assert "REPRORNG_SEED" in result.stderr


def test_version_and_each_commands_own_help(tmp_path):
    from reprorng import __version__

    version = reprorng("--version", cwd=tmp_path)
    assert version.returncode == 0
    assert version.stdout.strip() == f"reprorng {__version__}"
    run_help = reprorng("run", "--help", cwd=tmp_path)
    assert run_help.returncode == 0
    assert "--hash-seed" in run_help.stdout
    assert "--runs" not in run_help.stdout
    check_help = reprorng("check", "--help", cwd=tmp_path)
    assert check_help.returncode == 0
    assert "--runs" in check_help.stdout
    assert "--hash-seed" not in check_help.stdout


def test_the_help_shows_examples_that_are_good_command_lines(tmp_path):
    shown = reprorng("--help", cwd=tmp_path).stdout
    examples = shown.split("examples:\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert len(examples) >= 3
    for example in examples:
        command = example.split("  ")[1].split()  # the command, before its explanation
        assert command[0] == "reprorng"
        assert parser().parse_args(command[1:]).program[0] == "train.py"


def test_everything_after_the_program_is_the_programs_own(tmp_path):
    (tmp_path / "echo.py").write_text("import sys\nprint(sys.argv[1:])\n")
    (tmp_path / "tool.py").write_text("import sys\nprint(sys.argv[1:])\n")
    args = ["--seed", "7", "--help", "-m", "x", "--", "--json"]
    script = reprorng("run", "--seed", "1", "echo.py", *args, cwd=tmp_path)
    assert script.returncode == 0, script.stderr
    assert script.stdout.strip() == repr(args)
    module = reprorng("run", "--seed", "1", "-m", "tool", *args, cwd=tmp_path)
    assert module.returncode == 0, module.stderr
    assert module.stdout.strip() == repr(args)


def test_help_and_the_console_script(tmp_path):
    assert "reprorng check" in reprorng("--help", cwd=tmp_path).stdout
    assert reprorng(cwd=tmp_path).returncode == 2
    console = Path(sys.executable).parent / "reprorng"  # installed with the package
    result = subprocess.run([str(console), "--help"], capture_output=True, text=True)
    assert result.returncode == 0
    assert "usage: reprorng run" in result.stdout


# -- check -------------------------------------------------------------------------------


def check_json(folder: Path, *args: str) -> tuple[int, dict[str, Any]]:
    """check's JSON report; where the runs part is test_explain's, so no traced runs here."""
    result = reprorng("check", "--json", "--seed", "3", "--no-explain", *args, cwd=folder)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


SEEDED = """
    import random
    import numpy as np
    import torch

    print(random.random(), np.random.random(), torch.rand(2).tolist())
    print(sorted({"apple", "banana", "cherry"}))
"""


def test_check_passes_a_seeded_script(tmp_path):
    name = script(tmp_path, "seeded.py", SEEDED)
    result = reprorng("check", "--seed", "3", "--runs", "3", name, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 runs of seeded.py with seed 3: reproducible" in result.stdout
    assert result.stderr.count("reprorng check: run ") == 6  # a line as each run starts and ends


CULPRITS = {
    "the time": ("import time\nprint(time.time())\n", "other"),
    "os.urandom": ("import os\nprint(os.urandom(8).hex())\n", "other"),
    "a set of strings": (
        "print(list({'apple', 'banana', 'cherry', 'date', 'elderberry', 'fig'}))\n",
        "hash seed",
    ),
    "an unseeded generator": (
        "import numpy as np\nprint(np.random.default_rng().random())\n",
        "other",
    ),
}


@pytest.mark.parametrize("culprit", sorted(CULPRITS))
def test_check_fails_each_usual_culprit_naming_what_differed(tmp_path, culprit):
    code, cause = CULPRITS[culprit]
    name = script(tmp_path, "culprit.py", code)
    status, report = check_json(tmp_path, name)
    assert status == 1
    assert report["reproducible"] is False
    assert report["cause"] == cause
    differences = report["differences"]
    assert isinstance(differences, list)
    assert [d["what"] for d in differences] == ["stdout"]
    assert differences[0]["line"] == 1


def test_the_human_report_names_the_difference_and_the_cause(tmp_path):
    name = script(tmp_path, "culprit.py", CULPRITS["a set of strings"][0])
    result = reprorng("check", "--seed", "3", "--no-explain", name, cwd=tmp_path)
    assert result.returncode == 1
    assert "NOT reproducible" in result.stdout
    assert "stdout differs at line 1, run 1 against run 2:" in result.stdout
    assert "PYTHONHASHSEED" in result.stdout
    # and how to see it under run, which fixes the hash seed
    assert "reprorng run --hash-seed random varies it" in result.stdout
    assert "replay: reprorng check --seed 3 --no-explain culprit.py" in result.stdout


def test_same_hash_seed_checks_as_run_runs(tmp_path):
    name = script(tmp_path, "culprit.py", CULPRITS["a set of strings"][0])
    status, _ = check_json(tmp_path, "--same-hash-seed", name)
    assert status == 0


def test_check_compares_arrays_numerically_and_names_the_first_difference(tmp_path):
    name = script(
        tmp_path,
        "writes.py",
        """
        import numpy as np, torch
        never = np.random.default_rng().random() > 2
        np.save("weights.npy", np.arange(12.0).reshape(3, 4) + never)
        noisy = np.arange(6.0)
        noisy[4] += np.random.default_rng().random()
        np.save("noisy.npy", noisy)
        torch.save({"layer": torch.zeros(2, 2) + torch.rand(1).item()}, "state.pt")
        """,
    )
    status, report = check_json(
        tmp_path,
        "--compare",
        "weights.npy",
        "--compare",
        "noisy.npy",
        "--compare",
        "state.pt",
        name,
    )
    assert status == 1
    (difference,) = report["differences"]
    assert difference["path"] == "noisy.npy"
    assert "first differing element [4]" in difference["detail"]


def test_check_compares_a_directory_by_content(tmp_path):
    name = script(
        tmp_path,
        "writes.py",
        """
        import os, random, uuid
        os.makedirs("out", exist_ok=True)
        open("out/same.txt", "w").write(str(random.random()))
        open("out/different.txt", "w").write(str(uuid.uuid4()))
        """,
    )
    status, report = check_json(tmp_path, "--compare", "out", name)
    assert status == 1
    assert [d["path"] for d in report["differences"]] == [os.path.join("out", "different.txt")]


def test_a_compare_path_that_is_never_written_is_a_usage_error(tmp_path):
    name = script(tmp_path, "quiet.py", "pass\n")
    result = reprorng("check", "--seed", "1", "--compare", "nothing.npy", name, cwd=tmp_path)
    assert result.returncode == 2
    assert "--compare nothing.npy: no such file or directory after run 1" in result.stderr


def test_check_runs_any_command_with_the_seed_in_the_environment(tmp_path):
    code = "import os; print(os.environ['REPRORNG_SEED'], os.environ['PYTHONHASHSEED'])"
    status, report = check_json(tmp_path, "--same-hash-seed", "--", sys.executable, "-c", code)
    assert status == 0
    assert report["program"] == ["--", sys.executable, "-c", code]
    result = reprorng("check", "--seed", "3", "--", sys.executable, "-c", code, cwd=tmp_path)
    assert result.returncode == 1  # the hash seed differs between runs by default


def test_check_reports_exit_status_differences(tmp_path):
    name = script(tmp_path, "flaky.py", "import os, sys\nsys.exit(os.urandom(1)[0] % 2 + 1)\n")
    for _ in range(5):  # one chance in two per try that the runs agree
        status, report = check_json(tmp_path, "--runs", "4", name)
        if status == 1:
            break
    assert {d["what"] for d in report["differences"]} == {"exit status"}


@pytest.mark.parametrize(
    ("stop", "status"), [(signal.SIGINT, 130), (signal.SIGTERM, 128 + signal.SIGTERM)]
)
def test_ctrl_c_or_sigterm_leaves_nothing_running(tmp_path, stop, status):
    marker = tmp_path / "pid"
    name = script(
        tmp_path,
        "slow.py",
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "reprorng", "check", "--seed", "1", name],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    while not marker.exists() or not marker.read_text():  # until the program says it started
        assert process.poll() is None, "check ended before the program started"
        time.sleep(0.01)
    child = int(marker.read_text())
    process.send_signal(stop)
    process.communicate(timeout=240)
    assert process.returncode == status
    # check ends every process of the run before it exits: no wait is needed here
    with pytest.raises(ProcessLookupError):
        os.kill(child, 0)


def test_a_run_past_the_timeout_is_stopped_with_everything_it_started(tmp_path):
    marker = tmp_path / "pid"
    name = script(
        tmp_path,
        "hangs.py",
        f"import os, time\nopen({str(marker)!r}, 'w').write(str(os.getpid()))\ntime.sleep(600)\n",
    )
    # The timeout is the behaviour under test: a generous margin for a bare interpreter to
    # start, and no assertion on how long anything took.
    result = reprorng(
        "check",
        "--seed",
        "1",
        "--no-explain",
        "--timeout",
        "10",
        "--",
        sys.executable,
        name,
        cwd=tmp_path,
    )
    assert result.returncode == 124
    assert "run 1 did not finish within --timeout 10 s" in result.stderr
    assert marker.exists(), "the program had not started"
    with pytest.raises(ProcessLookupError):
        os.kill(int(marker.read_text()), 0)


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan", "inf"])
def test_a_bad_timeout_is_a_usage_error(tmp_path, value):
    (tmp_path / "x.py").write_text("print(1)\n")
    result = reprorng("check", "--timeout", value, "x.py", cwd=tmp_path)
    assert result.returncode == 2
    assert "--timeout takes a number of seconds above 0" in result.stderr


def test_run_keeps_the_interpreters_own_options(tmp_path):
    name = script(
        tmp_path,
        "flags.py",
        """
        import sys
        print(sys.flags.optimize, sys.flags.dev_mode, "error::UserWarning" in sys.warnoptions)
        """,
    )
    command = [sys.executable, "-O", "-W", "error::UserWarning", "-X", "dev", "-m", "reprorng"]
    result = subprocess.run(
        [*command, "run", "--seed", "1", name],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "True", "True"]


# --- a whole program seeded: threads and the end of the program ------------------------


def test_the_shipped_thread_example_runs_under_run(tmp_path):
    example = Path(__file__).parent.parent / "examples" / "async_and_threads.py"
    result = reprorng("run", "--seed", "3", str(example), cwd=tmp_path)  # a hang times out
    assert result.returncode == 0, result.stderr


THREADS_AND_ATEXIT = """
    import atexit, random, threading
    from concurrent.futures import ThreadPoolExecutor
    from reprorng import fixed_rng, reproducible

    @reproducible(5)
    def draw(_):
        return random.random()

    with ThreadPoolExecutor(4) as pool:
        seeded = set(pool.map(draw, range(8)))
    assert seeded == {random.Random(5).random()}, seeded

    def in_a_thread():
        with fixed_rng(6, timeout=5):
            print("thread block", random.random())

    worker = threading.Thread(target=in_a_thread)
    worker.start()
    worker.join()
    print("main", random.random())

    def late():
        print("non-daemon thread after main", random.random())

    threading.Thread(target=lambda: (__import__("time").sleep(0.2), late())).start()
    atexit.register(lambda: print("atexit", random.random()))
"""


def test_threads_enter_blocks_and_the_program_stays_seeded_to_its_end(tmp_path):
    name = script(tmp_path, "program.py", THREADS_AND_ATEXIT)
    first = reprorng("run", "--seed", "9", name, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    lines = first.stdout.splitlines()
    assert [line.split()[0] for line in lines] == ["thread", "main", "non-daemon", "atexit"]
    assert lines[0] == f"thread block {random.Random(6).random()}"
    again = reprorng("run", "--seed", "9", name, cwd=tmp_path)
    assert again.stdout == first.stdout
    other = reprorng("run", "--seed", "10", name, cwd=tmp_path)
    assert other.stdout.splitlines()[1:] != lines[1:]
