"""``assert_reproducible``: run a function several times under one seed; its results must match.

Results are compared bit for bit, structure by structure
(:mod:`reprorng._results`); what cannot be compared is refused with a
:class:`TypeError` naming its type. When they differ, the function runs
twice more under a trace, and the error says where those runs part.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any, TypeVar

from reprorng._block import fixed_rng
from reprorng._results import first_difference
from reprorng._seed import SeedLike, short_repr

__all__ = ["assert_reproducible", "first_difference"]

T = TypeVar("T")


def assert_reproducible(
    fn: Callable[..., T], /, *args: Any, seed: SeedLike = 0, runs: int = 2, **kwargs: Any
) -> T:
    """Call ``fn(*args, **kwargs)`` in ``fixed_rng(seed)`` ``runs`` times; return the first result.

    Raises :class:`AssertionError` if a result differs from the first, with
    the first divergence between two more runs made under a trace.
    """
    if not callable(fn):
        raise TypeError(f"assert_reproducible needs a function to call, got {short_repr(fn)}")
    if isinstance(runs, bool) or not isinstance(runs, int):
        raise TypeError(f"runs must be a whole number, got {short_repr(runs)}")
    if runs < 2:
        raise ValueError(f"runs must be at least 2 to compare, got {runs}")
    chosen = fixed_rng(seed).seed  # checked, and drawn once if it is None
    results = []
    for _ in range(runs):
        with fixed_rng(chosen):
            results.append(fn(*args, **kwargs))
    for run, result in enumerate(results[1:], 2):
        difference = first_difference(results[0], result)
        if difference is not None:
            raise AssertionError(_report(fn, chosen, run, difference, args, kwargs))
    return results[0]


def _report(
    fn: Callable[..., Any], seed: int, run: int, difference: str, args: Any, kwargs: Any
) -> str:
    from reprorng.trace import first_divergence, tracing

    traces = []
    for _ in range(2):
        # The trace up to an error is what counts.
        with tracing() as recorder, fixed_rng(seed), contextlib.suppress(Exception):
            fn(*args, **kwargs)
        traces.append(recorder.trace())
    name = getattr(fn, "__qualname__", short_repr(fn))
    lines = [
        f"{name} is not reproducible with seed {seed}: run 1 and run {run} differ at {difference}"
    ]
    divergence = first_divergence(*traces)
    if divergence is None:
        lines.append("two more runs under a trace did not part: nothing traced differed")
    else:
        lines.extend(divergence.lines())
    return "\n".join(lines)
