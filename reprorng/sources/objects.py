"""Generator objects: their sources, for ``generators=``, and the registry.

Each supported object gets a small source of its own (see
:class:`~reprorng.sources.base.ObjectSource`), kept with its family:
``random.Random`` in :mod:`~reprorng.sources.python`, numpy's ``Generator``,
``BitGenerator`` and ``RandomState`` in :mod:`~reprorng.sources.numpy`,
``torch.Generator`` (any device) in :mod:`~reprorng.sources.torch`. It seeds
the object **in place**, as a fresh generator of its kind seeded with the
block's seed, and puts its state back afterwards.

The registry holds objects without keeping them alive. ``random.Random`` and
``torch.Generator`` are held by weak reference. numpy's generator types do not
support weak references; the registry lets go of one as soon as it holds the
last reference to it, which it checks whenever a block or snapshot looks at
the registry.
"""

from __future__ import annotations

import random
import sys
import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from reprorng._seed import short_repr
from reprorng.sources.base import ObjectSource
from reprorng.sources.numpy import NumpyBitGenerator, NumpyGenerator, NumpyRandomState, describe
from reprorng.sources.python import RandomInstance
from reprorng.sources.torch import TorchGenerator

__all__ = [
    "KINDS",
    "as_list",
    "has_registered",
    "merge",
    "object_source",
    "object_sources",
    "on_register",
    "register",
    "registered",
    "unregister",
]


#: Each kind of object source, by the name saved snapshots give it.
KINDS: dict[str, type[ObjectSource]] = {
    kind.kind: kind
    for kind in (
        RandomInstance,
        NumpyGenerator,
        NumpyBitGenerator,
        NumpyRandomState,
        TorchGenerator,
    )
}


def _kind(obj: object) -> type[ObjectSource] | None:
    if isinstance(obj, random.Random):
        # SystemRandom draws from the OS and has no state to seed or restore.
        return None if isinstance(obj, random.SystemRandom) else RandomInstance
    np_random = sys.modules.get("numpy.random")
    if np_random is not None:
        if isinstance(obj, np_random.Generator):
            return NumpyGenerator
        if isinstance(obj, np_random.BitGenerator):
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


def object_source(obj: object, target: Callable[[], Any] | None = None) -> ObjectSource:
    """The source for one generator object; ``TypeError`` for anything else."""
    kind = _kind(obj)
    if kind is None:
        raise TypeError(
            f"reprorng manages {_SUPPORTED} objects, not {short_repr(obj)} of type {describe(obj)}"
        )
    kind.check(obj)
    name = f"{type(obj).__name__} at {id(obj):#x}"
    return kind((lambda: obj) if target is None else target, name)


def as_list(generators: object) -> list[object]:
    """``generators=``, an iterable of generator objects, as a list; ``TypeError`` if not one."""
    if _kind(generators) is not None:
        raise TypeError(
            f"generators must be an iterable of generator objects, got one "
            f"{describe(generators)}; pass generators=[...]"
        )
    if isinstance(generators, (str, bytes)) or not isinstance(generators, Iterable):
        raise TypeError(
            f"generators must be an iterable of generator objects, "
            f"got {short_repr(generators)} of type {type(generators).__name__}"
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
    if not first:
        return second
    keys = {source.key() for source in first}
    return first + tuple(source for source in second if source.key() not in keys)
