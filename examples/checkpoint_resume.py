"""Resume training bit for bit from a checkpoint: ``python examples/checkpoint_resume.py``.

A tiny model trains with dropout (torch's generator) and shuffling (a numpy
``Generator``) for 12 steps. Once it runs straight through. Once it stops after
6 steps and saves a checkpoint holding the model, the optimiser and
``reprorng.snapshot(...).state_dict()``; then a fresh Python process loads the
checkpoint with ``torch.load(weights_only=True)``, restores the random state
and trains the last 6 steps. The two final models are identical, bit for bit.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

import reprorng

STEPS, STOP_AT = 12, 6
DATA = torch.linspace(-1, 1, 64).reshape(32, 2)
TARGET = DATA.sum(dim=1, keepdim=True)


def make_model() -> tuple[nn.Module, torch.optim.Optimizer]:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(2, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 1))
    return model, torch.optim.SGD(model.parameters(), lr=0.05)


def train(
    model: nn.Module,
    optimiser: torch.optim.Optimizer,
    shuffle: np.random.Generator,
    steps: range,
) -> None:
    model.train()
    for _step in steps:
        batch = torch.from_numpy(shuffle.permutation(len(DATA))[:8])
        loss = nn.functional.mse_loss(model(DATA[batch]), TARGET[batch])
        optimiser.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimiser.step()


def straight_through() -> dict[str, torch.Tensor]:
    model, optimiser = make_model()
    shuffle = np.random.default_rng(1)
    torch.manual_seed(1)
    train(model, optimiser, shuffle, range(STEPS))
    return model.state_dict()


def first_half(path: Path) -> None:
    model, optimiser = make_model()
    shuffle = np.random.default_rng(1)
    torch.manual_seed(1)
    train(model, optimiser, shuffle, range(STOP_AT))
    rng = reprorng.snapshot(generators=[shuffle])
    checkpoint = {"model": model.state_dict(), "optimiser": optimiser.state_dict()}
    torch.save({**checkpoint, "step": STOP_AT, "rng": rng.state_dict()}, path)


def second_half(path: Path, *, restore_rng: bool = True) -> dict[str, torch.Tensor]:
    """Run in a fresh process: nothing but the checkpoint carries over."""
    checkpoint = torch.load(path, weights_only=True)
    model, optimiser = make_model()
    model.load_state_dict(checkpoint["model"])
    optimiser.load_state_dict(checkpoint["optimiser"])
    shuffle = np.random.default_rng()  # any seed: its state comes from the checkpoint
    if restore_rng:
        reprorng.RngState.from_state_dict(checkpoint["rng"]).restore(generators=[shuffle])
    train(model, optimiser, shuffle, range(checkpoint["step"], STEPS))
    return model.state_dict()


def identical(first: dict[str, torch.Tensor], second: dict[str, torch.Tensor]) -> bool:
    return all(torch.equal(first[name], second[name]) for name in first)


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--resume":
        path = Path(sys.argv[2])
        torch.save(second_half(path), path.with_suffix(".final"))
        return
    expected = straight_through()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "checkpoint.pt"
        first_half(path)
        subprocess.run([sys.executable, __file__, "--resume", str(path)], check=True)
        resumed = torch.load(path.with_suffix(".final"), weights_only=True)
        careless = second_half(path, restore_rng=False)
    print(f"trained {STEPS} steps straight through, and {STOP_AT} + {STEPS - STOP_AT} with a")
    print("checkpoint and a fresh process in between. Final weights identical:")
    print("  with the random state restored:   ", identical(expected, resumed))
    print("  without (fresh dropout, shuffle): ", identical(expected, careless))
    assert identical(expected, resumed), "the resumed run differs from the uninterrupted one"
    assert not identical(expected, careless)


if __name__ == "__main__":
    main()
