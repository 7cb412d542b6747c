"""Snapshots: the state of every generator at one moment, compared, saved and restored.

``snapshot()`` captures what a block manages into an immutable
:class:`RngState`, which compares bit for bit, saves in reprorng's own safe
form (see :mod:`reprorng._format`), goes into torch checkpoints as a
``state_dict``, and puts every generator back with :meth:`RngState.restore`.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from reprorng import _format, _stack
from reprorng._block import fixed_rng
from reprorng._entry import close_stale
from reprorng._format import FORMAT, FORMAT_VERSION, MAGIC, bad, decode_checked, encode, read
from reprorng.sources import Source, known_sources
from reprorng.sources.base import ObjectSource, same_state
from reprorng.sources.objects import KINDS, as_list, object_source

__all__ = ["FORMAT_VERSION", "MAGIC", "RngState", "snapshot"]


class _Unsaveable:
    """A source state that only means something in this process, with why."""

    __slots__ = ("reason", "state")

    def __init__(self, state: object, reason: str | None) -> None:
        self.state = state
        self.reason = reason  # None: left out of the saved form without complaint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unsaveable) and same_state(self.state, other.state)

    __hash__ = None  # type: ignore[assignment]


# -- the state ---------------------------------------------------------------------------


class RngState:
    """The state of every generator reprorng manages, at one moment; immutable.

    Made by :func:`snapshot` or read back with :meth:`from_bytes`,
    :meth:`load` and :meth:`from_state_dict`. ``==`` compares bit for bit;
    :meth:`restore` puts the state back.
    """

    __slots__ = ("_generators", "_objects", "_saved", "_sources")

    _sources: dict[str, Any]
    _saved: Any
    _generators: tuple[tuple[str, Any], ...]
    _objects: tuple[object, ...] | None

    def __init__(self) -> None:
        raise TypeError("RngState is made by reprorng.snapshot() or RngState.from_bytes()")

    @classmethod
    def _make(
        cls,
        sources: dict[str, Any],
        generators: tuple[tuple[str, Any], ...],
        objects: tuple[object, ...] | None,
    ) -> Self:
        state = object.__new__(cls)
        object.__setattr__(state, "_sources", sources)
        object.__setattr__(state, "_generators", generators)
        object.__setattr__(state, "_objects", objects)
        body = {
            "format": FORMAT,
            "sources": {
                name: data for name, data in sources.items() if not isinstance(data, _Unsaveable)
            },
            "generators": [{"kind": kind, "state": data} for kind, data in generators],
        }
        object.__setattr__(state, "_saved", body)
        return state

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("RngState is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("RngState is immutable")

    # -- looking at it

    @property
    def sources(self) -> tuple[str, ...]:
        """The names of the sources whose state this holds."""
        return tuple(self._sources)

    @property
    def generator_kinds(self) -> tuple[str, ...]:
        """The kind of each generator object whose state this holds, in order."""
        return tuple(kind for kind, _data in self._generators)

    def __repr__(self) -> str:
        generators = f", generators={list(self.generator_kinds)}" if self._generators else ""
        return f"<RngState sources={list(self.sources)}{generators}>"

    def _body(self) -> bytes:
        return _format.canonical(self._saved)

    def __eq__(self, other: object) -> bool:
        """Bit for bit, what :meth:`to_bytes` saves, so a state read back equals the original.

        The seeding queue of an accelerator never initialised is not part of
        it: it is not state yet, and it is not saved.
        """
        if not isinstance(other, RngState):
            return NotImplemented
        return self._body() == other._body() and self._unsaveable() == other._unsaveable()

    def _unsaveable(self) -> dict[str, _Unsaveable]:
        return {
            name: data
            for name, data in self._sources.items()
            if isinstance(data, _Unsaveable) and data.reason is not None
        }

    def __hash__(self) -> int:
        return hash(self._body())

    # -- saving

    def to_bytes(self) -> bytes:
        """The saved form (see the module's documentation).

        State that only means something in this process is left out: an
        accelerator that was never initialised has no state yet. A source
        whose state cannot be saved raises ``ValueError`` naming it.
        """
        for name, data in self._sources.items():
            if isinstance(data, _Unsaveable) and data.reason is not None:
                raise ValueError(f"the state of source {name!r} cannot be saved: {data.reason}")
        return _format.frame(self._body())

    @classmethod
    def from_bytes(cls, data: bytes) -> RngState:
        """Read back what :meth:`to_bytes` wrote; ``ValueError`` for anything else."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"from_bytes takes bytes, got {type(data).__name__}")
        body = _format.unframe(bytes(data))
        return cls._from_body(body)

    @classmethod
    def _from_body(cls, body: object) -> RngState:
        if not (
            isinstance(body, dict)
            and body.keys() == {"format", "sources", "generators"}
            and body["format"] == FORMAT
            and isinstance(body["sources"], dict)
            and isinstance(body["generators"], list)
        ):
            raise bad("its body lacks format, sources or generators")
        sources: dict[str, Any] = {}
        known = {source.name: source for source in known_sources()}
        for name, data in body["sources"].items():
            sources[name] = read(known.get(name), data)
        generators = []
        for entry in body["generators"]:
            if not (isinstance(entry, dict) and entry.keys() == {"kind", "state"}):
                raise bad("a generator entry is not a dict of kind and state")
            kind = entry["kind"]
            if not isinstance(kind, str) or kind not in KINDS:
                raise bad(f"unknown generator kind {kind!r}")
            reader = KINDS[kind](lambda: None, kind)
            generators.append((kind, read(reader, entry["state"])))
        return cls._make(sources, tuple(generators), None)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_bytes` to ``path``, atomically (a reader never sees half a file)."""
        _format.write_atomically(path, self.to_bytes())

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> RngState:
        """Read a state :meth:`save` wrote; ``ValueError`` if the file is not one."""
        return cls.from_bytes(Path(path).read_bytes())

    def state_dict(self) -> dict[str, Any]:
        """The state as a dict of a str, an int and a uint8 tensor, for torch checkpoints.

        It survives ``torch.save`` and ``torch.load(weights_only=True)``;
        :meth:`from_state_dict` reads it back.
        """
        import torch

        data = torch.frombuffer(bytearray(self.to_bytes()), dtype=torch.uint8)
        return {"format": FORMAT, "version": FORMAT_VERSION, "data": data}

    @classmethod
    def from_state_dict(cls, state_dict: object) -> RngState:
        """Read back :meth:`state_dict`; ``ValueError`` if it is not one."""
        torch = sys.modules.get("torch")
        if not (
            isinstance(state_dict, dict)
            and state_dict.keys() == {"format", "version", "data"}
            and state_dict["format"] == FORMAT
            and torch is not None
            and isinstance(state_dict["data"], torch.Tensor)
            and state_dict["data"].dtype == torch.uint8
            and state_dict["data"].dim() == 1
        ):
            raise ValueError(
                "not a reprorng state dict: expected {'format': 'reprorng.RngState', "
                "'version': int, 'data': 1-D uint8 tensor}"
            )
        data = state_dict["data"].detach().cpu().contiguous().numpy().tobytes()
        return cls.from_bytes(data)

    # -- restoring

    def restore(
        self,
        *,
        generators: Iterable[object] | None = None,
        missing: Literal["warn", "ignore", "error"] = "warn",
    ) -> None:
        """Put every generator back as it was when this state was taken.

        Generator objects are restored in place: the ones the snapshot was
        taken of, or ``generators``, which a state read back from bytes
        needs: the same number of objects, of the same kinds, in the same
        order as when it was taken.

        Sources this process does not have (a CUDA state on a machine with
        no GPU, another number of devices, a source from a package not
        installed here) are left out and named in a ``RuntimeWarning``;
        ``missing="ignore"`` leaves them out silently, and ``missing="error"``
        raises ``ValueError`` instead, having changed nothing. Sources this
        process has but the state lacks are left as they are.

        Nothing is changed unless everything can be restored: a state that
        does not fit raises ``ValueError`` first.
        """
        if missing not in ("warn", "ignore", "error"):
            raise ValueError(f"missing must be 'warn', 'ignore' or 'error', got {missing!r}")
        targets = _targets(self, generators)
        with _stack.exclusive():
            plan, absent = self._plan(targets)
            if absent and missing == "error":
                raise ValueError(
                    f"this process has no source {', '.join(map(repr, absent))}, "
                    "whose state the snapshot holds; nothing was restored"
                )
            before = [(source, source.capture()) for source, _state in plan]
            try:
                for source, state in plan:
                    source.restore(state)
            except Exception as error:
                for source, state in reversed(before):
                    source.restore(state)
                raise ValueError(
                    f"the state of {source.name!r} does not fit this process ({error}); "
                    "nothing was restored"
                ) from error
        if absent and missing == "warn":
            warnings.warn(
                f"reprorng restored every source but {', '.join(map(repr, absent))}, "
                "which this process does not have",
                RuntimeWarning,
                stacklevel=2,
            )

    def _plan(self, targets: Sequence[Source]) -> tuple[list[tuple[Source, object]], list[str]]:
        """What to restore, as (source, state) pairs, and the names of sources missing here."""
        for name in self._sources:
            if name in ("numpy", "torch"):
                __import__("numpy.random" if name == "numpy" else "torch")
        known = {source.name: source for source in known_sources() if source.active()}
        plan: list[tuple[Source, object]] = []
        absent: list[str] = []
        for name, data in self._sources.items():
            source = known.get(name)
            if source is None:
                absent.append(name)
            elif isinstance(data, _Unsaveable):
                plan.append((source, data.state))
            else:
                plan.append((source, decode_checked(source, data)))
        for source, (_kind, data) in zip(targets, self._generators, strict=True):
            plan.append((source, decode_checked(source, data)))
        return plan, absent


def _targets(state: RngState, generators: Iterable[object] | None) -> list[Source]:
    """The sources of the objects to restore the state's generator entries into."""
    objects = state._objects if generators is None else tuple(as_list(generators))
    if objects is None:
        if state._generators:
            raise ValueError(
                f"this state holds {len(state._generators)} generator object state(s) "
                f"({', '.join(state.generator_kinds)}); pass the objects to restore them "
                "into, in the same order: restore(generators=[...])"
            )
        return []
    if len(objects) != len(state._generators):
        raise ValueError(
            f"this state holds {len(state._generators)} generator object state(s), "
            f"but {len(objects)} object(s) were given"
        )
    targets: list[Source] = []
    for obj, (kind, _data) in zip(objects, state._generators, strict=True):
        source = object_source(obj)
        if kind != source.kind and kind not in source.restores:
            raise ValueError(
                f"the state saved for a {kind} cannot be restored into {type(obj).__name__}"
            )
        targets.append(source)
    return targets


def snapshot(generators: Iterable[object] = (), exclude: Collection[str] = ()) -> RngState:
    """The state of every generator a block would manage now, as an immutable :class:`RngState`.

    That is every active source (Python's :mod:`random`, numpy's global
    generator, torch's CPU generator, each initialised accelerator, sources
    added by packages) except those in ``exclude``, then the objects in
    ``generators``, then the registered objects.
    """
    block = fixed_rng(0, generators=as_list(generators), exclude=exclude)
    with _stack.exclusive():
        if _stack.open_frames:
            close_stale()
        captured = [(source, source.capture()) for source in _stack.block_sources(block)]
    sources: dict[str, Any] = {}
    generator_entries: list[tuple[str, Any]] = []
    objects: list[object] = []
    for source, state in captured:
        if isinstance(source, ObjectSource):
            generator_entries.append((source.kind, encode(source.dump(state))))
            objects.append(source.target())
            continue
        dumped = source.dump(state)
        if dumped is None:
            sources[source.name] = _Unsaveable(state, None)
            continue
        try:
            sources[source.name] = encode(dumped)
        except TypeError as error:
            sources[source.name] = _Unsaveable(state, str(error))
    return RngState._make(sources, tuple(generator_entries), tuple(objects))
