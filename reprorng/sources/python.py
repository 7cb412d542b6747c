"""Python's generators: the :mod:`random` module's functions and ``random.Random`` objects."""

from __future__ import annotations

import _random
import math
import random
from typing import Any, cast

from reprorng.sources.base import BaseSource, ObjectSource, Repeats, try_state

__all__ = ["PythonRandom", "RandomInstance", "check_twister"]


class PythonRandom(BaseSource):
    """The generator behind the functions of Python's :mod:`random` module.

    Its state is the twister's (``random.getstate()[1]``) and ``gauss_next``,
    the cached second normal of ``random.gauss``. They are read and written
    with the same C methods ``random.getstate``/``seed``/``setstate`` call,
    without the Python layer around them.
    """

    name = "random"

    def __init__(self) -> None:
        self._repeats = Repeats()

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


class RandomInstance(ObjectSource):
    kind = "random.Random"

    def _capture(self, target: Any) -> object:
        return target.getstate()

    def _seed(self, target: Any, seed: int) -> None:
        target.seed(seed)

    def _restore(self, target: Any, state: object) -> None:
        target.setstate(state)

    def load(self, data: object) -> object:
        if not (isinstance(data, tuple) and len(data) == 3 and type(data[0]) is int):
            raise ValueError("a random.Random state is (version, twister, cached gaussian)")
        check_twister(data[1], data[2], self.kind)
        try_state(lambda: random.Random().setstate(cast(Any, data)), self.kind)
        return data
