"""CUDA paths on a real GPU; skipped on machines without one."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from reprorng import fixed_rng

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def run_python(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def device_draws() -> list[list[float]]:
    return [
        torch.rand(3, device=f"cuda:{index}").tolist() for index in range(torch.cuda.device_count())
    ]


def test_every_device_is_seeded_like_torch_manual_seed():
    torch.cuda.init()
    torch.manual_seed(42)
    expected = device_draws()
    with fixed_rng(42):
        assert device_draws() == expected


def test_every_device_is_restored_exactly():
    torch.cuda.init()
    torch.randn(1, device="cuda")
    before = torch.cuda.get_rng_state_all()
    with fixed_rng(3):
        device_draws()
        torch.cuda.manual_seed_all(9)
    after = torch.cuda.get_rng_state_all()
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))


def test_block_does_not_initialise_cuda_and_queued_seed_still_applies():
    out = run_python(
        """
        import torch
        from reprorng import fixed_rng

        torch.manual_seed(7)  # queued for CUDA, which is not initialised
        with fixed_rng(3):
            torch.rand(2)
        assert not torch.cuda.is_initialized()
        value = torch.rand(2, device="cuda").tolist()
        torch.cuda.manual_seed_all(7)
        assert value == torch.rand(2, device="cuda").tolist(), "the block's seed fired later"
        print("ok")
        """
    )
    assert out.strip() == "ok"


def test_block_that_initialises_cuda_is_seeded_inside_and_replays_the_queue_after():
    seeded = run_python(
        "import torch\ntorch.manual_seed(5)\nprint(torch.rand(2, device='cuda').tolist())"
    ).strip()
    queued = run_python(
        "import torch\ntorch.manual_seed(7)\nprint(torch.rand(2, device='cuda').tolist())"
    ).strip()
    code = """
        import torch
        from reprorng import fixed_rng

        {prefix}
        with fixed_rng(5):
            inside = torch.rand(2, device="cuda").tolist()
        print(inside)
        print(torch.rand(2, device="cuda").tolist())
        print(torch.cuda.initial_seed())
    """
    # A seed queued before the block is what CUDA has after it.
    inside, after, _ = run_python(code.format(prefix="torch.manual_seed(7)")).splitlines()
    assert inside == seeded
    assert after == queued
    # With nothing queued, CUDA is seeded from entropy after it, as a plain start is.
    inside, after, initial_seed = run_python(code.format(prefix="")).splitlines()
    assert inside == seeded
    assert int(initial_seed) != 5


def test_a_cuda_generator_object_is_seeded_in_place_and_restored():
    generator = torch.Generator(device="cuda").manual_seed(1)
    torch.rand(3, device="cuda", generator=generator)
    reference = torch.Generator(device="cuda")
    reference.set_state(generator.get_state())
    with fixed_rng(42, generators=[generator]):
        inside = torch.rand(3, device="cuda", generator=generator)
    fresh = torch.Generator(device="cuda").manual_seed(42)
    assert torch.equal(inside, torch.rand(3, device="cuda", generator=fresh))
    after = torch.rand(3, device="cuda", generator=generator)
    assert torch.equal(after, torch.rand(3, device="cuda", generator=reference))


def test_a_snapshot_saves_and_restores_every_device():
    from reprorng import RngState, snapshot

    torch.cuda.init()
    generator = torch.Generator(device="cuda").manual_seed(3)
    state = snapshot(generators=[generator])
    assert "cuda" in state.sources
    expected = device_draws(), torch.rand(2, device="cuda", generator=generator).tolist()
    again = RngState.from_bytes(state.to_bytes())
    assert again == state
    again.restore(generators=[generator])
    assert (device_draws(), torch.rand(2, device="cuda", generator=generator).tolist()) == expected


def test_a_snapshot_before_cuda_starts_restores_the_queue_and_saves_without_it():
    out = run_python(
        """
        import torch
        import reprorng

        torch.manual_seed(7)  # queued: CUDA is not initialised
        state = reprorng.snapshot()
        torch.cuda.manual_seed_all(9)  # queued after the snapshot
        state.restore()
        assert not torch.cuda.is_initialized()
        value = torch.rand(2, device="cuda").tolist()
        torch.cuda.manual_seed_all(7)
        assert value == torch.rand(2, device="cuda").tolist(), "the later seed survived"
        print("cuda" in reprorng.RngState.from_bytes(state.to_bytes()).sources)
        """
    )
    assert out.split() == ["False"]


def test_deterministic_with_cuda_started_warns_once_about_cublas():
    out = run_python(
        """
        import os, warnings
        import torch
        import reprorng

        os.environ.pop("CUBLAS_WORKSPACE_CONFIG", None)
        torch.cuda.init()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with reprorng.deterministic():
                pass
            with reprorng.fixed_rng(1, deterministic=True):
                torch.rand(2, device="cuda")
        print(sum("CUBLAS_WORKSPACE_CONFIG" in str(w.message) for w in caught))
        print(os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
        """
    )
    assert out.split() == ["1", "None"]
