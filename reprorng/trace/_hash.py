"""Hashes of what an operator saw: tensors by content, other arguments by value.

A CPU tensor is hashed from its bytes at once. A tensor on an accelerator is
reduced to one number on its own device (:func:`device_digest`), with no wait
for the device; those numbers are read back together, a batch at a time, so
a run is not synchronised once per operator.
"""

from __future__ import annotations

import ctypes
import hashlib
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

    import torch


__all__ = [
    "content_digest",
    "cpu_digest",
    "describe",
    "device_digest",
    "digest",
    "hash_parts",
    "parts_of",
    "passes_through",
    "tensor_parts",
]

_SHIFT = 0x2545F491
_STEP = 0x5851F42D4C957F2D


def digest(data: bytes | memoryview | str) -> str:
    """A 64-bit hash, as 16 hex digits."""
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha1(data).hexdigest()[:16]


def content_digest(data: bytes | memoryview) -> str:
    """A fast hash of a tensor's bytes: their CRC-32 and their count.

    CRC-32 sees every changed bit of a buffer this size and runs at memory
    speed; the tensor's dtype and shape go beside it in the parts.
    """
    return f"{zlib.crc32(data):08x}{len(data):x}"


def device_digest(tensor: torch.Tensor) -> torch.Tensor:
    """A hash of the tensor's bytes as a 0-dim int64 tensor on its own device.

    Each 32-bit word is shifted and multiplied by an odd number that depends
    on its position, and the products are summed (wrapping at 64 bits): a
    change to any one word always changes the sum, and words that trade
    places change it too.
    """
    import torch

    flat = tensor.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
    data = flat.view(torch.uint8)
    pad = -data.numel() % 4
    if pad:
        data = torch.cat([data, data.new_zeros(pad)])
    words = data.view(torch.int32).to(torch.int64)
    index = torch.arange(words.numel(), device=words.device, dtype=torch.int64)
    odd = torch.bitwise_or(index * _STEP, 1)
    return ((words + _SHIFT) * odd).sum()


def cpu_digest(tensor: torch.Tensor) -> str:
    """:func:`content_digest` of a CPU tensor's bytes: read where they lie when laid out
    plainly (contiguous, no lazy conjugate or negation), else from a plain copy."""
    if tensor.is_conj() or tensor.is_neg() or not tensor.is_contiguous():
        import torch

        flat = tensor.detach().resolve_conj().resolve_neg().contiguous().reshape(-1)
        return content_digest(flat.view(torch.uint8).numpy().data)
    size = tensor.nbytes
    if size <= _SMALL:
        return content_digest(ctypes.string_at(tensor.data_ptr(), size) if size else b"")
    # The tensor is alive until this returns: its memory is read in place.
    return content_digest(
        memoryview((ctypes.c_char * size).from_address(tensor.data_ptr())).cast("B")
    )


#: Tensors up to this many bytes are copied out to be hashed; larger ones are read in place.
_SMALL = 4096


def tensor_parts(tensor: torch.Tensor) -> list[Any]:
    """What identifies a tensor: dtype, shape and a hash of its content (or one to read)."""
    import torch

    found: list[Any] = [f"T{tensor.dtype}{tuple(tensor.shape)}"]
    device = tensor.device.type
    if tensor.layout != torch.strided or device == "meta":
        found.append(str(tensor.layout))
        return found
    try:
        if device != "cpu":
            found.append(device_digest(tensor))
            return found
        found.append(cpu_digest(tensor))
    except Exception:  # noqa: BLE001 - a tensor subclass with no bytes of its own: shape only
        found.append("?")
    return found


#: Values that stand for themselves in a hash, by their ``repr``.
_PLAIN = frozenset({bool, int, float, complex, str, bytes, type(None)})


def parts_of(value: object, parts: list[Any], tensor: Callable[[Any, list[Any]], None]) -> None:
    """Append what identifies ``value`` to ``parts``: text, or device hashes still to read.

    Each tensor in it is handed to ``tensor``, which appends its own parts.
    """
    import torch

    kind = type(value)
    if kind in _PLAIN:
        parts.append(repr(value))
    elif isinstance(value, torch.Tensor):
        tensor(value, parts)
    elif isinstance(value, (list, tuple)):
        parts.append("(")
        for item in value:
            parts_of(item, parts, tensor)
        parts.append(")")
    elif isinstance(value, dict):
        parts.append("{")
        for key, item in value.items():
            parts.append(str(key))
            parts_of(item, parts, tensor)
        parts.append("}")
    elif value is None or isinstance(value, (bool, int, float, complex, str, bytes)):
        parts.append(repr(value))
    elif isinstance(value, (torch.dtype, torch.device, torch.layout, torch.memory_format)):
        parts.append(str(value))
    else:
        # Its repr may hold an address, which changes from run to run.
        parts.append(type(value).__qualname__)


def hash_parts(parts: list[Any]) -> str:
    """The hash of parts that are all text."""
    return digest("|".join(parts))


def describe(value: object) -> str:
    """A seed as text: the value where it is short, else its start and a hash."""
    if isinstance(value, (bool, int, float, str, bytes)) or value is None:
        text = repr(value)
    elif type(value).__name__ == "SeedSequence":
        text = f"SeedSequence(entropy={value.entropy!r}, spawn_key={value.spawn_key!r})"  # type: ignore[attr-defined]
    elif hasattr(value, "tolist"):
        text = repr(value.tolist())
    elif isinstance(value, (list, tuple)):
        text = repr([describe(item) for item in value])
    else:
        text = type(value).__qualname__
    return text if len(text) <= 48 else f"{text[:32]}...#{digest(text)}"


def passes_through(given: object) -> bool:
    """A generator handed to ``default_rng``/``RandomState`` is used as is, not seeded."""
    return any(kind.__name__ in ("Generator", "BitGenerator") for kind in type(given).__mro__)
