"""numpy's ``RandomState(seed)`` and ``SeedSequence(entropy)``, seen as they are made.

They are classes, so a trace puts subclasses in their place under
``numpy.random`` whose ``__init__`` records the seed. The subclasses pass
``isinstance`` and ``issubclass`` checks against the originals both ways
(numpy's own ``np.random.mtrand._rand`` is still a ``np.random.RandomState``
while the trace runs), and pickle as the originals.
"""

from __future__ import annotations

import sys
from typing import Any

from reprorng.trace._hash import describe, digest, passes_through
from reprorng.trace._hooks import Hooks

__all__ = ["install", "seen_random_state", "seen_seed_sequence"]


def install(hooks: Hooks) -> None:
    """Put the stand-ins in place under ``numpy.random``, for ``hooks`` to take out."""
    np_random = sys.modules["numpy.random"]
    hooks.patch(np_random, "RandomState", lambda base: seen_random_state(hooks, base))
    hooks.patch(np_random, "SeedSequence", lambda base: seen_seed_sequence(hooks, base))


class _SameAs(type):
    """The metaclass of a stand-in: ``isinstance``/``issubclass`` answer as for its original."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, cls.__mro__[1])

    def __subclasscheck__(cls, subclass: type) -> bool:
        return issubclass(subclass, cls.__mro__[1])


def _reduce_as(seen: type, base: type, reduced: Any) -> Any:
    """What the subclass pickles as: the original class wherever it names itself."""
    if not isinstance(reduced, tuple) or not reduced:
        return reduced
    swap = [base if part is seen else part for part in reduced]
    if len(swap) > 1 and isinstance(swap[1], tuple):
        swap[1] = tuple(base if part is seen else part for part in swap[1])
    return tuple(swap)


def _named_as(seen: type, base: type) -> type:
    seen.__module__ = base.__module__
    seen.__qualname__ = base.__qualname__
    seen.__doc__ = base.__doc__
    return seen


def seen_random_state(hooks: Hooks, base: type) -> type:
    class RandomState(base, metaclass=_SameAs):  # type: ignore[misc]
        def __init__(self, seed: object = None) -> None:
            super().__init__(seed)
            if not hooks.live():
                return
            name = "numpy.random.RandomState"
            if seed is None:
                drawn = self.get_state()[1][:4].tolist()
                hooks.recorder.add("entropy", name, value=digest(repr(drawn)))
            elif not passes_through(seed):
                hooks.recorder.add("seed", name, value=describe(seed))

        def __reduce_ex__(self, protocol: Any) -> Any:
            return _reduce_as(RandomState, base, super().__reduce_ex__(protocol))

    return _named_as(RandomState, base)


def seen_seed_sequence(hooks: Hooks, base: type) -> type:
    class SeedSequence(base, metaclass=_SameAs):  # type: ignore[misc]
        def __init__(self, entropy: object = None, **kwargs: Any) -> None:
            super().__init__(entropy, **kwargs)
            if not hooks.live():
                return
            name = "numpy.random.SeedSequence"
            if entropy is None:
                hooks.recorder.add("entropy", name, value=digest(repr(self.entropy)))
            else:
                hooks.recorder.add("seed", name, value=describe(entropy))

        def __reduce_ex__(self, protocol: Any) -> Any:
            return _reduce_as(SeedSequence, base, super().__reduce_ex__(protocol))

    return _named_as(SeedSequence, base)
