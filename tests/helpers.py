"""Helpers shared by the tests: every global state, seeding by hand, Ctrl-C at any step."""

from __future__ import annotations

import dis
import os
import random
import subprocess
import sys
import textwrap
from pathlib import Path
from types import FrameType
from typing import Any

import numpy as np
import torch
from numpy.random.mtrand import get_bit_generator

from reprorng import fixed_rng


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
        np.random.seed([seed & 0xFFFFFFFF, seed >> 32, 1])
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


def run_seeded(script: Path, seed: int) -> str:
    """``reprorng run --seed SEED SCRIPT`` in a fresh interpreter; its stdout."""
    main = "import sys; from reprorng.cli import main; sys.exit(main())"
    return run_python(main, "run", "--seed", str(seed), str(script))


# Where CPython acts on a pending signal (and so where Ctrl-C raises
# KeyboardInterrupt): at the start of a function, at a loop's backward jump,
# and right after a call returns.
CHECKS_RESUME = dis.opmap["RESUME"]
CHECKS = {CHECKS_RESUME, dis.opmap["JUMP_BACKWARD"]}
CALL = dis.opmap["CALL"]
PUSH_EXC_INFO = dis.opmap["PUSH_EXC_INFO"]


class InterruptAt:
    """Raise ``KeyboardInterrupt`` at the ``step``-th point where a Ctrl-C could land.

    Every frame is traced bytecode by bytecode, and the points counted are the
    ones where the interpreter checks for signals. ``step=0`` only counts them.
    """

    def __init__(self, step: int) -> None:
        self.step = step
        self.count = 0
        self.after_call: set[FrameType] = set()

    def __enter__(self) -> InterruptAt:
        sys.settrace(self.trace)
        return self

    def __exit__(self, *exc_info: object) -> None:
        sys.settrace(None)

    def trace(self, frame: FrameType, event: str, arg: object) -> Any:
        if frame.f_code in HARNESS:
            return None
        frame.f_trace_opcodes = True
        frame.f_trace_lines = False
        if event != "opcode":
            return self.trace
        code = frame.f_code
        op = code.co_code[frame.f_lasti]
        # RESUME checks at a function's start (argument 0) and after a yield (1).
        resumed_quietly = op == CHECKS_RESUME and code.co_code[frame.f_lasti + 1] >= 2
        # After a call that returns, not one that raised: then the next step is the
        # entry to a handler (PUSH_EXC_INFO), and Python checks for no signal there.
        after_call = frame in self.after_call and op != PUSH_EXC_INFO
        checked = (op in CHECKS and not resumed_quietly) or after_call
        self.after_call.discard(frame)
        if op == CALL:
            self.after_call.add(frame)
        # The one point no Python code can guard: the check at the very start of
        # __exit__, before its first line runs (see the README).
        if code is fixed_rng.__exit__.__code__ and frame.f_lasti == 0:
            return self.trace
        if checked:
            self.count += 1
            if self.count == self.step:
                raise KeyboardInterrupt
        return self.trace


HARNESS = {InterruptAt.__enter__.__code__, InterruptAt.__exit__.__code__}


#: Set under ``pytest --hypothesis-profile thorough`` (see conftest.py).
THOROUGH = False


def examples(thorough: int) -> int:
    """How many examples a slow property test tries: ``thorough`` under the thorough
    profile, a tenth of it (at least 20) in the everyday run, which has to stay quick."""
    return thorough if THOROUGH else max(20, thorough // 10)


def wait_until_a_block_waits() -> None:
    """Until a block in another thread waits for its turn: an event, however loaded the machine."""
    import time

    from reprorng import _stack

    while _stack.waiting == 0:
        time.sleep(0.001)
