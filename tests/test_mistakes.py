"""The command line forgives: a close match for a typo, and a warning for an option in the
wrong place."""

from __future__ import annotations

import pytest

from reprorng.cli import main

from .test_cli import reprorng, script


def usage_error(capsys: pytest.CaptureFixture[str], *arguments: str) -> str:
    assert main(list(arguments)) == 2
    return capsys.readouterr().err.splitlines()[0]


@pytest.mark.parametrize(
    ("typed", "meant"),
    [("chek", "check"), ("rnu", "run"), ("tarce", "trace"), ("dif", "diff")],
)
def test_a_mistyped_command_gets_the_closest_one(capsys, typed, meant):
    said = usage_error(capsys, typed, "train.py")
    assert said == f"reprorng: unknown command {typed!r}; did you mean {meant!r}?"


def test_a_command_like_none_lists_them_all(capsys):
    said = usage_error(capsys, "frobnicate")
    assert said.endswith("the commands are run, check, trace and diff")


@pytest.mark.parametrize(
    ("command", "typed", "meant"),
    [
        ("run", "--sed", "--seed"),
        ("run", "--sed=4", "--seed"),
        ("run", "--determinstic", "--deterministic"),
        ("check", "--rusn", "--runs"),
        ("check", "--comapre", "--compare"),
        ("check", "--pin-entopy", "--pin-entropy"),
        ("trace", "--outt", "--out"),
    ],
)
def test_a_mistyped_option_gets_the_closest_one(capsys, tmp_path, command, typed, meant):
    name = script(tmp_path, "train.py", "print(1)\n")
    said = usage_error(capsys, command, typed, "1", str(tmp_path / name))
    assert said == (
        f"reprorng {command}: unknown option {typed!r} for reprorng {command}; "
        f"did you mean {meant!r}?"
    )


def test_an_option_of_another_command_says_whose_it_is(capsys, tmp_path):
    name = script(tmp_path, "train.py", "print(1)\n")
    said = usage_error(capsys, "run", "--runs", "3", str(tmp_path / name))
    assert said.endswith(
        "unknown option '--runs' for reprorng run; --runs is an option of reprorng check"
    )


def test_an_option_like_none_is_named_alone(capsys, tmp_path):
    name = script(tmp_path, "train.py", "print(1)\n")
    said = usage_error(capsys, "run", "--frobnicate", str(tmp_path / name))
    assert said == "reprorng run: unknown option '--frobnicate' for reprorng run"


def test_a_mistyped_script_gets_the_closest_file_beside_it(capsys, tmp_path):
    script(tmp_path, "train.py", "print(1)\n")
    said = usage_error(capsys, "run", str(tmp_path / "trian.py"))
    assert said.endswith(f"did you mean {str(tmp_path / 'train.py')!r}?")
    said = usage_error(capsys, "run", str(tmp_path / "nothing_like_it.py"))
    assert said.endswith("no such script: " + repr(str(tmp_path / "nothing_like_it.py")))


def test_a_mistyped_module_gets_the_closest_one_in_the_current_folder(
    capsys, tmp_path, monkeypatch
):
    script(tmp_path, "train.py", "print(1)\n")
    monkeypatch.chdir(tmp_path)
    assert usage_error(capsys, "run", "-m", "trian").endswith(
        "no module named 'trian'; did you mean 'train'?"
    )
    assert usage_error(capsys, "run", "-m", "zzzz").endswith("no module named 'zzzz'")


def test_trace_without_out_says_so_after_a_typo_is_named(capsys, tmp_path):
    name = str(tmp_path / script(tmp_path, "train.py", "print(1)\n"))
    assert "did you mean '--out'?" in usage_error(capsys, "trace", "--outt", "a.trace", name)
    assert usage_error(capsys, "trace", name).endswith(
        "--out FILE is needed: where to write the trace"
    )


ARGV = """
    import random, sys
    print(sys.argv[1:], random.random())
"""


def test_a_seed_after_the_script_warns_once_and_goes_to_the_script(tmp_path):
    name = script(tmp_path, "train.py", ARGV)
    result = reprorng("run", name, "--seed", "1", "--epochs", "3", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("['--seed', '1', '--epochs', '3']")
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warnings == [
        "reprorng run: warning: --seed 1 comes after train.py, so the program gets it, not "
        "reprorng; to give it to reprorng: reprorng run --seed 1 train.py --epochs 3"
    ]
    # and the command it names gives the seed to reprorng, with no warning
    fixed = reprorng("run", "--seed", "1", name, "--epochs", "3", cwd=tmp_path)
    assert "warning" not in fixed.stderr
    assert "reprorng: seed=1 " in fixed.stderr


def test_options_after_a_module_are_moved_before_it_in_the_warning(tmp_path):
    script(tmp_path, "train.py", ARGV)
    result = reprorng("run", "-m", "train", "--deterministic", "--seed=2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (
        "--deterministic --seed=2 come after -m train, so the program gets them, not reprorng; "
        "to give them to reprorng: reprorng run --deterministic --seed=2 -m train"
    ) in result.stderr


@pytest.mark.parametrize(
    "arguments",
    [
        ["run", "--seed", "1", "train.py", "--seed", "1"],  # given to both: meant
        ["run", "train.py", "--", "--seed", "1"],  # after --: the program's own
        ["run", "train.py", "--help"],  # the program's help
        ["run", "train.py", "--epochs", "3"],  # not reprorng's
    ],
)
def test_no_warning_where_the_option_is_clearly_the_programs(tmp_path, arguments):
    script(tmp_path, "train.py", ARGV)
    result = reprorng(*arguments, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "warning" not in result.stderr


def test_check_warns_once_and_its_runs_do_not(tmp_path):
    # The program fails, so the report shows the end of its runs' stderr.
    name = script(tmp_path, "train.py", "import sys\nsys.exit(f'argv {sys.argv[1:]}')\n")
    result = reprorng("check", "--seed", "3", name, "--deterministic", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "  | argv ['--deterministic']" in result.stdout
    assert result.stderr.count("warning: --deterministic comes after train.py") == 1
    assert "warning" not in result.stdout


def test_a_random_hash_seed_varies_under_run_and_is_shown_for_replay(tmp_path):
    name = script(tmp_path, "order.py", "print(hash('reprorng'))\n")
    seen = set()
    for _ in range(3):
        result = reprorng("run", "--seed", "1", "--hash-seed", "random", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        replay = result.stderr.split("(replay: ", 1)[1].split(")", 1)[0]
        assert replay.startswith("reprorng run --seed 1 --hash-seed ")
        again = reprorng(*replay.split()[1:], cwd=tmp_path)
        assert again.stdout == result.stdout  # the hash seed shown replays the run
        seen.add(result.stdout)
    assert len(seen) > 1


def test_a_hash_seed_that_is_neither_a_number_nor_random_is_refused(capsys, tmp_path):
    name = str(tmp_path / script(tmp_path, "order.py", "print(1)\n"))
    said = usage_error(capsys, "run", "--hash-seed", "sometimes", name)
    assert said.endswith("--hash-seed takes a whole number below 2**32, or random, got 'sometimes'")
