"""The ``reprorng`` command: run a program seeded, and check that it really repeats.

``reprorng run [--seed N] [--deterministic [--warn-only]] SCRIPT.py [ARGS...]``
(or ``-m MODULE [ARGS...]``) runs the program as ``python SCRIPT.py ARGS``
would, inside ``fixed_rng(N)``, with ``PYTHONHASHSEED`` fixed from the seed.

``reprorng check [--runs K] [--seed N] [--compare PATH ...] [--json] ...``
runs it K times in fresh processes and reports whether stdout, the exit code
and the named output files came out the same.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import math
import os
import runpy
import shlex
import signal
import subprocess
import sys
import time
import types
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn

from reprorng._seed import ENV_VAR, parse_decimal, resolve_seed

__all__ = ["hash_seed", "main"]

USAGE = """\
usage: reprorng run [--seed N] [--hash-seed H] [--deterministic [--warn-only]] SCRIPT.py [ARGS...]
       reprorng run [--seed N] [--hash-seed H] [--deterministic [--warn-only]] -m MODULE [ARGS...]
       reprorng check [--runs K] [--seed N] [--deterministic [--warn-only]]
                      [--compare PATH ...] [--json] [--same-hash-seed] [--timeout S]
                      (SCRIPT.py [ARGS...] | -m MODULE [ARGS...] | -- COMMAND [ARGS...])

run     run a Python program seeded: every generator as fixed_rng(N) seeds it,
        PYTHONHASHSEED fixed from N; the seed is printed to stderr for replay
check   run a program K times (default 2) in fresh processes under one seed and
        report whether stdout, exit code and the --compare paths are identical;
        exit 0 if they are, 1 if not, 2 on usage errors, 124 if a run timed out

