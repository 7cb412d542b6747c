"""Generator objects: the sources for ``generators=`` and for the registry.

Each supported object gets a small source of its own (same protocol as the
global ones in :mod:`reprorng._sources`) that seeds it **in place**, exactly
as a freshly made generator of its kind seeded with the block's seed, and
puts its state back afterwards:

* ``random.Random`` (and subclasses with state): ``random.Random(seed)``;
* ``numpy.random.Generator`` and ``BitGenerator`` (PCG64, PCG64DXSM, Philox,
  SFC64, MT19937, ...): ``Generator(type(bit_generator)(seed))``, so a PCG64
  one gives ``np.random.default_rng(seed)``'s numbers;
* ``numpy.random.RandomState``: ``RandomState(seed)`` (seeds of 2**32 and
  more as ``np.random.seed`` takes them, see :func:`numpy_seed`);
* ``torch.Generator``, on any device: ``manual_seed(seed)``.

The registry holds objects without keeping them alive. ``random.Random`` and
``torch.Generator`` are held by weak reference. numpy's generator types do not
support weak references; the registry lets go of one as soon as it holds the
last reference to it, which it checks whenever a block or snapshot looks at
the registry.
"""

from __future__ import annotations

import functools
import random
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any, cast

from reprorng._sources import (
    Twister,
    _Source,
    check_numpy_state,
    check_tensor,
    check_twister,
    keep_seed_seq,
    numpy_seed,
    try_state,
)

__all__ = [
    "KINDS",
    "ObjectSource",
    "as_list",
    "object_source",
    "object_sources",
    "register",
    "registered",
    "unregister",
]


class ObjectSource(_Source):
    """A source for one generator object, reached through ``target()``.

    ``target()`` gives ``None`` once a weakly held object is collected, which
    can happen at any moment, in the middle of a block too. From then on
    there is nothing to manage: ``capture`` gives ``None``, and ``seed`` and
    ``restore`` do nothing. Subclasses implement ``_capture``, ``_seed`` and
    ``_restore`` on the live object.
    """

    #: What kind of object this is, as saved snapshots name it.
    kind = ""

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        self.target = target
        self.name = name

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


@functools.lru_cache(maxsize=64)
def _seeded(bit_generator_type: Any, seed: int) -> dict[str, Any]:
    """The state of ``bit_generator_type(seed)``; kept, as making it costs tens of µs."""
    state: dict[str, Any] = bit_generator_type(seed).state
    return state


def _type(obj: object) -> Any:
    return type(obj)


class NumpyBitGenerator(ObjectSource):
    """A ``numpy.random.BitGenerator``, or the one a ``Generator`` draws from."""

    kind = "numpy.BitGenerator"

    @staticmethod
    def _bit_generator(target: Any) -> Any:
        return getattr(target, "bit_generator", target)

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


class NumpyRandomState(ObjectSource):
    """A ``numpy.random.RandomState``: its bit generator and its cached gaussian.

    One drawing from a Mersenne Twister, as most do, goes through a
    :class:`~reprorng._sources.Twister`, like numpy's global generator.
    """

    kind = "numpy.RandomState"

    def __init__(self, target: Callable[[], Any], name: str) -> None:
        super().__init__(target, name)
        self._twister = Twister(target)

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


class TorchGenerator(ObjectSource):
    """A ``torch.Generator`` on any device."""

    kind = "torch.Generator"

    def _capture(self, target: Any) -> object:
        return target.get_state()

    def _seed(self, target: Any, seed: int) -> None:
        target.manual_seed(seed)

    def _restore(self, target: Any, state: object) -> None:
        target.set_state(state)

    def dump(self, state: object) -> object:
        return {"device": self.target().device.type, "state": state}

    def load(self, data: object) -> object:
        import torch

        if not (isinstance(data, dict) and data.keys() == {"device", "state"}):
            raise ValueError(f"a saved {self.kind} state is a dict of 'device' and 'state'")
        device, state = data["device"], data["state"]
        check_tensor(state, self.kind)
        target = self.target()
        if target is not None and target.device.type != device:
            raise ValueError(
                f"a saved state of a {device} torch.Generator cannot be restored into "
                f"a {target.device.type} one"
            )
        if device == "cpu":
            try_state(lambda: torch.Generator().set_state(state), self.kind)
        elif target is not None:
            try_state(lambda: torch.Generator(device=target.device).set_state(state), self.kind)
        return state


