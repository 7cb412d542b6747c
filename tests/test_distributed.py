"""Seeds across ranks: real torch.distributed process groups on localhost (gloo)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reprorng import broadcast_seed, derive_seed, rank_seed
from reprorng.distributed import current_rank

ROOT = Path(__file__).parent.parent

# Starts WORLD ranks that meet through a file (no port to pick and race for); rank 0 writes what
# every rank saw.
RANKS = textwrap.dedent(
    """
    import datetime, json, os, sys
    import torch
    import torch.distributed as dist
    import reprorng
    from reprorng.distributed import current_rank

    def rank_main(rank, world, seed, out):
        os.environ.update(RANK=str(rank), WORLD_SIZE=str(world))
        dist.init_process_group(
            "gloo",
            init_method=f"file://{out}.store",
            rank=rank,
            world_size=world,
            timeout=datetime.timedelta(seconds=120),
        )
        try:
            # every rank passes its own seed: rank 0's must win
            shared = reprorng.broadcast_seed(None if seed == "none" else int(seed) + rank)
            seen = {
                "rank": current_rank(), "shared": shared, "rank_seed": reprorng.rank_seed(shared)
            }
            gathered = [None] * world
            dist.all_gather_object(gathered, seen)
            if rank == 0:
                with open(out, "w") as file:
                    json.dump(gathered, file)
        finally:
            dist.destroy_process_group()

    if __name__ == "__main__":
        world, seed, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
        torch.multiprocessing.spawn(rank_main, args=(world, seed, out), nprocs=world)
    """
)


def run_ranks(tmp_path: Path, world: int, seed: str) -> list[dict[str, int]]:
    script, out = (
        tmp_path / "ranks.py",
        tmp_path / f"out-{world}-{seed}-{len(list(tmp_path.iterdir()))}.json",
    )
    script.write_text(RANKS)
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "REPRORNG_SEED")}
    result = subprocess.run(
        [sys.executable, str(script), str(world), seed, str(out)],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(out.read_text())  # type: ignore[no-any-return]


def test_rank_seeds_are_distinct_and_the_same_in_every_run(tmp_path):
    first = run_ranks(tmp_path, 3, "100")
    again = run_ranks(tmp_path, 3, "100")
    assert first == again
    assert [seen["rank"] for seen in first] == [0, 1, 2]
    assert [seen["shared"] for seen in first] == [100, 100, 100]
    assert [seen["rank_seed"] for seen in first] == [derive_seed(100, "rank", r) for r in range(3)]
    assert len({seen["rank_seed"] for seen in first}) == 3


def test_a_broadcast_seed_is_drawn_fresh_and_shared_by_every_rank(tmp_path):
    first = run_ranks(tmp_path, 4, "none")
    second = run_ranks(tmp_path, 4, "none")
    assert len({seen["shared"] for seen in first}) == 1
    assert len({seen["shared"] for seen in second}) == 1
    assert first[0]["shared"] != second[0]["shared"]


def test_the_example_under_torchrun_replays_with_the_same_seed():
    def launch() -> str:
        env = {**os.environ, "REPRORNG_SEED": "5"}
        env.pop("RANK", None)
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "torch.distributed.run",
                "--standalone",
                "--nproc_per_node=2",
                str(ROOT / "examples" / "distributed.py"),
            ],
            capture_output=True,
            text=True,
            timeout=180,
            env=env,
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    first = launch()
    assert "shared seed: 5" in first
    assert "model weights equal on all ranks: True" in first
    assert "dropout masks distinct per rank: True" in first
    assert launch() == first


# --- without a process group -----------------------------------------------------------


def test_without_a_process_group_the_rank_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("RANK", raising=False)
    assert current_rank() == 0
    assert rank_seed(9) == derive_seed(9, "rank", 0)
    monkeypatch.setenv("RANK", "3")
    assert current_rank() == 3
    assert rank_seed(9) == derive_seed(9, "rank", 3)


@pytest.mark.parametrize("value", ["-1", "one", "1.5", ""])
def test_a_bad_rank_in_the_environment_is_a_value_error(monkeypatch, value):
    monkeypatch.setenv("RANK", value)
    with pytest.raises(ValueError, match=r"\$RANK must be a rank"):
        rank_seed(9)


def test_without_a_process_group_broadcast_seed_resolves_like_fixed_rng(monkeypatch):
    assert broadcast_seed(12) == 12
    monkeypatch.setenv("REPRORNG_SEED", "13")
    assert broadcast_seed() == 13
    with pytest.raises(TypeError, match="seed must be an int"):
        broadcast_seed("12")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="seed must be in"):
        rank_seed(2**64)
