"""Entropy pinning: generators made without a seed get one; security entropy stays real."""

from __future__ import annotations

import os
import random
import secrets
import ssl
import tempfile
import uuid

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reprorng import fixed_rng, seed_everything
from reprorng._children import Run

from .helpers import run_python
from .test_cli import reprorng, script


def unseeded() -> list[float]:
    """One draw from each kind of generator made or reseeded without a seed, each on its line."""
    drawn = [
        float(np.random.default_rng().random()),
        float(np.random.RandomState().rand()),
        float(np.random.Generator(np.random.PCG64()).random()),
        float(np.random.SeedSequence().generate_state(1)[0]),
        random.Random().random(),
    ]
    random.seed()
    drawn.append(random.random())
    np.random.seed(None)
    drawn.append(float(np.random.random()))
    drawn.append(float(torch.seed()))
    return drawn


def test_a_pinning_block_makes_unseeded_generators_repeat():
    with fixed_rng(7, pin_entropy=True):
        first = unseeded()
    with fixed_rng(7, pin_entropy=True):
        assert unseeded() == first
    with fixed_rng(8, pin_entropy=True):
        assert unseeded() != first  # from the seed
    assert unseeded() != unseeded()  # outside, real entropy again


@settings(max_examples=20, deadline=None)
@given(count=st.integers(2, 30), seed=st.integers(0, 2**64 - 1))
def test_two_unseeded_generators_never_share_a_stream(count, seed):
    with fixed_rng(seed, pin_entropy=True):
        same_line = [np.random.default_rng().random() for _ in range(count)]
        other_line = np.random.default_rng().random()
        python = [random.Random().random() for _ in range(count)]
    assert len({*same_line, other_line}) == count + 1
    assert len(set(python)) == count


def test_security_entropy_is_never_pinned():
    def secret() -> tuple[object, ...]:
        return (
            os.urandom(8),
            secrets.token_bytes(8),
            random.SystemRandom().random(),
            uuid.uuid4(),
            ssl.RAND_bytes(8),
            tempfile.mktemp(),  # Python's own: its names stay unpredictable
        )

    with fixed_rng(7, pin_entropy=True):
        first = secret()
    with fixed_rng(7, pin_entropy=True):
        again = secret()
    assert all(a != b for a, b in zip(first, again, strict=True))


def fresh() -> float:
    return random.Random().random()  # the one line every draw here is made on


def test_pinning_nests_and_ends_with_its_block():
    with fixed_rng(1, pin_entropy=True):
        outer = fresh()
        with fixed_rng(2, pin_entropy=True):
            inner = fresh()
        after = fresh()
    with fixed_rng(2, pin_entropy=True):
        assert fresh() == inner  # a block's own count, from 1
    with fixed_rng(1, pin_entropy=True):
        assert fresh() == outer
        with fixed_rng(2):  # pins nothing of its own: the outer block's pinning goes on
            assert fresh() == after
    assert fresh() != fresh()
    assert repr(fixed_rng(3, pin_entropy=True)) == "fixed_rng(seed=3, pin_entropy=True)"


def test_bad_pin_entropy_values_are_refused():
    with pytest.raises(TypeError, match="pin_entropy must be True or False"):
        fixed_rng(1, pin_entropy="yes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="pin_entropy must be True or False, got 1"):
        seed_everything(1, pin_entropy=1)  # type: ignore[arg-type]  # refused before it seeds


PROGRAM = """
    import random, subprocess, sys
    import numpy as np

    def make():
        return np.random.default_rng().random()

    child = "import random; print(random.Random().random())"
    print(make(), make(), random.Random().random())
    print(subprocess.run([sys.executable, "-c", child], capture_output=True, text=True).stdout)
"""


def test_seed_everything_pins_the_process_and_its_children():
    code = "import reprorng\nreprorng.seed_everything(4, verbose=False, pin_entropy=True)\n"
    program = code + PROGRAM.replace("\n    ", "\n")
    assert run_python(program) == run_python(program)
    unpinned = program.replace("pin_entropy=True", "pin_entropy=False")
    assert run_python(unpinned) != run_python(unpinned)


def test_run_pins_with_the_flag_and_lists_the_lines_with_verbose(tmp_path):
    name = script(tmp_path, "prog.py", PROGRAM)
    pinned = [reprorng("run", "--seed", "3", "--pin-entropy", name, cwd=tmp_path) for _ in "ab"]
    assert pinned[0].returncode == 0, pinned[0].stderr
    assert pinned[0].stdout == pinned[1].stdout
    assert reprorng("run", "--seed", "3", name, cwd=tmp_path).stdout != pinned[0].stdout
    listed = reprorng("run", "--seed", "3", "--pin-entropy", "--verbose", name, cwd=tmp_path)
    assert "prog.py:6 in make: 2 numpy generator(s) made without a seed" in listed.stderr
    # check passes the flag to each run, and so repeats it
    assert reprorng("check", "--seed", "3", "--pin-entropy", name, cwd=tmp_path).returncode == 0
    refused = reprorng("run", "--verbose", name, cwd=tmp_path)
    assert refused.returncode == 2
    assert "--verbose needs --pin-entropy" in refused.stderr
    # check's suggestion, and check with the flag: tests/test_explain.py, on the human report.


def test_a_pinning_run_is_passed_on_to_children_and_read_back():
    run = Run(5, False, False, "1.2", "", pin_entropy=True)
    assert Run.decode(run.encode()) == run
    assert Run.decode(Run(5, True, True).encode()).pin_entropy is False
    with pytest.raises(ValueError, match="not what reprorng run writes"):
        Run.decode("5:-p:")
