"""How often ``reprorng check`` names the line that caused a difference, and the right cause.

Each program in ``explain_corpus/`` has one planted cause, on the line marked
``# cause: KIND``, or is marked ``# reproducible``. Each is checked as a user
would (``reprorng check --json PROGRAM``) and scored: the line named against
the line marked, the cause against the kind; a reproducible program must be
found reproducible, with no culprit. Prints one line per program, then the
line and cause accuracy over the culprits.

    python benchmarks/explain_accuracy.py [--jobs N] [NAME ...]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).resolve().parent / "explain_corpus"
_MARK = re.compile(r"#\s*cause:\s*([a-z-]+)")


@dataclass
class Planted:
    """What a program of the corpus holds: its planted line and cause, or neither."""

    path: Path
    line: int | None
    cause: str | None


@dataclass
class Scored:
    planted: Planted
    line: int | None
    cause: str | None
    reproducible: bool

    @property
    def line_right(self) -> bool:
        return self.line == self.planted.line and not self.reproducible

    @property
    def cause_right(self) -> bool:
        return self.cause == self.planted.cause and not self.reproducible

    @property
    def control_right(self) -> bool:
        return self.reproducible and self.line is None


def planted(path: Path) -> Planted:
    """The marked line and cause of a corpus program (``None``: it is reproducible)."""
    for number, text in enumerate(path.read_text().splitlines(), 1):
        found = _MARK.search(text)
        if found:
            return Planted(path, number, found.group(1))
    return Planted(path, None, None)


def corpus(names: list[str] | None = None) -> list[Planted]:
    programs = sorted(CORPUS.glob("*.py"))
    if names:
        programs = [path for path in programs if path.stem in names]
    return [planted(path) for path in programs]


def score(program: Planted, timeout: float = 300) -> Scored:
    """Check the program once, in a scratch folder, and score what the report names."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-m", "reprorng", "check", "--json", str(program.path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=program.path.parent,
        env=environment,
        check=False,
    )
    try:
        report = json.loads(done.stdout)
    except ValueError:
        raise RuntimeError(f"{program.path.name}: no report:\n{done.stderr[-2000:]}") from None
    divergence = report["divergence"] or {}
    return Scored(program, divergence.get("line"), divergence.get("cause"), report["reproducible"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="programs checked at once")
    parser.add_argument("names", nargs="*", help="only these programs (file names without .py)")
    options = parser.parse_args(argv)
    programs = corpus(options.names)
    with ThreadPoolExecutor(options.jobs) as pool:
        results = list(pool.map(score, programs))
    culprits = [result for result in results if result.planted.line is not None]
    controls = [result for result in results if result.planted.line is None]
    for result in results:
        name = result.planted.path.name
        if result.planted.line is None:
            verdict = "ok" if result.control_right else "WRONG"
            print(f"{verdict:5} {name}: reproducible={result.reproducible}")
            continue
        verdict = "ok" if result.line_right and result.cause_right else "WRONG"
        print(
            f"{verdict:5} {name}: named line {result.line} ({result.cause}), "
            f"planted line {result.planted.line} ({result.planted.cause})"
        )
    if culprits:
        lines = sum(result.line_right for result in culprits)
        causes = sum(result.cause_right for result in culprits)
        print(f"line accuracy:  {lines}/{len(culprits)} = {lines / len(culprits):.0%}")
        print(f"cause accuracy: {causes}/{len(culprits)} = {causes / len(culprits):.0%}")
    if controls:
        right = sum(result.control_right for result in controls)
        print(f"controls found reproducible, no culprit: {right}/{len(controls)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
