"""Coroutines' results taken as they complete."""

import asyncio
import random


async def fetch(i: int) -> int:
    await asyncio.sleep(random.SystemRandom().random() / 50)  # only the timing varies
    return i


async def main() -> list[int]:
    got = []
    for done in asyncio.as_completed([fetch(i) for i in range(5)]):  # cause: schedule
        got.append(await done)
    return got


print(asyncio.run(main()))
