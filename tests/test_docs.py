"""The documentation: every public name is in the reference, and every example runs.

The Python examples of a page run in order as one program, so an example may
use what an earlier one on its page defined. An example that is a test module
(it imports pytest) runs under pytest, on its own.
"""

from __future__ import annotations

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
