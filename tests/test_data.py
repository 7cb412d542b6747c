"""DataLoader workers seeded by ``worker_init_fn``, in real multi-worker loaders."""

from __future__ import annotations

import json
import pickle
import random
import sys
from pathlib import Path

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info

import reprorng
from reprorng import WorkerInit, derive_seed, fixed_rng, loader_generator, worker_init_fn
from tests.helpers import run_python

EXAMPLES = Path(__file__).parent.parent / "examples"

# Two epochs of the example's loader, printed as JSON, in a fresh interpreter.
EPOCHS_AS_JSON = f"""
import json, sys
sys.path.insert(0, {str(EXAMPLES)!r})
from dataloader_workers import epochs
print(json.dumps([epoch.tolist() for epoch in epochs(7)]))
"""


def epochs_in_a_fresh_process(**env: str) -> list[list[list[float]]]:
    return json.loads(run_python(EPOCHS_AS_JSON, env=env))  # type: ignore[no-any-return]


def test_the_same_seed_gives_the_same_batches_in_fresh_processes():
    first, second = epochs_in_a_fresh_process(), epochs_in_a_fresh_process()
    assert first == second


def test_workers_and_epochs_draw_distinct_streams():
    epochs = epochs_in_a_fresh_process()
    for epoch in epochs:
        augmentations = [value for sample in epoch for value in sample[1:]]
        assert len(set(augmentations)) == len(augmentations) == 8 * 3
    assert {tuple(s[1:]) for s in epochs[0]}.isdisjoint({tuple(s[1:]) for s in epochs[1]})


def test_ranks_shuffle_alike_but_augment_differently():
    rank0, rank1 = epochs_in_a_fresh_process(RANK="0"), epochs_in_a_fresh_process(RANK="1")
    for epoch0, epoch1 in zip(rank0, rank1, strict=True):
        assert [s[0] for s in epoch0] == [s[0] for s in epoch1]  # the loader's own generator
        assert {tuple(s[1:]) for s in epoch0}.isdisjoint({tuple(s[1:]) for s in epoch1})


class WorkerDraws(Dataset[tuple[int, int, float, float, float]]):
    """Each sample: the worker's torch seed and id, and a draw from each library."""

    def __init__(self) -> None:
        self.offset = 0

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> tuple[int, int, float, float, float]:
        import numpy as np

        info = get_worker_info()
        assert info is not None
        return (
            info.seed,
            info.id + self.offset,
            random.random(),
            float(np.random.random()),
            torch.rand(()).item(),
        )


def samples(**loader_options: object) -> list[tuple[int, int, float, float, float]]:
    loader = DataLoader(
        WorkerDraws(),
        batch_size=None,
        num_workers=2,
        generator=loader_generator(3),
        **loader_options,  # type: ignore[arg-type]
    )
    return [tuple(x.item() if hasattr(x, "item") else x for x in sample) for sample in loader]


def test_each_worker_is_seeded_from_its_torch_seed_and_rank_as_documented():
    import numpy as np

    by_worker: dict[int, list[tuple[float, float, float]]] = {}
    for worker_seed, _, *values in samples(worker_init_fn=worker_init_fn):
        by_worker.setdefault(worker_seed, []).append(tuple(values))  # type: ignore[arg-type]
    assert len(by_worker) == 2
    for worker_seed, drawn in by_worker.items():
        seed = derive_seed(worker_seed, "worker", 0)
        python = random.Random(seed)
        legacy = np.random.RandomState([seed & 0xFFFFFFFF, seed >> 32, 1])
        generator = torch.Generator().manual_seed(seed)
        expected = [
            (python.random(), legacy.random(), torch.rand((), generator=generator).item())
            for _ in drawn
        ]
        assert drawn == expected


class RegisteredDraws(Dataset[tuple[int, float]]):
    """Each sample: the worker's torch seed and a draw from a registered numpy Generator."""

    def __init__(self, generator: object) -> None:
        self.generator = generator

    def __len__(self) -> int:
        return 4

    def __getitem__(self, index: int) -> tuple[int, float]:
        info = get_worker_info()
        assert info is not None
        return info.seed, float(self.generator.random())  # type: ignore[attr-defined]


def test_registered_generators_are_seeded_per_worker():
    import numpy as np

    generator = np.random.default_rng(1)
    reprorng.register(generator)
    try:
        loader = DataLoader(
            RegisteredDraws(generator),
            batch_size=None,
            num_workers=2,
            generator=loader_generator(3),
            worker_init_fn=worker_init_fn,
            multiprocessing_context="fork",
        )
        by_worker: dict[int, list[float]] = {}
        for worker_seed, value in loader:
            by_worker.setdefault(int(worker_seed), []).append(float(value))
    finally:
        reprorng.unregister(generator)
    assert len(by_worker) == 2
    for worker_seed, drawn in by_worker.items():
        fresh = np.random.default_rng(derive_seed(worker_seed, "worker", 0))
        assert drawn == [fresh.random() for _ in drawn]


def add_offset(worker_id: int) -> None:
    info = get_worker_info()
    assert info is not None
    info.dataset.offset = 100  # type: ignore[attr-defined]


def test_a_chained_init_function_runs_after_the_seeding():
    plain = samples(worker_init_fn=worker_init_fn)
    chained = samples(worker_init_fn=WorkerInit(add_offset))
    assert [s[1] for s in chained] == [s[1] + 100 for s in plain]
    assert [s[2:] for s in chained] == [s[2:] for s in plain]


def test_workers_started_by_spawn_draw_as_forked_ones_do():
    forked = samples(worker_init_fn=WorkerInit(add_offset), multiprocessing_context="fork")
    spawned = samples(worker_init_fn=WorkerInit(add_offset), multiprocessing_context="spawn")
    assert spawned == forked


def test_worker_init_functions_pickle():
    assert pickle.loads(pickle.dumps(worker_init_fn)).then is None
    assert pickle.loads(pickle.dumps(WorkerInit(add_offset))).then is add_offset
    assert repr(worker_init_fn) == "reprorng.worker_init_fn"


def test_worker_init_wants_a_function():
    with pytest.raises(TypeError, match="WorkerInit takes a function of the worker id"):
        WorkerInit(3)  # type: ignore[arg-type]


def test_loader_generator_orders_independently_of_the_global_stream():
    def order(seed: int) -> list[int]:
        loader: DataLoader[int] = DataLoader(
            list(range(10)),  # type: ignore[arg-type]
            shuffle=True,
            generator=loader_generator(seed),
        )
        return [int(batch) for batch in loader]

    first = order(11)
    torch.rand(100)
    assert order(11) == first
    assert order(12) != first


def test_loader_generator_resolves_its_seed_like_fixed_rng(monkeypatch):
    monkeypatch.setenv("REPRORNG_SEED", "11")
    assert loader_generator().initial_seed() == derive_seed(11, "loader")
    with pytest.raises(ValueError, match="seed must be in"):
        loader_generator(-1)


def test_the_names_are_exported():
    assert reprorng.worker_init_fn is worker_init_fn
    assert sys.modules["reprorng.data"].loader_generator is loader_generator


def test_a_loader_generator_does_not_repeat_the_blocks_torch_stream():
    with fixed_rng(42):
        order = torch.randperm(10, generator=loader_generator(42))
        global_order = torch.randperm(10)
    assert not torch.equal(order, global_order)
    expected = torch.Generator().manual_seed(derive_seed(42, "loader"))
    assert torch.equal(order, torch.randperm(10, generator=expected))
