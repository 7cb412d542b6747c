"""Seeded coroutines, generators and threads: run with ``python examples/async_and_threads.py``."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import torch

from reprorng import reproducible


# An augmentation step that awaits (say, I/O) between its random draws.
@reproducible(7)
async def augment(image: torch.Tensor) -> torch.Tensor:
    shift = torch.randn(1)
    await asyncio.sleep(0)  # other tasks run here, on their own streams
    return image + shift + 0.1 * torch.randn_like(image)


async def unseeded_task(steps: int) -> list[float]:
    """Ordinary code that draws from the global stream between the others' steps."""
    drawn = []
    for _ in range(steps):
        drawn.append(random.random())
        await asyncio.sleep(0)
    return drawn


async def main() -> None:
    image = torch.zeros(3)
    alone = await augment(image)
    random.seed(0)
    together = await asyncio.gather(augment(image), unseeded_task(3), augment(image))
    print("augment alone:               ", alone.tolist())
    print("augment in gather, twice:    ", together[0].tolist(), together[2].tolist())
    assert torch.equal(together[0], alone)
    assert torch.equal(together[2], alone)

    random.seed(0)
    expected = [random.random() for _ in range(3)]
    print("unseeded task saw its stream:", together[1] == expected)
    assert together[1] == expected


asyncio.run(main())


# A generator: each one yields its own sequence, however the calls interleave.
@reproducible(3)
def crops(count: int) -> Iterator[tuple[int, int]]:
    for _ in range(count):
        yield random.randrange(100), random.randrange(100)


first, second = crops(3), crops(3)
interleaved = [(next(first), next(second)) for _ in range(3)]
print("two generators, interleaved: ", interleaved)
assert [a for a, _ in interleaved] == [b for _, b in interleaved] == list(crops(3))


# Threads: the seeded calls take turns, so each gets the result it gets alone.
@reproducible(11)
def evaluate(scale: float) -> float:
    return scale * torch.rand(1).item()


with ThreadPoolExecutor(max_workers=4) as pool:
    results = list(pool.map(evaluate, [1.0, 2.0, 3.0, 4.0] * 5))
print("thread pool results:         ", [round(r, 4) for r in results[:4]])
assert results == [evaluate(scale) for scale in [1.0, 2.0, 3.0, 4.0]] * 5
