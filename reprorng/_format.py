"""The saved form of a snapshot: framing, checksum, canonical JSON, decoding and validation.

A saved :class:`~reprorng.RngState` is reprorng's own format, read without
pickle or anything else that can run code:

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
from pathlib import Path
from typing import Any

from reprorng.sources import Source

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MAGIC",
    "bad",
    "canonical",
    "decode_checked",
    "encode",
    "frame",
    "read",
    "unframe",
    "write_atomically",
]

#: The first bytes of every saved state.
MAGIC = b"\x89reprorng\r\n\x1a\n\x00"
#: The version of the saved form this reprorng writes (and the newest it reads).
FORMAT_VERSION = 1
#: What the body's ``format`` entry says, and a state dict's.
FORMAT = "reprorng.RngState"
_HEADER = struct.Struct(">HQ")
_CHECKSUM_SIZE = 32
# Deeper than any state reprorng writes; a crafted body is refused, not recursed into.
_MAX_DEPTH = 16
_NUMBER_KINDS = ("b", "i", "u", "f")


# -- values to JSON and back -------------------------------------------------------------


def encode(value: object) -> Any:
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
        return [encode(item) for item in value]
    if isinstance(value, tuple):
        return {"$tuple": [encode(item) for item in value]}
    if isinstance(value, dict):
        return {"$dict": [[encode(key), encode(item)] for key, item in value.items()]}
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
        return encode(float(value))
    if isinstance(value, numpy.ndarray) and value.dtype.kind in _NUMBER_KINDS:
        return {
            "$ndarray": {
                "dtype": value.dtype.str,
                "shape": list(value.shape),
                "data": encode(numpy.ascontiguousarray(value).tobytes()),
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
            "data": encode(data),
        }
    }


def _tensor_dtypes(torch: Any) -> dict[Any, str]:
    names = ("uint8", "int8", "int16", "int32", "int64", "float32", "float64")
    return {getattr(torch, name): name for name in names}


def bad(what: str) -> ValueError:
    return ValueError(f"not a saved reprorng state: {what}")


def _decode(node: Any, depth: int = 0) -> Any:
    if depth > _MAX_DEPTH:
        raise bad("nested too deeply")
    if node is None or isinstance(node, (bool, int, str)):
        return node
    if isinstance(node, list):
        return [_decode(item, depth + 1) for item in node]
    if not (isinstance(node, dict) and len(node) == 1):
        raise bad(f"unexpected {type(node).__name__} value")
    ((tag, content),) = node.items()
    if tag == "$float" and isinstance(content, str):
        try:
            return float.fromhex(content)
        except (ValueError, OverflowError):
            raise bad(f"bad float {content!r}") from None
    if tag == "$bytes" and isinstance(content, str):
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (ValueError, UnicodeEncodeError):
            raise bad("bad base64 data") from None
    if tag == "$tuple" and isinstance(content, list):
        return tuple(_decode(item, depth + 1) for item in content)
    if tag == "$dict" and isinstance(content, list):
        result = {}
        for pair in content:
            if not (isinstance(pair, list) and len(pair) == 2):
                raise bad("a dict entry is not a [key, value] pair")
            key = _decode(pair[0], depth + 1)
            if not isinstance(key, (str, int)) or key in result:
                raise bad(f"bad or repeated dict key {key!r}")
            result[key] = _decode(pair[1], depth + 1)
        return result
    if tag in ("$ndarray", "$tensor") and isinstance(content, dict):
        return _decode_array(tag, content, depth)
    raise bad(f"unknown value {tag!r}")


def _decode_array(tag: str, content: dict[str, Any], depth: int) -> Any:
    if content.keys() != {"dtype", "shape", "data"}:
        raise bad(f"{tag} needs exactly dtype, shape and data")
    dtype, shape = content["dtype"], content["shape"]
    data = _decode(content["data"], depth + 1)
    if not (
        isinstance(data, bytes)
        and isinstance(dtype, str)
        and isinstance(shape, list)
        and len(shape) <= 8
        and all(type(size) is int and 0 <= size <= len(data) for size in shape)
    ):
        raise bad(f"bad {tag} shape or data")
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
            raise bad(f"array dtype {dtype!r} is not one reprorng saves")
        item = numpy.dtype(dtype)
        if count * item.itemsize != len(data):
            raise bad("array data does not fit its shape")
        return numpy.frombuffer(data, dtype=item).reshape(shape).copy()
    import torch

    by_name = {name: value for value, name in _tensor_dtypes(torch).items()}
    if dtype not in by_name:
        raise bad(f"tensor dtype {dtype!r} is not one reprorng saves")
    itemsize = by_name[dtype].itemsize
    if count * itemsize != len(data):
        raise bad("tensor data does not fit its shape")
    flat = torch.frombuffer(bytearray(data), dtype=torch.uint8) if data else torch.empty(0)
    return flat.to(torch.uint8).view(by_name[dtype]).reshape(shape).clone()


# -- the frame around the body ------------------------------------------------------------


def canonical(body: object) -> bytes:
    """``body`` (JSON-ready data) as canonical JSON: sorted keys, no spaces."""
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def frame(body: bytes) -> bytes:
    """Magic, version and length, ``body``, then the checksum of it all."""
    head = MAGIC + _HEADER.pack(FORMAT_VERSION, len(body)) + body
    return head + hashlib.blake2b(head, digest_size=_CHECKSUM_SIZE).digest()


def unframe(data: bytes) -> object:
    """The JSON body of what :func:`frame` wrote, every check passed; ``ValueError`` if not."""
    start = len(MAGIC) + _HEADER.size
    if len(data) < start + _CHECKSUM_SIZE or not data.startswith(MAGIC):
        raise bad("it does not start with reprorng's magic bytes")
    version, length = _HEADER.unpack_from(data, len(MAGIC))
    if version > FORMAT_VERSION or version < 1:
        raise ValueError(
            f"this state was saved in format version {version}; this reprorng "
            f"reads versions 1 to {FORMAT_VERSION}"
        )
    if len(data) != start + length + _CHECKSUM_SIZE:
        raise bad("its length is wrong (truncated, or extra bytes)")
    head, checksum = data[:-_CHECKSUM_SIZE], data[-_CHECKSUM_SIZE:]
    if hashlib.blake2b(head, digest_size=_CHECKSUM_SIZE).digest() != checksum:
        raise bad("its checksum does not match (corrupted)")
    try:
        body: object = json.loads(head[start:].decode("utf-8"), parse_constant=_no_constant)
    except RecursionError:
        raise bad("nested too deeply") from None
    except ValueError as error:  # also bad UTF-8, and ints too long to read
        raise bad(f"its body is not valid JSON ({error})") from None
    return body


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed")


# -- saved states, checked by their sources ------------------------------------------------


def read(source: Source | None, data: Any) -> Any:
    """Saved data, checked by ``source`` if there is one, in the form reprorng writes it.

    Kept in that form (``0x1p+0`` is written ``0x1.0000000000000p+0``), equal
    states compare equal.
    """
    decoded = _decode(data)
    if source is not None:
        _checked(source, decoded)
    try:
        return encode(decoded)
    except TypeError as error:  # cannot happen for decoded values; kept for safety
        raise bad(str(error)) from None


def decode_checked(source: Source, data: Any) -> object:
    """Decode saved data and have ``source`` check it; ``ValueError`` if it is not valid."""
    return _checked(source, _decode(data))


def _checked(source: Source, decoded: Any) -> object:
    """``source.load(decoded)``, any complaint as ``ValueError``."""
    try:
        return source.load(decoded)
    except ValueError as error:
        raise ValueError(f"not a valid saved state for {source.name!r}: {error}") from None
    except RecursionError:
        raise bad("nested too deeply") from None
    except (TypeError, KeyError, IndexError, AttributeError, OverflowError) as error:
        raise ValueError(f"not a valid saved state for {source.name!r}: {error!r}") from None


# -- files -------------------------------------------------------------------------------


def write_atomically(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` so that a reader never sees half a file."""
    target = Path(path)
    descriptor, temporary = _new_file(target)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(data)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


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
