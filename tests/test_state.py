"""Snapshots: restore, equality, the saved form and its rejection of anything else."""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import random
import stat
import struct
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import reprorng
from reprorng import RngState, fixed_rng, register, snapshot, unregister
from reprorng._state import FORMAT_VERSION, MAGIC

from .helpers import draws, global_states, run_python
from .test_objects import FRESH, KINDS, clone, draw


def some_generators() -> list[Any]:
    return [FRESH[kind](index) for index, kind in enumerate(KINDS)]


def advance_everything(generators: list[Any], steps: int) -> None:
    for _ in range(steps):
        draws()
        for generator in generators:
            draw(generator, 1)


def everything(generators: list[Any]) -> list[Any]:
    return [draws(), *[draw(generator, 2) for generator in generators]]


def test_restore_puts_every_global_generator_back():
    np.random.standard_normal()  # a cached gaussian in numpy
    state = snapshot()
    before = global_states()
    draws()
    with fixed_rng(3):
        draws()
    state.restore()
    assert global_states() == before


@settings(max_examples=30, deadline=None)
@given(before=st.integers(0, 3), after=st.integers(1, 3))
def test_restore_puts_every_kind_of_object_back_in_place(before, after):
    generators = some_generators()
    advance_everything(generators, before)
    state = snapshot(generators=generators)
    references = [clone(generator) for generator in generators]
    advance_everything(generators, after)
    state.restore()
    assert [draw(g, 3) for g in generators] == [draw(r, 3) for r in references]


def test_equal_states_compare_equal_bit_for_bit():
    generators = some_generators()
    first = snapshot(generators=generators)
    assert snapshot(generators=generators) == first
    assert hash(snapshot(generators=generators)) == hash(first)
    np.random.random()
    assert snapshot(generators=generators) != first
    first.restore()
    draw(generators[0], 1)
    assert snapshot(generators=generators) != first


def test_a_state_is_immutable():
    state = snapshot()
    with pytest.raises(AttributeError, match="immutable"):
        state._sources = {}
    with pytest.raises(TypeError, match="snapshot"):
        RngState()


def test_bytes_round_trip_to_an_equal_state_that_restores_into_given_objects():
    generators = some_generators()
    state = snapshot(generators=generators)
    expected = everything(generators)
    again = RngState.from_bytes(state.to_bytes())
    assert again == state
    assert again.generator_kinds == state.generator_kinds
    with pytest.raises(ValueError, match=r"generators=\[...\]"):
        again.restore()
    again.restore(generators=generators)
    assert everything(generators) == expected


def test_save_and_load_a_file(tmp_path):
    path = tmp_path / "rng.state"
    state = snapshot()
    expected = draws()
    state.save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["rng.state"]
    RngState.load(path).restore()
    assert draws() == expected


def test_the_state_dict_survives_torch_save_and_a_weights_only_load():
    generators = [torch.Generator().manual_seed(1), np.random.default_rng(2)]
    state = snapshot(generators=generators)
    expected = everything(generators)
    buffer = io.BytesIO()
    torch.save({"rng": state.state_dict(), "step": 3}, buffer)
    buffer.seek(0)
    checkpoint = torch.load(buffer, weights_only=True)
    again = RngState.from_state_dict(checkpoint["rng"])
    assert again == state
    again.restore(generators=generators)
    assert everything(generators) == expected


def test_a_bad_state_dict_is_a_value_error():
    for bad in ({}, {"format": "x"}, {"format": "reprorng.RngState", "version": 1, "data": 3}):
        with pytest.raises(ValueError, match="not a reprorng state dict"):
            RngState.from_state_dict(bad)


def test_restoring_into_other_objects_checks_count_and_kind_first():
    generators = [np.random.default_rng(1), random.Random(2)]
    state = RngState.from_bytes(snapshot(generators=generators).to_bytes())
    before = global_states()
    with pytest.raises(ValueError, match="2 generator object state"):
        state.restore(generators=generators[:1])
    with pytest.raises(ValueError, match="cannot be restored into Random"):
        state.restore(generators=[random.Random(), random.Random()])
    with pytest.raises(ValueError, match="PCG64 state cannot be restored into a generator"):
        state.restore(generators=[np.random.Generator(np.random.Philox(1)), random.Random()])
    with pytest.raises(TypeError, match="int"):
        state.restore(generators=[1, 2])
    assert global_states() == before


def test_registered_objects_are_in_every_snapshot():
    generator = np.random.default_rng(1)
    register(generator)
    try:
        state = snapshot()
        expected = generator.random()
        state.restore()
        assert generator.random() == expected
        assert state.generator_kinds == ("numpy.Generator",)
    finally:
        unregister(generator)


