"""The ``reprorng`` command line as :mod:`argparse` reads it: each command and its options."""

from __future__ import annotations

import argparse
from typing import NoReturn

from reprorng.cli.options import UsageError

__all__ = ["COMMANDS", "options_of", "parser"]

_RUN_USAGE = """\
reprorng run [--seed N] [--hash-seed H|random] [--deterministic [--warn-only]]
                    [--pin-entropy [--verbose]] (SCRIPT.py [ARGS...] | -m MODULE [ARGS...])"""
_CHECK_USAGE = """\
reprorng check [--runs K] [--seed N] [--deterministic [--warn-only]] [--pin-entropy]
                      [--compare PATH ...] [--ignore REGEX ...] [--no-stderr] [--json]
                      [--verbose] [--same-hash-seed] [--no-explain] [--timeout S]
                      (SCRIPT.py [ARGS...] | -m MODULE [ARGS...] | -- COMMAND [ARGS...])
       reprorng check --recover"""
_TRACE_USAGE = """\
reprorng trace --out FILE [--force] [--seed N] [--hash-seed H|random]
                      [--deterministic [--warn-only]] [--pin-entropy [--verbose]]
                      (SCRIPT.py [ARGS...] | -m MODULE [ARGS...])"""
_DIFF_USAGE = "reprorng diff [--json] TRACE_A TRACE_B"
_USAGE = f"""\
{_RUN_USAGE}
       {_CHECK_USAGE}
       {_TRACE_USAGE}
       {_DIFF_USAGE}
       reprorng --version"""

_EPILOG = """\
examples:
  reprorng run --seed 42 train.py --epochs 3   run train.py seeded (its options after it)
  reprorng check train.py                      run it twice: does it really repeat, and if not, why?
  reprorng check --verbose train.py            the whole report, not only its first screen

exit status: run and trace exit as the program does; check exits 0 if the runs are
identical, 1 if not, 2 on usage errors, 124 if a run timed out; diff exits 0 if the
traces are the same, 1 if not, 2 if one cannot be read. See the documentation's
"Command line" page for more."""


COMMANDS = ("run", "check", "trace", "diff")


class _Parser(argparse.ArgumentParser):
    """argparse, with errors raised as :class:`UsageError` instead of printed."""

    #: The parser of each command, by name (the top parser's only).
    commands: dict[str, argparse.ArgumentParser]

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _common(command: argparse.ArgumentParser, *, check: bool = False) -> None:
    command.add_argument(
        "--seed", metavar="N", help="the seed (default: $REPRORNG_SEED, else a fresh one)"
    )
    flags = {
        "--deterministic": "also switch torch to deterministic algorithms",
        "--warn-only": "with --deterministic: warn where no deterministic algorithm exists",
        "--pin-entropy": "seed generators made without a seed from the seed and their line "
        "(never os.urandom, secrets, uuid, SystemRandom, ssl, hashlib)",
    }
    if check:
        flags["--verbose"] = (
            "the whole report: every difference, every other line that read entropy, and "
            "what to look for (with --pin-entropy, also the lines whose generators were pinned)"
        )
    else:
        flags["--verbose"] = (
            "with --pin-entropy: list the lines whose generators were pinned, at exit"
        )
    for flag, text in flags.items():
        command.add_argument(flag, action="store_true", help=text)


def _program(command: argparse.ArgumentParser, *, any_command: bool) -> None:
    command.add_argument(
        "-m",
        dest="module",
        nargs=argparse.REMAINDER,
        metavar="MODULE [ARGS]",
        help="run a module, as python -m does; what follows is the module's",
    )
    what = "SCRIPT.py [ARGS...] or -- COMMAND [ARGS...]" if any_command else "SCRIPT.py [ARGS...]"
    command.add_argument(
        "program",
        nargs=argparse.REMAINDER,
        metavar="SCRIPT.py ...",
        help=f"the program: {what}; what follows the script is the program's",
    )


def _runs_python(command: argparse.ArgumentParser) -> None:
    """The options of a command that runs a Python program in its own process: run, trace."""
    _common(command)
    command.add_argument(
        "--hash-seed",
        metavar="H",
        help="the PYTHONHASHSEED (default: the seed's low 32 bits; random: a fresh one each "
        "run, shown for replay, as plain python and check vary it)",
    )
    _program(command, any_command=False)


