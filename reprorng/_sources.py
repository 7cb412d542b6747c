"""One small object per family of random-number generators, behind one protocol.

A source knows whether it has anything to manage right now (``active``), and
how to ``capture`` its generators' complete state, ``seed`` them exactly as
their own library's seeding call does, and ``restore`` a captured state.
``swap`` does ``capture`` then ``seed`` in one step, and ``exchange`` does
``capture`` then ``restore``, which some sources do faster than the two
apart: blocks swap on entry, and decorated coroutines and generators
exchange their streams with the caller's at each step.

numpy and torch are only looked at once something else has imported them:
``sys.modules`` is consulted, never ``import``.
"""

from __future__ import annotations

import _random
import contextlib
import ctypes
import math
import random
import struct
import sys
import warnings
from collections.abc import Callable
from typing import Any, Protocol, cast

__all__ = [
    "ENTRY_POINT_GROUP",
    "SOURCES",
    "WATCHED_MODULES",
    "Source",
    "Twister",
    "add_source",
    "all_sources",
    "check_names",
    "check_twister",
    "exclude",
    "excluded",
    "include",
    "known_sources",
    "numpy_seed",
    "same_state",
    "source_names",
]


class Source(Protocol):
    """The protocol every source of random numbers implements."""

    #: A short, stable name (``"random"``, ``"numpy"``, ``"torch"``, ``"cuda"``, ...).
    name: str

    def active(self) -> bool:
        """Whether there is anything to manage now (the library is imported, the device exists)."""

    def capture(self) -> object:
        """The complete state, as an object that later changes never alter.

        It must change nothing: a block records every state this way before it
        seeds, so that an interrupt at any step finds the state to put back.
        """

    def seed(self, seed: int) -> None:
        """Seed exactly as the library's own seeding call does; ``0 <= seed < 2**64``."""

    def restore(self, state: object) -> None:
        """Put back a state returned by :meth:`capture` or :meth:`swap`."""

    def swap(self, seed: int) -> object:
        """:meth:`capture`, then :meth:`seed`; return the captured state."""

    def exchange(self, state: object) -> object:
        """:meth:`capture`, then :meth:`restore` ``state``; return the captured state."""

    def dump(self, state: object) -> object | None:
        """A captured state as plain values to save; ``None`` if it cannot be saved."""

    def load(self, data: object) -> object:
        """What :meth:`dump` gave, as a state to restore; ``ValueError`` if it is not valid."""


class _Source:
    """What the built-in sources share: ``swap`` and ``exchange`` from the other methods.

    ``dump`` and ``load`` convert a captured state to the plain values a saved
    snapshot holds (ints, floats, strings, bytes, lists, tuples, dicts, numpy
    arrays, CPU tensors) and back; ``load`` raises ``ValueError`` for data
    that is not a valid state, before anything is changed. ``dump`` returns
    ``None`` for a state that only means something in this process.
    """

    def dump(self, state: object) -> object | None:
        return state

    def load(self, data: object) -> object:
        return data

    def capture(self) -> object:
        raise NotImplementedError

    def seed(self, seed: int) -> None:
        raise NotImplementedError

    def restore(self, state: object) -> None:
        raise NotImplementedError

    def swap(self, seed: int) -> object:
        state = self.capture()
        self.seed(seed)
        return state

    def exchange(self, state: object) -> object:
        captured = self.capture()
        self.restore(state)
        return captured


class _Repeats:
    """The seeded state of a seed used twice in a row, so that it is set, not recomputed.

    Seeding computes a state from the seed; setting a kept copy is cheaper.
    A seed is kept on its second use in a row, so blocks with a new seed each
    time (one per sample, say) pay one comparison and keep nothing.
    """

    __slots__ = ("last", "seed", "state")

    def __init__(self) -> None:
        self.last = self.seed = -1
        self.state: Any = None

    def get(self, seed: int) -> Any:
        return self.state if seed == self.seed else None

    def again(self, seed: int) -> bool:
        """Note a seed computed afresh; whether it is worth keeping now."""
        repeated, self.last = seed == self.last, seed
        return repeated

    def keep(self, seed: int, state: object) -> None:
        self.seed, self.state = seed, state


