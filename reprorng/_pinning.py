"""Entropy pinning: generators created without a seed get one, so an unedited program repeats.

Opt-in (``reprorng run --pin-entropy``, ``seed_everything(seed,
pin_entropy=True)``, ``fixed_rng(seed, pin_entropy=True)``). While it is on,
a generator made or reseeded without a seed takes
``derive_seed(seed, "pin", module, function, line, count)``: the seed in
force, the line that asked for it (the first frame outside numpy, torch,
Python's ``random`` and reprorng) and how many times that line has asked,
so two such generators never share a stream. Pinned:

* numpy: ``default_rng()``, ``RandomState()``, ``SeedSequence()``, bit
  generators made without a seed, ``np.random.seed(None)``: all take their
  entropy from the one name numpy draws it through
  (``numpy.random.bit_generator.randbits``), replaced while pinning is on;
* Python: ``random.Random()``, ``random.seed()`` (``Random.seed(None)``);
* torch: ``torch.seed()``.

Security entropy is never pinned: ``os.urandom``, ``secrets``,
``random.SystemRandom``, ``uuid``, ``ssl`` and ``hashlib`` are left alone.
``torch.Generator().seed()`` is not pinned either: it is a method of a type
torch does not let anyone change.
"""

from __future__ import annotations

import functools
import os
import random
import sys
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any, cast

from reprorng._seed import derive_seed

__all__ = ["Pinning", "pin_for_good", "pinned", "pinned_seed"]

# The pinning in force, innermost last: (seed, how many times each line has asked).
_stack: list[tuple[int, Counter[tuple[str, str, int]]]] = []
# The process-wide pinning of a run or of seed_everything, below every block's.
_base: list[tuple[int, Counter[tuple[str, str, int]]]] = []
_lock = threading.RLock()
#: Every pinned creation of this process: (what, file, function, line) -> how many.
pinned: Counter[tuple[str, str, str, int]] = Counter()

_OURS = os.path.dirname(__file__) + os.sep


@functools.cache
def _standard() -> str:
    """Where Python's own modules lie, which ask for entropy where it must stay real
    (tempfile's names, say). Looked up at the first pinning, not at every import."""
    import sysconfig

    return sysconfig.get_paths()["stdlib"] + os.sep


def _in_library(filename: str) -> bool:
    """Whether a frame is in a generator library or reprorng: not where entropy is asked."""
    if filename == random.__file__ or filename.startswith(_OURS):
        return True
    return f"{os.sep}numpy{os.sep}" in filename or f"{os.sep}torch{os.sep}" in filename


def _asking_frame() -> Any:
    """The frame that asked for entropy: the first outside the generator libraries and
    reprorng; ``None`` for Python's own modules, whose entropy stays real."""
    frame: Any = sys._getframe(3)
    while frame is not None and _in_library(frame.f_code.co_filename):
        frame = frame.f_back
    if frame is not None:
        filename = frame.f_code.co_filename
        if filename.startswith(_standard()) and "site-packages" not in filename:
            return None
    return frame


def pinned_seed(what: str) -> int | None:
    """The seed for a generator ``what`` made without one, or ``None`` when nothing is pinned."""
    with _lock:
        current = _stack[-1] if _stack else _base[-1] if _base else None
        if current is None:
            return None
        seed, counts = current
        frame = _asking_frame()
        if frame is None:
            return None
        code = frame.f_code
        # Keyed by module, not file: the same wherever the program lies.
        where = str(frame.f_globals.get("__name__", "?")), code.co_qualname, frame.f_lineno
        counts[where] += 1
        pinned[(what, os.path.relpath(code.co_filename), code.co_qualname, frame.f_lineno)] += 1
        return derive_seed(seed, "pin", *where, counts[where])


def pin_for_good(seed: int) -> None:
    """Pin from now on, for the whole process, from ``seed`` (a run, ``seed_everything``)."""
    install()
    with _lock:
        _base[:] = [(seed, Counter())]


class Pinning:
    """Pinning from a block's seed while the block is open, as a block's switches: with the
    determinism switches, if the block has them too (``inner``)."""

    __slots__ = ("inner", "seed")

    def __init__(self, seed: int, inner: Any = None) -> None:
        self.seed = seed
        self.inner = inner

    @property
    def warn_only(self) -> bool:
        return bool(self.inner is not None and self.inner.warn_only)

    def current(self) -> object:
        with _lock:
            return (self.inner.current() if self.inner is not None else None), list(_stack)

    def switch(self, prior: object | None = None) -> object:
        if prior is None:
            prior = self.current()
        inner_prior, _pins = cast(tuple[object, object], prior)
        if self.inner is not None:
            self.inner.switch(inner_prior)
        install()
        with _lock:
            _stack.append((self.seed, Counter()))
        return prior

    def restore(self, prior: object) -> None:
        inner_prior, pins = cast(tuple[object, list[Any]], prior)
        with _lock:
            _stack[:] = pins
        if self.inner is not None:
            self.inner.restore(inner_prior)


# -- what is replaced, once, while pinning is on somewhere ---------------------------------

_installed: list[bool] = []


def install() -> None:
    """Replace the entropy of unseeded generators, once: each replacement asks
    :func:`pinned_seed` and, when nothing is pinned, does what it always did."""
    if _installed:
        return
    _installed.append(True)
    _pin_python()
    from reprorng._imports import when_imported

    when_imported(_pin_numpy, "numpy.random")
    when_imported(_pin_torch, "torch")


def _pin_python() -> None:
    original: Callable[..., None] = random.Random.seed

    def seed(self: random.Random, a: Any = None, version: int = 2) -> None:
        if a is None:
            a = pinned_seed("random.Random")
        original(self, a, version)

    seed.__doc__ = original.__doc__
    random.Random.seed = seed  # type: ignore[method-assign]
    random.seed = random._inst.seed  # bound when random was imported


def _pin_numpy(np_random: Any) -> None:
    module: Any = sys.modules["numpy.random.bit_generator"]
    original: Callable[[int], int] = module.randbits

    def randbits(bits: int) -> int:
        value = pinned_seed("numpy")
        if value is None:
            return original(bits)
        return random.Random(value).getrandbits(bits)

    module.randbits = randbits


def _pin_torch(torch: Any) -> None:
    original: Callable[[], int] = torch.random.seed

    def seed() -> int:
        value = pinned_seed("torch.seed")
        if value is None:
            return original()
        torch.manual_seed(value)  # as torch.seed() then seeds: the CPU and every device
        return value

    seed.__doc__ = original.__doc__
    torch.random.seed = seed
    torch.seed = seed


def report() -> list[str]:
    """One line per line of the program whose generators were pinned, most first."""
    return [
        f"{filename}:{line} in {function}: {count} {what} generator(s) made without a seed"
        for (what, filename, function, line), count in pinned.most_common()
    ]
