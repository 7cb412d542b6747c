"""One small object per family of random-number generators, behind one protocol.

A source knows whether it has anything to manage right now (``active``), and
how to ``capture`` its generators' complete state, ``seed`` them exactly as
their own library's seeding call does, and ``restore`` a captured state.

numpy and torch are only looked at once something else has imported them:
``sys.modules`` is consulted, never ``import``.
"""

from __future__ import annotations

import random
import sys
from typing import Any, Protocol

__all__ = ["SOURCES", "WATCHED_MODULES", "Source"]


class Source(Protocol):
    """The protocol every source of random numbers implements."""

    #: A short, stable name (``"random"``, ``"numpy"``, ``"torch"``, ``"cuda"``, ...).
    name: str

    def active(self) -> bool:
        """Whether there is anything to manage now (the library is imported, the device exists)."""

    def capture(self) -> object:
        """The complete state, as an object that later changes never alter."""

    def seed(self, seed: int) -> None:
        """Seed exactly as the library's own seeding call does; ``0 <= seed < 2**64``."""

    def restore(self, state: object) -> None:
        """Put back a state returned by :meth:`capture`."""


class PythonRandom:
    """The generator behind the functions of Python's :mod:`random` module."""

    name = "random"

    def active(self) -> bool:
        return True

    def capture(self) -> object:
        # The tuple includes ``gauss_next``, the cached second normal of ``random.gauss``.
        return random.getstate()

    def seed(self, seed: int) -> None:
        random.seed(seed)

    def restore(self, state: object) -> None:
        random.setstate(state)  # type: ignore[arg-type]


class NumpyGlobal:
    """numpy's global ``RandomState``, the one behind ``np.random.seed`` and ``np.random.rand``."""

    name = "numpy"

    def active(self) -> bool:
        return "numpy.random" in sys.modules

    @staticmethod
    def _global() -> Any:
        return sys.modules["numpy.random"].mtrand._rand

    def capture(self) -> object:
        # The dict form carries ``has_gauss``/``gauss``, the cached normal of the
        # legacy generator, next to a fresh copy of the Mersenne Twister key.
        return self._global().get_state(legacy=False)

    def seed(self, seed: int) -> None:
        # ``np.random.seed`` takes 32 bits. Larger seeds are split into their two
        # 32-bit words, low word first, and given as an array, which numpy's
        # legacy seeding mixes with ``init_by_array``: every seed below 2**64 gets
        # its own stream, and ``np.random.seed([seed & 0xFFFFFFFF, seed >> 32])``
        # replays it by hand.
        if seed < 2**32:
            self._global().seed(seed)
        else:
            self._global().seed([seed & 0xFFFFFFFF, seed >> 32])

    def restore(self, state: object) -> None:
        self._global().set_state(state)


def _torch() -> Any:
    """torch, if it is imported (and done importing), else ``None``."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "default_generator"):
        return None
    return torch


class TorchCPU:
    """torch's default CPU generator, the one ``torch.manual_seed`` seeds on the CPU."""

    name = "torch"

    def active(self) -> bool:
        return _torch() is not None

    def capture(self) -> object:
        # The state tensor includes the cached normal samples.
        return _torch().default_generator.get_state()

    def seed(self, seed: int) -> None:
        _torch().default_generator.manual_seed(seed)

    def restore(self, state: object) -> None:
        _torch().default_generator.set_state(state)


class _Lazy:
    """The captured state of an accelerator that was not initialised.

    Nothing is on the device yet; what decides its future state is torch's
    queue of seeding calls that initialisation will replay.
    """

    __slots__ = ("calls", "seed_all", "seed_one")

    def __init__(self, tracker: Any) -> None:
        self.seed_all = tracker.manual_seed_all_cb
        self.seed_one = tracker.manual_seed_cb
        self.calls = list(tracker.call_order)

    def put_back(self, tracker: Any) -> None:
        tracker.manual_seed_all_cb = self.seed_all
        tracker.manual_seed_cb = self.seed_one
        tracker.call_order = list(self.calls)


class TorchAccelerator:
    """Every device of one lazily initialised torch accelerator (``cuda``, ``xpu``, ``mtia``).

    An accelerator that the process has not initialised is never initialised
    here. Seeding it queues torch's own lazy seeding call; on restore the queue
    is put back as it was, so no seed queued inside a block fires later. If the
    block itself initialised the device, each device generator is reset to a
    fresh generator's state and the queue as it was at entry is replayed: the
    state initialisation would have produced had the block not run.
    """

    def __init__(self, name: str) -> None:
        self.name = name

    def _module(self) -> Any:
        torch = _torch()
        return None if torch is None else getattr(torch, self.name, None)

    def active(self) -> bool:
        module = self._module()
        return module is not None and bool(module.is_available())

    def capture(self) -> object:
        module = self._module()
        if module.is_initialized():
            return tuple(module.get_rng_state_all())
        return _Lazy(module._lazy_seed_tracker)

    def seed(self, seed: int) -> None:
        self._module().manual_seed_all(seed)

    def restore(self, state: object) -> None:
        module = self._module()
        if not isinstance(state, _Lazy):
            module.set_rng_state_all(state)
            return
        state.put_back(module._lazy_seed_tracker)
        if not module.is_initialized():
            return
        # The block initialised the device: reset it, then replay the queue.
        torch = _torch()
        for index in range(module.device_count()):
            fresh = torch.Generator(device=torch.device(self.name, index))
            module.default_generators[index].set_state(fresh.get_state())
        for call in state.calls:
            if call is not None:
                callback, _stack = call
                callback()


class TorchMPS:
    """The Apple MPS device generator (single device, no lazy initialisation)."""

    name = "mps"

    def active(self) -> bool:
        torch = _torch()
        return torch is not None and bool(torch.backends.mps.is_available())

    def capture(self) -> object:
        return _torch().mps.get_rng_state()

    def seed(self, seed: int) -> None:
        _torch().mps.manual_seed(seed)

    def restore(self, state: object) -> None:
        _torch().mps.set_rng_state(state)


#: The sources every block manages, in the order they are captured and seeded.
SOURCES: tuple[Source, ...] = (
    PythonRandom(),
    NumpyGlobal(),
    TorchCPU(),
    TorchAccelerator("cuda"),
    TorchAccelerator("xpu"),
    TorchAccelerator("mtia"),
    TorchMPS(),
)

#: Modules whose import makes a source active; a block open at their import seeds them.
WATCHED_MODULES: tuple[str, ...] = ("numpy.random", "torch")