class PythonRandom(_Source):
    """The generator behind the functions of Python's :mod:`random` module.

    Its state is the twister's (``random.getstate()[1]``) and ``gauss_next``,
    the cached second normal of ``random.gauss``. They are read and written
    with the same C methods ``random.getstate``/``seed``/``setstate`` call,
    without the Python layer around them.
    """

    name = "random"

    def __init__(self) -> None:
        self._repeats = _Repeats()

    def active(self) -> bool:
        return True

    def capture(self) -> object:
        generator: Any = random._inst
        return _random.Random.getstate(generator), generator.gauss_next

    def seed(self, seed: int) -> None:
        generator: Any = random._inst
        seeded = self._repeats.get(seed)
        if seeded is not None:
            _random.Random.setstate(generator, seeded)
        else:
            _random.Random.seed(generator, seed)
            if self._repeats.again(seed):
                self._repeats.keep(seed, _random.Random.getstate(generator))
        generator.gauss_next = None

    def restore(self, state: object) -> None:
        generator: Any = random._inst
        twister, generator.gauss_next = cast(tuple[tuple[int, ...], Any], state)
        _random.Random.setstate(generator, twister)

    def load(self, data: object) -> object:
        if not (isinstance(data, tuple) and len(data) == 2):
            raise ValueError("the state of 'random' is a pair (twister, cached gaussian)")
        twister, gaussian = data
        check_twister(twister, gaussian, "random")
        try_state(lambda: _random.Random().setstate(twister), "random")
        return twister, gaussian


# numpy's Mersenne Twister state as it lies in memory: 624 key words, then the position.
_MT19937_MEMORY = struct.Struct("=624Ii")
# Any valid twister key, to pass set_state before the real twister is copied in.
# (An all-zero key would be a twister that only ever gives zeros.)
_STAND_IN_KEY = tuple(range(1, 625))


class _NormalSlot:
    """Where a legacy ``RandomState`` keeps its cached gaussian, in its own memory.

    ``RandomState`` keeps ``has_gauss`` (a C int) and ``gauss`` (a double)
    in its C struct, with no getter. The offsets are found once, on a scratch
    generator, by setting known values with ``set_state`` and looking for
    them; :meth:`memory` gives ``None`` if that fails (another numpy, another
    interpreter), and the cache is then found by drawing (see :class:`Twister`).
    """

    _LAYOUT = struct.Struct("=i4xd")  # has_gauss, padding, gauss
    _offset: int | None = None
    _looked = False

    @classmethod
    def memory(cls, legacy: Any) -> memoryview | None:
        """``legacy``'s cached gaussian, as the bytes of its memory that hold it.

        ``None`` if the layout was not confirmed (it is looked for once).
        """
        if not cls._looked:
            cls._looked = True
            with contextlib.suppress(Exception):
                cls._offset = cls._find()
        if cls._offset is None:
            return None
        memory = (ctypes.c_char * cls._LAYOUT.size).from_address(id(legacy) + cls._offset)
        return memoryview(memory).cast("B")

    @classmethod
    def _find(cls) -> int:
        np_random = sys.modules["numpy.random"]
        probe = np_random.RandomState(np_random.MT19937(0))
        state = probe.get_state(legacy=False)
        size = type(probe).__basicsize__
        memory = memoryview((ctypes.c_char * size).from_address(id(probe))).cast("B")
        found = None
        for value in (1.2345678901234567e-3, -7.654321098765432e2):
            probe.set_state({**state, "has_gauss": 1, "gauss": value})
            cached = bytes(memory)
            probe.set_state({**state, "has_gauss": 0, "gauss": 0.0})
            empty = bytes(memory)
            offsets = [
                offset
                for offset in range(0, size - cls._LAYOUT.size + 1, 4)
                if cls._LAYOUT.unpack_from(cached, offset) == (1, value)
                and cls._LAYOUT.unpack_from(empty, offset) == (0, 0.0)
            ]
            if len(offsets) != 1 or found not in (None, offsets[0]):
                raise LookupError("no single place for the cached gaussian")
            found = offsets[0]
        assert found is not None
        # And reading it back through numpy agrees with what is written there.
        cls._LAYOUT.pack_into(memory, found, 1, 0.5)
        if probe.get_state(legacy=False)["gauss"] != 0.5:
            raise LookupError("the cached gaussian is not where it was found")
        return found

    @classmethod
    def read(cls, memory: memoryview) -> float | None:
        has_gauss, gauss = cls._LAYOUT.unpack(memory)
        return gauss if has_gauss else None

    @classmethod
    def write(cls, memory: memoryview, gaussian: float | None) -> None:
        cls._LAYOUT.pack_into(memory, 0, *((0, 0.0) if gaussian is None else (1, gaussian)))


