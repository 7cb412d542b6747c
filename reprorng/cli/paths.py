"""The ``--compare`` paths of ``reprorng check``: each run starts without them.

A file left over from an earlier run, or from the run before, would be
compared as if the program had written it. So check moves the paths that
exist aside before the first run, removes what each run wrote once it is
recorded, and puts the originals back at the end: check leaves them as it
found them. Run 1's files are copied into a scratch folder, to be read as
numbers if a later run differs.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reprorng.cli.options import UsageError

__all__ = ["Aside", "Scratch"]


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


class Aside:
    """The ``--compare`` paths, moved aside while check runs the program, then put back."""

    def __init__(self, paths: Sequence[str], program: Path | None) -> None:
        here = Path.cwd().resolve()
        self._paths: list[Path] = []
        for text in paths:
            path = Path(text)
            resolved = path.resolve()
            if resolved == here or resolved in here.parents:
                raise UsageError(
                    f"--compare {text}: it holds the current folder; compare the "
                    "folders or files the program writes"
                )
            if program is not None and (resolved == program or resolved in program.parents):
                raise UsageError(f"--compare {text}: it holds the program, {program}")
            self._paths.append(path)
        self._moved: list[tuple[Path, Path]] = []
        self._entered = False

    def __enter__(self) -> Aside:
        try:
            for path in self._paths:
                if path.exists() or path.is_symlink():
                    aside = path.with_name(f".{path.name}.reprorng-check-{secrets.token_hex(4)}")
                    try:
                        os.rename(path, aside)
                    except OSError as error:
                        message = f"--compare {path}: cannot move it aside: {error}"
                        raise UsageError(message) from None
                    self._moved.append((path, aside))
        except BaseException:
            self._move_back()  # nothing was run: only what was moved goes back
            raise
        self._entered = True
        return self

    def clear(self) -> None:
        """Remove what a run wrote at the paths, once it is recorded."""
        if self._entered:  # every original is aside: whatever is there, a run wrote
            for path in self._paths:
                _remove(path)

    def __exit__(self, *exc: object) -> None:
        self.clear()
        self._move_back()

    def _move_back(self) -> None:
        while self._moved:
            path, aside = self._moved.pop()
            os.rename(aside, path)


class Scratch:
    """A temporary folder holding run 1's compared files, for numeric comparison."""

    def __enter__(self) -> Scratch:
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
