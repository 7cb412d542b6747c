"""The protocol every source of random numbers implements, and what sources share.

A source knows whether it has anything to manage right now (``active``), and
how to ``capture`` its generators' complete state, ``seed`` them exactly as
their own library's seeding call does, and ``restore`` a captured state.
``swap`` does ``capture`` then ``seed`` in one step, and ``exchange`` does
``capture`` then ``restore``, which some sources do faster than the two
apart: decorated coroutines and generators exchange their streams with the
caller's at each step.

:class:`ObjectSource` is the base of the sources for single generator
objects (``generators=`` and the registry).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, cast

__all__ = ["BaseSource", "ObjectSource", "Repeats", "Source", "same_state", "try_state"]


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


class BaseSource:
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


class Repeats:
    """The seeded state of a seed used twice in a row, so that it is set, not recomputed.

    Seeding computes a state from the seed; setting a kept copy is cheaper.
    A seed is kept on its second use in a row, so blocks with a new seed each
    time (one per sample, say) pay one comparison and keep nothing.
    """

    __slots__ = ("last", "repeated", "seed", "state")

    def __init__(self) -> None:
        self.last = self.seed = -1
        self.state: Any = None
        #: After a :meth:`get` that gave ``None``: whether the seed is worth keeping.
        self.repeated = False

    def get(self, seed: int) -> Any:
        """The kept state of ``seed``, or ``None``: then it is computed, and noted."""
        if seed == self.seed:
            return self.state
        self.repeated, self.last = seed == self.last, seed
        return None

    def keep(self, seed: int, state: object) -> None:
        self.seed, self.state = seed, state


def try_state(action: Callable[[], object], name: str) -> None:
    """Run ``action``, which tries a state on a scratch generator; ``ValueError`` if it fails."""
    try:
        action()
    except Exception as error:  # noqa: BLE001 - any complaint means the state is not valid
        raise ValueError(f"not a valid state for {name!r}: {error}") from None


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


class ObjectSource(BaseSource):
    """A source for one generator object, reached through ``target()``.

    ``target()`` gives ``None`` once a weakly held object is collected, which
    can happen at any moment, in the middle of a block too. From then on
    there is nothing to manage: ``capture`` gives ``None``, and ``seed`` and
    ``restore`` do nothing. Subclasses implement ``_capture``, ``_seed`` and
    ``_restore`` on the live object.
    """

    #: What kind of object this is, as saved snapshots name it.
    kind = ""
    #: The kinds of saved state it restores: its own, and any that holds the same state.
    restores: frozenset[str] = frozenset()

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        self.target = target
        self.name = name

    @classmethod
    def check(cls, obj: object) -> None:
        """``TypeError`` if ``obj``, of this kind, cannot be managed after all."""

    def active(self) -> bool:
        return self.target() is not None

    def key(self) -> int:
        """Identifies the state: two sources with one key manage the same generator."""
        return id(self.target())

    def capture(self) -> object:
        target = self.target()
        return None if target is None else self._capture(target)

    def seed(self, seed: int) -> None:
        target = self.target()
        if target is not None:
            self._seed(target, seed)

    def restore(self, state: object) -> None:
        target = self.target()
        if target is not None and state is not None:
            self._restore(target, state)

    def _capture(self, target: Any) -> object:
        raise NotImplementedError

    def _seed(self, target: Any, seed: int) -> None:
        raise NotImplementedError

    def _restore(self, target: Any, state: object) -> None:
        raise NotImplementedError
