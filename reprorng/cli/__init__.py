"""The ``reprorng`` command: run a program seeded, and check that it really repeats.

``reprorng run [--seed N] [--deterministic [--warn-only]] SCRIPT.py [ARGS...]``
(or ``-m MODULE [ARGS...]``) runs the program as ``python SCRIPT.py ARGS``
would, inside ``fixed_rng(N)``, with ``PYTHONHASHSEED`` fixed from the seed
(:mod:`reprorng.cli.run`).

``reprorng check [--runs K] [--seed N] [--compare PATH ...] [--json] ...``
runs it K times in fresh processes and reports whether stdout, the exit code
and the named output files came out the same (:mod:`reprorng.cli.check`), and,
when they did not, where the runs part and why (:mod:`reprorng.cli.explain`).

``reprorng trace --out FILE ...`` runs the program as ``run`` does and writes
its trace; ``reprorng diff A B`` prints the first divergence between two traces
(:mod:`reprorng.trace`).

The command line is parsed by :mod:`argparse`; everything after the script,
``-m MODULE`` or ``--`` belongs to the program.
"""

from __future__ import annotations

import argparse
import secrets
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from reprorng.cli import mistakes
from reprorng.cli.arguments import COMMANDS, parser
from reprorng.cli.options import (
    Options,
    RunTimeoutError,
    Target,
    UsageError,
    hash_seed,
    module_exists,
    pattern,
    resolve,
    seconds,
    seed_value,
    whole_number,
)

__all__ = ["hash_seed", "main", "parser"]


def _options(command: str, parsed: argparse.Namespace) -> Options:
    """The parsed command line as checked :class:`Options`; :class:`UsageError` if it is bad."""
    options = Options(
        deterministic=parsed.deterministic,
        warn_only=parsed.warn_only,
        pin_entropy=parsed.pin_entropy,
        # check's --verbose is also its whole report; its runs list what was pinned.
        verbose=parsed.verbose and (command != "check" or parsed.pin_entropy),
    )
    if parsed.seed is not None:
        options.seed = seed_value(parsed.seed)
    if command in ("run", "trace") and parsed.hash_seed == "random":
        options.hash_seed = secrets.randbits(32)  # as python's own PYTHONHASHSEED=random
    elif command in ("run", "trace") and parsed.hash_seed is not None:
        number = whole_number(parsed.hash_seed)
        if number is None or number >= 2**32:
            raise UsageError(
                f"--hash-seed takes a whole number below 2**32, or random, got {parsed.hash_seed!r}"
            )
        options.hash_seed = number
    if command == "check":
        if parsed.runs is not None:
            runs = whole_number(parsed.runs)
            if runs is None or runs < 2:
                raise UsageError(f"--runs takes a whole number of at least 2, got {parsed.runs!r}")
            options.runs, options.runs_given = runs, True
        options.compare = parsed.compare
        options.json = parsed.json
        options.full_report = parsed.verbose
        options.same_hash_seed = parsed.same_hash_seed
        options.ignore = [pattern(text) for text in parsed.ignore]
        options.stderr = not parsed.no_stderr
        options.explain = not parsed.no_explain
        if parsed.timeout is not None:
            options.timeout = seconds(parsed.timeout)
        for path in options.compare:
            if not path:
                raise UsageError("--compare needs a path")
    options.target = _target(command, parsed)
    if command == "trace":
        if parsed.out is None:
            raise UsageError("--out FILE is needed: where to write the trace")
        options.force = parsed.force
        options.trace_out = _trace_out(parsed.out, options.target, force=parsed.force)
    if options.warn_only and not options.deterministic:
        raise UsageError("--warn-only needs --deterministic")
    if command != "check" and options.verbose and not options.pin_entropy:
        raise UsageError("--verbose needs --pin-entropy")
    return options


