"""reprorng against its peers: the cost of one seeded round trip, in one process.

Run with ``python benchmarks/bench.py`` after ``pip install -e ".[bench]"``.
Every contender is timed in the same process, in interleaved rounds, and the
median per round trip is reported, so the machine's noise falls on all of them
alike and the ratios are what count. Exits 1 when a goal ratio is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import timeit
import types
from collections.abc import Callable, Generator, Iterator
from contextlib import AbstractContextManager

import numpy as np
import torch

from reprorng import RngState, fixed_rng, register, reproducible, snapshot, unregister

Contender = Callable[[], object]


def manual() -> None:
    """The snippet people copy: save, seed, (run), restore, for each library.

    With CUDA initialised (as ``fork_rng`` leaves it), every device too, as a block does.
    """
    saved = random.getstate(), np.random.get_state(), torch.get_rng_state()
    started = torch.cuda.is_initialized()  # type: ignore[no-untyped-call]
    devices = torch.cuda.get_rng_state_all() if started else None
    random.seed(42)
    np.random.seed(42)
    torch.manual_seed(42)  # CUDA included
    random.setstate(saved[0])
    np.random.set_state(saved[1])
    torch.set_rng_state(saved[2])
    if devices is not None:
        torch.cuda.set_rng_state_all(devices)


def block() -> None:
    with fixed_rng(42):
        pass


@reproducible(42)
def decorated() -> None:
    pass


def generator_resume() -> Contender:
    """One resumption of a decorated generator: its streams swapped in, then out."""

    @reproducible(42)
    def steps() -> Iterator[None]:
        while True:
            yield

    generator = steps()
    return lambda: next(generator)


def coroutine_resume() -> Contender:
    """One resumption of a decorated coroutine at an ``await`` that yields to the loop."""

    @types.coroutine
    def suspend() -> Generator[None, None, None]:
        yield

    @reproducible(42)
    async def steps() -> None:
        while True:
            await suspend()

    coroutine = steps()
    return lambda: coroutine.send(None)


def new_seed_each_time() -> Contender:
    """A block per sample, ``with fixed_rng(index):``: no two seeds alike."""
    counter = iter(range(2**62))

    def run() -> None:
        with fixed_rng(next(counter)):
            pass

    return run


def from_context(make: Callable[[], AbstractContextManager[object]]) -> Contender:
    def run() -> None:
        with make():
            pass

    return run


def peers() -> Iterator[tuple[str, Contender]]:
    yield FORK, from_context(torch.random.fork_rng)
    try:
        from pytorch_lightning.utilities.seed import isolate_rng
    except ImportError:
        pass
    else:
        yield ISOLATE, from_context(isolate_rng)
    # Hypothesis as it is without reprorng: its plugin would add every other source.
    os.environ.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
    try:
        from hypothesis.internal.entropy import deterministic_PRNG
    except ImportError:
        pass
    else:
        yield "Hypothesis deterministic_PRNG", from_context(lambda: deterministic_PRNG(42))


def measure(contenders: dict[str, Contender], rounds: int, number: int) -> dict[str, float]:
    """Median microseconds per call, over interleaved rounds in shuffled order."""
    samples: dict[str, list[float]] = {name: [] for name in contenders}
    order = list(contenders)
    shuffle = random.Random(0).shuffle  # a private generator: the globals are measured
    for name in order:
        contenders[name]()  # warm up
    for _ in range(rounds):
        shuffle(order)
        for name in order:
            seconds = timeit.timeit(contenders[name], number=number)
            samples[name].append(seconds / number * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def import_cost() -> tuple[float, list[str]]:
    """Microseconds to import reprorng (``-X importtime``), and heavy modules it pulled in."""
    code = "import sys, reprorng; print(*[m for m in ('numpy', 'torch') if m in sys.modules])"
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True, check=True
    )
    total = 0.0
    for line in result.stderr.splitlines():
        parts = [part.strip() for part in line.split("|")]
        if len(parts) == 3 and parts[2] == "reprorng":
            total = float(parts[1])
    return total, result.stdout.split()


def registry_cost(rounds: int, number: int) -> dict[int, float]:
    """Median µs of ``fixed_rng(42)`` with 0, 8 and 16 registered generators of mixed kinds."""
    makers = (
        np.random.default_rng,
        lambda seed: np.random.Generator(np.random.Philox(seed)),
        np.random.RandomState,
        lambda seed: torch.Generator().manual_seed(seed),
        random.Random,
    )
    generators = [makers[index % len(makers)](index) for index in range(16)]
    medians: dict[int, float] = {}
    for count in (0, 8, 16):
        for generator in generators[:count]:
            register(generator)
        medians[count] = measure({"block": block}, rounds, number)["block"]
        for generator in generators[:count]:
            unregister(generator)
    return medians


def random_registry_cost(rounds: int, number: int) -> float:
    """µs that each of 16 registered ``random.Random`` adds to ``fixed_rng(42)``.

    The median of five estimates, each from a block timed without them and with them.
    """
    generators = [random.Random(index) for index in range(16)]
    estimates = []
    for _ in range(5):
        alone = measure({"block": block}, rounds, number)["block"]
        for generator in generators:
            register(generator)
        try:
            with_them = measure({"block": block}, rounds, number)["block"]
        finally:
            for generator in generators:
                unregister(generator)
        estimates.append((with_them - alone) / len(generators))
    return statistics.median(estimates)


def snapshot_cost(rounds: int, number: int) -> tuple[dict[str, float], int]:
    """Median µs of taking, saving, reading and restoring a snapshot; and its size in bytes."""
    generators = [np.random.default_rng(1), torch.Generator().manual_seed(2)]
    state = snapshot(generators=generators)
    saved = state.to_bytes()
    steps: dict[str, Contender] = {
        "snapshot()": lambda: snapshot(generators=generators),
        "to_bytes()": state.to_bytes,
        "RngState.from_bytes()": lambda: RngState.from_bytes(saved),
        "restore()": state.restore,
    }
    return measure(steps, rounds, number), len(saved)


def leave_cached_normals() -> None:
    """Leave a cached normal in every generator: the state that costs most to restore."""
    random.gauss(0, 1)
    np.random.standard_normal()
    torch.randn(1)


def clear_cached_normals() -> None:
    random.seed(1)
    np.random.seed(1)
    torch.manual_seed(1)


def report(title: str, medians: dict[str, float]) -> list[tuple[str, float, float, bool]]:
    """Print one table; return the goals as (label, ratio, target, higher_is_better)."""
    bare = medians[BLOCK]
    print(f"\n{title}")
    print(f"{'contender':<36} {'median us':>10} {'/ reprorng':>11}")
    for name, value in sorted(medians.items(), key=lambda item: item[1]):
        print(f"{name:<36} {value:>10.1f} {value / bare:>11.2f}")
    fork = medians[FORK]
    goals = [
        ("fixed_rng / fork_rng", bare / fork, BLOCK_GOAL, False),
        ("new seed each block / fork_rng", medians[PER_SAMPLE] / fork, NEW_SEED_GOAL, False),
        ("manual / fixed_rng", medians[MANUAL] / bare, 20.0, True),
        ("@reproducible / fixed_rng", medians[DECORATED] / bare, DECORATED_GOAL, False),
        ("generator resume / fixed_rng", medians[GENERATOR] / bare, RESUME_GOAL, False),
        ("coroutine resume / fixed_rng", medians[COROUTINE] / bare, RESUME_GOAL, False),
    ]
    if ISOLATE in medians:
        goals.append(("isolate_rng / fixed_rng", medians[ISOLATE] / bare, 6.0, True))
    return goals


BLOCK = "reprorng fixed_rng(42)"
DECORATED = "reprorng @reproducible(42) call"
PER_SAMPLE = "reprorng fixed_rng(i), i = 0, 1, ..."
MANUAL = "manual get/seed/set (3 libraries)"
GENERATOR = "reprorng decorated generator, per next()"
COROUTINE = "reprorng decorated coroutine, per resume"
# A block's round trip against torch's own (which neither seeds nor covers numpy and
# Python): the same seed each time, a new seed each time; a decorated call against a block.
BLOCK_GOAL = 1.8
NEW_SEED_GOAL = 2.5
DECORATED_GOAL = 1.05
# A resumption captures two whole states (the body's and the caller's), where
# a block captures one and sets a seeded state it keeps: it cannot match a block.
RESUME_GOAL = 2.0
ISOLATE = "Lightning isolate_rng"
FORK = "torch.random.fork_rng"
# The most one more registered random.Random may add to a block, in µs.
PER_RANDOM_GOAL = 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41, help="interleaved rounds (default 41)")
    parser.add_argument("--number", type=int, default=300, help="calls per timing (default 300)")
    args = parser.parse_args()

    np.random.random()  # numpy 2 imports numpy.random on first use
    contenders: dict[str, Contender] = {
        BLOCK: block,
        PER_SAMPLE: new_seed_each_time(),
        DECORATED: decorated,
        GENERATOR: generator_resume(),
        COROUTINE: coroutine_resume(),
        MANUAL: manual,
        **dict(peers()),
    }
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, torch {torch.__version__}, ")
    print(f"CUDA devices: {torch.cuda.device_count() if torch.cuda.is_available() else 0}")
    if ISOLATE not in contenders:
        print("Lightning isolate_rng: not installed (pip install -e '.[bench]')")

    goals = []
    for title, prepare in (
        ("no cached normals", clear_cached_normals),
        ("a cached normal in every generator", leave_cached_normals),
    ):
        prepare()
        goals += report(title, measure(contenders, args.rounds, args.number))

    print("\ngoal                                 ratio  target")
    failed = False
    for label, ratio, target, higher in goals:
        ok = ratio >= target if higher else ratio <= target
        failed |= not ok
        sign = ">=" if higher else "<="
        print(f"{label:<36} {ratio:>5.2f}  {sign} {target:<5} {'ok' if ok else 'MISSED'}")

    microseconds, heavy = import_cost()
    failed |= bool(heavy)
    pulled = " and ".join(heavy) or "neither numpy nor torch"
    print(f"\nimport reprorng: {microseconds / 1000:.1f} ms, imports {pulled}")

    rounds, number = max(3, args.rounds // 4), max(1, args.number // 10)
    with_registered = registry_cost(rounds, number)
    first, second = (
        (with_registered[8] - with_registered[0]) / 8,
        (with_registered[16] - with_registered[8]) / 8,
    )
    print(
        f"per extra registered generator: {first:.1f} us for the first 8, "
        f"{second:.1f} us for the next 8 (fixed_rng(42) alone {with_registered[0]:.1f} us)"
    )
    per_random = random_registry_cost(max(3, args.rounds // 2), args.number)
    ok = per_random <= PER_RANDOM_GOAL
    failed |= not ok
    print(
        f"per extra registered random.Random: {per_random:.2f} us "
        f"(<= {PER_RANDOM_GOAL} {'ok' if ok else 'MISSED'})"
    )
    steps, size = snapshot_cost(rounds, number)
    print(f"snapshot of the globals and 2 generators, {size} bytes saved:")
    for name, value in steps.items():
        print(f"  {name:<22} {value:>8.1f} us")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
