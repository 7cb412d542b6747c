"""``assert_reproducible``: run a function several times under one seed; its results must match.

Results are compared bit for bit: tensors and arrays by dtype, shape and
bytes, floats by their bits (a NaN equals the same NaN), and lists, tuples
and dicts of them element by element. When they differ, the function runs
twice more under a trace, and the error says where those runs part.
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from typing import Any, TypeVar

from reprorng._block import fixed_rng
from reprorng._seed import SeedLike, short_repr

__all__ = ["assert_reproducible", "first_difference"]

T = TypeVar("T")


def _tensor_difference(first: Any, second: Any, where: str) -> str | None:
    import torch

    if not isinstance(second, torch.Tensor):
        return f"{where}: a tensor against {type(second).__name__}"
    if (first.dtype, first.shape, first.device) != (second.dtype, second.shape, second.device):
        return (
            f"{where}: {first.dtype} {tuple(first.shape)} on {first.device} against "
            f"{second.dtype} {tuple(second.shape)} on {second.device}"
        )
    mine = first.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    theirs = second.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return _bytes_difference(
        mine.view(torch.uint8).numpy(), theirs.view(torch.uint8).numpy(), where, mine, theirs
    )


def _bytes_difference(mine: Any, theirs: Any, where: str, values: Any, others: Any) -> str | None:
    """Where two flat arrays of the same dtype and size first differ in their bytes.

    ``mine`` and ``theirs`` are the bytes (uint8); ``values`` and ``others`` the
    elements, to show.
    """
    if mine.tobytes() == theirs.tobytes():
        return None
    count = values.shape[0]
    unequal = (mine.reshape(count, -1) != theirs.reshape(count, -1)).any(axis=1)
    index = int(unequal.argmax())
    a, b = values[index].item(), others[index].item()
    return f"{where}: flattened element {index} is {a!r} against {b!r}"


def _bits(value: float | complex) -> bytes:
    """A Python number's bits: a NaN equals the same NaN, ``0.0`` is not ``-0.0``."""
    if isinstance(value, complex):
        return struct.pack("<dd", value.real, value.imag)
    return struct.pack("<d", value)


def first_difference(first: object, second: object, where: str = "result") -> str | None:
    """Where two results first differ, as a sentence; ``None`` if they are the same bit for bit."""
    if type(first) is not type(second):
        return f"{where}: {type(first).__name__} against {type(second).__name__}"
    module = type(first).__module__.partition(".")[0]
    if module == "torch" and hasattr(first, "dtype") and hasattr(first, "shape"):
        return _tensor_difference(first, second, where)
    if module == "numpy":
        import numpy

        mine, theirs = numpy.asarray(first), numpy.asarray(second)
        if (mine.dtype, mine.shape) != (theirs.dtype, theirs.shape):
            return f"{where}: {mine.dtype} {mine.shape} against {theirs.dtype} {theirs.shape}"
        if mine.dtype.hasobject:
            return None if mine.tolist() == theirs.tolist() else f"{where}: the objects differ"
        mine, theirs = (
            numpy.ascontiguousarray(mine).reshape(-1),
            numpy.ascontiguousarray(theirs).reshape(-1),
        )
        return _bytes_difference(
            mine.view(numpy.uint8), theirs.view(numpy.uint8), where, mine, theirs
        )
    if isinstance(first, float | complex):
        assert isinstance(second, float | complex)  # the same type, checked above
        if _bits(first) != _bits(second):
            return f"{where}: {first!r} against {second!r}"
        return None
    if isinstance(first, list | tuple):
        assert isinstance(second, list | tuple)
        if len(first) != len(second):
            return f"{where}: {len(first)} items against {len(second)}"
        for index, (mine, theirs) in enumerate(zip(first, second, strict=True)):
            found = first_difference(mine, theirs, f"{where}[{index}]")
            if found is not None:
                return found
        return None
    if isinstance(first, dict):
        assert isinstance(second, dict)
        if list(first) != list(second):
            return f"{where}: keys {list(first)!r} against {list(second)!r}"
        for key in first:
            found = first_difference(first[key], second[key], f"{where}[{key!r}]")
            if found is not None:
                return found
        return None
    if first == second:
        return None
    return f"{where}: {short_repr(first)} against {short_repr(second)}"


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
