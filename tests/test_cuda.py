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