class Twister:
    """Fast access to a legacy ``RandomState`` that draws from a Mersenne Twister.

    ``RandomState.get_state``/``set_state`` copy the 624-word key one element
    at a time. Here the twister is read and written as bytes through its
    memory (``BitGenerator.ctypes.state_address``, its layout checked once
    against the public state), and a seeded twister is made by
    ``RandomState.seed``'s own code on a private generator, then copied in.

    The cached gaussian is read and written in the ``RandomState``'s memory
    too (see :class:`_NormalSlot`), so reading a state changes nothing. Where
    that layout is not confirmed, drawing a normal tells: a cached one is
    returned without moving the twister, a fresh pair moves it and caches its
    second half, which a second draw takes out again. numpy zeroes the cache
    whenever it is taken, so "none cached" is one exact state. ``set_state``,
    the only setter of the cache, puts one back.

    ``legacy()`` gives the ``RandomState``.
    """

    def __init__(self, legacy: Callable[[], Any]) -> None:
        self._legacy = legacy
        # The last twister whose memory layout was confirmed, kept alive with its
        # view; only one, so that bit generators replaced since are let go.
        self._known: tuple[object, memoryview] | None = None
        # The RandomState whose cached gaussian is reached in its memory, with it.
        self._normal: tuple[object, memoryview] | None = None

    def view(self, bit_generator: Any) -> memoryview | None:
        """The memory of a Mersenne Twister bit generator, once its layout is confirmed."""
        known = self._known
        if known is not None and known[0] is bit_generator:
            return known[1]
        if type(bit_generator).__name__ != "MT19937":
            return None
        size = _MT19937_MEMORY.size
        memory = (ctypes.c_char * size).from_address(bit_generator.ctypes.state_address)
        view = memoryview(memory).cast("B")
        *key, position = _MT19937_MEMORY.unpack(view)
        public = bit_generator.state["state"]
        if key != public["key"].tolist() or position != public["pos"]:
            return None
        self._known = (bit_generator, view)
        return view

    def _normal_memory(self) -> memoryview | None:
        legacy = self._legacy()
        normal = self._normal
        if normal is not None and normal[0] is legacy:
            return normal[1]
        memory = _NormalSlot.memory(legacy)
        if memory is not None:
            self._normal = (legacy, memory)
        return memory

    def peek(self, view: memoryview) -> tuple[bytes, float | None]:
        """The twister and the cached gaussian (``None`` if none), changing nothing.

        Without a confirmed layout for the cache, it is read by drawing and put
        back: the same state after, but not untouched in between.
        """
        memory = self._normal_memory()
        if memory is None:
            twister, gaussian = self.take_gaussian(view)
            self.put_back(view, twister, gaussian)
            return twister, gaussian
        return bytes(view), _NormalSlot.read(memory)

    def take_gaussian(self, view: memoryview) -> tuple[bytes, float | None]:
        """The twister and the cached gaussian (``None`` if none); leaves none cached."""
        memory = self._normal_memory()
        if memory is not None:
            twister, gaussian = bytes(view), _NormalSlot.read(memory)
            _NormalSlot.write(memory, None)
            return twister, gaussian
        standard_normal = self._legacy().standard_normal
        twister = bytes(view)
        normal = standard_normal()
        if bytes(view) == twister:
            return twister, normal
        standard_normal()  # takes out the half the fresh pair cached
        return twister, None

    def put_back(self, view: memoryview, twister: bytes, gaussian: float | None) -> None:
        """Set twister and cached gaussian, whatever is cached now."""
        if gaussian is None and self._normal_memory() is None:
            self.take_gaussian(view)  # what set() expects
        self.set(view, twister, gaussian)

    def set(self, view: memoryview, twister: bytes, gaussian: float | None) -> None:
        """Set twister and cached gaussian; without the cache's memory, expects none cached."""
        memory = self._normal_memory()
        if memory is not None:
            _NormalSlot.write(memory, gaussian)
        elif gaussian is not None:
            self._legacy().set_state(("MT19937", _STAND_IN_KEY, 0, 1, gaussian))
        view[:] = twister

    def clear_gaussian(self, view: memoryview) -> None:
        """Leave no gaussian cached, the twister as it is."""
        memory = self._normal_memory()
        if memory is not None:
            _NormalSlot.write(memory, None)
        else:
            self.take_gaussian(view)

    def seed_into(self, view: memoryview, seed: int) -> None:
        """Seed the twister as ``np.random.seed(seed)`` would; expects none cached."""
        global _scratch
        if _scratch is None:
            # Not ``import numpy.random``: this may run while numpy imports it.
            np_random = sys.modules["numpy.random"]
            bit_generator = np_random.MT19937()
            scratch_view = Twister(lambda: None).view(bit_generator)
            assert scratch_view is not None
            _scratch = (np_random.RandomState(bit_generator), scratch_view)
        generator, scratch_view = _scratch
        generator.seed(numpy_seed(seed))
        view[:] = scratch_view

    @staticmethod
    def as_dict(twister: bytes, gaussian: float | None) -> dict[str, Any]:
        """numpy's own dict form of a state, as ``get_state(legacy=False)`` gives it."""
        *key, position = _MT19937_MEMORY.unpack(twister)
        return {
            "bit_generator": "MT19937",
            "state": {"key": sys.modules["numpy"].array(key, dtype="uint32"), "pos": position},
            "has_gauss": int(gaussian is not None),
            "gauss": 0.0 if gaussian is None else gaussian,
        }


