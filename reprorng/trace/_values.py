"""A value's fingerprint: equal in two runs exactly when the value is the same.

What a line of the program reads is fingerprinted, so two runs can be compared
line by line. A fingerprint never depends on what differs between runs by
nature: addresses (an object is fingerprinted by its type and attributes),
the hash seed (a set by its sorted elements), or the order of a set. A set
whose elements are hashed by address is marked, since the order it is walked
in follows the addresses.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import sys
import weakref
from collections import deque
from collections.abc import Sequence
from enum import Enum
from pathlib import PurePath
from types import BuiltinFunctionType, FunctionType, MethodType, ModuleType
from typing import Any

__all__ = ["IDENTITY", "compared", "fingerprint"]

#: The mark of a set walked in the order of its elements' addresses.
IDENTITY = "@"

#: Elements of a container, and attributes of an object, looked at; the rest are counted.
_MOST_ITEMS = 256
_DEPTH = 3
#: The most bytes of an array hashed whole; a larger one is hashed by a sample of its bytes.
_MOST_BYTES = 1 << 24

_OBJECT_HASH: object = object.__hash__
_PLAIN = (type(None), bool, int, float, complex, str, bytes, Enum, PurePath)


def _hash(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def compared(value: str) -> str:
    """What of a fingerprint two runs must share: a file's, without its path (``|path``)."""
    return value.partition("|")[0] if value.startswith("file:") else value


def fingerprint(value: object) -> str:
    """A short text equal for equal values in two runs (see the module's words)."""
    try:
        return _of(value, _DEPTH)
    except Exception as error:  # noqa: BLE001 - a value that cannot be looked at
        return f"?{type(value).__qualname__}:{type(error).__name__}"


_tensor_cache: dict[int, tuple[Any, int, str]] = {}


def _of(value: object, depth: int) -> str:
    kind = type(value)
    if isinstance(value, _PLAIN):  # subclasses too: enum members, paths, numpy's floats
        text = repr(value)
        return text if len(text) <= 64 else _hash(text.encode("utf-8", "surrogatepass"))
    if isinstance(value, (list, tuple, deque)):
        return _items("[", value, depth)
    if isinstance(value, dict):
        pairs = list(itertools.islice(value.items(), _MOST_ITEMS))
        return _hash(repr([(_of(k, depth - 1), _of(v, depth - 1)) for k, v in pairs]).encode())
    if isinstance(value, (set, frozenset)):
        return _set(value)
    if isinstance(value, (ModuleType, type)):
        return f"<{getattr(value, '__name__', '?')}>"
    if isinstance(value, (FunctionType, BuiltinFunctionType, MethodType)):
        return f"<{getattr(value, '__qualname__', '?')}>"
    module = kind.__module__
    if module.startswith("torch"):
        return _torch(value)
    if module.startswith("numpy"):
        return _numpy(value)
    if module == "random" or kind.__name__ in ("Random", "SystemRandom"):
        getstate = getattr(value, "getstate", None)
        if callable(getstate):
            return "R" + _hash(repr(getstate()).encode())
    if module == "datetime":
        return repr(value)
    if module.startswith("concurrent.futures") and hasattr(value, "done"):
        # A future by what it gave, once done (whether it is done yet is the schedule's doing).
        done = value.done() and value.exception() is None  # type: ignore[attr-defined]
        return f"F{_of(value.result(), depth - 1) if done else '-'}"  # type: ignore[attr-defined]
    if isinstance(value, io.IOBase):
        # A file by its mode (its path, after ``|``, may differ: a temporary folder's).
        return f"file:{getattr(value, 'mode', '')}|{getattr(value, 'name', '')}"
    if _library(kind):
        # A library's object (a thread, a pool, a future) holds what is the machine's, not
        # the program's: process and thread ids, addresses. Known by its type alone.
        return f"<{kind.__qualname__}>"
    return _object(value, depth)


_libraries: dict[type, bool] = {}


