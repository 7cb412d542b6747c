"""What the command line asks for, checked: the seed, the options and the program to run."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field

from reprorng._seed import parse_decimal, resolve_seed

__all__ = [
    "Options",
    "RunTimeoutError",
    "Target",
    "UsageError",
    "command_flags",
    "hash_seed",
    "pattern",
    "resolve",
    "seconds",
    "seed_value",
    "whole_number",
]


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


class RunTimeoutError(Exception):
    """A run of ``check`` went past ``--timeout``; it was stopped."""


def hash_seed(seed: int) -> int:
    """The ``PYTHONHASHSEED`` of a run with ``seed``: its low 32 bits."""
    return seed % 2**32


@dataclass
class Target:
    """What to run: a script, a module, or (check only) any command."""

    script: str | None = None
    module: str | None = None
    command: list[str] = field(default_factory=list)
    args: list[str] = field(default_factory=list)

    def describe(self) -> list[str]:
        if self.script is not None:
            return [self.script, *self.args]
        if self.module is not None:
            return ["-m", self.module, *self.args]
        return ["--", *self.command]


@dataclass
class Options:
    """The options of ``run`` or ``check``, each checked."""

    seed: int | None = None
    hash_seed: int | None = None
    timeout: float | None = None
    deterministic: bool = False
    warn_only: bool = False
    #: ``--pin-entropy``: generators made without a seed get one; ``--verbose``: listed.
    pin_entropy: bool = False
    verbose: bool = False
    runs: int = 2
    #: ``--runs`` given: no more runs than it says, even for a program that used a pool.
    runs_given: bool = False
    compare: list[str] = field(default_factory=list)
    json: bool = False
    #: ``check --verbose``: every difference and candidate, not only the first screen.
    full_report: bool = False
    same_hash_seed: bool = False
    ignore: list[re.Pattern[str]] = field(default_factory=list)
    stderr: bool = True
    explain: bool = True
    #: ``reprorng trace``: where the trace is written.
    trace_out: str | None = None
    #: ``reprorng trace --force``: ``trace_out`` may be a file that is not a trace.
    force: bool = False
    target: Target = field(default_factory=Target)


def module_exists(name: str) -> bool:
    """Whether ``python -m name`` would find it, from the current folder."""
    import importlib.util

    sys.path.insert(0, os.getcwd())
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path.pop(0)


def seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--timeout takes a number of seconds above 0, got {text!r}")
    return seconds


def pattern(text: str) -> re.Pattern[str]:
    """``--ignore``'s regular expression, compiled; :class:`UsageError` if it is not one."""
    try:
        return re.compile(text, re.MULTILINE)
    except re.error as error:
        raise UsageError(f"--ignore {text!r} is not a regular expression: {error}") from None


def whole_number(text: str) -> int | None:
    try:
        return parse_decimal(text)
    except ValueError:
        return None


def seed_value(text: str) -> int:
    try:
        return resolve_seed(parse_decimal(text))
    except ValueError as error:
        raise UsageError(f"bad --seed {text!r}: {error}") from None


def resolve(options: Options) -> int:
    """The seed in force: --seed, else $REPRORNG_SEED, else a fresh one."""
    try:
        return resolve_seed(options.seed)
    except ValueError as error:  # a bad $REPRORNG_SEED
        raise UsageError(str(error)) from None


def command_flags(options: Options, seed: int, run_hash_seed: int | None = None) -> list[str]:
    flags = ["--seed", str(seed)]
    if run_hash_seed is not None:
        flags += ["--hash-seed", str(run_hash_seed)]
    if options.deterministic:
        flags.append("--deterministic")
    if options.warn_only:
        flags.append("--warn-only")
    if options.pin_entropy:
        flags.append("--pin-entropy")
    if options.verbose:
        flags.append("--verbose")
    return flags