# A private legacy generator and its memory, where twisters are seeded.
_scratch: tuple[Any, memoryview] | None = None


def keep_seed_seq(bit_generator: Any, seed_seq: object) -> None:
    """Give ``bit_generator`` back the ``seed_seq`` it had, if legacy seeding dropped it.

    ``RandomState.seed`` (so ``np.random.seed``) sets a Mersenne Twister's
    seed sequence to ``None`` for good; the attribute is read-only, but
    unpickling sets it, with the state, which is kept as it is.
    """
    if bit_generator.seed_seq is seed_seq:
        return
    # A numpy whose pickles do not carry the seed sequence refuses the pair.
    with contextlib.suppress(TypeError, ValueError, KeyError):
        bit_generator.__setstate__((bit_generator.state, seed_seq))


class NumpyGlobal(_Source):
    """numpy's global ``RandomState``, the one behind ``np.random.seed`` and ``np.random.rand``.

    With the usual Mersenne Twister bit generator, its state goes through a
    :class:`Twister`: faster than ``np.random.get_state``/``set_state``, and
    unlike ``np.random.seed`` it keeps the bit generator's ``seed_seq``.
    """

    name = "numpy"

    def __init__(self) -> None:
        self._twister = Twister(lambda: sys.modules["numpy.random.mtrand"]._rand)
        self._repeats = _Repeats()

    def active(self) -> bool:
        return "numpy.random" in sys.modules

    @staticmethod
    def _random() -> Any:
        return sys.modules["numpy.random"]

    # A captured state is (bit generator, twister bytes or None, cached gaussian or
    # numpy's state dict, the bit generator's seed_seq).

    def capture(self) -> object:
        np_random = self._random()
        bit_generator = np_random.get_bit_generator()
        view = self._twister.view(bit_generator)
        if view is None:
            return bit_generator, None, np_random.get_state(legacy=False), bit_generator.seed_seq
        twister, gaussian = self._twister.peek(view)
        return bit_generator, twister, gaussian, bit_generator.seed_seq

    def exchange(self, state: object) -> object:
        bit_generator = self._random().get_bit_generator()
        new_bit_generator, new_twister, new_gaussian, new_seed_seq = cast(
            tuple[Any, Any, Any, Any], state
        )
        view = self._twister.view(bit_generator)
        if view is None or new_bit_generator is not bit_generator or new_twister is None:
            return super().exchange(state)
        seed_seq = bit_generator.seed_seq
        twister, gaussian = self._twister.take_gaussian(view)
        self._twister.set(view, new_twister, new_gaussian)
        keep_seed_seq(bit_generator, new_seed_seq)
        return bit_generator, twister, gaussian, seed_seq

    def seed(self, seed: int) -> None:
        np_random = self._random()
        view = self._twister.view(np_random.get_bit_generator())
        if view is not None:
            self._twister.clear_gaussian(view)
            seeded = self._repeats.get(seed)
            if seeded is not None:
                view[:] = seeded
            else:
                self._twister.seed_into(view, seed)
                if self._repeats.again(seed):
                    self._repeats.keep(seed, bytes(view))
            return
        np_random.seed(numpy_seed(seed))
        # With other bit generators np.random.seed keeps a cached normal; a block
        # must draw the same whatever was drawn before it.
        state = np_random.get_state(legacy=False)
        if state["has_gauss"]:
            np_random.set_state({**state, "has_gauss": 0, "gauss": 0.0})

    def restore(self, state: object) -> None:
        bit_generator, twister, extra, seed_seq = cast(tuple[Any, Any, Any, Any], state)
        np_random = self._random()
        if bit_generator is None:  # a loaded state
            bit_generator = np_random.get_bit_generator()
            if type(bit_generator).__name__ != extra["bit_generator"]:
                bit_generator = _bit_generator_type(extra)()
            seed_seq = bit_generator.seed_seq
        if np_random.get_bit_generator() is not bit_generator:
            np_random.set_bit_generator(bit_generator)
        keep_seed_seq(bit_generator, seed_seq)
        if twister is None:
            np_random.set_state(extra)
            return
        view = self._twister.view(bit_generator)
        assert view is not None
        self._twister.put_back(view, twister, extra)

    def dump(self, state: object) -> object:
        """numpy's own dict form, as ``np.random.get_state(legacy=False)`` gives it."""
        _bit_generator, twister, extra, _seed_seq = cast(tuple[Any, Any, Any, Any], state)
        return extra if twister is None else Twister.as_dict(twister, extra)

    def load(self, data: object) -> object:
        import numpy.random

        check_numpy_state(data, "numpy", with_gaussian=True)
        scratch = numpy.random.RandomState(_bit_generator_type(data)())
        try_state(lambda: scratch.set_state(cast(Any, data)), "numpy")
        # No bit generator: restore sets the state on one of its kind.
        return None, None, data, None


