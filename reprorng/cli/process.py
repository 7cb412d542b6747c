"""Running a program as ``reprorng check`` runs it, and stopping every process of it.

Each run has its own process group and carries a marker in its environment
(``REPRORNG_CHECK_RUN``), which its children inherit. A run is over only when
no process of it is left: not its group (SIGTERM, a grace period, then
SIGKILL) and, on Linux, no process anywhere that carries its marker (one
that left the group with ``setsid``, say). Until then check touches none of
the user's files, and a second Ctrl-C, a SIGTERM or a SIGHUP waits.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from reprorng._seed import ENV_VAR
from reprorng.cli.options import Options, RunTimeoutError, UsageError
from reprorng.tasks import SCHEDULING_VARIABLE

__all__ = ["MARKER", "RUNNING", "end_run", "environment", "execute", "shielded"]

#: The environment variable that marks every process of one check's runs.
MARKER = "REPRORNG_CHECK_RUN"
#: How long a run has to exit after SIGTERM before it is killed.
GRACE_SECONDS = 5.0
_ENDING = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


#: Set by ``run`` for the interpreter it starts again with the hash seed (or by ``check``,
#: which starts it so): the program's own process, which ``run`` seeds itself.
RUNNING = "_REPRORNG_RUNNING"


def environment(
    options: Options, seed: int, run_hash_seed: int, marker: str, notes: str = ""
) -> dict[str, str]:
    """A script or module runs as ``reprorng run`` runs it: run sets its environment. Its
    processes note in ``notes`` the pools, clusters and threads they hand work to."""
    marked = {**os.environ, MARKER: marker, "PYTHONHASHSEED": str(run_hash_seed)}
    if notes:
        marked[SCHEDULING_VARIABLE] = notes
    if not options.target.command:
        # Started with its hash seed already, ``run`` need not start Python again for it.
        return {**marked, RUNNING: str(run_hash_seed)}
    return {**marked, ENV_VAR: str(seed)}


def _adopt_orphans() -> None:
    """On Linux, become the parent of the run's orphaned processes, so they can be reaped."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER


class _Collected(threading.Thread):
    """Everything a pipe gives until it closes, read in a thread of its own."""

    def __init__(self, pipe: IO[bytes]) -> None:
        super().__init__(daemon=True)
        self.pipe = pipe
        self.chunks: list[bytes] = []

    def run(self) -> None:
        with contextlib.suppress(OSError, ValueError):
            while chunk := os.read(self.pipe.fileno(), 65536):
                self.chunks.append(chunk)

    def text(self) -> bytes:
        # A process that left the run and still holds the pipe cannot keep check waiting.
        self.join(GRACE_SECONDS)
        return b"".join(self.chunks)


def execute(
    command: list[str], environment: dict[str, str], timeout: float | None
) -> tuple[bytes, bytes, int]:
    """Run ``command`` until it exits; then, or on Ctrl-C, SIGTERM or a timeout, stop all of it.

    The run is over when the program exits: what it left running is stopped,
    as a timeout stops it, and what it wrote until then is the run's output.
    """
    _adopt_orphans()
    if timeout is not None and timeout >= threading.TIMEOUT_MAX:
        timeout = None  # longer than any wait can be: no limit
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
    marker = environment.get(MARKER, "")
    assert process.stdout is not None
    assert process.stderr is not None
    stdout, stderr = _Collected(process.stdout), _Collected(process.stderr)
    stdout.start()
    stderr.start()
    try:
        status = process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        raise RunTimeoutError from None
    finally:
        stop(process.pid, marker, process)  # all of it, or what the program left running
        output = stdout.text(), stderr.text()
        process.stdout.close()
        process.stderr.close()
    return output[0], output[1], status


class shielded:  # noqa: N801 - used as a with statement, like a function
    """Signals that would end check wait until the clean-up inside is done (main thread).

    One that came during it is raised again once it is done, unless an
    exception is already on its way out.
    """

    def __enter__(self) -> None:
        self.caught: list[int] = []
        self.previous: dict[int, object] = {}
        if threading.current_thread() is not threading.main_thread():
            return
        for each in _ENDING:
            self.previous[each] = signal.signal(each, self._note)

    def _note(self, signum: int, frame: object) -> None:
        if not self.caught:
            with contextlib.suppress(OSError, ValueError):
                print(
                    "reprorng check: stopping the run and putting your files back first",
                    file=sys.stderr,
                    flush=True,
                )
        self.caught.append(signum)

    def __exit__(self, kind: object, *rest: object) -> None:
        for each, handler in self.previous.items():
            signal.signal(each, handler)  # type: ignore[arg-type]
        if self.caught and kind is None:
            signal.raise_signal(self.caught[0])


def _marked(marker: str) -> list[int]:
    """The live processes (not zombies) whose environment carries ``marker``; Linux only."""
    if not marker or not os.path.isdir("/proc"):
        return []
    wanted = f"{MARKER}={marker}".encode()
    found = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            variables = Path(f"/proc/{name}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if wanted in variables:
            found.append(int(name))
    return found


def _signal_all(group: int | None, marker: str, each: int) -> None:
    if group is not None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, each)
    for pid in _marked(marker):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, each)


def _reap() -> None:
    """Collect every child of check's that has ended (orphans of the run are adopted)."""
    while True:
        try:
            pid, _status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _alive(group: int | None, marker: str, leader: subprocess.Popen[bytes] | None) -> bool:
    if leader is not None:
        leader.poll()
    _reap()
    if group is not None:
        try:
            os.killpg(group, 0)
            return True
        except ProcessLookupError:
            pass
        except PermissionError:
            return True
    return bool(_marked(marker))


def _wait(
    group: int | None, marker: str, leader: subprocess.Popen[bytes] | None, seconds: float | None
) -> bool:
    """Wait until no process of the run is left; ``False`` if some are after ``seconds``."""
    deadline = None if seconds is None else time.monotonic() + seconds
    pause = 0.005
    while _alive(group, marker, leader):
        if deadline is not None and time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return True


def stop(group: int | None, marker: str, leader: subprocess.Popen[bytes] | None = None) -> None:
    """End every process of the run: SIGTERM, a grace period, then SIGKILL, and wait for it."""
    with shielded():
        if not _alive(group, marker, leader):
            return
        _signal_all(group, marker, signal.SIGTERM)
        if _wait(group, marker, leader, GRACE_SECONDS):
            return
        _signal_all(group, marker, signal.SIGKILL)
        _wait(group, marker, leader, None)


def end_run(marker: str) -> None:
    """End what is left of the run of a check that died (found by its marker alone)."""
    stop(None, marker)
