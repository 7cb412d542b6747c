"""What ``reprorng check`` compares between runs (exit status, output, files), and where.

Output is compared as a terminal would leave it (a line redrawn with carriage
returns, as progress bars do, by its final text), with the text matching the
``--ignore`` patterns masked.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reprorng.cli.options import UsageError

__all__ = [
    "Outcome",
    "differences",
    "files",
    "first_line_difference",
    "program_stderr",
    "shown",
]

#: What text matching an ``--ignore`` pattern is replaced with.
MASK = "<ignored>"


@dataclass
class Outcome:
    """What one run left: its output as compared, its stderr as written, exit status and files."""

    stdout: str
    stderr: str
    raw_stderr: bytes
    status: int
    seconds: float
    files: dict[str, dict[str, Any]]


def shown(data: bytes, patterns: Sequence[re.Pattern[str]]) -> str:
    """Output as compared: each line's final text after carriage returns, patterns masked."""
    lines = []
    for line in data.decode(errors="replace").split("\n"):
        if "\r" in line:
            drawn = [part for part in line.split("\r") if part]
            line = drawn[-1] if drawn else ""
        lines.append(line)
    text = "\n".join(lines)
    for pattern in patterns:
        text = pattern.sub(MASK, text)
    return text


def files(paths: Sequence[str], run: int) -> dict[str, dict[str, Any]]:
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
        return _bits_only(first, second)
    index = tuple(int(i) for i in unequal[0])
    where = f"[{', '.join(map(str, index))}]" if index else ""
    mine, theirs = first[index].item(), second[index].item()
    detail = f"first differing element {where or '(scalar)'}: {mine!r} against {theirs!r}"
    if first.dtype.kind in "fiu":
        gap = numpy.max(numpy.abs(first.astype(float) - second.astype(float)))
        detail += f" ({len(unequal)} elements differ, largest difference {gap:.3g})"
    return detail


def _bits_only(first: Any, second: Any) -> str:
    """Equal numbers with other bits: a zero's sign or a NaN's payload; else the file's header."""
    from reprorng._results import bits_difference

    found = bits_difference(first.reshape(-1), second.reshape(-1))
    if found is None:
        return "same numbers, same bits: the files differ elsewhere (their headers or metadata)"
    index, mine, theirs = found
    where = f"[{', '.join(map(str, _index(first.shape, index)))}]" if first.ndim else ""
    what = "a NaN's payload" if mine != mine else "the sign of a zero"
    return (
        f"equal as numbers, different bits: element {where or '(scalar)'} is {mine!r} against "
        f"{theirs!r} ({what})"
    )


def _index(shape: tuple[int, ...], flat: int) -> tuple[int, ...]:
    import numpy

    return tuple(int(i) for i in numpy.unravel_index(flat, shape))


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


def program_stderr(data: bytes) -> bytes:
    """A run's stderr without the line ``reprorng run`` starts it with (its replay names each
    run's hash seed, so it differs between runs)."""
    first, _newline, rest = data.partition(b"\n")
    return rest if first.startswith(b"reprorng: seed=") else data


def first_line_difference(first: str, second: str) -> tuple[int, str, str]:
    """The first line where two outputs differ, and that line of each."""
    mine = first.splitlines()
    theirs = second.splitlines()
    number = 1
    while number <= min(len(mine), len(theirs)) and mine[number - 1] == theirs[number - 1]:
        number += 1
    end = "(end of output)"
    return (
        number,
        mine[number - 1] if number <= len(mine) else end,
        theirs[number - 1] if number <= len(theirs) else end,
    )


def differences(
    first: Outcome, other: Outcome, run: int, *, stderr: bool = True
) -> list[dict[str, Any]]:
    """How run ``run`` differs from run 1: exit status, stdout, stderr (unless not), files."""
    found: list[dict[str, Any]] = []
    if first.status != other.status:
        found.append({"what": "exit status", "run": run, "values": [first.status, other.status]})
    streams = [("stdout", first.stdout, other.stdout)]
    if stderr:
        streams.append(("stderr", first.stderr, other.stderr))
    for what, mine, theirs in streams:
        if mine != theirs:
            line, one, other_line = first_line_difference(mine, theirs)
            found.append({"what": what, "run": run, "line": line, "values": [one, other_line]})
    found.extend(_compare_files(first.files, other.files, run))
    return found
