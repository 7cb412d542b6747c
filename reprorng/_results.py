"""Whether two results are the same bit for bit, and where they first differ.

Tensors (of every layout) and arrays compare by dtype, shape and bytes;
floats by their bits (a NaN equals the same NaN, ``0.0`` is not ``-0.0``);
lists, tuples, dicts, sets, named tuples, dataclasses, attrs classes and
plain objects field by field; a torch ``nn.Module`` by its ``state_dict``;
generators (``torch.Generator``, numpy's ``Generator`` and ``RandomState``,
``random.Random``) by their state. What cannot be compared (a Python
generator, an object with no fields and no ``==``) is refused with a
:class:`TypeError` naming its type.
"""

from __future__ import annotations

import dataclasses
import inspect
import random
import struct
import sys
from typing import Any

from reprorng._seed import short_repr

__all__ = ["bits_difference", "first_difference"]

_Seen = set[tuple[int, int]]


def bits_difference(mine: Any, theirs: Any) -> tuple[int, Any, Any] | None:
    """Where two flat numpy arrays of one dtype and size first differ in their bits.

    ``None`` if they do not; else the index and each one's element there.
    """
    import numpy

    mine, theirs = numpy.ascontiguousarray(mine), numpy.ascontiguousarray(theirs)
    if mine.tobytes() == theirs.tobytes():
        return None
    count = mine.shape[0]
    unequal = (
        mine.view(numpy.uint8).reshape(count, -1) != theirs.view(numpy.uint8).reshape(count, -1)
    ).any(axis=1)
    index = int(unequal.argmax())
    return index, mine[index].item(), theirs[index].item()


def _flat(where: str, mine: Any, theirs: Any) -> str | None:
    found = bits_difference(mine.reshape(-1), theirs.reshape(-1))
    if found is None:
        return None
    index, a, b = found
    return f"{where}: flattened element {index} is {a!r} against {b!r}"


def _bits(value: float | complex) -> bytes:
    if isinstance(value, complex):
        return struct.pack("<dd", value.real, value.imag)
    return struct.pack("<d", value)


def _refused(value: object, why: str) -> TypeError:
    kind = type(value)
    return TypeError(
        f"cannot compare results of type {kind.__module__}.{kind.__qualname__}: {why}; "
        "return its data (tensors, arrays, numbers, lists, dicts) instead"
    )


def _components(tensor: Any) -> dict[str, Any] | None:
    """What a sparse or quantized tensor is made of, by name; ``None`` for other tensors."""
    import torch

    layout = tensor.layout
    if layout == torch.sparse_coo:
        tensor = tensor.coalesce()
        return {"indices": tensor.indices(), "values": tensor.values()}
    if layout in (torch.sparse_csr, torch.sparse_bsr):
        return {
            "crow_indices": tensor.crow_indices(),
            "col_indices": tensor.col_indices(),
            "values": tensor.values(),
        }
    if layout in (torch.sparse_csc, torch.sparse_bsc):
        return {
            "ccol_indices": tensor.ccol_indices(),
            "row_indices": tensor.row_indices(),
            "values": tensor.values(),
        }
    if tensor.is_quantized:
        return {
            "qscheme": str(tensor.qscheme()),
            "int_repr": tensor.int_repr(),
            "dequantized": tensor.dequantize(),
        }
    return None


def _tensor(first: Any, second: Any, where: str, seen: _Seen) -> str | None:
    import torch

    mine = (first.dtype, first.layout, first.device, first.is_nested)
    theirs = (second.dtype, second.layout, second.device, second.is_nested)
    if mine != theirs or (not first.is_nested and first.shape != second.shape):
        return f"{where}: {_described(first)} against {_described(second)}"
    if first.is_nested:
        return first_difference(
            list(first.unbind()), list(second.unbind()), f"{where}.unbind()", seen
        )
    parts = _components(first)
    if parts is not None:
        return _mapping(parts, _components(second), where, seen, dot=True)
    if first.device.type == "meta":
        return None  # a meta tensor holds no values: its dtype and shape are all of it
    if first.layout != torch.strided:
        raise _refused(first, f"the layout {first.layout} has no values to read")
    a = first.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    b = second.detach().cpu().resolve_conj().resolve_neg().contiguous().reshape(-1)
    return _flat(where, a.numpy(force=True), b.numpy(force=True))


def _described(tensor: Any) -> str:
    shape = "nested" if tensor.is_nested else str(tuple(tensor.shape))
    layout = "" if str(tensor.layout) == "torch.strided" else f" {tensor.layout}"
    return f"{tensor.dtype}{layout} {shape} on {tensor.device}"


def _array(first: Any, second: Any, where: str, seen: _Seen) -> str | None:
    import numpy

    mine, theirs = numpy.asarray(first), numpy.asarray(second)
    if (mine.dtype, mine.shape) != (theirs.dtype, theirs.shape):
        return f"{where}: {mine.dtype} {mine.shape} against {theirs.dtype} {theirs.shape}"
    if mine.dtype.hasobject:
        return first_difference(
            mine.reshape(-1).tolist(), theirs.reshape(-1).tolist(), f"{where}.flat", seen
        )
    return _flat(where, mine.reshape(-1), theirs.reshape(-1))