--seed N          the seed (default: $REPRORNG_SEED, else a fresh one)
--hash-seed H     run: the PYTHONHASHSEED (default: the seed's low 32 bits)
--deterministic   also switch torch to deterministic algorithms (see README)
--warn-only       with --deterministic: warn where no deterministic kernel exists
--runs K          how many runs check compares (default 2, at least 2)
--compare PATH    a file or directory the program writes, compared by content
                  (.npy and .pt numerically); may be given more than once
--json            check prints its report as JSON on stdout
--same-hash-seed  check keeps PYTHONHASHSEED the same in every run, as run does
--timeout S       check stops a run (and all it started) after S seconds, exit 124
"""

# Set in the environment of the process that runs the program, once it has
# the hash seed; tells ``run`` not to start yet another interpreter.
_RUNNING = "_REPRORNG_RUNNING"


class UsageError(Exception):
    """A bad command line: reported in one line, exit status 2."""


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
    seed: int | None = None
    hash_seed: int | None = None
    timeout: float | None = None
    deterministic: bool = False
    warn_only: bool = False
    runs: int = 2
    compare: list[str] = field(default_factory=list)
    json: bool = False
    same_hash_seed: bool = False
    target: Target = field(default_factory=Target)


def _value(argv: list[str], index: int, flag: str) -> tuple[str, int]:
    option = argv[index]
    if option.startswith(flag + "="):
        return option.partition("=")[2], index + 1
    if index + 1 >= len(argv):
        raise UsageError(f"{flag} needs a value")
    return argv[index + 1], index + 2


def parse(command: str, argv: list[str]) -> Options:
    """Options up to the program; everything after it belongs to the program."""
    options = Options()
    index = 0
    while index < len(argv):
        argument = argv[index]
        if argument == "--seed" or argument.startswith("--seed="):
            text, index = _value(argv, index, "--seed")
            options.seed = _seed(text)
        elif command == "run" and (
            argument == "--hash-seed" or argument.startswith("--hash-seed=")
        ):
            text, index = _value(argv, index, "--hash-seed")
            hash_seed = _whole_number(text)
            if hash_seed is None or hash_seed >= 2**32:
                raise UsageError(f"--hash-seed takes a whole number below 2**32, got {text!r}")
            options.hash_seed = hash_seed
        elif argument == "--deterministic":
            options.deterministic, index = True, index + 1
        elif argument == "--warn-only":
            options.warn_only, index = True, index + 1
        elif command == "check" and (argument == "--runs" or argument.startswith("--runs=")):
            text, index = _value(argv, index, "--runs")
            runs = _whole_number(text)
            if runs is None or runs < 2:
                raise UsageError(f"--runs takes a whole number of at least 2, got {text!r}")
            options.runs = runs
        elif command == "check" and (argument == "--compare" or argument.startswith("--compare=")):
            text, index = _value(argv, index, "--compare")
            options.compare.append(text)
        elif command == "check" and (argument == "--timeout" or argument.startswith("--timeout=")):
            text, index = _value(argv, index, "--timeout")
            options.timeout = _seconds(text)
        elif command == "check" and argument == "--json":
            options.json, index = True, index + 1
        elif command == "check" and argument == "--same-hash-seed":
            options.same_hash_seed, index = True, index + 1
        elif argument == "-m":
            if index + 1 >= len(argv):
                raise UsageError("-m needs a module name")
            options.target = Target(module=argv[index + 1], args=argv[index + 2 :])
            break
        elif argument == "--" and command == "check":
            if index + 1 >= len(argv):
                raise UsageError("-- needs a command to run")
            options.target = Target(command=argv[index + 1 :])
            break
        elif argument.startswith("-"):
            raise UsageError(f"unknown option {argument!r} for reprorng {command}")
        else:
            options.target = Target(script=argument, args=argv[index + 1 :])
            break
    else:
        raise UsageError(f"reprorng {command} needs a program to run")
    if options.warn_only and not options.deterministic:
        raise UsageError("--warn-only needs --deterministic")
    script, module = options.target.script, options.target.module
    if script is not None and not Path(script).is_file():
        raise UsageError(f"no such script: {script!r}")
    if module is not None and not _module_exists(module):
        raise UsageError(f"no module named {module!r}")
    for path in options.compare:
        if not path:
            raise UsageError("--compare needs a path")
    return options


def _module_exists(name: str) -> bool:
    """Whether ``python -m name`` would find it, from the current folder."""
    import importlib.util

    sys.path.insert(0, os.getcwd())
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path.pop(0)


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise UsageError(f"--timeout takes a number of seconds above 0, got {text!r}")
    return seconds


def _whole_number(text: str) -> int | None:
    try:
        return parse_decimal(text)
    except ValueError:
        return None


def _seed(text: str) -> int:
    try:
        return resolve_seed(parse_decimal(text))
    except ValueError as error:
        raise UsageError(f"bad --seed {text!r}: {error}") from None


def _resolve(options: Options) -> int:
    """The seed in force: --seed, else $REPRORNG_SEED, else a fresh one."""
    try:
        return resolve_seed(options.seed)
    except ValueError as error:  # a bad $REPRORNG_SEED
        raise UsageError(str(error)) from None


def _flags(options: Options, seed: int, run_hash_seed: int | None = None) -> list[str]:
    flags = ["--seed", str(seed)]
    if run_hash_seed is not None:
        flags += ["--hash-seed", str(run_hash_seed)]
    if options.deterministic:
        flags.append("--deterministic")
    if options.warn_only:
        flags.append("--warn-only")
    return flags


# -- run ---------------------------------------------------------------------------------


def run(options: Options, seed: int) -> NoReturn:
    """Run the program in this process (after starting a fresh one with the hash seed)."""
    wanted = str(hash_seed(seed) if options.hash_seed is None else options.hash_seed)
    target = options.target
    if os.environ.get("PYTHONHASHSEED") != wanted or os.environ.get(_RUNNING) != wanted:
        # The hash seed is read once, when Python starts: start again with it.
        environment = {**os.environ, "PYTHONHASHSEED": wanted, _RUNNING: wanted}
        argv = _run_command(options, seed, options.hash_seed)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, environment)
    del os.environ[_RUNNING]
    flags = _flags(options, seed, options.hash_seed)
    replay = shlex.join(["reprorng", "run", *flags, *target.describe()])
    print(f"reprorng: seed={seed} (replay: {replay})", file=sys.stderr, flush=True)

    from reprorng._block import enter_ambient, fixed_rng

    # Seeded to the end of the process, threads and atexit handlers included,
    # and for no thread in particular: threads enter their own blocks freely.
    enter_ambient(fixed_rng(seed, deterministic=options.deterministic, warn_only=options.warn_only))
    if target.module is not None:
        sys.argv = ["-m", *target.args]  # run_module puts the module's path first
        runpy.run_module(target.module, run_name="__main__", alter_sys=True)
    else:
        assert target.script is not None
        _run_script(target.script, target.args)
    sys.exit(0)


def _run_command(options: Options, seed: int, run_hash_seed: int | None) -> list[str]:
    """``python -m reprorng run ...`` for the program, with this interpreter's own options.

    Those (-O, -W, -X ...) are passed on as multiprocessing passes them to its children.
    """
    interpreter: list[str] = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    flags = _flags(options, seed, run_hash_seed)
    return [
        sys.executable,
        *interpreter,
        "-m",
        "reprorng",
        "run",
        *flags,
        *options.target.describe(),
    ]


def _run_script(script: str, args: list[str]) -> None:
    """What ``python SCRIPT ARGS`` does: argv as typed, the script's folder first on the path."""
    path = os.path.abspath(script)
    code = compile(Path(path).read_bytes(), path, "exec")
    main = types.ModuleType("__main__")
    main.__file__ = path
    main.__dict__["__builtins__"] = builtins
    sys.modules["__main__"] = main
    sys.argv = [script, *args]
    sys.path[0] = os.path.dirname(path)
    exec(code, main.__dict__)


# -- check -------------------------------------------------------------------------------


@dataclass
class Outcome:
    """What one run left: its stdout, stderr, exit status and the compared paths."""

    stdout: bytes
    stderr: bytes
    status: int
    seconds: float
    files: dict[str, dict[str, Any]]


def _command(options: Options, seed: int, run_hash_seed: int) -> list[str]:
    target = options.target
    if target.command:
        return target.command
    return _run_command(options, seed, run_hash_seed)


def _environment(seed: int, run_hash_seed: int) -> dict[str, str]:
    return {**os.environ, ENV_VAR: str(seed), "PYTHONHASHSEED": str(run_hash_seed)}


class RunTimeoutError(Exception):
    """A run of ``check`` went past ``--timeout``; it was stopped."""


def _execute(
    command: list[str], environment: dict[str, str], timeout: float | None
) -> tuple[bytes, bytes, int]:
    """Run ``command``; on Ctrl-C, SIGTERM or a timeout, stop it and what it started."""
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment,
            start_new_session=True,
        )
    except OSError as error:
        raise UsageError(f"cannot run {shlex.join(command)}: {error}") from None
    try:
        stdout, stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(process)
        raise RunTimeoutError from None
    except BaseException:
        _stop(process)
        raise
    return stdout, stderr, process.returncode


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop the program's whole process group: nothing is left running."""
    for each in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, each)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def _files(paths: Sequence[str], run: int) -> dict[str, dict[str, Any]]:
    """Each compared file (directories walked), by path, with its hash and numbers."""
    found: dict[str, dict[str, Any]] = {}
    for path in paths:
        root = Path(path)
        if not root.exists():
            raise UsageError(f"--compare {path}: no such file or directory after run {run}")
        files = sorted(p for p in root.rglob("*") if p.is_file()) if root.is_dir() else [root]
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as error:
                raise UsageError(f"--compare {path}: cannot read {file}: {error}") from None
            found[str(file)] = {"sha256": hashlib.sha256(data).hexdigest(), "path": file}
    return found


