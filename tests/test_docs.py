"""The README's reference: every public name is there, and every example in it runs."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

import reprorng

README = (Path(__file__).parent.parent / "README.md").read_text()
REFERENCE = README.split("\n## Reference\n")[1].split("\n## ")[0]
EXAMPLES = re.findall(r"```python\n(.*?)```", REFERENCE, flags=re.DOTALL)


def test_every_public_name_is_in_the_reference():
    missing = [name for name in reprorng.__all__ if f"`{name}" not in REFERENCE]
    assert not missing


@pytest.mark.parametrize("code", EXAMPLES, ids=[f"example {i}" for i in range(len(EXAMPLES))])
def test_every_reference_example_runs_as_pasted(code, tmp_path):
    if "import pytest" in code:  # a test module: run by pytest, with the plugin
        (tmp_path / "test_example.py").write_text(code)
        command = ["-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider"]
    else:
        command = ["-c", code]
    result = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if "import pytest" in code:
        assert "1 passed" in result.stdout


def test_the_reference_has_examples():
    assert len(EXAMPLES) >= 8
