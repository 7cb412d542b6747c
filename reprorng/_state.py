"""Snapshots of every generator, and their safe saved form.

``snapshot()`` captures what a block manages into an immutable
:class:`RngState`. Its saved form is reprorng's own, read without pickle or
anything else that can run code:

* 14 bytes of magic, ``b"\\x89reprorng\\r\\n\\x1a\\n\\x00"``, which also catch
  text-mode mangling;
* the format version (2 bytes) and the body's length (8 bytes), big-endian;
* the body: UTF-8 JSON, with sorted keys and no spaces. Values JSON lacks are
  tagged objects with one key: ``{"$float": hex}``, ``{"$bytes": base64}``,
  ``{"$tuple": [...]}``, ``{"$dict": [[key, value], ...]}``,
  ``{"$ndarray": {"dtype", "shape", "data"}}``, ``{"$tensor": {...}}``;
* a 32-byte BLAKE2b checksum of everything before it.

Reading checks the magic, version, length and checksum, then the structure,
then each state against its generator kind, and raises ``ValueError`` for
anything else, before a single generator is touched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
import struct
import sys
import warnings
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any, Literal, Self

from reprorng import _block, _objects, _sources
from reprorng._sources import Source

__all__ = ["FORMAT_VERSION", "MAGIC", "RngState", "snapshot"]

#: The first bytes of every saved state.
MAGIC = b"\x89reprorng\r\n\x1a\n\x00"
#: The version of the saved form this reprorng writes (and the newest it reads).
FORMAT_VERSION = 1
_HEADER = struct.Struct(">HQ")
_CHECKSUM_SIZE = 32
_FORMAT = "reprorng.RngState"
# Deeper than any state reprorng writes; a crafted body is refused, not recursed into.
_MAX_DEPTH = 16
_NUMBER_KINDS = ("b", "i", "u", "f")


class _Unsaveable:
    """A source state that only means something in this process, with why."""

    __slots__ = ("reason", "state")

    def __init__(self, state: object, reason: str | None) -> None:
        self.state = state
        self.reason = reason  # None: left out of the saved form without complaint

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Unsaveable) and _sources.same_state(self.state, other.state)

    __hash__ = None  # type: ignore[assignment]


# -- values to JSON and back -------------------------------------------------------------


def _encode(value: object) -> Any:
    """``value`` as JSON-ready data; ``TypeError`` for what the saved form cannot hold."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return {"$float": value.hex()}
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode("ascii")}
    if isinstance(value, list):
        return [_encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [_encode(item) for item in value]}
    if isinstance(value, dict):
        return {"$dict": [[_encode(key), _encode(item)] for key, item in value.items()]}
    module = type(value).__module__.partition(".")[0]
    if module == "numpy":
        return _encode_numpy(value)
    if module == "torch":
        return _encode_tensor(value)
    raise TypeError(f"a saved state cannot hold {type(value).__qualname__} values")


def _encode_numpy(value: Any) -> Any:
    numpy = sys.modules["numpy"]
    if isinstance(value, numpy.integer):
        return int(value)
    if isinstance(value, numpy.floating):
        return _encode(float(value))
    if isinstance(value, numpy.ndarray) and value.dtype.kind in _NUMBER_KINDS:
        return {
            "$ndarray": {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": _encode(numpy.ascontiguousarray(value).tobytes()),
            }
        }
    raise TypeError(f"a saved state cannot hold {type(value).__qualname__} values")


def _encode_tensor(value: Any) -> Any:
    torch = sys.modules["torch"]
    if not isinstance(value, torch.Tensor) or value.dtype not in _tensor_dtypes(torch):
        raise TypeError(f"a saved state cannot hold {type(value).__qualname__} values")
    data = value.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
    return {
        "$tensor": {
            "dtype": str(value.dtype).removeprefix("torch."),
            "shape": list(value.shape),
            "data": _encode(data),
        }
    }


def _tensor_dtypes(torch: Any) -> dict[Any, str]:
    names = ("uint8", "int8", "int16", "int32", "int64", "float32", "float64")
    return {getattr(torch, name): name for name in names}


def _bad(what: str) -> ValueError:
    return ValueError(f"not a saved reprorng state: {what}")