def parser() -> _Parser:
    """The ``reprorng`` command line, with ``run``, ``check``, ``trace`` and ``diff``."""
    from reprorng import __version__

    top = _Parser(
        prog="reprorng",
        usage=_USAGE,
        description="Run a Python program seeded, and check that it really repeats.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    top.add_argument("--version", action="version", version=f"reprorng {__version__}")
    commands = top.add_subparsers(
        dest="command", metavar="{run,check,trace,diff}", parser_class=_Parser, prog="reprorng"
    )
    run = commands.add_parser(
        "run",
        usage=_RUN_USAGE,
        help="run a Python program seeded",
        description=(
            "Run a Python program seeded: every generator as fixed_rng(N) seeds it, "
            "PYTHONHASHSEED fixed from N. The seed is printed to stderr for replay."
        ),
        allow_abbrev=False,
    )
    _runs_python(run)
    check = commands.add_parser(
        "check",
        usage=_CHECK_USAGE,
        help="run a program several times and compare the runs",
        description=(
            "Run a program K times in fresh processes under one seed and report whether "
            "stdout, stderr, the exit status and the --compare paths are identical. Exit 0 if they "
            "are, 1 if not, 2 on usage errors, 124 if a run timed out."
        ),
        allow_abbrev=False,
    )
    _common(check, check=True)
    check.add_argument(
        "--runs",
        metavar="K",
        help="how many runs to compare (at least 2; by default 2, or 4 for a program that "
        "hands work to a pool, a cluster or threads)",
    )
    check.add_argument(
        "--compare",
        metavar="PATH",
        action="append",
        default=[],
        help="a file or directory the program writes, compared by content "
        "(.npy and .pt numerically); may be given more than once",
    )
    check.add_argument(
        "--ignore",
        metavar="REGEX",
        action="append",
        default=[],
        help="mask text matching REGEX in stdout and stderr before comparing (timings, "
        "progress); may be given more than once",
    )
    check.add_argument("--no-stderr", action="store_true", help="compare stdout only, not stderr")
    check.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    check.add_argument(
        "--same-hash-seed",
        action="store_true",
        help="keep PYTHONHASHSEED the same in every run, as run does",
    )
    check.add_argument(
        "--no-explain",
        action="store_true",
        help="do not run the program twice more under a trace to find where the runs part",
    )
    check.add_argument(
        "--timeout",
        metavar="S",
        help="stop a run (and all it started) after S seconds; exit 124",
    )
    check.add_argument(
        "--recover",
        action="store_true",
        help="put back what an interrupted check kept aside, then exit (every check does "
        "this first by itself)",
    )
    _program(check, any_command=True)
    trace = commands.add_parser(
        "trace",
        usage=_TRACE_USAGE,
        help="run a Python program seeded, and write its trace",
        description=(
            "Run a Python program as run does, recording every torch operator, entropy read "
            "and seeding call with the line it came from, and write the trace to FILE for "
            "reprorng diff."
        ),
        allow_abbrev=False,
    )
    trace.add_argument("--out", metavar="FILE", help="where to write the trace (required)")
    trace.add_argument(
        "--force",
        action="store_true",
        help="write --out even over an existing file that is not a trace",
    )
    _runs_python(trace)
    diff = commands.add_parser(
        "diff",
        usage=_DIFF_USAGE,
        help="show where two traces part",
        description=(
            "Compare two traces written by reprorng trace and print the first divergence "
            "and its likely cause. Exit 0 if they are the same, 1 if not, 2 if one cannot "
            "be read."
        ),
        allow_abbrev=False,
    )
    diff.add_argument("--json", action="store_true", help="print the report as JSON on stdout")
    diff.add_argument("traces", nargs=2, metavar="TRACE", help="two files from reprorng trace")
    top.commands = {"run": run, "check": check, "trace": trace, "diff": diff}
    return top


def options_of(command: str) -> dict[str, bool]:
    """Each option of ``command`` (``--help`` and ``-m`` too), and whether it takes a value."""
    return {
        name: action.nargs != 0
        for action in parser().commands[command]._actions
        for name in action.option_strings
    }