def _library(kind: type) -> bool:
    known = _libraries.get(kind)
    if known is None:
        module = sys.modules.get(kind.__module__)
        where = getattr(module, "__file__", None) or ""
        top = kind.__module__.partition(".")[0]
        known = top in sys.stdlib_module_names or "-packages" in where or not where
        _libraries[kind] = known
    return known


def _items(opening: str, values: Sequence[Any] | deque[Any], depth: int) -> str:
    if depth <= 0:
        return f"{opening}{len(values)}"
    shown = [_of(item, depth - 1) for item in itertools.islice(values, _MOST_ITEMS)]
    return _hash(repr((opening, len(values), shown)).encode())


def _set(values: set[Any] | frozenset[Any]) -> str:
    elements = sorted(_of(item, 1) for item in list(values)[: _MOST_ITEMS * 4])
    by_address = any(type(item).__hash__ is _OBJECT_HASH for item in values)
    return (IDENTITY if by_address else "") + _hash(repr((len(values), elements)).encode())


def _object(value: object, depth: int) -> str:
    """An object by its type and (to a depth) its attributes, never its address."""
    name = type(value).__qualname__
    if depth <= 0:
        return f"<{name}>"
    try:
        attributes = vars(value)
    except TypeError:  # no __dict__: a C object or slots
        slots = getattr(type(value), "__slots__", ())
        names = [slots] if isinstance(slots, str) else list(slots)
        attributes = {name: getattr(value, name, None) for name in names if isinstance(name, str)}
    if not isinstance(attributes, dict):
        return f"<{name}>"
    pairs = sorted(
        (key, _of(item, depth - 1)) for key, item in list(attributes.items())[:_MOST_ITEMS]
    )
    return _hash(repr((name, pairs)).encode())


def _numpy(value: Any) -> str:
    np = sys.modules["numpy"]
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            return _items("A", value.ravel().tolist(), 2)
        data = np.ascontiguousarray(value).view(np.uint8).ravel()
        if data.nbytes > _MOST_BYTES:
            data = data[:: data.nbytes // _MOST_BYTES + 1]
        return _hash(repr((value.dtype.str, value.shape)).encode() + data.tobytes())
    if isinstance(value, np.random.Generator):
        return "G" + _hash(repr(value.bit_generator.state).encode())
    if isinstance(value, np.random.RandomState):
        state = value.get_state()
        return "G" + _hash(state[1].tobytes() + repr(state[2:]).encode())
    if isinstance(value, np.generic):
        return repr(value)
    return f"<{type(value).__qualname__}>"


def _torch(value: Any) -> str:
    torch = sys.modules["torch"]
    if isinstance(value, torch.Tensor):
        return _tensor(value)
    if isinstance(value, torch.Generator):
        return "G" + _hash(bytes(value.get_state().numpy()))
    if isinstance(value, (torch.dtype, torch.device, torch.Size)):
        return repr(value)
    return f"<{type(value).__qualname__}>"  # modules, optimisers: their tensors are traced


def _forget(key: int, _gone: object) -> None:
    _tensor_cache.pop(key, None)


def _tensor(tensor: Any) -> str:
    """A tensor by dtype, shape and bytes; hashed again only once changed (its version)."""
    from torch.utils._python_dispatch import _disable_current_modes

    key = id(tensor)
    version = tensor._version
    known = _tensor_cache.get(key)
    if known is not None and known[0]() is tensor and known[1] == version:
        return known[2]
    shape = f"{tensor.dtype}{tuple(tensor.shape)}"
    if tensor.layout != sys.modules["torch"].strided or tensor.device.type == "meta":
        return f"T{shape}"
    with _disable_current_modes():
        data = tensor.detach().cpu().contiguous().reshape(-1).view(sys.modules["torch"].uint8)
        if data.numel() > _MOST_BYTES:
            data = data[:: data.numel() // _MOST_BYTES + 1]
        found = _hash(shape.encode() + bytes(data.numpy()))
    try:
        ref = weakref.ref(tensor, functools.partial(_forget, key))
    except TypeError:
        return found
    _tensor_cache[key] = (ref, version, found)
    return found
