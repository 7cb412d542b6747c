"""numpy's legacy ``RandomState`` on a Mersenne Twister, read and written through its memory.

The fast path behind numpy's global generator and registered ``RandomState``
objects (see :mod:`reprorng.sources.numpy`): each memory layout is checked
once against numpy's public state, and where the check fails the public
``get_state``/``set_state`` are used instead.
"""

from __future__ import annotations

import _random
import contextlib
import ctypes
import random
import struct
import sys
from collections.abc import Callable
from typing import Any

from reprorng.sources.python import memory_of

__all__ = ["NONE_CACHED", "Twister", "keep_seed_seq", "read_gaussian", "write_gaussian"]


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
        if gaussian is None:
            memory[:] = NONE_CACHED
        else:
            cls._LAYOUT.pack_into(memory, 0, 1, gaussian)


# What the cache holds when nothing is cached.
NONE_CACHED = _NormalSlot._LAYOUT.pack(0, 0.0)
read_gaussian = _NormalSlot.read
write_gaussian = _NormalSlot.write


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
        # Both, with the bit generator and the RandomState they belong to.
        self._both: tuple[Any, memoryview, memoryview, object] | None = None

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

    def memories(self) -> tuple[Any, memoryview, memoryview] | None:
        """The bit generator of ``legacy()``, its twister's memory and that of the cached
        gaussian, when both layouts are confirmed; else ``None``. The common case, fast."""
        legacy = self._legacy()
        bit_generator = legacy._bit_generator
        known = self._both
        if known is not None and known[0] is bit_generator and known[3] is legacy:
            return known[:3]
        view, normal = self.view(bit_generator), self._normal_memory()
        if view is None or normal is None:
            return None
        self._both = (bit_generator, view, normal, legacy)
        return bit_generator, view, normal

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
        memory = self._normal_memory()
        if memory is not None:
            _NormalSlot.write(memory, gaussian)
            view[:] = twister
            return
        if gaussian is None:
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

    def seed_into(self, view: memoryview, seed: int | list[int]) -> None:
        """Seed the twister as ``np.random.seed(seed)`` does; expects none cached. An int of
        2**32 or more stands for the key of its 32-bit words, low first, which numpy takes
        only as a list.

        Such a key is seeded by Python's ``random.seed`` from the int itself:
        the same algorithm (``init_by_array``) on the same words, without
        numpy's checks of the key array, which cost more than the seeding.
        Checked once against numpy's own.
        """
        if type(seed) is int and seed >= 2**32:
            python = _python if _python_checked else _python_scratch()
            if python is not None:
                generator, key, position = python
                _random.Random.seed(generator, seed)
                view[:_KEY_SIZE] = key
                view[_KEY_SIZE:] = position
                return
            seed = [seed >> shift & 0xFFFFFFFF for shift in range(0, seed.bit_length(), 32)]
        seeding, scratch_view = _scratch or _numpy_scratch()
        seeding(seed)
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


_KEY_SIZE = 624 * 4
_POSITION_SIZE = 4

# A private legacy generator and its memory, where twisters are seeded.
_scratch: tuple[Any, memoryview] | None = None
# A private Python generator, once confirmed to seed as numpy does, with the parts of its
# memory that hold the key and the position (Python keeps the position first, numpy last).
_python: tuple[random.Random, memoryview, memoryview] | None = None
_python_checked = False


def _numpy_scratch() -> tuple[Any, memoryview]:
    global _scratch
    if _scratch is None:
        # Not ``import numpy.random``: this may run while numpy imports it.
        np_random = sys.modules["numpy.random"]
        bit_generator = np_random.MT19937()
        scratch_view = Twister(lambda: None).view(bit_generator)
        assert scratch_view is not None
        # RandomState.seed's own seeding, without the RandomState around it.
        seeding = getattr(bit_generator, "_legacy_seeding", None)
        if seeding is None:
            seeding = np_random.RandomState(bit_generator).seed
        _scratch = (seeding, scratch_view)
    return _scratch


def _python_scratch() -> tuple[random.Random, memoryview, memoryview] | None:
    """A Python generator whose seeding gives numpy's twister for a key, once that is checked:
    its memory holds the same words, and two keys seed both alike."""
    global _python, _python_checked
    if not _python_checked:
        _python_checked = True
        with contextlib.suppress(Exception):
            generator = random.Random()
            memory = memory_of(generator)
            seeding, scratch_view = _numpy_scratch()
            if memory is not None:
                for key in ([0x9E3779B9, 0x7F4A7C15, 1], [5, 0, 1]):
                    _random.Random.seed(generator, key[0] | key[1] << 32 | key[2] << 64)
                    seeding(key)
                    numpy_memory = bytes(scratch_view)
                    python_memory = bytes(memory)
                    if (
                        numpy_memory[:_KEY_SIZE] != python_memory[_POSITION_SIZE:]
                        or numpy_memory[_KEY_SIZE:] != python_memory[:_POSITION_SIZE]
                    ):
                        break
                else:
                    _python = (generator, memory[_POSITION_SIZE:], memory[:_POSITION_SIZE])
    return _python


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