#: The numpy bit generators whose saved states reprorng reads back.
NUMPY_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")


def try_state(action: Callable[[], object], name: str) -> None:
    """Run ``action``, which tries a state on a scratch generator; ``ValueError`` if it fails."""
    try:
        action()
    except Exception as error:  # noqa: BLE001 - any complaint means the state is not valid
        raise ValueError(f"not a valid state for {name!r}: {error}") from None


def _array(value: object, dtype: str, length: int) -> bool:
    return (
        type(value).__name__ == "ndarray"
        and cast(Any, value).dtype == dtype
        and cast(Any, value).shape == (length,)
    )


def _integer(value: object, low: int, high: int) -> bool:
    return type(value) is int and low <= value <= high


# What each bit generator's ``state`` entry holds, checked before numpy sees it:
# numpy's own setters take positions and flags it would later read out of bounds.
_BIT_GENERATOR_STATES: dict[str, Callable[[Any], bool]] = {
    "MT19937": lambda state: (
        state.keys() == {"key", "pos"}
        and _array(state["key"], "uint32", 624)
        and _integer(state["pos"], 0, 624)
    ),
    "PCG64": lambda state: (
        state.keys() == {"state", "inc"}
        and _integer(state["state"], 0, 2**128 - 1)
        and _integer(state["inc"], 0, 2**128 - 1)
    ),
    "Philox": lambda state: (
        state.keys() == {"counter", "key"}
        and _array(state["counter"], "uint64", 4)
        and _array(state["key"], "uint64", 2)
    ),
    "SFC64": lambda state: state.keys() == {"state"} and _array(state["state"], "uint64", 4),
}
_BIT_GENERATOR_STATES["PCG64DXSM"] = _BIT_GENERATOR_STATES["PCG64"]


def check_twister(twister: object, gaussian: object, name: str) -> None:
    """``ValueError`` unless these are a Python twister's 625 ints and a float or ``None``."""
    if not (
        isinstance(twister, tuple)
        and len(twister) == 625
        and all(type(word) is int and 0 <= word < 2**32 for word in twister)
        and twister[624] <= 624
        and (gaussian is None or (type(gaussian) is float and math.isfinite(gaussian)))
    ):
        raise ValueError(
            f"the state of {name!r} is 624 32-bit words, a position up to 624, "
            "and a finite float or None"
        )


def check_numpy_state(data: object, name: str, *, with_gaussian: bool) -> None:
    """``ValueError`` unless ``data`` is a numpy bit generator's state dict, every field in range.

    ``with_gaussian``: a ``RandomState``'s, which also holds the cached gaussian.
    """
    if not isinstance(data, dict) or data.get("bit_generator") not in NUMPY_BIT_GENERATORS:
        raise ValueError(
            f"the state of {name!r} is a numpy state dict of one of the bit generators "
            f"{', '.join(NUMPY_BIT_GENERATORS)}"
        )
    kind = data["bit_generator"]
    keys = {"bit_generator", "state"}
    if kind != "MT19937":
        keys |= {"has_uint32", "uinteger"}
    if kind == "Philox":
        keys |= {"buffer", "buffer_pos"}
    if with_gaussian:
        keys |= {"has_gauss", "gauss"}
    state = data["state"]
    valid = (
        data.keys() == keys
        and isinstance(state, dict)
        and _BIT_GENERATOR_STATES[kind](state)
        and ("has_uint32" not in keys or _integer(data["has_uint32"], 0, 1))
        and ("uinteger" not in keys or _integer(data["uinteger"], 0, 2**32 - 1))
        and ("buffer" not in keys or _array(data["buffer"], "uint64", 4))
        and ("buffer_pos" not in keys or _integer(data["buffer_pos"], 0, 4))
        and ("has_gauss" not in keys or _integer(data["has_gauss"], 0, 1))
        and ("gauss" not in keys or (type(data["gauss"]) is float and math.isfinite(data["gauss"])))
    )
    if not valid:
        raise ValueError(f"not a valid {kind} state for {name!r}: a field is missing or wrong")


def _bit_generator_type(data: Any) -> Any:
    import numpy.random

    return getattr(numpy.random, data["bit_generator"])


def numpy_seed(seed: int) -> int | list[int]:
    """What ``np.random.seed`` is given for a seed.

    It takes 32 bits. A larger seed is given as the array of its two 32-bit
    words, low word first, then a 0: ``[seed & 0xFFFFFFFF, seed >> 32, 0]``,
    which numpy's legacy seeding mixes with ``init_by_array``. Every seed below
    2**64 gets its own stream, never that of a 32-bit seed. The 0 keeps it
    apart from Python's :mod:`random`, which seeds the same twister from the
    same words (``init_by_array([low, high])``): without it, the two libraries
    would draw identical numbers in a block with a large seed.
    """
    return seed if seed < 2**32 else [seed & 0xFFFFFFFF, seed >> 32, 0]


