"""The command line's common mistakes, named with their way out.

A mistyped command, option or script gets the closest match ("did you mean
'check'?"), an option of another command says whose it is, and one of
reprorng's own options written after the program (``reprorng run train.py
--seed 1``), which the program gets, draws a one-line warning with the
command that gives it to reprorng instead.
"""

from __future__ import annotations

import difflib
import os
import shlex
from pathlib import Path

from reprorng.cli.arguments import COMMANDS, options_of
from reprorng.cli.options import Target
from reprorng.cli.process import RUNNING

__all__ = ["misplaced", "unknown_command", "unknown_module", "unknown_option", "unknown_script"]

#: How alike a word and a suggestion must be (difflib's ratio): "chek" and "check" are 0.89.
_ALIKE = 0.6
#: Options that belong to the program wherever they are: asking it for help is its own.
_THE_PROGRAMS = frozenset({"-h", "--help", "-m", "--"})


def _did_you_mean(word: str, choices: list[str]) -> str:
    found = difflib.get_close_matches(word, choices, n=1, cutoff=_ALIKE)
    return f"; did you mean {found[0]!r}?" if found else ""


def unknown_command(word: str) -> str:
    """The message for a command that is not one, with the closest one."""
    listed = "the commands are run, check, trace and diff"
    return f"unknown command {word!r}{_did_you_mean(word, list(COMMANDS)) or '; ' + listed}"


def unknown_option(option: str, command: str) -> str:
    """The message for an option ``command`` does not have: the closest of its own, or the
    command it belongs to."""
    name = option.partition("=")[0]
    message = f"unknown option {option!r} for reprorng {command}"
    close = _did_you_mean(name, [known for known in options_of(command) if len(known) > 2])
    if close:
        return message + close
    owners = [other for other in COMMANDS if other != command and name in options_of(other)]
    if owners:
        return f"{message}; {name} is an option of reprorng {owners[0]}"
    return message


def unknown_script(script: str) -> str:
    """The message for a script that does not exist, with the closest file beside it."""
    path = Path(script)
    folder = path.parent
    try:
        names = [entry.name for entry in folder.iterdir() if entry.is_file()]
    except OSError:
        names = []
    close = difflib.get_close_matches(path.name, names, n=1, cutoff=_ALIKE)
    hint = f"; did you mean {str(folder / close[0])!r}?" if close else ""
    return f"no such script: {script!r}{hint}"


def unknown_module(name: str) -> str:
    """The message for a module ``python -m`` would not find, with the closest one in the
    current folder (a top-level name only: a mistyped package is the usual slip)."""
    try:
        here = [
            entry.stem if entry.suffix == ".py" else entry.name
            for entry in Path.cwd().iterdir()
            if entry.suffix == ".py" or (entry / "__init__.py").is_file()
        ]
    except OSError:
        here = []
    close = _did_you_mean(name, here) if "." not in name else ""
    return f"no module named {name!r}{close}"


def misplaced(command: str, arguments: list[str], target: Target) -> str | None:
    """A one-line warning if reprorng's own options follow the program, which gets them.

    Options also given to reprorng before the program are taken as meant for
    both; so is everything after a ``--`` among the program's arguments.
    """
    if os.environ.get(RUNNING):  # started by check or by run itself: the user typed neither
        return None
    head = arguments[: len(arguments) - len(target.args)]
    if target.command or not target.args or arguments[len(head) :] != target.args:
        return None  # (a ``--`` argparse took out of a module's arguments: said nothing of)
    known = options_of(command)
    given = {argument.partition("=")[0] for argument in head if argument.startswith("-")}
    moved: list[str] = []
    kept: list[str] = []
    arguments_left = iter(target.args)
    for argument in arguments_left:
        if argument == "--":
            kept += [argument, *arguments_left]
            break
        name = argument.partition("=")[0]
        if name not in known or name in _THE_PROGRAMS or name in given:
            kept.append(argument)
            continue
        moved.append(argument)
        if known[name] and "=" not in argument:
            value = next(arguments_left, None)
            if value is not None:
                moved.append(value)
    if not moved:
        return None
    program = target.script if target.script is not None else f"-m {target.module}"
    at = len(head) - (1 if target.script is not None else 2)  # where the program starts
    fixed = shlex.join(["reprorng", *head[:at], *moved, *head[at:], *kept])
    plural = sum(argument.partition("=")[0] in known for argument in moved) > 1
    come, them = ("come", "them") if plural else ("comes", "it")
    return (
        f"{' '.join(moved)} {come} after {program}, so the program gets {them}, not reprorng; "
        f"to give {them} to reprorng: {fixed}"
    )
