"""``reprorng run`` (and ``trace``): run a Python program in this process, seeded to its end."""

from __future__ import annotations

import atexit
import builtins
import os
import runpy
import shlex
import signal
import subprocess
import sys
import types
from pathlib import Path
from typing import NoReturn

from reprorng._children import Run, program_environment, watch
from reprorng._seed import ENV_VAR
from reprorng.cli.options import Options, command_flags, hash_seed
from reprorng.cli.process import RUNNING
from reprorng.cli.trace import traced

__all__ = ["run", "run_command"]


def run(options: Options, seed: int) -> NoReturn:
    """Run the program in this process (after starting a fresh one with the hash seed)."""
    wanted = str(hash_seed(seed) if options.hash_seed is None else options.hash_seed)
    target = options.target
    if os.environ.get("PYTHONHASHSEED") != wanted or os.environ.get(RUNNING) != wanted:
        # The hash seed is read once, when Python starts: start again with it.
        environment = {**os.environ, "PYTHONHASHSEED": wanted, RUNNING: wanted}
        argv = run_command(options, seed, options.hash_seed)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, argv, environment)
    del os.environ[RUNNING]
    flags = [*_command(options), *command_flags(options, seed, options.hash_seed)]
    replay = shlex.join(["reprorng", *flags, *target.describe()])
    print(f"reprorng: seed={seed} (replay: {replay})", file=sys.stderr, flush=True)

    from reprorng._block import fixed_rng
    from reprorng._entry import enter_ambient

    # As check runs it: fixed_rng() and bare @reproducible take the run's seed.
    os.environ[ENV_VAR] = str(seed)
    # Seeded to the end of the process, threads and atexit handlers included,
    # and for no thread in particular: threads enter their own blocks freely.
    enter_ambient(fixed_rng(seed, deterministic=options.deterministic, warn_only=options.warn_only))
    if options.pin_entropy:
        _pin(seed, verbose=options.verbose)
    # And every Python process the program starts.
    this_run = Run(seed, options.deterministic, options.warn_only, pin_entropy=options.pin_entropy)
    program_environment(this_run)
    watch(this_run)
    try:
        with traced(options, seed, int(wanted)):
            if target.module is not None:
                sys.argv = ["-m", *target.args]  # run_module puts the module's path first
                runpy.run_module(target.module, run_name="__main__", alter_sys=True)
            else:
                assert target.script is not None
                _run_script(target.script, target.args)
    except SystemExit:
        raise
    except BaseException as error:  # noqa: BLE001 - reported as python reports it
        _report_uncaught(error)
    sys.exit(0)


def _pin(seed: int, *, verbose: bool) -> None:
    """Pin generators made without a seed; with ``verbose``, list them as the program exits."""
    from reprorng import _pinning

    _pinning.pin_for_good(seed)
    if verbose:

        def listing() -> None:
            lines = _pinning.report()
            print(f"reprorng: {len(lines)} line(s) made generators without a seed", file=sys.stderr)
            for line in lines:
                print(f"reprorng:   {line}", file=sys.stderr)

        atexit.register(listing)


def _report_uncaught(error: BaseException) -> NoReturn:
    """What Python does with an exception nothing caught, without reprorng's and runpy's frames.

    As ``python -m`` hides its own frames, the traceback starts in the program.
    """
    traceback = error.__traceback__
    while traceback is not None and _ours(traceback.tb_frame.f_code.co_filename):
        traceback = traceback.tb_next
    sys.excepthook(type(error), error.with_traceback(traceback), traceback)
    sys.stderr.flush()
    if isinstance(error, KeyboardInterrupt):
        # Python's own exit on Ctrl-C: killed by SIGINT, as the shell expects.
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    sys.exit(1)


def _ours(filename: str) -> bool:
    """Whether a frame's file is runpy's or this package's command line."""
    path = Path(filename)
    return filename in ("<frozen runpy>", runpy.__file__) or path.parent == Path(__file__).parent


def run_command(options: Options, seed: int, run_hash_seed: int | None) -> list[str]:
    """``python -m reprorng run ...`` for the program, with this interpreter's own options.

    Those (-O, -W, -X ...) are passed on as multiprocessing passes them to its children.
    """
    interpreter: list[str] = subprocess._args_from_interpreter_flags()  # type: ignore[attr-defined]
    flags = command_flags(options, seed, run_hash_seed)
    return [
        sys.executable,
        *interpreter,
        "-m",
        "reprorng",
        *_command(options),
        *flags,
        *options.target.describe(),
    ]


def _command(options: Options) -> list[str]:
    """``run``, or ``trace --out FILE``."""
    if options.trace_out is None:
        return ["run"]
    return ["trace", *(["--force"] if options.force else []), "--out", options.trace_out]


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
