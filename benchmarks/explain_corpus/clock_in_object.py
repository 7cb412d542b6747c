"""A timer object keeps the time in an attribute, which reaches the result."""

import time


class Meter:
    def __init__(self) -> None:
        self.total = 0.0

    def add(self, value: float) -> None:
        self.total += value * (1 + time.time() % 1e-3)  # cause: clock


meter = Meter()
for step in range(3):
    meter.add(step)
print(f"{meter.total:.12f}")