def test_excluded_sources_are_left_out():
    assert "numpy" not in snapshot(exclude={"numpy"}).sources
    assert {"random", "numpy", "torch"} <= set(snapshot().sources)


# -- states from elsewhere ---------------------------------------------------------------


def reframed(body: dict[str, Any] | bytes) -> bytes:
    """A saved state with ``body``, and a correct header and checksum."""
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    head = MAGIC + struct.pack(">HQ", FORMAT_VERSION, len(data)) + data
    return head + hashlib.blake2b(head, digest_size=32).digest()


def body_of(state: RngState) -> dict[str, Any]:
    data = state.to_bytes()
    return json.loads(data[len(MAGIC) + 10 : -32])  # type: ignore[no-any-return]


def with_extra_source(name: str, data: Any) -> bytes:
    body = body_of(snapshot())
    body["sources"][name] = data
    return reframed(body)


SIXTEEN_BYTES = {"$bytes": "A" * 22 + "=="}
CUDA_STATE = {"$tuple": [{"$tensor": {"dtype": "uint8", "shape": [16], "data": SIXTEEN_BYTES}}]}


def test_a_state_with_sources_this_process_lacks_restores_the_rest_and_warns():
    # A source no process has, so that the case runs on machines with CUDA too.
    state = RngState.from_bytes(with_extra_source("some-simulator", CUDA_STATE))
    expected = draws()
    with pytest.warns(RuntimeWarning, match="every source but 'some-simulator'"):
        state.restore()
    assert draws() == expected
    state.restore(missing="ignore")  # no warning: warnings are errors here
    assert draws() == expected


def test_missing_error_changes_nothing():
    state = RngState.from_bytes(with_extra_source("some-simulator", 5))
    before = global_states()
    with pytest.raises(ValueError, match="no source 'some-simulator'"):
        state.restore(missing="error")
    assert global_states() == before
    with pytest.raises(ValueError, match="missing must be"):
        state.restore(missing="never")  # type: ignore[arg-type]


def test_a_newer_format_is_refused_by_version():
    data = bytearray(snapshot().to_bytes())
    data[len(MAGIC) : len(MAGIC) + 2] = struct.pack(">H", FORMAT_VERSION + 1)
    with pytest.raises(ValueError, match="format version 2"):
        RngState.from_bytes(bytes(data))


class Exploit:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("touch reprorng-was-exploited",))


def test_a_malicious_pickle_is_refused_without_running(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "evil.state"
    path.write_bytes(pickle.dumps(Exploit()))
    with pytest.raises(ValueError, match="magic"):
        RngState.load(path)
    payload = pickle.dumps(Exploit())
    with pytest.raises(ValueError, match="not valid JSON"):
        RngState.from_bytes(reframed(payload))
    assert not (tmp_path / "reprorng-was-exploited").exists()


def test_array_data_of_the_wrong_type_is_refused():
    body = body_of(snapshot(generators=[np.random.Generator(np.random.Philox(1))]))
    state = dict(body["generators"][0]["state"]["$dict"])
    state["buffer"]["$ndarray"]["data"] = {"$float": "0x1p+0"}
    body["generators"][0]["state"]["$dict"] = [list(pair) for pair in state.items()]
    with pytest.raises(ValueError, match="bad \\$ndarray shape or data"):
        RngState.from_bytes(reframed(body))


def test_values_out_of_range_are_refused_before_numpy_sees_them():
    body = body_of(snapshot(generators=[np.random.Generator(np.random.MT19937(1))]))
    state = body["generators"][0]["state"]["$dict"]
    inner = dict(state)["state"]["$dict"]
    for pair in inner:
        if pair[0] == "pos":
            pair[1] = 5000  # numpy's setter would take it and read past the key
    with pytest.raises(ValueError, match="MT19937"):
        RngState.from_bytes(reframed(body))


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
@pytest.mark.parametrize("where", ["random", "numpy", "RandomState"])
def test_a_cached_normal_that_no_generator_can_make_is_refused(where, value):
    body = body_of(snapshot(generators=[np.random.RandomState(1)]))
    if where == "random":
        body["sources"]["random"]["$tuple"][1] = {"$float": value}
    else:
        pairs = (
            body["sources"]["numpy"]["$dict"]
            if where == "numpy"
            else body["generators"][0]["state"]["$dict"]
        )
        for pair in pairs:
            if pair[0] == "has_gauss":
                pair[1] = 1
            if pair[0] == "gauss":
                pair[1] = {"$float": value}
    with pytest.raises(ValueError, match="not a valid"):
        RngState.from_bytes(reframed(body))


def test_save_creates_the_file_as_the_umask_says(tmp_path):
    old = os.umask(0o022)
    try:
        snapshot().save(tmp_path / "shared.state")
        os.umask(0o077)
        snapshot().save(tmp_path / "private.state")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "shared.state").stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "private.state").stat().st_mode) == 0o600


