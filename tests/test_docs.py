"""The documentation: every public name is in the reference, and every example runs.

The Python examples of a page run in order as one program, so an example may
use what an earlier one on its page defined. An example that is a test module
(it imports pytest) runs under pytest, on its own.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import reprorng

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def examples(page: Path) -> list[str]:
    return re.findall(r"^```python\n(.*?)^```", page.read_text(), flags=re.DOTALL | re.MULTILINE)


def run(command: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *command], cwd=folder, capture_output=True, text=True, timeout=300
    )


def test_the_readme_builds_the_site_strictly_quietly_and_whole(tmp_path):
    """The docs step of the README's test command: strict, every page, no theme notice."""
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    (step,) = [part for part in command.split(" && ") if "mkdocs build" in part]
    variable, mkdocs, *arguments = step.split()
    assert (mkdocs, arguments) == (".venv/bin/mkdocs", ["build", "--strict"])
    name, _equals, value = variable.partition("=")
    built = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), *arguments, "--site-dir", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, name: value},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert built.returncode == 0, built.stderr
    assert "end of life" not in built.stdout + built.stderr
    for page in (ROOT / "docs").glob("*.md"):
        folder = tmp_path if page.stem == "index" else tmp_path / page.stem
        assert (folder / "index.html").is_file(), page.name


def test_every_public_name_is_in_the_reference():
    reference = (ROOT / "docs" / "reference.md").read_text()
    missing = [name for name in reprorng.__all__ if f"`{name}" not in reference]
    assert not missing


def test_the_pages_have_examples():
    assert sum(len(examples(page)) for page in PAGES) >= 30
    assert len(examples(ROOT / "docs" / "reference.md")) >= 8


#: Only pages with Python examples are cases: a page without any would pass with nothing checked.
RUNNABLE = [page for page in PAGES if examples(page)]


@pytest.mark.parametrize("page", RUNNABLE, ids=[page.name for page in RUNNABLE])
def test_every_example_on_the_page_runs(page, tmp_path):
    found = examples(page)
    assert found
    program = [code for code in found if "import pytest" not in code]
    if program:
        (tmp_path / "page.py").write_text("\n\n".join(program))
        result = run(["page.py"], tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
    for number, code in enumerate(code for code in found if "import pytest" in code):
        (tmp_path / f"test_example_{number}.py").write_text(code)
        command = ["-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
        result = run([*command, f"test_example_{number}.py"], tmp_path)
        assert result.returncode == 0, result.stdout + result.stderr
        assert " passed" in result.stdout


# Shell examples: every line of a ```bash block runs, in order, in one folder per page, with the
# programs the pages name; a ```console block's output is compared line by line, numbers masked.

#: A program the pages run: seeded draws from numpy's global generator, saved under out/.
TRAIN = """\
import argparse
import pathlib

import numpy as np

parser = argparse.ArgumentParser()
parser.add_argument("--epochs", type=int, default=2)
weights = np.zeros(4)
for epoch in range(parser.parse_args().epochs):
    weights += np.random.rand(4)
    print(f"epoch {epoch}: loss {weights.sum():.6f}")
pathlib.Path("out").mkdir(exist_ok=True)
np.save("out/weights.npy", weights)
"""

#: The same program with the time in what it prints and computes: the console example's culprit.
CLOCKED = """\
import datetime
import pathlib
import time

import numpy as np

print(f"started at {datetime.datetime.now():%H:%M:%S.%f}")
weights = np.random.default_rng(0).random((2, 4)) + np.random.rand(2, 4) * (time.time() % 1e-5)
pathlib.Path("out").mkdir(exist_ok=True)
np.save("out/weights.npy", weights)
"""

#: A test module the pages' pytest commands run; it draws only inside a block, so it leaks nothing.
TESTS = """\
import random

from reprorng import fixed_rng


def test_draws_repeat():
    with fixed_rng(1):
        first = random.random()
    with fixed_rng(1):
        assert random.random() == first
"""

#: Lines that install or work on the checkout: CI runs them, not these tests.
NOT_RUN = ("python3 -m venv", "pip install", ".venv/bin/", "NO_MKDOCS_2_WARNING=1 .venv/bin/")


def blocks(page: Path, language: str) -> list[str]:
    pattern = rf"^```{language}\n(.*?)^```"
    return re.findall(pattern, page.read_text(), flags=re.DOTALL | re.MULTILINE)


def shell_lines(page: Path) -> list[str]:
    lines = [line for block in blocks(page, "bash") for line in block.splitlines()]
    return [line for line in lines if line.strip() and not line.startswith(NOT_RUN)]


def shell(line: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Runs `line` as a reader would type it, with this interpreter's tools first on PATH."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    environment = {**os.environ, "PATH": path}
    environment.pop("REPRORNG_SEED", None)
    return subprocess.run(
        ["bash", "-c", line],
        cwd=folder,
        env=environment,
        capture_output=True,
        text=True,
        timeout=300,
    )


def prepare(folder: Path, program: str) -> None:
    (folder / "train.py").write_text(program)
    (folder / "test_model.py").write_text(TESTS)


SHELL = [page for page in PAGES if shell_lines(page)]


def test_every_bash_line_is_run_or_an_install_step():
    every = [line for page in PAGES for code in blocks(page, "bash") for line in code.splitlines()]
    run_here = [line for page in SHELL for line in shell_lines(page)]
    assert len(run_here) >= 30
    assert all(line.startswith(NOT_RUN) for line in every if line not in run_here)


@pytest.mark.parametrize("page", SHELL, ids=[page.name for page in SHELL])
def test_every_shell_example_on_the_page_runs(page, tmp_path):
    prepare(tmp_path, TRAIN)
    for line in shell_lines(page):
        result = shell(line, tmp_path)
        assert result.returncode == 0, f"{line}\n{result.stdout}{result.stderr}"


def masked(text: str) -> list[str]:
    """Numbers masked, and the marker under the first differing character, which moves with
    them."""
    return [re.sub(r"^ +\^$", "^", re.sub(r"\d+", "N", line)) for line in text.splitlines()]


def test_the_console_example_prints_what_check_prints(tmp_path):
    (example,) = blocks(ROOT / "docs" / "cli.md", "console")
    command, *expected = example.splitlines()
    assert command.startswith("$ ")
    prepare(tmp_path, CLOCKED)
    result = shell(command.removeprefix("$ "), tmp_path)
    assert result.returncode == 1, result.stdout + result.stderr
    assert masked(result.stdout) == masked("\n".join(expected))