def _arrays(file: Path) -> dict[str, Any] | None:
    """The numbers in a ``.npy`` or ``.pt`` file, by name; ``None`` for other files."""
    try:
        if file.suffix == ".npy":
            import numpy

            return {"": numpy.load(file, allow_pickle=False)}
        if file.suffix == ".pt":
            import torch

            loaded = torch.load(file, weights_only=True, map_location="cpu")
            return dict(_tensors(loaded, ""))
    except Exception:  # noqa: BLE001 - not readable as numbers: compared by hash only
        return None
    return None


def _tensors(value: object, name: str) -> Iterator[tuple[str, Any]]:
    import torch

    if isinstance(value, torch.Tensor):
        yield name, value.detach().cpu().numpy()
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from _tensors(item, f"{name}[{key!r}]")
    elif isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            yield from _tensors(item, f"{name}[{position}]")


def _first_difference(first: Any, second: Any) -> str:
    """Where two arrays first differ, as a sentence."""
    import numpy

    if first.shape != second.shape or first.dtype != second.dtype:
        return (
            f"shape or dtype differs: {first.shape} {first.dtype} against "
            f"{second.shape} {second.dtype}"
        )
    same = first == second
    if first.dtype.kind in "fc":
        same |= numpy.isnan(first) & numpy.isnan(second)
    unequal = numpy.argwhere(~same)
    if len(unequal) == 0:
        return "same numbers, different bytes (file metadata)"
    index = tuple(int(i) for i in unequal[0])
    where = f"[{', '.join(map(str, index))}]" if index else ""
    mine, theirs = first[index].item(), second[index].item()
    detail = f"first differing element {where or '(scalar)'}: {mine!r} against {theirs!r}"
    if first.dtype.kind in "fiu":
        gap = numpy.max(numpy.abs(first.astype(float) - second.astype(float)))
        detail += f" ({len(unequal)} elements differ, largest difference {gap:.3g})"
    return detail


