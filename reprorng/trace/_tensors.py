"""What a trace knows of the tensors it has seen: hashes still valid, and memory never written.

An operator's output is hashed once. When it comes back as another
operator's input, its hash is used again if nothing has written to it since:
its version counter is unchanged, and no operator has written to its storage
(through another view, or ``.data``) since. Writes that bypass torch's
operators (through a numpy view of the tensor) are not seen.

``torch.empty`` and its kin give memory that holds whatever was there before;
tensors on that storage (the output, its views, a ``Parameter`` made of it)
are identified by dtype and shape only until an operator writes to it, and an
operator that reads them cannot be judged a non-deterministic kernel.
"""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from typing import Any

from reprorng.trace._hash import parts_of, tensor_parts

__all__ = ["UNWRITTEN", "Tensors"]

#: Operators whose outputs hold whatever the memory held before.
_EMPTY = ("aten::empty", "aten::new_empty", "aten::_empty", "aten::resize")
#: The part that stands for memory no operator wrote.
UNWRITTEN = "unwritten"
#: Entries kept before the dead ones are swept out.
_SWEEP = 4096
#: Unwritten storages kept at most (memory is mostly written soon after it is made).
_UNWRITTEN_AT_MOST = 65536


def _tensors(value: object) -> Iterator[Any]:
    import torch

    if isinstance(value, torch.Tensor):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _tensors(item)


def _storage(tensor: Any) -> int | None:
    try:
        return int(tensor.untyped_storage().data_ptr())
    except Exception:  # noqa: BLE001 - no storage of its own (sparse, a subclass): not kept
        return None


#: View operators whose output may reach past its input's elements.
_MAY_LEAVE_THE_BASE = frozenset({"aten::as_strided", "aten::as_strided_", "aten::set_"})


def _viewed(view: Any, base: tuple[Any, list[Any], int] | None, storage: int) -> list[Any] | None:
    """A view's parts from its base's: which elements of the base's storage it shows.

    The base's content, strides and offset, and the view's shape, strides and
    offset in the same storage, settle every element the view shows, without
    reading them again.
    """
    if base is None or base[2] != storage:
        return None
    tensor, found, _in_storage = base
    where = (
        f"V{tuple(view.stride())}+{view.storage_offset()}"
        f"|{tuple(tensor.stride())}+{tensor.storage_offset()}"
    )
    return [f"T{view.dtype}{tuple(view.shape)}", where, *found]


class Tensors:
    """The hashes and unwritten memory of one trace's tensors, by ``id``, held weakly."""

    def __init__(self) -> None:
        self.known: dict[int, tuple[Any, int, int, int, list[Any]]] = {}
        self.unwritten: set[int] = set()
        self.writes: dict[int, int] = {}
        self._mutated: dict[Any, tuple[int, ...]] = {}
        #: The parts of the current operator's input tensors, by ``id``.
        self._inputs: dict[int, tuple[Any, list[Any]]] = {}

    def parts(self, tensor: Any, parts: list[Any]) -> None:
        """Append the tensor's parts: known ones, or hashed now."""
        key = id(tensor)
        entry = self.known.get(key)
        if entry is not None and entry[0]() is tensor:
            _ref, version, storage, writes, found = entry
            if version == tensor._version and self.writes.get(storage, 0) == writes:
                parts.extend(found)
                self._inputs[key] = (tensor, found)
                return
        if self.unwritten and _storage(tensor) in self.unwritten:
            parts.append(f"T{tensor.dtype}{tuple(tensor.shape)}")
            parts.append(UNWRITTEN)
            return
        found = tensor_parts(tensor)
        parts.extend(found)
        self._inputs[key] = (tensor, found)

    def _keep(self, tensor: Any, storage: int, found: list[Any] | None = None) -> list[Any]:
        if found is None:
            found = tensor_parts(tensor)
        try:
            version = tensor._version
        except RuntimeError:  # an inference tensor keeps no version: hashed each time
            return found
        self.known[id(tensor)] = (
            weakref.ref(tensor),
            version,
            storage,
            self.writes.get(storage, 0),
            found,
        )
        return found

    def mutated(self, func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Iterator[Any]:
        """The tensors an operator writes in place, as its schema declares."""
        positions = self._mutated.get(func)
        if positions is None:
            arguments = func._schema.arguments
            positions = self._mutated[func] = tuple(
                index
                for index, argument in enumerate(arguments)
                if argument.alias_info is not None and argument.alias_info.is_write
            )
        if not positions:
            return
        names = [argument.name for argument in func._schema.arguments]
        for index in positions:
            value = args[index] if index < len(args) else kwargs.get(names[index])
            yield from _tensors(value)

    def written(
        self,
        func: Any,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        result: object,
        *,
        hashed: bool = True,
    ) -> list[Any]:
        """Note what the operator wrote; the parts of its result (unless not ``hashed``)."""
        for tensor in self.mutated(func, args, kwargs):
            self._wrote(tensor)
        empty = func._schema.name.startswith(_EMPTY)
        if empty and len(self.unwritten) > _UNWRITTEN_AT_MOST:
            self.unwritten.clear()
        for tensor in _tensors(result):
            if empty:
                storage = _storage(tensor)
                if storage is not None:
                    self.unwritten.add(storage)
            elif not func.is_view:
                self._wrote(tensor)
        outputs: list[Any] = []
        if not hashed:
            self._inputs.clear()
            return outputs
        base = self._base(func, args)

        def output(tensor: Any, parts: list[Any]) -> None:
            storage = None if empty else _storage(tensor)
            if storage is None or storage in self.unwritten:  # a view of unwritten memory
                self.parts(tensor, parts)
            else:
                parts.extend(self._keep(tensor, storage, _viewed(tensor, base, storage)))

        parts_of(result, outputs, output)
        self._inputs.clear()
        if len(self.known) > _SWEEP:
            self._sweep()
        return outputs

    def _base(self, func: Any, args: tuple[Any, ...]) -> tuple[Any, list[Any], int] | None:
        """A view operator's input, its parts and storage: its outputs' hashes derive from it."""
        if not func.is_view or func._schema.name in _MAY_LEAVE_THE_BASE or not args:
            return None
        seen = self._inputs.get(id(args[0]))
        if seen is None:
            return None
        tensor, found = seen
        storage = _storage(tensor)
        return None if storage is None else (tensor, found, storage)

    def _wrote(self, tensor: Any) -> None:
        storage = _storage(tensor)
        if storage is not None:
            self.writes[storage] = self.writes.get(storage, 0) + 1
            self.unwritten.discard(storage)

    def _sweep(self) -> None:
        """Drop what dead tensors left; a storage's count goes once no hash depends on it."""
        for key, (ref, *_rest) in list(self.known.items()):
            if ref() is None:
                del self.known[key]
        needed = {entry[2] for entry in self.known.values()}
        self.writes = {
            storage: count for storage, count in self.writes.items() if storage in needed
        }
