"""The cost of a trace: a small CNN's training loop on CPU, traced against untraced.

Run with ``python benchmarks/trace_bench.py``. Traced and untraced loops run
in turns in one process, and the ratio of their median wall times is
reported. Exits 1 when the ratio misses its goal (at most 3).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch
from torch import nn

from reprorng import fixed_rng
from reprorng.trace import tracing

GOAL = 3.0


def model() -> nn.Module:
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


def train(steps: int, batch: int) -> tuple[float, int]:
    """A training loop on random 28x28 images; its seconds and the events a trace would see."""
    with fixed_rng(0):
        net = model()
        optimizer = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
        images = torch.randn(steps, batch, 1, 28, 28)
        labels = torch.randint(0, 10, (steps, batch))
        start = time.perf_counter()
        for step in range(steps):
            optimizer.zero_grad()
            loss = nn.functional.cross_entropy(net(images[step]), labels[step])
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
        return time.perf_counter() - start, 0


def traced(steps: int, batch: int) -> tuple[float, int]:
    with tracing() as recorder:
        seconds, _ = train(steps, batch)
        start = time.perf_counter()
        events = len(recorder.trace().events)  # device hashes read back: part of the cost
        seconds += time.perf_counter() - start
    return seconds, events


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7, help="turns of each (default 7)")
    parser.add_argument("--steps", type=int, default=20, help="training steps (default 20)")
    parser.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    args = parser.parse_args()
    train(2, args.batch)  # warm up both
    traced(2, args.batch)
    plain, with_trace = [], []
    events = 0
    for _ in range(args.rounds):
        plain.append(train(args.steps, args.batch)[0])
        seconds, events = traced(args.steps, args.batch)
        with_trace.append(seconds)
    untraced_s, traced_s = statistics.median(plain), statistics.median(with_trace)
    ratio = traced_s / untraced_s
    print(
        f"python {sys.version.split()[0]}, torch {torch.__version__}, CPU threads {torch.get_num_threads()}"
    )
    print(f"small CNN, {args.steps} steps of batch {args.batch}, {events} events traced")
    print(f"untraced: {untraced_s * 1000:.0f} ms   traced: {traced_s * 1000:.0f} ms")
    ok = ratio <= GOAL
    print(f"traced / untraced: {ratio:.2f}  <= {GOAL}  {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