def _sequence(first: Any, second: Any, where: str, seen: _Seen) -> str | None:
    if len(first) != len(second):
        return f"{where}: {len(first)} items against {len(second)}"
    names = getattr(type(first), "_fields", None)  # a named tuple
    for index, (mine, theirs) in enumerate(zip(first, second, strict=True)):
        place = f"{where}.{names[index]}" if names else f"{where}[{index}]"
        found = first_difference(mine, theirs, place, seen)
        if found is not None:
            return found
    return None


def _mapping(first: Any, second: Any, where: str, seen: _Seen, dot: bool = False) -> str | None:
    if list(first) != list(second):
        return f"{where}: keys {short_repr(list(first))} against {short_repr(list(second))}"
    for key in first:
        place = f"{where}.{key}" if dot else f"{where}[{key!r}]"
        found = first_difference(first[key], second[key], place, seen)
        if found is not None:
            return found
    return None


def _set(first: Any, second: Any, where: str, seen: _Seen) -> str | None:
    if len(first) != len(second):
        return f"{where}: {len(first)} items against {len(second)}"
    unmatched = list(second)
    for item in first:
        for index, other in enumerate(unmatched):
            if type(item) is type(other) and first_difference(item, other, where, seen) is None:
                del unmatched[index]
                break
        else:
            return f"{where}: {short_repr(item)} is in the first only"
    return None


def _fields(value: Any) -> dict[str, Any] | None:
    """A dataclass's, attrs class's or plain object's fields by name; ``None`` if it has none."""
    if dataclasses.is_dataclass(value):
        return {field.name: getattr(value, field.name) for field in dataclasses.fields(value)}
    attributes = getattr(type(value), "__attrs_attrs__", None)
    if attributes is not None:
        return {attribute.name: getattr(value, attribute.name) for attribute in attributes}
    if not _has_equality(value) and hasattr(value, "__dict__"):
        return dict(vars(value))
    return None


def _has_equality(value: object) -> bool:
    """Whether the type defines ``==`` of its own (not identity, as ``object``'s is)."""
    return getattr(type(value), "__eq__", None) is not getattr(object, "__eq__", None)


def _state(value: Any) -> Any:
    """A generator's state, if ``value`` is one of the generators whose state can be read."""
    torch = sys.modules.get("torch")
    if torch is not None:
        if isinstance(value, torch.Generator):
            return value.get_state()
        if isinstance(value, torch.nn.Module):
            return value.state_dict()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        if isinstance(value, numpy.random.Generator):
            return value.bit_generator.state
        if isinstance(value, numpy.random.RandomState):
            return value.get_state(legacy=False)
        if isinstance(value, numpy.random.BitGenerator):
            return value.state
    if isinstance(value, random.Random):
        return value.getstate()
    return None


def first_difference(
    first: object, second: object, where: str = "result", seen: _Seen | None = None
) -> str | None:
    """Where two results first differ, as a sentence; ``None`` if they are the same bit for bit.

    :class:`TypeError` for a result that cannot be compared.
    """
    if type(first) is not type(second):
        return f"{where}: {type(first).__name__} against {type(second).__name__}"
    if inspect.isgenerator(first) or inspect.iscoroutine(first) or inspect.isasyncgen(first):
        raise _refused(first, "it would have to be run to be compared")
    seen = set() if seen is None else seen
    if (id(first), id(second)) in seen:
        return None  # a structure that holds itself: this part is being compared already
    seen.add((id(first), id(second)))
    torch = sys.modules.get("torch")
    if torch is not None and isinstance(first, torch.Tensor):
        return _tensor(first, second, where, seen)
    if type(first).__module__.partition(".")[0] == "numpy" and hasattr(first, "dtype"):
        return _array(first, second, where, seen)
    state = _state(first)
    if state is not None:
        return first_difference(state, _state(second), f"{where} (its state)", seen)
    if isinstance(first, float | complex):
        assert isinstance(second, float | complex)  # the same type, checked above
        return None if _bits(first) == _bits(second) else f"{where}: {first!r} against {second!r}"
    if isinstance(first, str | bytes | int | type(None)):
        return (
            None
            if first == second
            else f"{where}: {short_repr(first)} against {short_repr(second)}"
        )
    if isinstance(first, list | tuple):
        return _sequence(first, second, where, seen)
    if isinstance(first, dict):
        return _mapping(first, second, where, seen)
    if isinstance(first, set | frozenset):
        return _set(first, second, where, seen)
    fields = _fields(first)
    if fields is not None:
        return _mapping(fields, _fields(second), where, seen, dot=True)
    if not _has_equality(first):
        raise _refused(first, "it has no fields to compare and no ==")
    try:
        same = bool(first == second)
    except Exception as error:  # noqa: BLE001 - an == that gives no answer
        raise _refused(first, f"its == gave no answer ({type(error).__name__})") from None
    return None if same else f"{where}: {short_repr(first)} against {short_repr(second)}"