def _compare_files(
    first: dict[str, dict[str, Any]], other: dict[str, dict[str, Any]], run: int
) -> list[dict[str, Any]]:
    differences = []
    for name in sorted(first.keys() | other.keys()):
        if name not in other or name not in first:
            where = "run 1" if name in first else f"run {run}"
            differences.append(
                {"what": "file", "path": name, "detail": f"only written in {where}", "run": run}
            )
            continue
        if first[name]["sha256"] == other[name]["sha256"]:
            continue
        detail = "contents differ"
        reference = first[name]
        if "arrays" not in reference:  # read once, whichever later run differs first
            reference["arrays"] = _arrays(reference["saved"])
        mine, theirs = reference["arrays"], _arrays(other[name]["path"])
        if mine is not None and theirs is not None:
            details = [
                f"{key or 'array'}: {_first_difference(mine[key], theirs[key])}"
                for key in sorted(mine.keys() & theirs.keys())
                if mine[key].tobytes() != theirs[key].tobytes()
                or mine[key].shape != theirs[key].shape
            ]
            missing = sorted(mine.keys() ^ theirs.keys())
            if missing:
                details.append(f"tensors in one run only: {', '.join(missing)}")
            detail = "; ".join(details) or detail
        differences.append({"what": "file", "path": name, "detail": detail, "run": run})
    return differences


def _first_line_difference(first: bytes, second: bytes) -> tuple[int, str, str]:
    """The first line where two outputs differ, and that line of each."""
    mine = first.decode(errors="replace").splitlines()
    theirs = second.decode(errors="replace").splitlines()
    number = 1
    while number <= min(len(mine), len(theirs)) and mine[number - 1] == theirs[number - 1]:
        number += 1
    end = "(end of output)"
    return (
        number,
        mine[number - 1] if number <= len(mine) else end,
        theirs[number - 1] if number <= len(theirs) else end,
    )


