"""Sources of random numbers: one module per family, and the registry of sources.

Each family holds both its global generator and its generator objects:

* :mod:`~reprorng.sources.python`: :mod:`random` and ``random.Random``;
* :mod:`~reprorng.sources.numpy`: numpy's global ``RandomState`` and its
  ``Generator``/``BitGenerator``/``RandomState`` objects;
* :mod:`~reprorng.sources.torch`: torch's CPU generator and ``torch.Generator``;
* :mod:`~reprorng.sources.accelerators`: CUDA, XPU, MTIA, MPS, privateuse1;
* :mod:`~reprorng.sources.numba`: numba's own states behind ``@njit`` code;
* :mod:`~reprorng.sources.shared`: the shared generators of Faker and polyfactory.

Here: the built-in sources in the order blocks use them, the sources other
packages add (:func:`add_source`, the ``reprorng.sources`` entry-point group),
and the names switched off for every block (:func:`exclude`/:func:`include`).
The protocol is :class:`~reprorng.sources.base.Source`; generator objects
and their registry are in :mod:`~reprorng.sources.objects`.
"""

from __future__ import annotations

import warnings
from typing import Any

from reprorng.sources.accelerators import TorchAccelerator, TorchCustomBackend, TorchMPS
from reprorng.sources.base import BaseSource, Source, same_state
from reprorng.sources.numba import NumbaRandom
from reprorng.sources.numpy import NumpyGlobal
from reprorng.sources.python import PythonRandom
from reprorng.sources.shared import FakerRandom, PolyfactoryRandom
from reprorng.sources.torch import TorchCPU

__all__ = [
    "ENTRY_POINT_GROUP",
    "SOURCES",
    "WATCHED_MODULES",
    "Source",
    "accelerator_names",
    "add_source",
    "all_sources",
    "check_names",
    "exclude",
    "excluded",
    "include",
    "known_sources",
    "same_state",
    "source_names",
]


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
    NumbaRandom(),
    FakerRandom(),
    PolyfactoryRandom(),
)

#: The entry-point group through which other packages add sources.
ENTRY_POINT_GROUP = "reprorng.sources"


class _Added(BaseSource):
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


def accelerator_names() -> tuple[str, ...]:
    """The names of the built-in sources of torch's accelerators (CUDA, XPU, MTIA, MPS, ...)."""
    kinds = (TorchAccelerator, TorchMPS)
    return tuple(source.name for source in SOURCES if isinstance(source, kinds))


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
    _excluded.update(check_names(names, "exclude()"))
    changed()


def include(*names: str) -> None:
    """Switch sources that :func:`exclude` switched off back on."""
    _excluded.difference_update(check_names(names, "include()"))
    changed()


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
    known_sources()
    _added.append(_check(source, f"add_source({source!r})"))
    changed()


#: Modules whose import makes a source active; a block open at their import seeds them.
WATCHED_MODULES: tuple[str, ...] = ("numpy.random", "torch", "numba", "faker", "polyfactory")


def changed() -> None:
    """Say that which sources blocks manage may have changed: a library was imported, or a
    source added, switched off or on."""
    global version
    version += 1
