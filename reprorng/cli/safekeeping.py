"""Where ``reprorng check`` keeps the user's ``--compare`` paths while it runs the program.

The promise: whatever happens to check (Ctrl-C once or twice, SIGTERM,
SIGHUP, ``kill -9``, a full disk, a program that deletes the compared path or
its folder, several checks at once), the user's originals are never deleted
or overwritten. How:

- Each original is moved (a rename: atomic) into a folder of reprorng's own,
  ``.reprorng-check/ID/`` in the current folder, or at the top of the
  path's filesystem when it lies on another one. That is outside every
  compared path (a path holding it is refused).
- Before anything moves, a journal (``journal.json`` beside what is kept)
  names each path and where it is kept; it is written aside, flushed to disk
  and then moved into place.
- The check holds a lock (``flock``) on its folder for as long as it runs.
  A folder whose lock nobody holds belongs to a check that died: the next
  check, or ``reprorng check --recover``, first ends every process that
  check had started and then puts its originals back, and says so.
- A registry of running checks (in the temporary folder, one locked entry
  each) refuses a second check on a path that overlaps one in use.

What a dead check's run had left at a path is never thrown away either: it
is kept beside the journal as ``leftover-N`` and named in the line said.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprorng.cli.options import UsageError

__all__ = [
    "STORE",
    "Journal",
    "KeepError",
    "Registered",
    "anchor",
    "located",
    "new_marker",
    "overlapping",
    "present",
    "recover",
    "recover_all",
    "register",
    "remove",
    "say",
]

#: The folder, in the current folder (or at the top of another filesystem), that keeps originals.
STORE = ".reprorng-check"
_JOURNAL = "journal.json"
_LOCK = "lock"


class KeepError(UsageError):
    """The paths cannot be kept safely: reported in one line, exit status 2."""


def located(path: str | os.PathLike[str]) -> Path:
    """The path's absolute place: its folder resolved, its own name (a link is not followed)."""
    absolute = Path(os.path.abspath(path))
    return Path(os.path.realpath(absolute.parent)) / absolute.name


def overlapping(one: Path, other: Path) -> bool:
    """Whether one path is the other or holds it."""
    return one == other or one in other.parents or other in one.parents


def anchor(path: Path) -> Path:
    """The folder whose :data:`STORE` keeps ``path``: the current one, or its filesystem's top."""
    here = Path.cwd().resolve()
    folder = path.parent
    while not folder.exists():
        folder = folder.parent
    if os.stat(folder).st_dev == os.stat(here).st_dev:
        return here
    while not os.path.ismount(folder):
        folder = folder.parent
    return folder


def say(line: str) -> None:
    """One line for the user; a closed terminal (SIGHUP) must not stop the clean-up."""
    with contextlib.suppress(OSError, ValueError):
        print(f"reprorng check: {line}", file=sys.stderr, flush=True)


