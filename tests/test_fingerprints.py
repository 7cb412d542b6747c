"""What two runs' lines are compared by: a value's fingerprint, and what a line's calls tag."""

from __future__ import annotations

import os
import subprocess
import sys
import threading

import numpy as np
import torch
from hypothesis import given
from hypothesis import strategies as st

from reprorng.trace._lines import tags_of
from reprorng.trace._values import IDENTITY, compared, fingerprint

plain = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@given(plain)
def test_equal_values_have_equal_fingerprints_and_a_change_shows(value):
    import copy

    assert fingerprint(copy.deepcopy(value)) == fingerprint(value)
    assert fingerprint([value, 1]) != fingerprint([value, 2])


@given(st.sets(st.text(), min_size=2))
def test_a_set_is_known_by_its_elements_not_their_order(values):
    forwards, backwards = set(), set()
    for value in sorted(values):
        forwards.add(value)
    for value in sorted(values, reverse=True):
        backwards.add(value)
    assert fingerprint(forwards) == fingerprint(backwards)
    assert not fingerprint(forwards).startswith(IDENTITY)


class Point:
    def __init__(self, x: int) -> None:
        self.x = x


def test_an_object_is_known_by_its_attributes_never_its_address():
    assert fingerprint(Point(1)) == fingerprint(Point(1))
    assert fingerprint(Point(1)) != fingerprint(Point(2))
    assert fingerprint({Point(1), Point(2)}).startswith(IDENTITY)


def test_a_library_object_is_known_by_its_type_alone():
    one, other = threading.Thread(target=print), threading.Thread(target=len)
    assert fingerprint(one) == fingerprint(other) == "<Thread>"


def test_a_tensor_is_hashed_again_once_changed_in_place():
    tensor = torch.zeros(1000)
    before = fingerprint(tensor)
    assert fingerprint(tensor) == before  # the same version: the hash kept
    tensor[500] = 1.0
    assert fingerprint(tensor) != before
    assert fingerprint(torch.zeros(1000)) == before


def test_arrays_and_generators_are_known_by_content_and_state():
    assert fingerprint(np.arange(5)) == fingerprint(np.arange(5))
    assert fingerprint(np.arange(5)) != fingerprint(np.arange(5.0))
    generator = torch.Generator().manual_seed(1)
    seeded = fingerprint(generator)
    assert fingerprint(torch.Generator().manual_seed(1)) == seeded
    torch.rand(1, generator=generator)
    assert fingerprint(generator) != seeded
    assert fingerprint(np.random.default_rng(3)) == fingerprint(np.random.default_rng(3))


def test_a_file_is_compared_by_its_mode_and_followed_by_its_path(tmp_path):
    with open(tmp_path / "a", "w") as one, open(tmp_path / "b", "w") as other:
        assert fingerprint(one) != fingerprint(other)
        assert compared(fingerprint(one)) == compared(fingerprint(other)) == "file:w"


def test_a_set_of_strings_fingerprints_alike_under_any_hash_seed():
    code = "from reprorng.trace._values import fingerprint; print(fingerprint(set('abcdefgh')))"
    printed = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={**os.environ, "PYTHONHASHSEED": str(seed)},
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        for seed in (1, 2)
    }
    assert len(printed) == 1


def test_what_a_line_calls_tags_it():
    assert tags_of(["time.perf_counter"]) == {"clock": "time.perf_counter"}
    assert tags_of(["datetime.datetime.now"]) == {"clock": "datetime.datetime.now"}
    assert tags_of(["concurrent.futures._base.as_completed"])["schedule"]
    assert tags_of(["multiprocessing.pool.Pool.imap_unordered"])["schedule"]
    assert tags_of(["queue.Queue.get"])["schedule"]
    assert tags_of(["io.open"]) == {"file": "io.open"}
    assert tags_of(["builtins.id"]) == {"address": "builtins.id"}
    assert tags_of(["builtins.hash"]) == {"hash": "builtins.hash"}
    assert tags_of(["torch._C.Generator.seed"]) == {"reseed": "torch._C.Generator.seed"}
    assert tags_of(["builtins.len", "math.sqrt"]) == {}
