"""One small object per family of random-number generators, behind one protocol.

A source knows whether it has anything to manage right now (``active``), and
how to ``capture`` its generators' complete state, ``seed`` them exactly as
their own library's seeding call does, and ``restore`` a captured state.

numpy and torch are only looked at once something else has imported them:
``sys.modules`` is consulted, never ``import``.
"""

from __future__ import annotations

import ctypes
import random
import struct
import sys
from typing import Any, Protocol, cast

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


# numpy's Mersenne Twister state as it lies in memory: 624 key words, then the position.
_MT19937_MEMORY = struct.Struct("=624Ii")


class NumpyGlobal:
    """numpy's global ``RandomState``, the one behind ``np.random.seed`` and ``np.random.rand``.

    Its ``get_state`` copies the 624-word key one element at a time. For the
    usual Mersenne Twister bit generator the key is read from the generator's
    memory in one copy (``BitGenerator.ctypes.state_address``) instead, and put
    back with ``set_state``, which takes the key as a tuple quickly.
    """

    name = "numpy"

    def __init__(self) -> None:
        self._layout_checked: tuple[object, int] | None = None

    def active(self) -> bool:
        return "numpy.random" in sys.modules

    @staticmethod
    def _random() -> Any:
        return sys.modules["numpy.random"]

    def _address(self, bit_generator: Any) -> int | None:
        """Where the Mersenne Twister state lies, once its layout is confirmed; else ``None``."""
        checked = self._layout_checked
        if checked is not None and checked[0] is bit_generator:
            return checked[1]
        if type(bit_generator).__name__ != "MT19937":
            return None
        address: int = bit_generator.ctypes.state_address
        memory = _MT19937_MEMORY.unpack(ctypes.string_at(address, _MT19937_MEMORY.size))
        public = bit_generator.state["state"]
        if list(memory[:624]) != public["key"].tolist() or memory[624] != public["pos"]:
            return None
        self._layout_checked = (bit_generator, address)
        return address

    def capture(self) -> object:
        np_random = self._random()
        bit_generator = np_random.get_bit_generator()
        address = self._address(bit_generator)
        if address is None:
            # Any other bit generator: the dict form, cached gaussian included.
            return bit_generator, np_random.get_state(legacy=False)
        memory = ctypes.string_at(address, _MT19937_MEMORY.size)
        # The cached gaussian of the legacy generator has no public getter.
        # Drawing one tells: a cached value is returned without touching the
        # twister, a fresh pair moves it. Either way the state is then set back.
        # (numpy zeroes ``gauss`` whenever ``has_gauss`` is 0.)
        normal = np_random.standard_normal()
        cached = ctypes.string_at(address, _MT19937_MEMORY.size) == memory
        *key, position = _MT19937_MEMORY.unpack(memory)
        state = ("MT19937", tuple(key), position, 1 if cached else 0, normal if cached else 0.0)
        np_random.set_state(state)
        return bit_generator, state

    def seed(self, seed: int) -> None:
        # ``np.random.seed`` takes 32 bits. Larger seeds are split into their two
        # 32-bit words, low word first, and given as an array, which numpy's
        # legacy seeding mixes with ``init_by_array``: every seed below 2**64 gets
        # its own stream, and ``np.random.seed([seed & 0xFFFFFFFF, seed >> 32])``
        # replays it by hand.
        if seed < 2**32:
            self._random().seed(seed)
        else:
            self._random().seed([seed & 0xFFFFFFFF, seed >> 32])

    def restore(self, state: object) -> None:
        bit_generator, generator_state = cast(tuple[Any, Any], state)
        np_random = self._random()
        if np_random.get_bit_generator() is not bit_generator:
            np_random.set_bit_generator(bit_generator)
        np_random.set_state(generator_state)


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
        self._available: bool | None = None

    def _module(self) -> Any:
        torch = _torch()
        return None if torch is None else getattr(torch, self.name, None)

    def active(self) -> bool:
        # Whether the device exists is asked once, after torch is imported.
        if self._available is None:
            module = self._module()
            if module is None:
                return False
            self._available = bool(module.is_available())
        return self._available

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

    def __init__(self) -> None:
        self._available: bool | None = None

    def active(self) -> bool:
        if self._available is None:
            torch = _torch()
            if torch is None:
                return False
            self._available = bool(torch.backends.mps.is_available())
        return self._available

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
