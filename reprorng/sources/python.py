"""Python's generators: the :mod:`random` module's functions and ``random.Random`` objects."""

from __future__ import annotations

import _random
import contextlib
import ctypes
import math
import random
import struct
import sys
import sysconfig
from collections.abc import Callable
from typing import Any, cast

from reprorng.sources.base import BaseSource, ObjectSource, Repeats, try_state

__all__ = ["OFFSET", "PythonRandom", "RandomInstance", "as_tuple", "check_twister", "memory_of"]


# CPython's random object after its header: the index, then the 624 words.
_TWISTER = struct.Struct("=i624I")


def _find_twister() -> int | None:
    """Where a random object keeps its twister, confirmed on a scratch one; ``None`` if not.

    Known values are set with ``setstate`` and looked for in the object's
    memory, then values written there are read back with ``getstate``.
    Another interpreter, or a free-threaded one, fails the check.
    """
    if sys.implementation.name != "cpython" or sysconfig.get_config_var("Py_GIL_DISABLED"):
        return None
    probe = random.Random()
    size = _random.Random.__basicsize__
    memory = memoryview((ctypes.c_char * size).from_address(id(probe))).cast("B")
    found = None
    for index, first in ((300, 1000), (17, 5000)):
        words = tuple(range(first, first + 624))
        _random.Random.setstate(probe, (*words, index))
        data, wanted = bytes(memory), _TWISTER.pack(index, *words)
        offset = data.find(wanted)
        if offset < 0 or data.find(wanted, offset + 1) >= 0 or found not in (None, offset):
            return None
        found = offset
    assert found is not None
    words = tuple(range(9000, 9624))
    _TWISTER.pack_into(memory, found, 623, *words)
    return found if _random.Random.getstate(probe) == (*words, 623) else None


#: Where the twister lies in a random object's memory, or ``None``: the fallback,
#: ``getstate``/``setstate``, which build and read 625 Python ints.
OFFSET: int | None = None
with contextlib.suppress(Exception):
    OFFSET = _find_twister()


def memory_of(generator: object) -> memoryview | None:
    """The bytes of ``generator``'s twister, or ``None`` on the fallback."""
    if OFFSET is None:
        return None
    twister = (ctypes.c_char * _TWISTER.size).from_address(id(generator) + OFFSET)
    return memoryview(twister).cast("B")


def as_tuple(twister: bytes | tuple[int, ...]) -> tuple[int, ...]:
    """A twister read from memory as ``getstate`` gives it: the 624 words, then the index."""
    if isinstance(twister, tuple):
        return twister
    index, *words = _TWISTER.unpack(twister)
    return (*words, index)


class PythonRandom(BaseSource):
    """The generator behind the functions of Python's :mod:`random` module.

    Its state is the twister's and ``gauss_next``, the cached second normal
    of ``random.gauss``. The twister is copied as bytes out of and into the
    generator's memory (see :data:`OFFSET`), where that layout is confirmed;
    else read and written with the C methods ``random.getstate``/``setstate``
    call, without the Python layer around them. Seeding is ``random.seed``'s
    own C code, and a seed used again sets the kept result.
    """

    name = "random"

    def __init__(self) -> None:
        self._repeats = Repeats()
        # The generator whose memory is known, with its view.
        self._known: tuple[object, memoryview | None] = (None, None)

    def active(self) -> bool:
        return True

    def _memory(self, generator: object) -> memoryview | None:
        known, view = self._known
        if known is not generator:
            view = memory_of(generator)
            self._known = (generator, view)
        return view

    # A captured state is (twister, gauss_next): the twister as bytes from
    # memory, or as getstate's tuple on the fallback and when loaded.

    def capture(self) -> object:
        generator: Any = random._inst
        view = self._memory(generator)
        twister = _random.Random.getstate(generator) if view is None else bytes(view)
        return twister, generator.gauss_next

    def seed(self, seed: int) -> None:
        generator: Any = random._inst
        view = self._memory(generator)
        seeded = self._repeats.get(seed)
        if seeded is not None:
            if view is None:
                _random.Random.setstate(generator, seeded)
            else:
                view[:] = seeded
        else:
            _random.Random.seed(generator, seed)
            if self._repeats.repeated:
                state = _random.Random.getstate(generator) if view is None else bytes(view)
                self._repeats.keep(seed, state)
        generator.gauss_next = None

    def restore(self, state: object) -> None:
        generator: Any = random._inst
        twister, gaussian = cast(tuple[Any, Any], state)
        view = self._memory(generator)
        if view is not None and type(twister) is bytes:
            view[:] = twister
        else:
            _random.Random.setstate(generator, as_tuple(twister))
        generator.gauss_next = gaussian

    def dump(self, state: object) -> object:
        twister, gaussian = cast(tuple[Any, Any], state)
        return as_tuple(twister), gaussian

    def load(self, data: object) -> object:
        if not (isinstance(data, tuple) and len(data) == 2):
            raise ValueError("the state of 'random' is a pair (twister, cached gaussian)")
        twister, gaussian = data
        check_twister(twister, gaussian, "random")
        try_state(lambda: _random.Random().setstate(twister), "random")
        return twister, gaussian


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


# Marks a state read from a plain ``random.Random``'s memory: (_IN_MEMORY, twister, gauss_next).
_IN_MEMORY = object()


class RandomInstance(ObjectSource):
    """A ``random.Random``; one of a subclass goes through its own methods.

    A plain ``random.Random`` is captured and restored through its memory,
    as :mod:`random`'s own generator is: ``target`` always gives the same
    object (or ``None`` once it is gone), whose memory is found once. A
    subclass may keep state of its own, so its ``getstate``/``seed``/
    ``setstate`` are used.
    """

    kind = "random.Random"

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        super().__init__(target, name)
        self._repeats = Repeats()
        obj = target()
        self._view = memory_of(obj) if type(obj) is random.Random else None

    def capture(self) -> object:
        target = self.target()
        if target is None:
            return None
        view = self._view
        if view is None:
            return target.getstate()
        return _IN_MEMORY, bytes(view), target.gauss_next

    def seed(self, seed: int) -> None:
        target = self.target()
        if target is None:
            return
        view = self._view
        if view is None:
            target.seed(seed)
            return
        seeded = self._repeats.get(seed)
        if seeded is not None:
            view[:] = seeded
        else:
            _random.Random.seed(target, seed)
            if self._repeats.repeated:
                self._repeats.keep(seed, bytes(view))
        target.gauss_next = None

    def restore(self, state: object) -> None:
        target = self.target()
        if target is None or state is None:
            return
        view = self._view
        parts = cast(tuple[Any, ...], state)
        if parts[0] is not _IN_MEMORY:  # getstate's, or a loaded one
            target.setstate(state)
        elif view is None:
            target.setstate(self.dump(state))
        else:
            view[:] = parts[1]
            target.gauss_next = parts[2]

    def dump(self, state: object) -> object:
        parts = cast(tuple[Any, ...], state)
        if parts[0] is not _IN_MEMORY:
            return state
        return 3, as_tuple(parts[1]), parts[2]

    def load(self, data: object) -> object:
        if not (isinstance(data, tuple) and len(data) == 3 and type(data[0]) is int):
            raise ValueError("a random.Random state is (version, twister, cached gaussian)")
        check_twister(data[1], data[2], self.kind)
        try_state(lambda: random.Random().setstate(cast(Any, data)), self.kind)
        return data
