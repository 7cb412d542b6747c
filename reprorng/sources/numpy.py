"""numpy's generators: the global ``RandomState``, and ``Generator``, ``BitGenerator`` and
``RandomState`` objects.

numpy is only looked at once something else has imported it: ``sys.modules``
is consulted, never ``import``.

Objects are seeded **in place**, as a fresh generator of their kind seeded
with the block's seed: ``Generator(type(bit_generator)(seed))``, so a PCG64
``Generator`` gives ``np.random.default_rng(seed)``'s numbers, and
``RandomState(seed)`` (seeds of 2**32 and more as ``np.random.seed`` takes
them, see :func:`numpy_seed`).
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Callable
from typing import Any, cast

from reprorng.sources.base import BaseSource, ObjectSource, Repeats, try_state
from reprorng.sources.numpy_memory import (
    NONE_CACHED,
    Twister,
    keep_seed_seq,
    read_gaussian,
    write_gaussian,
)

__all__ = [
    "NUMPY_BIT_GENERATORS",
    "NumpyBitGenerator",
    "NumpyGenerator",
    "NumpyGlobal",
    "NumpyRandomState",
    "check_numpy_state",
    "numpy_seed",
]


class NumpyGlobal(BaseSource):
    """numpy's global ``RandomState``, the one behind ``np.random.seed`` and ``np.random.rand``.

    With the usual Mersenne Twister bit generator, its state goes through a
    :class:`Twister`: faster than ``np.random.get_state``/``set_state``, and
    unlike ``np.random.seed`` it keeps the bit generator's ``seed_seq``.
    """

    name = "numpy"

    def __init__(self) -> None:
        self._twister = Twister(lambda: sys.modules["numpy.random.mtrand"]._rand)
        self._repeats = Repeats()

    def active(self) -> bool:
        return "numpy.random" in sys.modules

    @staticmethod
    def _random() -> Any:
        return sys.modules["numpy.random"]

    # A captured state is (bit generator, twister bytes or None, cached gaussian or
    # numpy's state dict, the bit generator's seed_seq).

    def capture(self) -> object:
        fast = self._twister.memories()
        if fast is not None:
            bit_generator, memory, normal = fast
            return bit_generator, bytes(memory), read_gaussian(normal), bit_generator.seed_seq
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
        fast = self._twister.memories()
        view: memoryview | None
        if fast is not None:
            fast[2][:] = NONE_CACHED
            view = fast[1]
        else:
            np_random = self._random()
            view = self._twister.view(np_random.get_bit_generator())
            if view is not None:
                self._twister.clear_gaussian(view)
        if view is not None:
            seeded = self._repeats.get(seed)
            if seeded is not None:
                view[:] = seeded
            else:
                # numpy_seed's key, [low, high, 1], as the int whose words it is.
                self._twister.seed_into(view, seed if seed < 2**32 else seed + 2**64)
                if self._repeats.repeated:
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
        fast = self._twister.memories()
        if fast is not None and fast[0] is bit_generator and twister is not None:
            if bit_generator.seed_seq is not seed_seq:
                keep_seed_seq(bit_generator, seed_seq)
            write_gaussian(fast[2], extra)
            fast[1][:] = twister
            return
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

    It takes 32 bits. A larger seed is given as its two 32-bit words, low
    first, then a 1 (``[seed & 0xFFFFFFFF, seed >> 32, 1]``), which numpy mixes
    with ``init_by_array``: never the stream of a 32-bit seed, nor that of
    Python's :mod:`random`, which mixes the two words alone. The 1 makes the
    key the words of ``seed + 2**64``, from which Python's ``random.seed``
    makes the same twister faster than numpy (see :meth:`Twister.seed_into`).
    """
    return seed if seed < 2**32 else [seed & 0xFFFFFFFF, seed >> 32, 1]


@functools.lru_cache(maxsize=64)
def _seeded(bit_generator_type: Any, seed: int) -> dict[str, Any]:
    """The state of ``bit_generator_type(seed)``; kept, as making it costs tens of µs."""
    state: dict[str, Any] = bit_generator_type(seed).state
    return state


def _type(obj: object) -> Any:
    return type(obj)


