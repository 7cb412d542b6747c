from __future__ import annotations

import hashlib
import json
import logging
import random
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

from reprorng import derive_seed, fixed_rng
from reprorng._seed import check_seed, name_seed
from tests.helpers import run_python


@pytest.mark.parametrize("seed", [0, 1, 42, 2**32 - 1, 2**32, 2**63, 2**64 - 1])
def test_ints_in_range_are_seeds(seed):
    assert fixed_rng(seed).seed == seed


@pytest.mark.parametrize("kind", [np.int8, np.int64, np.uint32, np.uint64])
def test_numpy_integers_are_seeds(kind):
    block = fixed_rng(kind(7))
    assert block.seed == 7
    assert type(block.seed) is int


@pytest.mark.parametrize(
    "seed", [True, False, np.bool_(True), 1.0, np.float64(2.0), "42", b"42", [1], object()]
)
def test_other_types_are_a_type_error_naming_the_seed(seed):
    with pytest.raises(TypeError, match=r"seed must be an int .*" + type(seed).__name__):
        fixed_rng(seed)


@pytest.mark.parametrize("seed", [-1, 2**64, -(2**70), np.int64(-3)])
def test_out_of_range_is_a_value_error_naming_the_seed(seed):
    with pytest.raises(ValueError, match=rf"seed must be in \[0, 2\*\*64\), got {int(seed)}"):
        fixed_rng(seed)