def _write_durably(path: Path, data: dict[str, Any]) -> None:
    """Write JSON whole or not at all: aside, flushed to disk, then moved into place."""
    partial = path.with_name(f".{path.name}.partial")
    with open(partial, "w", encoding="utf-8") as out:
        json.dump(data, out)
        out.flush()
        os.fsync(out.fileno())
    os.replace(partial, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def _lock(path: Path) -> int | None:
    """An exclusive ``flock`` on ``path`` (created), or ``None`` if another process holds it."""
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def remove(path: Path) -> None:
    """Remove a file, link or folder (a link is removed, never followed)."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def present(path: Path) -> bool:
    return path.exists() or path.is_symlink()


@dataclass
class Journal:
    """One check's kept originals under one anchor: a locked folder and its journal."""

    folder: Path
    descriptor: int
    entries: list[dict[str, Any]]

    @classmethod
    def begin(cls, root: Path, marker: str, paths: Sequence[Path]) -> Journal:
        """Create the folder, locked and with its journal, before anything is moved.

        It is made under another name and renamed into place, so that another
        check never sees it without its lock or its journal.
        """
        store = root / STORE
        store.mkdir(exist_ok=True)
        staging = store / f".{marker}.new"
        staging.mkdir()
        descriptor = _lock(staging / _LOCK)
        assert descriptor is not None  # a new folder: nobody else holds it
        entries = [{"path": str(path), "kept": str(n)} for n, path in enumerate(paths)]
        try:
            _write_durably(
                staging / _JOURNAL, {"pid": os.getpid(), "marker": marker, "paths": entries}
            )
            os.rename(staging, store / marker)
        except BaseException:
            Journal(staging, descriptor, []).end()
            raise
        return cls(store / marker, descriptor, entries)

    def move_aside(self) -> None:
        """Move each original that exists into the folder; :class:`KeepError` if one cannot be."""
        for entry in self.entries:
            path = Path(entry["path"])
            if present(path):
                try:
                    os.rename(path, self.folder / entry["kept"])
                except OSError as error:
                    raise KeepError(f"--compare {path}: cannot move it aside: {error}") from None

    def put_back(self, clear: Callable[[Path], None]) -> list[str]:
        """Put every kept original back, after ``clear`` takes what a run left at its path.

        Returns what could not be put back, each as a sentence; those stay kept.
        """
        return _put_back(self.folder, self.entries, clear)

    def end(self) -> None:
        """Drop the journal and the lock; the folders go if nothing is left in them."""
        for own in (_JOURNAL, f".{_JOURNAL}.partial", _LOCK):
            with contextlib.suppress(FileNotFoundError):
                (self.folder / own).unlink()
        os.close(self.descriptor)
        for folder in (self.folder, self.folder.parent):
            with contextlib.suppress(OSError):
                folder.rmdir()


def _put_back(
    folder: Path, entries: list[dict[str, Any]], clear: Callable[[Path], None]
) -> list[str]:
    failed = []
    for entry in entries:
        path, kept = Path(entry["path"]), folder / entry["kept"]
        if not present(kept):
            continue  # never moved (nothing was there), or already back
        try:
            clear(path)
            if present(path):
                raise FileExistsError(f"something else is at {path}")
            path.parent.mkdir(parents=True, exist_ok=True)  # the program may have removed it
            os.rename(kept, path)
        except OSError as error:
            why = error.strerror or str(error)
            failed.append(f"cannot put back {path} ({why}); it is kept at {kept}")
    return failed


# -- a check that died ------------------------------------------------------------------


def _stale(folder: Path) -> int | None:
    """The lock of a kept folder whose check died, held now; ``None`` if its check runs.

    A dead check's folder that was still being made (its name starts with a
    dot) or was done (its journal is gone) keeps nothing to put back: what it
    holds of check's own is removed.
    """
    if not (folder / _LOCK).exists():
        return None
    descriptor = _lock(folder / _LOCK)
    if descriptor is None:
        return None
    if (folder / _JOURNAL).exists() and not folder.name.startswith("."):
        return descriptor
    # Being made (nothing moves before it is in place), or done (the journal goes
    # once everything is back): nothing of the user's is kept here but leftovers.
    Journal(folder, descriptor, []).end()
    return None


def _recover_one(folder: Path, descriptor: int, end_run: Callable[[str], None]) -> list[str]:
    """Put back what a dead check kept in ``folder``; the lines to say."""
    try:
        with open(folder / _JOURNAL, encoding="utf-8") as source:
            journal = json.load(source)
        entries = journal["paths"]
        marker = str(journal["marker"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        os.close(descriptor)
        return [
            f"cannot read the journal {folder / _JOURNAL} ({error}); the originals stay in {folder}"
        ]
    end_run(marker)  # the dead check's run must not write over what is put back
    lines: list[str] = []
    numbers = itertools.count()

    def keep_leftover(path: Path) -> None:
        if present(path):
            leftover = folder / f"leftover-{next(numbers)}"
            while present(leftover):  # from an earlier recovery that could not finish
                leftover = folder / f"leftover-{next(numbers)}"
            os.rename(path, leftover)
            lines.append(f"what its run had left at {path} is kept at {leftover}")

    restored = [Path(e["path"]) for e in entries if present(folder / e["kept"])]
    failed = _put_back(folder, entries, keep_leftover)
    pid = journal.get("pid", "?")
    lines[:0] = [
        f"put back {path}, kept aside by a check that was interrupted (pid {pid})"
        for path in restored
        if not any(str(path) in line for line in failed)
    ]
    if failed:
        os.close(descriptor)
        return lines + failed
    Journal(folder, descriptor, entries).end()
    return lines


def recover(roots: Sequence[Path], end_run: Callable[[str], None]) -> list[str]:
    """Put back everything that dead checks kept under ``roots``; what was done, line by line.

    ``end_run(marker)`` ends every process still running of that check's run.
    """
    lines: list[str] = []
    for root in dict.fromkeys(roots):
        store = root / STORE
        if not store.is_dir():
            continue
        for folder in sorted(store.iterdir()):
            descriptor = _stale(folder) if folder.is_dir() else None
            if descriptor is not None:
                lines.extend(_recover_one(folder, descriptor, end_run))
        with contextlib.suppress(OSError):
            store.rmdir()  # only if nothing is left in it
    for line in lines:
        say(line)
    return lines


# -- the registry of running checks ------------------------------------------------------


def _registry() -> Path:
    folder = Path(tempfile.gettempdir()) / f"reprorng-check-{os.getuid()}"
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


@contextlib.contextmanager
def _registry_locked() -> Iterator[Path]:
    folder = _registry()
    descriptor = os.open(folder / "registry.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)  # held for moments: wait for it
        yield folder
    finally:
        os.close(descriptor)


@dataclass
class Registered:
    """This check's entry in the registry, locked while it runs."""

    entry: Path
    descriptor: int

    def end(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.entry.unlink()
        os.close(self.descriptor)


def _running(registry: Path) -> tuple[list[dict[str, Any]], list[Path]]:
    """The running checks' entries, and the roots of those that died (their entries dropped)."""
    running: list[dict[str, Any]] = []
    dead: list[Path] = []
    for entry in sorted(registry.glob("*.json")):
        descriptor = _lock(entry)
        try:
            other = json.loads(entry.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            other = {}
        if not isinstance(other, dict):
            other = {}
        if descriptor is None:
            running.append(other)
            continue
        dead.extend(Path(root) for root in other.get("roots", []) if isinstance(root, str))
        entry.unlink()
        os.close(descriptor)
    return running, dead


def register(
    marker: str, paths: Sequence[Path], roots: Sequence[Path], end_run: Callable[[str], None]
) -> Registered:
    """Take the paths for this check: refuse one that a running check uses; recover dead ones."""
    with _registry_locked() as registry:
        running, dead = _running(registry)
        for other in running:
            for theirs in other.get("paths", []):
                for mine in paths:
                    if overlapping(mine, Path(theirs)):
                        raise KeepError(
                            f"--compare {mine}: another reprorng check (pid "
                            f"{other.get('pid', '?')}) is comparing {theirs}; wait for it to "
                            "finish, or compare other paths"
                        )
        recover([*roots, *dead], end_run)
        entry = registry / f"{marker}.json"
        record = {
            "pid": os.getpid(),
            "paths": [str(path) for path in paths],
            "roots": [str(root) for root in roots],
        }
        entry.write_text(json.dumps(record), encoding="utf-8")
        descriptor = _lock(entry)
        assert descriptor is not None
        return Registered(entry, descriptor)


def recover_all(here: Path, end_run: Callable[[str], None]) -> list[str]:
    """``reprorng check --recover``: what dead checks kept here, or anywhere the registry knows."""
    with _registry_locked() as registry:
        _running_checks, dead = _running(registry)
        return recover([here, *dead], end_run)


def new_marker() -> str:
    """A name for one check, unique among checks: its folder, registry entry and run marker."""
    return f"{os.getpid()}-{secrets.token_hex(6)}"