def describe(obj: object) -> str:
    """``obj``'s type, as messages name it."""
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _check_seedable(bit_generator: object) -> None:
    """``TypeError`` unless reprorng can make a seeded bit generator of this kind.

    A numpy generator is seeded with the state of ``type(bit_generator)(seed)``:
    a subclass whose constructor takes no seed cannot be.
    """
    try:
        _seeded(_type(bit_generator), 0)
    except Exception as error:  # noqa: BLE001 - any failure means it cannot be seeded
        raise TypeError(
            f"reprorng seeds a numpy generator as type(bit_generator)(seed), which fails "
            f"for {describe(bit_generator)}: {error}"
        ) from None


class NumpyBitGenerator(ObjectSource):
    """A ``numpy.random.BitGenerator``, or the one a ``Generator`` draws from."""

    kind = "numpy.BitGenerator"

    @staticmethod
    def _bit_generator(target: Any) -> Any:
        return getattr(target, "bit_generator", target)

    @classmethod
    def check(cls, obj: object) -> None:
        _check_seedable(cls._bit_generator(obj))

    def key(self) -> int:
        return id(self._bit_generator(self.target()))

    def _capture(self, target: Any) -> object:
        return self._bit_generator(target).state

    def _seed(self, target: Any, seed: int) -> None:
        bit_generator = self._bit_generator(target)
        bit_generator.state = _seeded(_type(bit_generator), seed)

    def _restore(self, target: Any, state: object) -> None:
        self._bit_generator(target).state = state

    def load(self, data: object) -> object:
        check_numpy_state(data, self.kind, with_gaussian=False)
        target = self.target()
        if target is not None:
            _same_bit_generator(self._bit_generator(target), data)
        return data


class NumpyGenerator(NumpyBitGenerator):
    """A ``numpy.random.Generator``: the state of the bit generator it draws from."""

    kind = "numpy.Generator"


# A Generator's state is its bit generator's: either restores what the other saved.
NumpyBitGenerator.restores = NumpyGenerator.restores = frozenset(
    {NumpyBitGenerator.kind, NumpyGenerator.kind}
)


class NumpyRandomState(ObjectSource):
    """A ``numpy.random.RandomState``: its bit generator and its cached gaussian.

    One drawing from a Mersenne Twister, as most do, goes through a
    :class:`~reprorng.sources.numpy_memory.Twister`, like numpy's global generator.
    """

    kind = "numpy.RandomState"

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        super().__init__(target, name)
        self._twister = Twister(target)

    @classmethod
    def check(cls, obj: object) -> None:
        _check_seedable(cast(Any, obj)._bit_generator)

    def _view(self, target: Any) -> memoryview | None:
        return self._twister.view(target._bit_generator)

    # A captured state is numpy's state dict, or (twister bytes, cached gaussian,
    # seed_seq) for a Mersenne Twister.

    def _capture(self, target: Any) -> object:
        view = self._view(target)
        if view is None:
            return target.get_state(legacy=False)
        twister, gaussian = self._twister.peek(view)
        return twister, gaussian, target._bit_generator.seed_seq

    def _seed(self, target: Any, seed: int) -> None:
        bit_generator = target._bit_generator
        if type(bit_generator).__name__ == "MT19937":
            target.seed(numpy_seed(seed))  # also drops the cached gaussian
            return
        state = dict(_seeded(_type(bit_generator), seed), has_gauss=0, gauss=0.0)
        target.set_state(state)

    def _restore(self, target: Any, state: object) -> None:
        if isinstance(state, dict):
            target.set_state(state)
            return
        view = self._view(target)
        assert view is not None
        twister, gaussian, seed_seq = cast(tuple[bytes, Any, Any], state)
        keep_seed_seq(target._bit_generator, seed_seq)
        self._twister.put_back(view, twister, gaussian)

    def dump(self, state: object) -> object:
        if isinstance(state, dict):
            return state
        twister, gaussian, _seed_seq = cast(tuple[bytes, Any, Any], state)
        return Twister.as_dict(twister, gaussian)

    def load(self, data: object) -> object:
        check_numpy_state(data, self.kind, with_gaussian=True)
        target = self.target()
        if target is not None:
            _same_bit_generator(target._bit_generator, data)
        return data


def _same_bit_generator(bit_generator: object, data: Any) -> None:
    if type(bit_generator).__name__ != data["bit_generator"]:
        raise ValueError(
            f"a saved {data['bit_generator']} state cannot be restored into a generator "
            f"drawing from {type(bit_generator).__name__}"
        )