#: Each kind of object source, by the name saved snapshots give it.
KINDS: dict[str, type[ObjectSource]] = {
    kind.kind: kind
    for kind in (RandomInstance, NumpyBitGenerator, NumpyRandomState, TorchGenerator)
}


def _kind(obj: object) -> type[ObjectSource] | None:
    if isinstance(obj, random.Random):
        # SystemRandom draws from the OS and has no state to seed or restore.
        return None if isinstance(obj, random.SystemRandom) else RandomInstance
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        if isinstance(obj, (np_random.Generator, np_random.BitGenerator)):
            return NumpyBitGenerator
        if isinstance(obj, np_random.RandomState):
            return NumpyRandomState
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(obj, getattr(torch, "Generator", ())):
        return TorchGenerator
    return None


_SUPPORTED = (
    "random.Random, numpy.random.Generator, numpy.random.BitGenerator, "
    "numpy.random.RandomState or torch.Generator"
)


def _describe(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}"


def _check_seedable(obj: object, kind: type[ObjectSource]) -> None:
    """``TypeError`` unless reprorng can make a seeded bit generator of ``obj``'s kind.

    A numpy generator is seeded with the state of ``type(bit_generator)(seed)``:
    a subclass whose constructor takes no seed cannot be.
    """
    if kind is NumpyBitGenerator:
        bit_generator = NumpyBitGenerator._bit_generator(obj)
    elif kind is NumpyRandomState:
        bit_generator = cast(Any, obj)._bit_generator
    else:
        return
    try:
        _seeded(_type(bit_generator), 0)
    except Exception as error:  # noqa: BLE001 - any failure means it cannot be seeded
        raise TypeError(
            f"reprorng seeds a numpy generator as type(bit_generator)(seed), which fails "
            f"for {_describe(bit_generator)}: {error}"
        ) from None


def object_source(obj: object, target: Callable[[], Any] | None = None) -> ObjectSource:
    """The source for one generator object; ``TypeError`` for anything else."""
    kind = _kind(obj)
    if kind is None:
        raise TypeError(
            f"reprorng manages {_SUPPORTED} objects, not {obj!r} of type {_describe(obj)}"
        )
    _check_seedable(obj, kind)
    name = f"{type(obj).__name__} at {id(obj):#x}"
    return kind((lambda: obj) if target is None else target, name)


def as_list(generators: object) -> list[object]:
    """``generators=``, an iterable of generator objects, as a list; ``TypeError`` if not one."""
    if _kind(generators) is not None:
        raise TypeError(
            f"generators must be an iterable of generator objects, got one "
            f"{_describe(generators)}; pass generators=[...]"
        )
    if isinstance(generators, (str, bytes)) or not isinstance(generators, Iterable):
        raise TypeError(
            f"generators must be an iterable of generator objects, "
            f"got {generators!r} of type {type(generators).__name__}"
        )
    return list(generators)


def object_sources(generators: object) -> tuple[ObjectSource, ...]:
    """The sources for ``generators=``, each object checked before any is used."""
    sources: dict[int, ObjectSource] = {}
    for obj in as_list(generators):
        source = object_source(obj)
        sources.setdefault(source.key(), source)
    return tuple(sources.values())


