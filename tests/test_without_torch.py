"""A numpy-only user installs reprorng without torch, and everything else works."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).parent.parent

PROGRAM = """
    import random, sys
    import numpy as np
    import reprorng
    from reprorng import RngState, fixed_rng, isolated, reproducible, seed_everything, snapshot

    with fixed_rng(42):
        drawn = (random.random(), np.random.random())
    random.seed(42)
    np.random.seed(42)
    assert drawn == (random.random(), np.random.random())

    rng = np.random.default_rng(1)
    with fixed_rng(7, generators=[rng]):
        assert rng.random() == np.random.default_rng(7).random()
    state = snapshot(generators=[rng])
    expected = rng.random()
    RngState.from_bytes(state.to_bytes()).restore(generators=[rng])
    assert rng.random() == expected

    before = np.random.get_state()[1].tolist()
    with isolated():
        np.random.random()
    assert np.random.get_state()[1].tolist() == before

    @reproducible(3)
    def draw():
        return np.random.random()

    assert draw() == draw()
    assert seed_everything(5, verbose=False) == 5
    try:
        with fixed_rng(1, deterministic=True):
            pass
    except ModuleNotFoundError as error:
        assert "torch is not installed" in str(error)
    else:
        raise AssertionError("deterministic=True without torch")
    assert "torch" not in sys.modules
    print("works without torch")
"""


def run(*command: object, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(part) for part in command], cwd=cwd, capture_output=True, text=True, timeout=900
    )


def test_the_package_installs_and_works_without_torch(tmp_path):
    venv = tmp_path / "venv"
    assert run(sys.executable, "-m", "venv", venv, cwd=tmp_path).returncode == 0
    python = venv / "bin" / "python"
    install = run(python, "-m", "pip", "install", "-q", ROOT, cwd=tmp_path)
    assert install.returncode == 0, install.stdout + install.stderr
    found = run(
        python, "-c", "import importlib.util as u; print(u.find_spec('torch'))", cwd=tmp_path
    )
    assert found.stdout.strip() == "None"  # pip did not bring torch
    (tmp_path / "program.py").write_text(textwrap.dedent(PROGRAM))
    result = run(python, "program.py", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == "works without torch"
    checked = run(venv / "bin" / "reprorng", "check", "--seed", "1", "program.py", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Where runs part, found without torch: an entropy read and a seed from the clock.
    (tmp_path / "culprits.py").write_text(
        "import random, time\n"
        "import numpy as np\n"
        "random.seed(time.time_ns())\n"
        "print(np.random.default_rng().random(), random.random())\n"
    )
    explained = run(
        venv / "bin" / "reprorng", "check", "--json", "--seed", "1", "culprits.py", cwd=tmp_path
    )
    assert explained.returncode == 1, explained.stdout + explained.stderr
    divergence = json.loads(explained.stdout)["divergence"]
    assert (divergence["line"], divergence["cause"]) == (3, "clock"), divergence
    diff = run(venv / "bin" / "reprorng", "trace", "--out", "t", "culprits.py", cwd=tmp_path)
    assert diff.returncode == 0, diff.stderr
    same = run(venv / "bin" / "reprorng", "diff", "t", "t", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
