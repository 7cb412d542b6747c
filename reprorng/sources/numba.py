"""numba's own generators: the states ``np.random`` and ``random`` use inside ``@njit`` code.

numba keeps two Mersenne Twisters of its own per thread, apart from numpy's
and Python's: one behind ``np.random.*`` and one behind ``random.*`` in
compiled code. A block seeds those of the thread that enters it (numba offers no way to
reach another thread's) and puts them back, also when it exits in another
thread, as long as the first thread lives; numba is only looked at once
something else has imported it.

Each is seeded as numba's own ``np.random.seed(seed)`` / ``random.seed(seed)``
do inside compiled code for a seed below 2**32 (numba takes no more). A
larger seed is mixed as numpy's and Python's seeding calls mix one: the
``np.random`` state from ``[low, high, 1]`` (see :func:`numpy_seed`), the
``random`` state from ``[low, high]``, as ``random.seed`` does, through
numba's own seeding from bytes.

A state is read and written as memory: numba's C struct of the position,
the 624 words, the cached normal's flag and value, its layout confirmed once
against numba's ``rnd_get_state``/``rnd_set_state``; where that fails, those
two are used, and a cached normal is dropped on restore.
"""

from __future__ import annotations

import ctypes
import importlib
import math
import struct
import sys
import threading
from typing import Any, cast

from reprorng.sources.base import BaseSource
from reprorng.sources.numpy import numpy_seed

__all__ = ["NumbaRandom"]

# numba's rnd_state_t: the position, the 624 words, the cached normal's flag and value.
_STATE = struct.Struct("=i624Iid")
_NORMAL = struct.Struct("=id")
_NORMAL_AT = 4 + 624 * 4

# Whether numba's states were found where numba's struct puts them: None until looked.
_confirmed: bool | None = None


def _helper() -> Any:
    helper = sys.modules.get("numba._helperlib")
    return helper if helper is not None else importlib.import_module("numba._helperlib")


def _pointers() -> tuple[int, int]:
    """The current thread's two states: ``np.random``'s, then ``random``'s."""
    helper = _helper()
    return helper.rnd_get_np_state_ptr(), helper.rnd_get_py_state_ptr()


def _confirm(pointer: int) -> bool:
    """Whether a state lies in memory as :data:`_STATE` says, checked on the state at
    ``pointer``, which is left as it was."""
    helper = _helper()
    saved = ctypes.string_at(pointer, _STATE.size)
    index, words = helper.rnd_get_state(pointer)
    if _STATE.unpack(saved)[:625] != (index, *words):
        return False
    try:
        # numba's set_state drops the cached normal: the two fields it clears are those.
        ctypes.memmove(pointer + _NORMAL_AT, _NORMAL.pack(1, 0.5), _NORMAL.size)
        helper.rnd_set_state(pointer, (index, list(words)))
        return ctypes.string_at(pointer + _NORMAL_AT, _NORMAL.size) == _NORMAL.pack(0, 0.0)
    finally:
        ctypes.memmove(pointer, saved, _STATE.size)


def _in_memory() -> bool:
    global _confirmed
    if _confirmed is None:
        try:
            _confirmed = _confirm(_pointers()[0])
        except Exception:  # noqa: BLE001 - another numba: its own getter and setter
            _confirmed = False
    return _confirmed


def _read(pointer: int) -> object:
    if _in_memory():
        return ctypes.string_at(pointer, _STATE.size)
    return _helper().rnd_get_state(pointer)


def _write(pointer: int, state: object) -> None:
    if isinstance(state, bytes):
        if _in_memory():
            ctypes.memmove(pointer, state, _STATE.size)
            return
        index, *words, _has_normal, _normal = _STATE.unpack(state)
        state = (index, words)
    index, words = cast(tuple[int, list[int]], state)
    _helper().rnd_set_state(pointer, (index, list(words)))


class NumbaRandom(BaseSource):
    """numba's ``np.random`` and ``random`` states of the thread that enters a block."""

    name = "numba"

    def active(self) -> bool:
        return "numba" in sys.modules and hasattr(sys.modules["numba"], "njit")

    # A captured state: the thread it belongs to and where its two states lie, then each
    # state as bytes from memory or as numba's (position, words) on the fallback.

    def capture(self) -> object:
        numpy_state, python_state = _pointers()
        return (
            threading.current_thread(),
            (numpy_state, python_state),
            _read(numpy_state),
            _read(python_state),
        )

    def seed(self, seed: int) -> None:
        helper = _helper()
        numpy_state, python_state = _pointers()
        if seed < 2**32:
            helper.rnd_seed(numpy_state, seed)
            helper.rnd_seed(python_state, seed)
        else:
            key = cast(list[int], numpy_seed(seed))  # [low, high, 1]
            helper.rnd_seed(numpy_state, struct.pack("<3I", *key))
            helper.rnd_seed(python_state, struct.pack("<2I", *key[:2]))

    def restore(self, state: object) -> None:
        thread, pointers, numpy_saved, python_saved = cast(tuple[Any, Any, object, object], state)
        if thread is None or thread is threading.current_thread():
            numpy_state, python_state = _pointers()
        elif thread.is_alive():  # a block exited in another thread: the states are the first's
            numpy_state, python_state = pointers
        else:
            return  # that thread is gone, and its generators with it
        _write(numpy_state, numpy_saved)
        _write(python_state, python_saved)

    def dump(self, state: object) -> object:
        """Each state as its position, its 624 words and its cached normal (``None``: none)."""
        _thread, _pointers_of_it, *states = cast(tuple[Any, Any, Any, Any], state)
        dumped = []
        for saved in states:
            if isinstance(saved, bytes):
                index, *words, has_normal, normal = _STATE.unpack(saved)
                dumped.append((index, tuple(words), normal if has_normal else None))
            else:
                index, words = saved
                dumped.append((index, tuple(words), None))
        return {"np.random": dumped[0], "random": dumped[1]}

    def load(self, data: object) -> object:
        if not (isinstance(data, dict) and data.keys() == {"np.random", "random"}):
            raise ValueError("a saved numba state is a dict of 'np.random' and 'random'")
        loaded = [_check(data["np.random"], "np.random"), _check(data["random"], "random")]
        return None, None, *loaded


def _check(entry: object, which: str) -> bytes:
    """A saved state as the bytes numba keeps, or ``ValueError`` naming what is wrong."""
    problem = f"numba's saved {which} state"
    if not (isinstance(entry, tuple | list) and len(entry) == 3):
        raise ValueError(f"{problem} is (position, 624 words, cached normal or None)")
    index, words, normal = entry
    if type(index) is not int or not 0 <= index <= 624:
        raise ValueError(f"{problem} has a position outside 0..624: {index!r}")
    if not (
        isinstance(words, tuple | list)
        and len(words) == 624
        and all(type(word) is int and 0 <= word < 2**32 for word in words)
        and any(words)
    ):
        raise ValueError(f"{problem} needs 624 words of 32 bits, not all 0")
    if normal is not None and not (type(normal) is float and math.isfinite(normal)):
        raise ValueError(f"{problem} has a cached normal that is not a finite float")
    return _STATE.pack(index, *words, int(normal is not None), normal or 0.0)
