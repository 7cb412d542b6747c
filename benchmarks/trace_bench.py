"""The cost of a trace: small CNNs' training loops on CPU, and a loop of tiny operators,
traced against untraced.

Run with ``python benchmarks/trace_bench.py``. Each loop runs traced and
untraced in turns in one process, and the ratio of their median wall times
is printed. Goals: at most 1.5 on the network of PyTorch's MNIST example; at
most 10 on a loop of operators on four numbers each (``x = x + rand(4)``),
traced into a file as it goes, with the most events held at once printed. A
lighter network, with less arithmetic per byte of activations (so relatively
more hashing), is reported beside them. Exits 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

import torch
from torch import nn

from reprorng import fixed_rng
from reprorng.trace import Event, tracing

GOAL = 1.5
#: Traced against untraced, for a loop of operators on four numbers each.
SMALL_GOAL = 10.0


def mnist_example() -> nn.Module:
    """The network of PyTorch's MNIST example."""
    return nn.Sequential(
        nn.Conv2d(1, 32, 3),
        nn.ReLU(),
        nn.Conv2d(32, 64, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Dropout(0.25),
        nn.Flatten(),
        nn.Linear(9216, 128),
        nn.ReLU(),
        nn.Dropout(0.5),
        nn.Linear(128, 10),
    )


def lighter() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 8, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(16 * 7 * 7, 10),
    )


Network = Callable[[], nn.Module]


def train(network: Network, steps: int, batch: int) -> float:
    """Seconds for a training loop on random 28x28 images."""
    with fixed_rng(0):
        net = network()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        images = torch.randn(steps, batch, 1, 28, 28)
        labels = torch.randint(0, 10, (steps, batch))
        start = time.perf_counter()
        for step in range(steps):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(images[step]), labels[step])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        return time.perf_counter() - start


def traced(network: Network, steps: int, batch: int, lines: bool = False) -> tuple[float, int]:
    """Seconds for the same loop traced (the trace read out included), and its events;
    ``lines``: its lines followed too, as ``reprorng check``'s traced runs do."""
    with tracing(lines=lines) as recorder:
        seconds = train(network, steps, batch)
        start = time.perf_counter()
        events = len(recorder.trace().events)
        seconds += time.perf_counter() - start
    return seconds, events


def compare(
    network: Network, rounds: int, steps: int, batch: int
) -> tuple[float, float, float, int]:
    """Median seconds untraced, traced, and traced with lines followed; and the events."""
    train(network, 2, batch)  # warm up all three
    traced(network, 2, batch)
    traced(network, 2, batch, lines=True)
    plain, with_trace, with_lines = [], [], []
    events = 0
    for _ in range(rounds):
        plain.append(train(network, steps, batch))
        seconds, events = traced(network, steps, batch)
        with_trace.append(seconds)
        with_lines.append(traced(network, steps, batch, lines=True)[0])
    medians = map(statistics.median, (plain, with_trace, with_lines))
    return (*medians, events)  # type: ignore[return-value]


def small_operators(iterations: int) -> float:
    """Seconds for a loop of operators on four numbers each, where tracing weighs most."""
    x = torch.zeros(4)
    start = time.perf_counter()
    for _ in range(iterations):
        x = x + torch.rand(4)
    return time.perf_counter() - start


def small_operators_traced(iterations: int, folder: str) -> tuple[float, int, int]:
    """Seconds for the loop traced into a file as it goes, the most events the recorder
    held at once, and the events written."""
    held = [0]
    with tracing(out=os.path.join(folder, "loop.trace")) as recorder:
        sink = recorder.sink
        assert sink is not None

        def counting(batch: list[Event]) -> None:
            held[0] = max(held[0], len(batch))
            sink(batch)

        recorder.sink = counting
        seconds = small_operators(iterations)
    return seconds, max(held[0], len(recorder.events)), recorder.count


def compare_small(rounds: int, iterations: int) -> tuple[float, float, int, int]:
    """Median seconds of the small-operator loop untraced and traced; the most events held
    and the events written."""
    small_operators(iterations)
    plain, traced_s = [], []
    held = written = 0
    with tempfile.TemporaryDirectory() as folder:
        small_operators_traced(100, folder)  # warm up
        for _ in range(rounds):
            plain.append(small_operators(iterations))
            seconds, held, written = small_operators_traced(iterations, folder)
            traced_s.append(seconds)
    return statistics.median(plain), statistics.median(traced_s), held, written


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="turns of each (default 7)")
    parser.add_argument("--steps", type=int, default=10, help="training steps (default 10)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    parser.add_argument(
        "--iterations", type=int, default=10_000, help="small-operator loop (default 10000)"
    )
    args = parser.parse_args()
    threads = torch.get_num_threads()
    print(f"python {sys.version.split()[0]}, torch {torch.__version__}, CPU threads {threads}")
    print(f"{args.steps} training steps of batch {args.batch}, median of {args.rounds} rounds")
    failed = False
    for name, network, goal in (
        ("MNIST example CNN", mnist_example, GOAL),
        ("lighter CNN", lighter, None),
    ):
        untraced_s, traced_s, lines_s, events = compare(
            network, args.rounds, args.steps, args.batch
        )
        ratio = traced_s / untraced_s
        verdict = ""
        if goal is not None:
            failed |= ratio > goal
            verdict = f"  <= {goal}  {'ok' if ratio <= goal else 'MISSED'}"
        print(
            f"{name:<18} untraced {untraced_s * 1000:6.0f} ms  traced {traced_s * 1000:6.0f} ms"
            f"  {events:5d} events  traced / untraced: {ratio:.2f}{verdict}"
        )
        print(f"{'':<18} lines followed too (check's traced runs): {lines_s / untraced_s:.2f}")
    plain_s, traced_s, held, written = compare_small(args.rounds, args.iterations)
    ratio = traced_s / plain_s
    failed |= ratio > SMALL_GOAL
    verdict = "ok" if ratio <= SMALL_GOAL else "MISSED"
    print(
        f"{'small operators':<18} untraced {plain_s * 1000:6.0f} ms"
        f"  traced {traced_s * 1000:6.0f} ms  {written:5d} events"
        f"  traced / untraced: {ratio:.2f}  <= {SMALL_GOAL}  {verdict}"
    )
    print(f"{'':<18} at most {held} events held at once, the rest streamed to the file")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