def _trace_out(text: str, target: Target, *, force: bool) -> str:
    """Where ``trace --out`` writes: never the program or its modules, nor a file not a trace."""
    from reprorng.cli.paths import program_files
    from reprorng.trace import is_trace

    out = Path(text)
    if not text or not out.parent.is_dir() or out.is_dir():
        raise UsageError(f"--out {text!r}: not a file in an existing folder")
    resolved = out.resolve()
    for kept in program_files(target):
        if resolved == kept or kept in resolved.parents:
            raise UsageError(f"--out {text}: it is the program's own {kept}")
    if out.exists() and not force and not is_trace(out):
        raise UsageError(
            f"--out {text}: it exists and is not a trace; give --force to write over it"
        )
    return str(resolved)


def _target(command: str, parsed: argparse.Namespace) -> Target:
    module: list[str] | None = parsed.module
    program: list[str] = parsed.program
    if module is not None:
        if not module:
            raise UsageError("-m needs a module name")
        if not module_exists(module[0]):
            raise UsageError(mistakes.unknown_module(module[0]))
        # A ``--`` among the module's arguments ends argparse's REMAINDER: the rest is here.
        return Target(module=module[0], args=module[1:] + program)
    if not program:
        raise UsageError(f"reprorng {command} needs a program to run")
    if program[0] == "--":
        if command != "check":
            raise UsageError(f"reprorng {command} runs a Python program: SCRIPT.py or -m MODULE")
        if len(program) == 1:
            raise UsageError("-- needs a command to run")
        return Target(command=program[1:])
    script = program[0]
    if not Path(script).is_file():
        raise UsageError(mistakes.unknown_script(script))
    return Target(script=script, args=program[1:])


_ENDING = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def _recover() -> int:
    """``reprorng check --recover``: put back what interrupted checks kept aside."""
    from reprorng.cli.process import end_run
    from reprorng.cli.safekeeping import recover_all, say

    if not recover_all(Path.cwd().resolve(), end_run):
        say("nothing to recover: no interrupted check kept anything aside here")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``reprorng`` and ``python -m reprorng``: exit 0, 1 (not reproducible) or 2 (usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((argument for argument in arguments if not argument.startswith("-")), "")
    try:
        if not arguments:
            parser().print_usage(sys.stderr)
            return 2
        if command and command not in COMMANDS and arguments[0] == command:
            raise UsageError(mistakes.unknown_command(command))
        try:
            parsed, unknown = parser().parse_known_args(arguments)
        except SystemExit as done:  # --help or --version, printed
            return done.code if isinstance(done.code, int) else 0
        command = parsed.command or ""
        if not command:
            raise UsageError("give a command: run, check, trace or diff")
        if unknown:
            raise UsageError(mistakes.unknown_option(unknown[0], command))
        if command == "diff":
            from reprorng.cli.diff import diff

            return diff(*parsed.traces, as_json=parsed.json)
        if command == "check":
            # Stopped by SIGTERM or SIGHUP (its terminal closed), check stops its run and
            # puts the user's files back first, as on Ctrl-C.
            for each in _ENDING:
                signal.signal(each, _terminate)
            if parsed.recover:
                return _recover()
        options = _options(command, parsed)
        warning = mistakes.misplaced(command, arguments, options.target)
        if warning is not None:
            print(f"reprorng {command}: warning: {warning}", file=sys.stderr, flush=True)
        if command == "check":
            from reprorng.cli.check import check

            return check(options)
        seed = resolve(options)
    except UsageError as error:
        where = f"reprorng {command}" if command in COMMANDS else "reprorng"
        print(f"{where}: {error}", file=sys.stderr)
        print(f"run '{where} --help' for usage", file=sys.stderr)
        return 2
    except RunTimeoutError as error:
        print(f"reprorng check: {error}", file=sys.stderr)
        return 124
    except KeyboardInterrupt:  # check stopped its run before this
        return 130
    from reprorng.cli.run import run

    # The program's own exceptions, exit status and Ctrl-C are its own, as under python.
    run(options, seed)