def test_environment_variable_gives_the_seed(monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", " 1234 ")
    with fixed_rng() as ctx:
        assert ctx.seed == 1234


@pytest.mark.parametrize(
    "text", ["", "abc", "1.5", "0x10", "-1", str(2**64), "4_2", "+42", "\u0664\u0662", "\u00b2"]
)
def test_bad_environment_variable_is_a_value_error_naming_it(monkeypatch, text):
    monkeypatch.setenv("REPRORNG_SEED", text)
    with pytest.raises(ValueError, match="REPRORNG_SEED"):
        fixed_rng()


def test_explicit_seed_wins_over_environment(monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", "5")
    assert fixed_rng(6).seed == 6


def test_no_seed_draws_fresh_64_bit_seeds_from_entropy():
    seeds = {fixed_rng().seed for _ in range(50)}
    assert len(seeds) == 50
    assert all(0 <= seed < 2**64 for seed in seeds)
    assert any(seed >= 2**32 for seed in seeds)


def test_drawn_seed_replays_the_block():
    with fixed_rng() as ctx:
        first = np.random.random(4)
    with fixed_rng(ctx.seed):
        again = np.random.random(4)
    assert np.array_equal(first, again)


def test_seed_in_force_is_logged_at_debug_level(caplog, monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", "99")
    with caplog.at_level(logging.DEBUG, logger="reprorng"), fixed_rng():
        pass
    messages = [record.getMessage() for record in caplog.records]
    assert any("seed=99" in message and "REPRORNG_SEED" in message for message in messages)
    assert any("entering block with seed=99" in message for message in messages)


def test_entropy_seed_is_logged(caplog):
    with caplog.at_level(logging.DEBUG, logger="reprorng"):
        block = fixed_rng()
    assert f"seed={block.seed} drawn from OS entropy" in caplog.text


def test_check_seed_names_what_it_checks():
    with pytest.raises(TypeError, match=r"^my value must be"):
        check_seed("x", "my value")


def test_name_seed_is_stable_across_processes():
    code = "from reprorng._seed import name_seed; print(name_seed('pkg.mod', 'Cls.method'))"
    outputs = {
        subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            check=True,
            env={"PYTHONHASHSEED": str(hash_seed)},
        ).stdout.strip()
        for hash_seed in (0, 1)
    }
    assert outputs == {str(name_seed("pkg.mod", "Cls.method"))}


def test_name_seed_is_the_documented_digest():
    import hashlib

    digest = hashlib.blake2b(b"pkg.mod:Cls.method", digest_size=8).digest()
    assert name_seed("pkg.mod", "Cls.method") == int.from_bytes(digest, "little")
    assert name_seed("pkg.mod", "Cls.method") != name_seed("pkg.mod", "Cls.other")


# --- derive_seed ---------------------------------------------------------------------


def documented_derivation(*parts: object) -> int:
    text = json.dumps(list(parts), separators=(",", ":")).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


@pytest.mark.parametrize("keys", [(), ("worker",), (3,), ("rank", 2), (2**70, "x", -1), ("ü", 0)])
def test_derive_seed_follows_its_documented_formula(keys):
    assert derive_seed(1234, *keys) == documented_derivation(1234, *keys)


def test_derive_seed_is_the_same_in_another_process():
    out = run_python("from reprorng import derive_seed; print(derive_seed(7, 'a', 1))")
    assert int(out) == derive_seed(7, "a", 1)


def test_derived_seeds_are_in_range_and_differ_by_key():
    seeds = {derive_seed(s, k) for s in range(50) for k in ("a", "b", 0, 1)}
    assert len(seeds) == 200
    assert all(0 <= seed < 2**64 for seed in seeds)
    assert derive_seed(5, 1) != derive_seed(5, "1")
    assert derive_seed(5, 1, 2) != derive_seed(5, 12)
    assert derive_seed(np.uint8(5), np.int64(1)) == derive_seed(5, 1)


@pytest.mark.parametrize("key", [1.0, b"x", None, True, (1,)])
def test_derive_seed_rejects_other_keys_naming_them(key):
    with pytest.raises(TypeError, match=r"derive_seed keys must be ints or strings; key 1 is"):
        derive_seed(5, "first", key)


def test_derive_seed_checks_its_seed():
    with pytest.raises(ValueError, match="seed must be in"):
        derive_seed(-1, "a")
    with pytest.raises(TypeError, match="seed must be an int"):
        derive_seed("5", "a")  # type: ignore[arg-type]


# The seed-width table in the README: which generators tell s and s + 2**32 apart.
WIDTHS = {
    "random": (lambda: random.random(), True),
    "numpy global": (lambda: float(np.random.random()), True),
    "torch CPU": (lambda: torch.rand(1).item(), False),
}


@pytest.mark.parametrize("name", sorted(WIDTHS))
def test_only_torch_cpu_uses_just_the_low_32_bits_of_a_blocks_seed(name):
    draw, full_width = WIDTHS[name]
    with fixed_rng(5):
        low = draw()
    with fixed_rng(2**32 + 5):
        high = draw()
    assert (low != high) is full_width


@pytest.mark.parametrize(
    ("make", "draw", "full_width"),
    [
        (random.Random, lambda g: g.random(), True),
        (np.random.default_rng, lambda g: g.random(), True),
        (lambda s: np.random.RandomState(0), lambda g: g.random(), True),
        (lambda s: torch.Generator(), lambda g: torch.rand(1, generator=g).item(), False),
    ],
    ids=["Random", "Generator", "RandomState", "torch.Generator"],
)
def test_generator_objects_seed_width(make, draw, full_width):
    generator = make(0)
    with fixed_rng(5, generators=[generator]):
        low = draw(generator)
    with fixed_rng(2**32 + 5, generators=[generator]):
        high = draw(generator)
    assert (low != high) is full_width


def test_a_huge_seed_is_a_value_error_naming_it_without_printing_it():
    with pytest.raises(
        ValueError, match=r"seed must be in \[0, 2\*\*64\), got an int of 16610 bits"
    ):
        fixed_rng(10**5000)


def test_a_huge_derive_seed_key_is_a_value_error_naming_the_key():
    with pytest.raises(ValueError, match="derive_seed key 0 is an int of 16610 bits"):
        derive_seed(1, 10**5000)


def test_a_timeout_beyond_what_threads_can_wait_means_for_ever():
    assert fixed_rng(1, timeout=1e10).timeout is None
    assert fixed_rng(1, timeout=threading.TIMEOUT_MAX).timeout is None
    assert fixed_rng(1, timeout=1e3).timeout == 1e3


def test_the_debug_lines_do_not_repeat_the_loggers_name(caplog):
    with caplog.at_level(logging.DEBUG, logger="reprorng"), fixed_rng():
        pass
    assert caplog.records
    assert not any(record.getMessage().startswith("reprorng") for record in caplog.records)


def test_a_seed_sequence_is_refused_in_one_line_with_a_way_out():
    with pytest.raises(TypeError) as refused:
        fixed_rng(np.random.SeedSequence(1))  # type: ignore[arg-type]
    message = str(refused.value)
    assert "\n" not in message
    assert "SeedSequence(entropy=1,)" in message
    assert "generate_state" in message


def test_dir_lists_the_public_names_and_no_typing_helpers():
    import reprorng

    names = dir(reprorng)
    assert "TYPE_CHECKING" not in names
    assert {"isolated", "seed_everything", "snapshot", "RngState"} <= set(names)