class _Entry:
    """One registered object, held weakly when it can be, else by its last reference."""

    __slots__ = ("obj", "ref", "source")

    def __init__(self, obj: object) -> None:
        self.obj: object | None
        try:
            self.ref: Any = weakref.ref(obj)
            self.obj = None
        except TypeError:
            self.obj = obj
            self.ref = self._strong
        self.source = object_source(obj, self.ref)

    def _strong(self) -> object | None:
        return self.obj

    def alive(self) -> bool:
        if self.obj is None:
            return self.ref() is not None
        # The entry's own attribute and the argument are the only references left.
        return sys.getrefcount(self.obj) > _LAST_REFERENCE


def _last_reference_count() -> int:
    probe = _Entry.__new__(_Entry)
    probe.obj = object()
    return sys.getrefcount(probe.obj)


_LAST_REFERENCE = _last_reference_count()

# Re-entrant: the cyclic garbage collector may run, at any allocation made while
# it is held, a finaliser that registers, unregisters or enters a block.
_lock = threading.RLock()
# By id of the registered object, in registration order.
_entries: dict[int, _Entry] = {}
# Called with the source of an object registered while blocks are open.
on_register: list[Callable[[ObjectSource], None]] = []
# The ids of registered objects found collected, most recent last. The collector
# clears weak references before it runs finalisers, so an owner's ``__del__``
# may unregister an object the registry already saw die; that is no error.
_collected: dict[int, None] = {}
_COLLECTED_KEPT = 1024


def _sweep() -> None:
    # A copy, made in one allocation: a finaliser run while iterating may change _entries.
    for ident, entry in _entries.copy().items():
        # A finaliser run meanwhile may have changed the registry: drop only this entry.
        if not entry.alive() and _entries.get(ident) is entry:
            del _entries[ident]
            _collected[ident] = None
            if len(_collected) > _COLLECTED_KEPT:
                del _collected[next(iter(_collected))]


def register(obj: object) -> None:
    """Have every block and snapshot manage ``obj``, a generator object, from now on.

    ``obj`` is a ``random.Random``, ``numpy.random.Generator``,
    ``BitGenerator`` or ``RandomState``, or a ``torch.Generator``; anything
    else raises ``TypeError``. Registering never keeps ``obj`` alive: once the
    rest of the program lets go of it, it is dropped. Registering an object
    twice registers it once. An object registered while blocks are open is
    seeded with the innermost block's seed and restored when they close, as
    a library imported inside a block is.
    """
    entry = _Entry(obj)
    with _lock:
        _sweep()
        if id(obj) in _entries:
            return
        _entries[id(obj)] = entry
        _collected.pop(id(obj), None)
    for callback in on_register:
        callback(entry.source)


def unregister(obj: object) -> None:
    """Stop managing ``obj``; ``ValueError`` if it is not registered.

    Blocks open now still put back the state it had at their entry. An
    object being collected (unregistered from its owner's ``__del__``, after
    the collector let go of it) is dropped without complaint.
    """
    with _lock:
        _sweep()
        entry = _entries.get(id(obj))
        if entry is None and id(obj) in _collected:
            del _collected[id(obj)]  # registered, and found collected: already dropped
            return
        if entry is None or (entry.obj if entry.obj is not None else entry.ref()) is not obj:
            raise ValueError(f"{obj!r} is not registered with reprorng")
        del _entries[id(obj)]


def registered() -> tuple[ObjectSource, ...]:
    """The sources of the registered objects still alive, in registration order."""
    if not _entries:
        return ()
    with _lock:
        _sweep()
        return tuple(entry.source for entry in _entries.values())


def has_registered() -> bool:
    """Whether anything is registered (perhaps collected since); cheap."""
    return bool(_entries)


def merge(first: tuple[ObjectSource, ...], second: tuple[ObjectSource, ...]) -> tuple[Any, ...]:
    """``first`` then ``second``, without a second source for the same generator."""
    keys = {source.key() for source in first}
    return first + tuple(source for source in second if source.key() not in keys)
