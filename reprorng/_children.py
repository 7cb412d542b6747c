"""Every Python process of a ``reprorng run``, seeded: the program and the children it starts.

``run`` seeds the program's own process. Its children learn of the run from
the environment they inherit: ``REPRORNG_RUN`` holds the run's seed, the
determinism options and the child's place in the process tree, and a
``sitecustomize`` module on ``PYTHONPATH`` (see :func:`hook_directory`) calls
:func:`start_child` as each Python child starts. Nothing of this is in the
environment of a process not started under ``run``, so nothing runs there.

- A child started with :mod:`subprocess` (``Popen``, ``run``, ...) is seeded
  with ``derive_seed(seed, "subprocess", place)``, where ``place`` counts the
  children each process started, from the program down (``"2"``, then
  ``"2.1"``): siblings differ, and each repeats from run to run.
- A :mod:`multiprocessing` child (fork, spawn or forkserver) is seeded, as it
  starts, before its target runs, with ``derive_seed(seed, "process", place, *identity)``,
  its ``multiprocessing`` identity (the first ``Process`` a process starts is
  1, the next 2): pool workers and ``Process`` objects each get their own
  streams, the same in every run. A spawned child runs the program's module
  (not under ``__main__``) before that, seeded as a ``subprocess`` child.

Children started with ``os.fork`` alone, with an environment that drops these
variables, or with ``python -E``, ``-I`` or ``-S`` are not seeded.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprorng._places import claim, launched_rank, launcher_name, under
from reprorng._seed import derive_seed

__all__ = [
    "RUN_VARIABLE",
    "Run",
    "hook_directory",
    "program_environment",
    "start_child",
    "watch",
]

#: Set in the environment of every process of a run, and only there.
RUN_VARIABLE = "REPRORNG_RUN"


@dataclass(frozen=True)
class Run:
    """What a process of a run needs to seed itself: the run's seed and options, its place,
    and which process gave it that place (``pid-nanoseconds``; empty for the program's own)."""

    seed: int
    deterministic: bool
    warn_only: bool
    place: str = ""
    parent: str = ""
    pin_entropy: bool = False

    def encode(self) -> str:
        flags = ("d" if self.deterministic else "-") + ("w" if self.warn_only else "-")
        flags += "p" if self.pin_entropy else ""
        return f"{self.seed}:{flags}:{self.place}:{self.parent}"

    @classmethod
    def decode(cls, text: str) -> Run:
        """What :meth:`encode` wrote; ``ValueError`` for anything else."""
        parts = text.split(":")
        if len(parts) == 3:
            parts.append("")
        if len(parts) != 4:
            raise ValueError(f"{RUN_VARIABLE}={text!r} is not what reprorng run writes")
        seed, flags, place, parent = parts
        pin_entropy = flags.endswith("p") and len(flags) == 3
        if pin_entropy:
            flags = flags[:2]
        if not seed.isdigit() or int(seed) >= 2**64 or flags not in ("--", "d-", "dw"):
            raise ValueError(f"{RUN_VARIABLE}={text!r} is not what reprorng run writes")
        if place and not all(_PLACE_PART.fullmatch(part) for part in place.split(".")):
            raise ValueError(f"{RUN_VARIABLE}={text!r} has a bad place")
        if parent and not _PARENT.fullmatch(parent):
            raise ValueError(f"{RUN_VARIABLE}={text!r} has a bad parent")
        return cls(int(seed), flags[0] == "d", flags[1] == "w", place, parent, pin_entropy)

    def at(self, place: str, parent: str = "") -> Run:
        """This run, at another place."""
        return Run(self.seed, self.deterministic, self.warn_only, place, parent, self.pin_entropy)

    @property
    def parent_pid(self) -> int:
        return int(self.parent.split("-")[0]) if self.parent else 0


_PLACE_PART = re.compile(r"[rn]?[0-9]+")
_PARENT = re.compile(r"[0-9]+-[0-9]+")


def hook_directory() -> Path:
    """The folder whose ``sitecustomize`` starts children of a run seeded."""
    return Path(__file__).parent / "_hook"


def program_environment(run: Run) -> None:
    """Put ``run`` into this process's environment, for the children the program starts."""
    os.environ[RUN_VARIABLE] = run.encode()
    paths = os.environ.get("PYTHONPATH", "")
    hook = str(hook_directory())
    if hook not in paths.split(os.pathsep):
        os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [hook, paths]))


def _seed_process(run: Run, seed: int) -> None:
    """Seed this process to its end, as the program's own seeding is; never break it.

    torch's determinism settings are switched once torch is imported: a child that never
    imports torch does not pay for its import.
    """
    from reprorng._block import fixed_rng
    from reprorng._entry import enter_ambient

    now = run.deterministic and "torch" in sys.modules
    try:
        enter_ambient(fixed_rng(seed, deterministic=now, warn_only=now and run.warn_only))
        if run.deterministic and not now:
            from reprorng._imports import when_imported

            when_imported(lambda _torch: _deterministic(run), "torch")
        if run.pin_entropy:
            from reprorng._pinning import pin_for_good

            pin_for_good(seed)
    except Exception as error:  # noqa: BLE001 - the child runs on, unseeded, and says so
        warnings.warn(
            f"reprorng could not seed this process: {error!r}", RuntimeWarning, stacklevel=2
        )


