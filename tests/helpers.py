"""Helpers shared by the tests: every global state, and seeding by hand."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import torch
from numpy.random.mtrand import get_bit_generator


def comparable(value: Any) -> Any:
    """``value`` with every numpy array turned into its bytes, so ``==`` compares bit for bit."""
    if isinstance(value, dict):
        return {key: comparable(item) for key, item in value.items()}
    if isinstance(value, np.ndarray):
        return value.dtype.str, value.tobytes()
    return value


def global_states() -> tuple[Any, ...]:
    """Every global generator state, in a form that compares bit for bit with ``==``."""
    numpy_state = comparable(np.random.get_state(legacy=False))
    numpy_state["bit_generator_object"] = id(get_bit_generator())
    return (random.getstate(), numpy_state, torch.default_generator.get_state().numpy().tobytes())


def seed_by_hand(seed: int) -> None:
    """What each library's own seeding call does: the contract ``fixed_rng`` keeps."""
    random.seed(seed)
    if seed < 2**32:
        np.random.seed(seed)
    else:
        np.random.seed([seed & 0xFFFFFFFF, seed >> 32, 0])
    torch.manual_seed(seed)


def draws() -> tuple[float, float, float]:
    """One draw from each global generator; numpy's and torch's leave cached normals behind."""
    return random.random(), float(np.random.standard_normal()), torch.randn(1).item()


def run_python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    """Run ``code`` in a fresh interpreter; return its stdout, failing on a non-zero exit.

    ``env`` adds to the environment.
    """
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=None if env is None else {**os.environ, **env},
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