def _differences(first: Outcome, other: Outcome, run: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    if first.status != other.status:
        found.append({"what": "exit status", "run": run, "values": [first.status, other.status]})
    if first.stdout != other.stdout:
        line, mine, theirs = _first_line_difference(first.stdout, other.stdout)
        found.append({"what": "stdout", "run": run, "line": line, "values": [mine, theirs]})
    found.extend(_compare_files(first.files, other.files, run))
    return found


CAUSES = {
    "hash seed": (
        "the runs agree when PYTHONHASHSEED is the same: the output depends on hash() of "
        "strings or bytes, usually through the iteration order of a set of them. `reprorng run` "
        "fixes the hash seed, plain `python` does not; sort before iterating to remove it"
    ),
    "other": (
        "the runs differ even with the same seed and hash seed: look for the time "
        "(time.time, datetime.now), OS entropy (os.urandom, uuid4, secrets, generators made "
        "without a seed such as np.random.default_rng()), threads or processes racing, "
        "or non-deterministic kernels (try --deterministic)"
    ),
}


def check(options: Options) -> int:
    seed = _resolve(options)
    replay = shlex.join(["reprorng", "check", *_flags(options, seed), *options.target.describe()])
    print(f"reprorng: seed={seed} (replay: {replay})", file=sys.stderr, flush=True)
    base = hash_seed(seed)
    outcomes: list[Outcome] = []
    differences: list[dict[str, Any]] = []
    with _Scratch() as scratch:
        for run in range(1, options.runs + 1):
            run_hash_seed = base if options.same_hash_seed else (base + run - 1) % 2**32
            outcome = _one_run(options, seed, run_hash_seed, run, scratch)
            outcomes.append(outcome)
            if run > 1:
                differences.extend(_differences(outcomes[0], outcome, run))
        cause = None
        if differences:
            cause = "other"
            if not options.same_hash_seed:
                # Which culprit? Two more runs, both with the first run's hash seed.
                again = _one_run(options, seed, base, options.runs + 1, scratch)
                if not _differences(outcomes[0], again, options.runs + 1):
                    cause = "hash seed"
    report = {
        "reproducible": not differences,
        "seed": seed,
        "runs": options.runs,
        "program": options.target.describe(),
        "exit_statuses": [outcome.status for outcome in outcomes],
        "seconds": [round(outcome.seconds, 3) for outcome in outcomes],
        "differences": differences,
        "cause": cause,
        "explanation": None if cause is None else CAUSES[cause],
        "replay": replay,
    }
    if options.json:
        print(json.dumps(report, indent=2))
    else:
        _print_report(report, outcomes)
    return 1 if differences else 0


def _one_run(
    options: Options, seed: int, run_hash_seed: int, run: int, scratch: _Scratch
) -> Outcome:
    command = _command(options, seed, run_hash_seed)
    total = options.runs
    label = f"run {run}/{total}" if run <= total else "one more run, to find the cause"
    print(f"reprorng check: {label} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    try:
        stdout, stderr, status = _execute(
            command, _environment(seed, run_hash_seed), options.timeout
        )
    except RunTimeoutError:
        raise RunTimeoutError(
            f"{label.partition('/')[0]} did not finish within --timeout {options.timeout:g} s; "
            "it was stopped, with everything it started"
        ) from None
    seconds = time.perf_counter() - start
    files = _files(options.compare, run)
    if run == 1:
        for record in files.values():
            record["saved"] = scratch.keep(record["path"])
    print(
        f"reprorng check: {label}: exit status {status}, {seconds:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return Outcome(stdout, stderr, status, seconds, files)


class _Scratch:
    """A temporary folder holding run 1's compared files, for numeric comparison."""

    def __enter__(self) -> _Scratch:
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="reprorng-check-")
        self._count = 0
        return self

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()

    def keep(self, path: Path) -> Path:
        self._count += 1
        copy = Path(self._folder.name) / f"{self._count}{path.suffix}"
        copy.write_bytes(path.read_bytes())
        return copy


def _print_report(report: dict[str, Any], outcomes: list[Outcome]) -> None:
    program = shlex.join(report["program"])
    verdict = "reproducible" if report["reproducible"] else "NOT reproducible"
    print(
        f"reprorng check: {report['runs']} runs of {program} with seed {report['seed']}: {verdict}"
    )
    statuses = sorted(set(report["exit_statuses"]))
    if statuses != [0]:
        print(f"  exit status: {', '.join(map(str, report['exit_statuses']))}")
        tail = outcomes[0].stderr.decode(errors="replace").strip().splitlines()[-5:]
        for line in tail:
            print(f"  | {line}")
    for difference in report["differences"]:
        run = difference["run"]
        if difference["what"] == "stdout":
            mine, theirs = difference["values"]
            print(
                f"  stdout differs between run 1 and run {run}, first at line {difference['line']}:"
            )
            print(f"    run 1:   {mine}")
            print(f"    run {run}:   {theirs}")
        elif difference["what"] == "exit status":
            mine, theirs = difference["values"]
            print(f"  exit status differs: {mine} in run 1, {theirs} in run {run}")
        else:
            print(f"  {difference['path']} differs in run {run}: {difference['detail']}")
    if report["explanation"]:
        print(f"  likely cause: {report['explanation']}")
    if not report["reproducible"]:
        print(f"  replay: {report['replay']}")


# -- entry point -------------------------------------------------------------------------


def _terminate(signum: int, frame: object) -> None:
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    """``reprorng`` and ``python -m reprorng``: exit 0, 1 (not reproducible) or 2 (usage)."""
    arguments = list(sys.argv[1:] if argv is None else argv)
    if not arguments or arguments[0] in ("-h", "--help"):
        print(USAGE, end="", file=sys.stdout if arguments else sys.stderr)
        return 0 if arguments else 2
    command, rest = arguments[0], arguments[1:]
    try:
        if command not in ("run", "check"):
            raise UsageError(f"unknown command {command!r}; the commands are run and check")
        if rest and rest[0] in ("-h", "--help"):
            print(USAGE, end="")
            return 0
        options = parse(command, rest)
        if command == "check":
            # Stopped by SIGTERM, check stops its run first, as on Ctrl-C.
            signal.signal(signal.SIGTERM, _terminate)
            return check(options)
        seed = _resolve(options)
    except UsageError as error:
        print(f"reprorng {command}: {error}", file=sys.stderr)
        print("run 'reprorng --help' for usage", file=sys.stderr)
        return 2
    except RunTimeoutError as error:
        print(f"reprorng check: {error}", file=sys.stderr)
        return 124
    except KeyboardInterrupt:  # check stopped its run before this
        return 130
    # The program's own exceptions, exit status and Ctrl-C are its own, as under python.
    run(options, seed)