def _deterministic(run: Run) -> None:
    """Switch torch's determinism settings for good, as the run asks; never break the import."""
    from reprorng._switches import TorchSwitches

    try:
        TorchSwitches(warn_only=run.warn_only).switch()
    except Exception as error:  # noqa: BLE001 - the child runs on, and says so
        warnings.warn(
            f"reprorng could not make this process deterministic: {error!r}",
            RuntimeWarning,
            stacklevel=2,
        )


def start_child(parent_pid: int | None = None) -> None:
    """As a Python child of a run starts, or first imports a generator's module (from
    ``sitecustomize``): seed it, watch its children.

    ``parent_pid``: the parent's pid when the child started (the parent may be gone since).
    Never breaks the child: a variable it cannot read is a ``RuntimeWarning``.
    """
    text = os.environ.get(RUN_VARIABLE)
    if text is None or os.environ.get("_REPRORNG_RUNNING"):  # the program itself: run seeds it
        return
    try:
        run = Run.decode(text)
    except ValueError as error:
        warnings.warn(f"reprorng: {error}; not seeded", RuntimeWarning, stacklevel=2)
        return
    parent = os.getppid() if parent_pid is None else parent_pid
    if run.parent and run.parent_pid != parent and not _multiprocessing_started():
        run = _placed_by_another(run, parent)
    _seed_process(run, derive_seed(run.seed, "subprocess", run.place))
    watch(run)


def _multiprocessing_started() -> bool:
    """Whether ``multiprocessing`` started this interpreter (a spawned child, the forkserver,
    the resource tracker): its parent started it, with the parent's own environment."""
    argv = sys.orig_argv
    if "-c" not in argv[:-1]:
        return False
    return argv[argv.index("-c") + 1].startswith("from multiprocessing")


def _placed_by_another(run: Run, parent: int) -> Run:
    """A child that the process which placed it did not start itself (see :mod:`_places`)."""
    rank = launched_rank(os.environ)
    if rank is not None:
        return run.at(under(run.place, f"r{rank}"))
    number = claim(run.parent, run.place)
    if number == 0:
        return run
    part = f"n{number}" if number > 0 else f"n{os.getpid()}"
    warnings.warn_explicit(  # one line: no source line to show
        f"this process was started by {launcher_name(parent)}, not by a Python process "
        f"of the run, alongside others with its place; it is seeded as {part} among them, by "
        f"the order they started in, which may not repeat",
        RuntimeWarning,
        filename="reprorng",
        lineno=0,
    )
    return run.at(under(run.place, part))


# The process's own run, and who it is (``pid-nanoseconds``); its children's places count from it.
_current: list[Run] = []
_counter = itertools.count(1)
_token: list[str] = [""]


def watch(run: Run) -> None:
    """Give each child this process starts its place, by ``subprocess`` or ``multiprocessing``,
    and each task it hands a process pool a seed of its own (:mod:`reprorng.tasks`)."""
    global _counter
    from reprorng.tasks import join_run

    join_run(run.seed, run.place)
    _token[0] = f"{os.getpid()}-{time.time_ns()}"
    if _current:
        _current[0] = run
        _counter = itertools.count(1)
        return
    _current.append(run)
    from reprorng.tasks._pools import seed_pool_tasks

    seed_pool_tasks()
    import multiprocessing.process

    # Every multiprocessing child (fork, spawn, forkserver) runs its target
    # through _bootstrap, patched here in the process that forks it or, for a
    # spawned one, in the child itself as it starts.
    process_type: Any = multiprocessing.process.BaseProcess
    bootstrap = process_type._bootstrap

    def bootstrapping(self: Any, *args: Any, **kwargs: Any) -> Any:
        _multiprocessing_child(self._identity)
        return bootstrap(self, *args, **kwargs)

    process_type._bootstrap = bootstrapping
    original = subprocess.Popen.__init__

    def starting(self: subprocess.Popen[Any], *args: Any, **kwargs: Any) -> None:
        if len(args) <= 10:  # env not given by position (it is the eleventh)
            environment = kwargs.get("env")
            inherited = os.environ if environment is None else environment
            if RUN_VARIABLE in inherited:
                kwargs["env"] = {**inherited, RUN_VARIABLE: _child_run(inherited).encode()}
        original(self, *args, **kwargs)

    subprocess.Popen.__init__ = starting  # type: ignore[method-assign]


def _child_run(environment: Mapping[str, str]) -> Run:
    """The run of a child started with ``environment``: placed by the rank a launcher gave it
    (one its parent does not have), else by the order this process starts children in."""
    run = _current[0]
    rank = launched_rank(environment)
    if rank is not None and rank != launched_rank(os.environ):
        return run.at(under(run.place, f"r{rank}"), _token[0])
    return run.at(under(run.place, str(next(_counter))), _token[0])


def _multiprocessing_child(identity: tuple[int, ...]) -> None:
    """As a ``multiprocessing`` child starts its target: streams of its own, by identity."""
    run = _current[0]
    _seed_process(run, derive_seed(run.seed, "process", run.place, *identity))
    place = ".".join([run.place, *map(str, identity)] if run.place else map(str, identity))
    watch(run.at(place))
