"""The paths ``reprorng check`` and ``trace`` write to, and the files they must never touch.

A file left over from an earlier run, or from the run before, would be
compared as if the program had written it. So check moves the ``--compare``
paths that exist into safekeeping (:mod:`reprorng.cli.safekeeping`) before
the first run, removes what each run wrote once it is recorded, and puts the
originals back at the end, once every process of the run has ended: check
leaves them as it found them. Run 1's files are copied into a scratch folder,
to be read as numbers if a later run differs.

Neither command will write over the program, or a module it imports from its
own folder: :func:`program_files` names them.
"""

from __future__ import annotations

import ast
import contextlib
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from reprorng.cli import safekeeping
from reprorng.cli.options import Target, UsageError
from reprorng.cli.process import end_run, shielded
from reprorng.cli.safekeeping import STORE, Journal, located, overlapping

__all__ = ["Aside", "Scratch", "program_files"]


def _imported(source: Path) -> set[str]:
    """The top-level names a Python file imports (absolute imports), read without running it."""
    try:
        tree = ast.parse(source.read_bytes(), filename=str(source))
    except (OSError, SyntaxError, ValueError):
        return set()
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def program_files(target: Target) -> list[Path]:
    """The program's file and the modules it imports from its own folder, resolved."""
    if target.script is not None:
        program = Path(target.script).resolve()
    elif target.module is not None:
        import importlib.util

        with contextlib.suppress(ImportError, ValueError):
            spec = importlib.util.find_spec(target.module)
            if spec is not None and spec.origin and os.path.isfile(spec.origin):
                origin = Path(spec.origin).resolve()
                return [origin.parent if origin.name == "__init__.py" else origin]
        return []
    else:
        return []
    found = [program]
    for name in sorted(_imported(program)):
        for candidate in (program.parent / f"{name}.py", program.parent / name):
            if candidate.exists():
                found.append(candidate.resolve())
    return found


class Aside:
    """The ``--compare`` paths, kept safe while check runs the program, then put back."""

    def __init__(self, paths: Sequence[str], protected: Sequence[Path]) -> None:
        here = Path.cwd().resolve()
        self._paths: list[Path] = []
        # Each anchor, whose safekeeping folder keeps the paths on its filesystem.
        self._roots: dict[Path, list[Path]] = {}
        for text in paths:
            path = located(text)
            if path == here or path in here.parents:
                raise UsageError(
                    f"--compare {text}: it holds the current folder; compare the "
                    "folders or files the program writes"
                )
            for kept in protected:
                if path == kept or path in kept.parents:
                    raise UsageError(f"--compare {text}: it holds the program's own {kept}")
            root = safekeeping.anchor(path)
            store = root / STORE
            if overlapping(path, store):
                raise UsageError(f"--compare {text}: it is check's safekeeping folder, {store}")
            self._paths.append(path)
            self._roots.setdefault(root, []).append(path)
        self.marker = safekeeping.new_marker()
        self._journals: list[Journal] = []
        self._registered: safekeeping.Registered | None = None
        self._entered = False

    def __enter__(self) -> Aside:
        roots = self._roots
        here = Path.cwd().resolve()
        try:
            self._registered = safekeeping.register(
                self.marker, self._paths, [here, *roots], end_run
            )
            with shielded():
                for root, paths in roots.items():
                    journal = Journal.begin(root, self.marker, paths)
                    self._journals.append(journal)
                    journal.move_aside()
        except OSError as error:
            self._put_back()
            raise UsageError(
                f"cannot keep the --compare paths safe, so nothing ran: {error}"
            ) from None
        except BaseException:
            self._put_back()  # nothing was run: only what was moved goes back
            raise
        self._entered = True
        return self

    def clear(self) -> None:
        """Remove what a run wrote at the paths, once it is recorded."""
        for path in self._paths:
            self._clear_one(path)

    def __exit__(self, kind: object, *rest: object) -> None:
        with shielded():
            end_run(self.marker)  # nothing of the runs is left to write over the originals
            failed = self._put_back()
        if failed and kind is None:
            raise UsageError("; ".join(failed))

    def _put_back(self) -> list[str]:
        failed: list[str] = []
        for journal in self._journals:
            lost = journal.put_back(self._clear_one)
            if lost:
                os.close(journal.descriptor)  # the journal stays: the next check puts them back
                failed.extend(lost)
            else:
                journal.end()
        self._journals = []
        if self._registered is not None:
            self._registered.end()
            self._registered = None
        for line in failed:
            safekeeping.say(line)
        return failed

    def _clear_one(self, path: Path) -> None:
        if self._entered:  # every original is kept: whatever is there, a run wrote
            safekeeping.remove(path)


class Scratch:
    """A temporary folder holding run 1's compared files, for numeric comparison, and the
    notes of what the runs handed work to."""

    def __enter__(self) -> Scratch:
        self._folder = tempfile.TemporaryDirectory(prefix="reprorng-check-")
        self._count = 0
        #: Where the runs' processes note the pools, clusters and threads they use.
        self.notes = str(Path(self._folder.name) / "scheduling")
        self._used: list[str] = []
        return self

    def light_traces(self) -> tuple[str, str]:
        """Where runs 1 and 2 write their light traces (and their children theirs beside)."""
        folder = Path(self._folder.name)
        return str(folder / "run1.trace"), str(folder / "run2.trace")

    def scheduling(self) -> list[str]:
        """What the runs so far handed work to, each named once (kept past the folder)."""
        try:
            lines = Path(self.notes).read_text(encoding="utf-8").splitlines()
        except OSError:
            return self._used
        self._used = sorted({*self._used, *filter(None, lines)})
        return self._used

    def __exit__(self, *exc: object) -> None:
        self._folder.cleanup()

    def keep(self, path: Path) -> Path:
        self._count += 1
        copy = Path(self._folder.name) / f"{self._count}{path.suffix}"
        copy.write_bytes(path.read_bytes())
        return copy