def check_tensor(data: object, name: str) -> None:
    """``ValueError`` unless ``data`` is a generator state: a 1-D uint8 CPU tensor."""
    torch = _torch()
    if not (
        torch is not None
        and isinstance(data, torch.Tensor)
        and data.dtype == torch.uint8
        and data.dim() == 1
        and data.device.type == "cpu"
    ):
        raise ValueError(f"the state of {name!r} is a 1-D uint8 CPU tensor")


def _torch() -> Any:
    """torch, if it is imported (and done importing), else ``None``."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "default_generator"):
        return None
    return torch


class TorchCPU(_Source):
    """torch's default CPU generator, the one ``torch.manual_seed`` seeds on the CPU."""

    name = "torch"

    def __init__(self) -> None:
        self._generator: Any = None
        self._repeats = _Repeats()

    def active(self) -> bool:
        if self._generator is None:
            torch = _torch()
            if torch is None:
                return False
            self._generator = torch.default_generator
        return True

    def capture(self) -> object:
        # The state tensor includes the cached normal samples.
        return self._generator.get_state()

    def seed(self, seed: int) -> None:
        generator = self._generator
        seeded = self._repeats.get(seed)
        if seeded is not None:
            generator.set_state(seeded)
        else:
            generator.manual_seed(seed)
            if self._repeats.again(seed):
                self._repeats.keep(seed, generator.get_state())

    def restore(self, state: object) -> None:
        self._generator.set_state(state)

    def load(self, data: object) -> object:
        import torch

        check_tensor(data, "torch")
        try_state(lambda: torch.Generator().set_state(cast(Any, data)), "torch")
        return data


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

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Lazy):
            return NotImplemented
        return (self.seed_all, self.seed_one, self.calls) == (
            other.seed_all,
            other.seed_one,
            other.calls,
        )

    __hash__ = None  # type: ignore[assignment]

    def put_back(self, tracker: Any) -> None:
        tracker.manual_seed_all_cb = self.seed_all
        tracker.manual_seed_cb = self.seed_one
        tracker.call_order = list(self.calls)


class _SeedAll:
    """A queued seeding of every device, as ``manual_seed_all`` queues it."""

    __slots__ = ("module", "seed")

    def __init__(self, module: Any, seed: int) -> None:
        self.module = module
        self.seed = seed

    def __call__(self) -> None:
        for index in range(self.module.device_count()):
            self.module.default_generators[index].manual_seed(self.seed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SeedAll):
            return NotImplemented
        return self.module is other.module and self.seed == other.seed

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<manual_seed_all({self.seed}) queued by reprorng>"


# Stands for the stack trace torch keeps with a queued call, shown if it fails.
_QUEUED_BY = ["  (seed queued by a reprorng block; no stack trace was kept)\n"]