def _decode(node: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise _bad("nested too deeply")
    if node is None or isinstance(node, (bool, int, str)):
        return node
    if isinstance(node, list):
        return [_decode(item, depth + 1) for item in node]
    if not (isinstance(node, dict) and len(node) == 1):
        raise _bad(f"unexpected {type(node).__name__} value")
    ((tag, content),) = node.items()
    if tag == "$float" and isinstance(content, str):
        try:
            return float.fromhex(content)
        except (ValueError, OverflowError):
            raise _bad(f"bad float {content!r}") from None
    if tag == "$bytes" and isinstance(content, str):
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise _bad("bad base64 data") from None
    if tag == "$tuple" and isinstance(content, list):
        return tuple(_decode(item, depth + 1) for item in content)
    if tag == "$dict" and isinstance(content, list):
        result = {}
        for pair in content:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise _bad("a dict entry is not a [key, value] pair")
            key = _decode(pair[0], depth + 1)
            if not isinstance(key, (str, int)) or key in result:
                raise _bad(f"bad or repeated dict key {key!r}")
            result[key] = _decode(pair[1], depth + 1)
        return result
    if tag in ("$ndarray", "$tensor") and isinstance(content, dict):
        return _decode_array(tag, content, depth)
    raise _bad(f"unknown value {tag!r}")


def _decode_array(tag: str, content: dict[str, Any], depth: int) -> Any:
    if content.keys() != {"dtype", "shape", "data"}:
        raise _bad(f"{tag} needs exactly dtype, shape and data")
    dtype, shape = content["dtype"], content["shape"]
    data = _decode(content["data"], depth + 1)
    if not (
        isinstance(data, bytes)
        and isinstance(dtype, str)
        and isinstance(shape, list)
        and len(shape) <= 8
        and all(type(size) is int and 0 <= size <= len(data) for size in shape)
    ):
        raise _bad(f"bad {tag} shape or data")
    count = 1
    for size in shape:
        count *= size
    if tag == "$ndarray":
        import numpy

        allowed = {
            numpy.dtype(kind + str(size)).str
            for kind in _NUMBER_KINDS[1:]
            for size in (1, 2, 4, 8)
            if not (kind == "f" and size == 1)
        } | {numpy.dtype(bool).str}
        if dtype not in allowed:
            raise _bad(f"array dtype {dtype!r} is not one reprorng saves")
        item = numpy.dtype(dtype)
        if count * item.itemsize != len(data):
            raise _bad("array data does not fit its shape")
        return numpy.frombuffer(data, dtype=item).reshape(shape).copy()
    import torch

    by_name = {name: value for value, name in _tensor_dtypes(torch).items()}
    if dtype not in by_name:
        raise _bad(f"tensor dtype {dtype!r} is not one reprorng saves")
    itemsize = by_name[dtype].itemsize
    if count * itemsize != len(data):
        raise _bad("tensor data does not fit its shape")
    flat = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0)
    return flat.to(torch.uint8).view(by_name[dtype]).reshape(shape).clone()


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
            "format": _FORMAT,
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
        return json.dumps(self._saved, sort_keys=True, separators=(",", ":")).encode()

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
        body = self._body()
        head = MAGIC + _HEADER.pack(FORMAT_VERSION, len(body)) + body
        return head + hashlib.blake2b(head, digest_size=_CHECKSUM_SIZE).digest()

    @classmethod
    def from_bytes(cls, data: bytes) -> RngState:
        """Read back what :meth:`to_bytes` wrote; ``ValueError`` for anything else."""
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise TypeError(f"from_bytes takes bytes, got {type(data).__name__}")
        data = bytes(data)
        start = len(MAGIC) + _HEADER.size
        if len(data) < start + _CHECKSUM_SIZE or not data.startswith(MAGIC):
            raise _bad("it does not start with reprorng's magic bytes")
        version, length = _HEADER.unpack_from(data, len(MAGIC))
        if version > FORMAT_VERSION or version < 1:
            raise ValueError(
                f"this state was saved in format version {version}; this reprorng "
                f"reads versions 1 to {FORMAT_VERSION}"
            )
        if len(data) != start + length + _CHECKSUM_SIZE:
            raise _bad("its length is wrong (truncated, or extra bytes)")
        head, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
        if hashlib.blake2b(head, digest_size=_CHECKSUM_SIZE).digest() != checksum:
            raise _bad("its checksum does not match (corrupted)")
        try:
            body = json.loads(head[start:].decode("utf-8"), parse_constant=_no_constant)
        except RecursionError:
            raise _bad("nested too deeply") from None
        except ValueError as error:  # also bad UTF-8, and ints too long to read
            raise _bad(f"its body is not valid JSON ({error})") from None
        return cls._from_body(body)

    @classmethod
    def _from_body(cls, body: object) -> RngState:
        if not (
            isinstance(body, dict)
            and body.keys() == {"format", "sources", "generators"}
            and body["format"] == _FORMAT
            and isinstance(body["sources"], dict)
            and isinstance(body["generators"], list)
        ):
            raise _bad("its body lacks format, sources or generators")
        sources: dict[str, Any] = {}
        known = {source.name: source for source in _sources.known_sources()}
        for name, data in body["sources"].items():
            sources[name] = _read(known.get(name), data)
        generators = []
        for entry in body["generators"]:
            if not (isinstance(entry, dict) and entry.keys() == {"kind", "state"}):
                raise _bad("a generator entry is not a dict of kind and state")
            kind = entry["kind"]
            if not isinstance(kind, str) or kind not in _objects.KINDS:
                raise _bad(f"unknown generator kind {kind!r}")
            reader = _objects.KINDS[kind](lambda: None, kind)
            generators.append((kind, _read(reader, entry["state"])))
        return cls._make(sources, tuple(generators), None)

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`to_bytes` to ``path``, atomically (a reader never sees half a file)."""
        target = Path(path)
        data = self.to_bytes()
        descriptor, temporary = _new_file(target)
        try:
            with os.fdopen(descriptor, "wb") as file:
                file.write(data)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

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
        return {"format": _FORMAT, "version": FORMAT_VERSION, "data": data}

    @classmethod
    def from_state_dict(cls, state_dict: object) -> RngState:
        """Read back :meth:`state_dict`; ``ValueError`` if it is not one."""
        torch = sys.modules.get("torch")
        if not (
            isinstance(state_dict, dict)
            and state_dict.keys() == {"format", "version", "data"}
            and state_dict["format"] == _FORMAT
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
        with _block.exclusive():
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
        known = {source.name: source for source in _sources.known_sources() if source.active()}
        plan: list[tuple[Source, object]] = []
        absent: list[str] = []
        for name, data in self._sources.items():
            source = known.get(name)
            if source is None:
                absent.append(name)
            elif isinstance(data, _Unsaveable):
                plan.append((source, data.state))
            else:
                plan.append((source, _load(source, data)))
        for source, (_kind, data) in zip(targets, self._generators, strict=True):
            plan.append((source, _load(source, data)))
        return plan, absent


def _new_file(target: Path) -> tuple[int, Path]:
    """A new file beside ``target``, open for writing, with the mode the umask gives.

    (``tempfile.mkstemp`` would make it 0600 whatever the umask says.)
    """
    while True:
        temporary = target.parent / f".{target.name}.{secrets.token_hex(6)}"
        try:
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            return os.open(temporary, flags, 0o666), temporary
        except FileExistsError:
            continue


def _read(source: Source | None, data: Any) -> Any:
    """Saved data, checked by ``source`` if there is one, in the form reprorng writes it.

    Kept in that form (``0x1p+0`` is written ``0x1.0000000000000p+0``), equal
    states compare equal.
    """
    decoded = _decode(data)
    if source is not None:
        _checked(source, decoded)
    try:
        return _encode(decoded)
    except TypeError as error:  # cannot happen for decoded values; kept for safety
        raise _bad(str(error)) from None


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


def _load(source: Source, data: Any) -> object:
    """Decode saved data and have ``source`` check it; ``ValueError`` if it is not valid."""
    return _checked(source, _decode(data))


def _checked(source: Source, decoded: Any) -> object:
    """``source.load(decoded)``, any complaint as ``ValueError``."""
    try:
        return source.load(decoded)
    except ValueError as error:
        raise ValueError(f"not a valid saved state for {source.name!r}: {error}") from None
    except RecursionError:
        raise _bad("nested too deeply") from None
    except (TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        raise ValueError(f"not a valid saved state for {source.name!r}: {error!r}") from None


def _targets(state: RngState, generators: Iterable[object] | None) -> list[Source]:
    """The sources of the objects to restore the state's generator entries into."""
    objects = state._objects if generators is None else tuple(_objects.as_list(generators))
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
        source = _objects.object_source(obj)
        if source.kind != kind:
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
    block = _block.fixed_rng(0, generators=_objects.as_list(generators), exclude=exclude)
    with _block.exclusive():
        captured = [(source, source.capture()) for source in _block.block_sources(block)]
    sources: dict[str, Any] = {}
    generator_entries: list[tuple[str, Any]] = []
    objects: list[object] = []
    for source, state in captured:
        if isinstance(source, _objects.ObjectSource):
            generator_entries.append((source.kind, _encode(source.dump(state))))
            objects.append(source.target())
            continue
        dumped = source.dump(state)
        if dumped is None:
            sources[source.name] = _Unsaveable(state, None)
            continue
        try:
            sources[source.name] = _encode(dumped)
        except TypeError as error:
            sources[source.name] = _Unsaveable(state, str(error))
    return RngState._make(sources, tuple(generator_entries), tuple(objects))