REFUSED = "not a saved reprorng state|format version"
VALID = snapshot(generators=some_generators()).to_bytes()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=400))
def test_arbitrary_bytes_are_a_value_error(data):
    with pytest.raises(ValueError, match=REFUSED):
        RngState.from_bytes(data)


@settings(max_examples=300, deadline=None)
@given(
    position=st.integers(0, len(VALID) - 1),
    change=st.integers(1, 255),
    cut=st.integers(0, len(VALID) - 1),
    how=st.sampled_from(["flip", "truncate", "insert", "delete"]),
)
def test_every_corruption_and_truncation_is_a_value_error(position, change, cut, how):
    data = bytearray(VALID)
    if how == "flip":
        data[position] ^= change
    elif how == "truncate":
        del data[cut:]
    elif how == "insert":
        data.insert(position, change)
    else:
        del data[position]
    with pytest.raises(ValueError, match=REFUSED):
        RngState.from_bytes(bytes(data))


# Values near the edges of what each state holds, and forms that read back as equal.
EDGES = [2**32, 2**64, 2**128, 624, 625, 5000, {"$float": "0x1p+0"}, {"$tuple": []}]


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    tags = ["$float", "$bytes", "$tuple", "$dict", "$ndarray", "$tensor", "dtype"]
    keys = st.sampled_from(tags) | st.text(max_size=4)
    return st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=3)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(max_size=8)
    | st.sampled_from(EDGES),
    json_containers,
    max_leaves=20,
)


BODY = body_of(snapshot(generators=some_generators()))


def mutated(choices: list[int], value: Any) -> dict[str, Any]:
    """``BODY`` with the value on the path ``choices`` picks replaced by ``value``."""
    copy = json.loads(json.dumps(BODY))
    node: Any = copy
    for choice in choices:
        children = list(node.items()) if isinstance(node, dict) else list(enumerate(node))
        if not children:
            break
        key, child = children[choice % len(children)]
        if not isinstance(child, (dict, list)) or choice % 3 == 0:
            node[key] = value
            break
        node = child
    return copy  # type: ignore[no-any-return]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(choices=st.lists(st.integers(0, 2**16), min_size=1, max_size=12), value=json_values)
def test_a_well_framed_body_with_any_value_changed_is_refused_or_restores_exactly(choices, value):
    body = mutated(choices, value)
    generators = some_generators()
    before = global_states()
    references = [clone(generator) for generator in generators]
    try:
        state = RngState.from_bytes(reframed(body))
    except ValueError:
        return
    # Accepted: restoring either changes nothing and says so, or does exactly what it holds.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            state.restore(generators=generators)
        except ValueError:
            assert global_states() == before
            assert [draw(g, 2) for g in generators] == [draw(r, 2) for r in references]
            return
    if set(state.sources) <= {"random", "numpy", "torch"}:
        others = set(reprorng.source_names()) - set(state.sources)
        assert snapshot(generators=generators, exclude=others) == state


def test_snapshot_support_is_imported_on_first_use():
    out = run_python(
        """
        import sys
        import reprorng

        print("reprorng._state" in sys.modules, "snapshot" in dir(reprorng))
        reprorng.snapshot
        print("reprorng._state" in sys.modules)
        try:
            reprorng.no_such_name
        except AttributeError as error:
            print("no_such_name" in str(error))
        """
    )
    assert out.split() == ["False", "True", "True", "True"]


def test_a_generator_is_listed_as_one_and_restores_a_bit_generators_state():
    generator = np.random.default_rng(3)
    state = snapshot(generators=[generator])
    assert state.generator_kinds == ("numpy.Generator",)
    expected = generator.random()
    again = RngState.from_bytes(state.to_bytes())
    again.restore(generators=[generator.bit_generator])  # the same state, held by its bit generator
    assert generator.random() == expected
    bit_state = snapshot(generators=[generator.bit_generator])
    assert bit_state.generator_kinds == ("numpy.BitGenerator",)
    expected = generator.random()
    RngState.from_bytes(bit_state.to_bytes()).restore(generators=[generator])
    assert generator.random() == expected