class TorchAccelerator(_Source):
    """Every device of one lazily initialised torch accelerator (``cuda``, ``xpu``, ``mtia``).

    An accelerator that the process has not initialised is never initialised
    here. Seeding it queues torch's own lazy seeding call; on restore the queue
    is put back as it was, so no seed queued inside a block fires later. If the
    block itself initialised the device, each device generator is seeded from
    OS entropy, as initialisation seeds it, and the queue as it was at entry is
    replayed: the state initialisation would have produced had the block not run.
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
            available = getattr(module, "is_available", None)
            self._available = available is None or bool(available())
        return self._available

    @staticmethod
    def _devices(module: Any) -> tuple[Any, ...] | None:
        """Each device's default generator, once the accelerator is initialised.

        Their own ``get_state``/``manual_seed``/``set_state`` do what the
        module's ``*_all`` functions do, without a lock, a copy and a closure
        per device and call.
        """
        is_initialized = getattr(module, "is_initialized", None)
        if is_initialized is None or not is_initialized():
            return None
        devices = getattr(module, "default_generators", None)
        return devices if isinstance(devices, tuple) and devices else None

    def capture(self) -> object:
        module = self._module()
        devices = self._devices(module)
        if devices is not None:
            return tuple(device.get_state() for device in devices)
        tracker = getattr(module, "_lazy_seed_tracker", None)
        if tracker is None or module.is_initialized():
            return tuple(module.get_rng_state_all())
        return _Lazy(tracker)

    def seed(self, seed: int) -> None:
        module = self._module()
        devices = self._devices(module)
        if devices is not None:
            for device in devices:
                device.manual_seed(seed)
            return
        tracker = getattr(module, "_lazy_seed_tracker", None)
        queue = getattr(tracker, "queue_seed_all", None)
        lock = getattr(module, "_initialization_lock", None)
        if queue is not None and lock is not None and not module.is_initialized():
            with lock:  # torch's own lock (not re-entrant), as manual_seed_all takes it
                if not module.is_initialized():
                    # What manual_seed_all queues, without the stack trace it
                    # formats for each call (tens of µs, on every block).
                    queue(_SeedAll(module, seed), _QUEUED_BY)
                    return
        module.manual_seed_all(seed)

    def dump(self, state: object) -> object | None:
        # Not initialised: no state yet, only a queue of calls, which cannot be saved.
        return None if isinstance(state, _Lazy) else state

    def load(self, data: object) -> object:
        if not isinstance(data, tuple):
            raise ValueError(f"the state of {self.name!r} is a tuple, one tensor per device")
        for each in data:
            check_tensor(each, self.name)
        return data

    def restore(self, state: object) -> None:
        module = self._module()
        if not isinstance(state, _Lazy):
            states = cast(tuple[Any, ...], state)
            devices = self._devices(module)
            if devices is None:
                module.set_rng_state_all(states)
                return
            if len(states) != len(devices):
                raise ValueError(
                    f"a state of {len(states)} {self.name} devices cannot be restored on "
                    f"{len(devices)}"
                )
            for device, device_state in zip(devices, states, strict=True):
                device.set_state(device_state)
            return
        state.put_back(module._lazy_seed_tracker)
        if not module.is_initialized():
            return
        # The block initialised the device. Do what initialisation does: seed
        # each default generator from OS entropy, then replay the queue.
        for generator in getattr(module, "default_generators", ()):
            generator.seed()
        for call in state.calls:
            if call is not None:
                callback, _stack = call
                callback()


class TorchCustomBackend(TorchAccelerator):
    """A backend registered as torch's ``privateuse1`` device, which ``torch.manual_seed`` seeds.

    It is managed when its module (``torch.<name>``) provides
    ``manual_seed_all``, ``get_rng_state_all`` and ``set_rng_state_all``, as
    torch's own accelerators do; lazily, like them, if it has their lazy queue.
    Register the backend before the first block: which sources are active is
    settled once numpy and torch are imported.
    """

    _NEEDED = ("manual_seed_all", "get_rng_state_all", "set_rng_state_all")

    def __init__(self) -> None:
        super().__init__("privateuse1")

    def _module(self) -> Any:
        torch = _torch()
        if torch is None:
            return None
        name = torch._C._get_privateuse1_backend_name()
        module = getattr(torch, name, None)
        if module is None or not all(hasattr(module, needed) for needed in self._NEEDED):
            return None
        self.name = name
        return module


class TorchMPS(_Source):
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

    def load(self, data: object) -> object:
        check_tensor(data, self.name)
        return data


#: The sources every block manages, in the order they are captured and seeded.
SOURCES: tuple[Source, ...] = (
    PythonRandom(),
    NumpyGlobal(),
    TorchCPU(),
    TorchAccelerator("cuda"),
    TorchAccelerator("xpu"),
    TorchAccelerator("mtia"),
    TorchMPS(),
    TorchCustomBackend(),
)

#: The entry-point group through which other packages add sources.
ENTRY_POINT_GROUP = "reprorng.sources"


class _Added(_Source):
    """A source added from outside: its own ``swap``/``exchange``/``dump``/``load`` if it has them.

    The optional methods are looked up once, here, not at every block.
    """

    def __init__(self, source: Any) -> None:
        self.source = source
        self.name: str = source.name
        for optional in ("swap", "exchange", "dump", "load"):
            own = getattr(source, optional, None)
            if callable(own):
                setattr(self, optional, own)  # in place of the base class's

    def active(self) -> bool:
        return bool(self.source.active())

    def capture(self) -> object:
        return self.source.capture()

    def seed(self, seed: int) -> None:
        self.source.seed(seed)

    def restore(self, state: object) -> None:
        self.source.restore(state)

    def __repr__(self) -> str:
        return f"<reprorng source {self.name!r}: {self.source!r}>"


_REQUIRED = ("active", "capture", "seed", "restore")
_added: list[Source] = []
_plugins_loaded = False
# Names of the sources switched off for every block, by ``exclude``.
_excluded: set[str] = set()
#: Changes whenever the set of sources or the switched-off names change.
version = 0


def _check(source: object, origin: str) -> Source:
    """``source`` made ready to use, or ``TypeError``/``ValueError`` saying what is wrong."""
    name = getattr(source, "name", None)
    if not isinstance(name, str) or not name:
        raise TypeError(f"{origin}: a source needs a non-empty str attribute 'name'")
    missing = [method for method in _REQUIRED if not callable(getattr(source, method, None))]
    if missing:
        raise TypeError(f"{origin} ({name!r}): a source needs the methods {', '.join(missing)}")
    taken = {other.name for other in (*SOURCES, *_added)}
    if name in taken:
        raise ValueError(f"{origin}: there is already a source named {name!r}")
    return _Added(source)


def _load_plugins() -> None:
    """Add the sources other packages declare in the ``reprorng.sources`` entry-point group.

    An entry point names a source object, or a class or function that makes
    one when called with no arguments. One that fails to load is skipped
    with a ``RuntimeWarning`` naming it.
    """
    from importlib.metadata import entry_points

    for entry_point in entry_points(group=ENTRY_POINT_GROUP):
        origin = f"entry point {entry_point.name!r} ({entry_point.value})"
        try:
            loaded = entry_point.load()
            source = loaded() if isinstance(loaded, type) or not hasattr(loaded, "name") else loaded
            _added.append(_check(source, origin))
        except Exception as error:  # noqa: BLE001 - a broken plugin must not break blocks
            warnings.warn(
                f"reprorng skips the source from {origin}: {error!r}",
                RuntimeWarning,
                stacklevel=2,
            )


def all_sources() -> tuple[Source, ...]:
    """The built-in sources, then those added by entry points and :func:`add_source`.

    Sources switched off with :func:`exclude` are left out.
    """
    every = known_sources()
    if _excluded:
        return tuple(source for source in every if source.name not in _excluded)
    return every


def known_sources() -> tuple[Source, ...]:
    """Every source, switched off or not: the built-in ones, then the added ones."""
    global _plugins_loaded
    if not _plugins_loaded:
        _plugins_loaded = True
        _load_plugins()
    return (*SOURCES, *_added)


def source_names() -> tuple[str, ...]:
    """The names of every source reprorng knows, switched off or not, active or not."""
    return tuple(source.name for source in known_sources())


def check_names(names: object, what: str) -> frozenset[str]:
    """``names`` (an iterable of source names) as a set; ``TypeError``/``ValueError`` if bad."""
    if isinstance(names, str) or not isinstance(names, (set, frozenset, list, tuple)):
        raise TypeError(
            f"{what} takes a set, list or tuple of source names, "
            f"got {names!r} of type {type(names).__name__}"
        )
    for name in names:
        if not isinstance(name, str):
            raise TypeError(f"{what}: a source name is a str, got {name!r}")
    known = source_names()
    unknown = sorted(set(names) - set(known))
    if unknown:
        raise ValueError(
            f"{what}: no source named {', '.join(map(repr, unknown))}; "
            f"the sources are {', '.join(map(repr, known))}"
        )
    return frozenset(names)


def exclude(*names: str) -> None:
    """Switch the named sources off for every block from now on (see :func:`source_names`)."""
    global version
    _excluded.update(check_names(names, "exclude()"))
    version += 1


def include(*names: str) -> None:
    """Switch sources that :func:`exclude` switched off back on."""
    global version
    _excluded.difference_update(check_names(names, "include()"))
    version += 1


def excluded() -> frozenset[str]:
    """The names of the sources switched off for every block."""
    return frozenset(_excluded)


def add_source(source: object) -> None:
    """Have every block manage ``source`` too, as its package's entry point would.

    ``source`` implements the protocol of the built-in sources (see
    :class:`Source`): a ``name`` and ``active``, ``capture``, ``seed`` and
    ``restore``; ``swap`` and ``exchange`` are optional. A source that lacks
    one of them, or whose name is taken, raises ``TypeError``/``ValueError``.
    """
    global version
    known_sources()
    _added.append(_check(source, f"add_source({source!r})"))
    version += 1


#: Modules whose import makes a source active; a block open at their import seeds them.
WATCHED_MODULES: tuple[str, ...] = ("numpy.random", "torch")


def same_state(first: object, second: object) -> bool:
    """Whether two captured states are bit for bit the same.

    Captured states are made of tuples, lists, dicts, bytes, numbers, numpy
    arrays, torch tensors and the objects they came from (compared by identity).
    """
    if isinstance(first, (tuple, list)):
        return (
            isinstance(second, (tuple, list))
            and len(first) == len(second)
            and all(same_state(a, b) for a, b in zip(first, second, strict=True))
        )
    if isinstance(first, dict):
        return (
            isinstance(second, dict)
            and first.keys() == second.keys()
            and all(same_state(value, second[key]) for key, value in first.items())
        )
    if type(first) is not type(second):
        return False
    if type(first).__module__.partition(".")[0] in ("numpy", "torch") and hasattr(first, "shape"):
        # an array or a tensor: element-wise ``==`` is not an answer
        array, other = cast(Any, first), cast(Any, second)
        if hasattr(array, "cpu"):
            array, other = array.cpu().numpy(), other.cpu().numpy()
        return bool(
            array.dtype == other.dtype
            and array.shape == other.shape
            and array.tobytes() == other.tobytes()
        )
    return first is second or bool(first == second)
