"""Running a program as ``reprorng check`` runs it: its own process group, stopped whole."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess

from reprorng._seed import ENV_VAR
from reprorng.cli.options import Options, RunTimeoutError, UsageError

__all__ = ["environment", "execute"]


def environment(options: Options, seed: int, run_hash_seed: int) -> dict[str, str]:
    """A script or module runs as ``reprorng run`` runs it: run sets its environment."""
    if not options.target.command:
        return dict(os.environ)
    return {**os.environ, ENV_VAR: str(seed), "PYTHONHASHSEED": str(run_hash_seed)}


def execute(
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
        stop(process)
        raise RunTimeoutError from None
    except BaseException:
        stop(process)
        raise
    return stdout, stderr, process.returncode


def stop(process: subprocess.Popen[bytes]) -> None:
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
