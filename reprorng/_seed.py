"""What a seed may be, and where a seed comes from when none is given."""

from __future__ import annotations

import functools
import logging
import operator
import os
import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeAlias, Union, cast

if TYPE_CHECKING:
    import numpy as np

#: What a seed may be: an ``int`` or a numpy integer, in ``[0, 2**64)``.
SeedLike: TypeAlias = Union[int, "np.integer[Any]"]

logger = logging.getLogger("reprorng")

#: The environment variable read when no seed is given.
ENV_VAR = "REPRORNG_SEED"

#: Seeds are integers in ``[0, MAX_SEED)``: the range of ``torch.manual_seed``.
MAX_SEED = 2**64


def _is_numpy_integer(value: object) -> bool:
    # numpy is only consulted if something already imported it: a numpy
    # integer cannot exist otherwise.
    np = sys.modules.get("numpy")
    return np is not None and isinstance(value, np.integer)


def check_seed(seed: object, what: str = "seed") -> int:
    """Return ``seed`` as a plain ``int`` or raise ``TypeError``/``ValueError``.

    ``what`` names the value in the message (for example the environment
    variable it came from).
    """
    if isinstance(seed, bool) or not (isinstance(seed, int) or _is_numpy_integer(seed)):
        hint = ""
        if type(seed).__name__ == "SeedSequence":
            hint = "; to seed from a SeedSequence, pass int(sequence.generate_state(1)[0])"
        raise TypeError(
            f"{what} must be an int (or numpy integer) in [0, 2**64), "
            f"got {short_repr(seed)} of type {type(seed).__name__}{hint}"
        )
    value = operator.index(cast(SupportsIndex, seed))
    if not 0 <= value < MAX_SEED:
        raise ValueError(f"{what} must be in [0, 2**64), got {describe_int(value)}")
    return value


def short_repr(value: object, limit: int = 80) -> str:
    """``repr(value)`` on one line, cut to about ``limit`` characters, for messages."""
    text = re.sub(r"\n\s*", "", repr(value))
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def describe_int(value: int) -> str:
    """``value`` as text, or its size if it is too long to print (or to convert at all)."""
    if value.bit_length() > 256:
        return f"an int of {value.bit_length()} bits"
    return str(value)


def parse_decimal(text: str) -> int:
    """A whole number written in ASCII digits, nothing else; ``ValueError`` otherwise.

    ``int()`` also takes signs, underscores and digits of other scripts
    (``+42``, ``4_2``, ``٤٢``); a seed on a command line or in the environment
    is only ever plain digits.
    """
    if not (text.isascii() and text.isdigit()):
        raise ValueError(f"not a whole number in decimal digits: {text!r}")
    return int(text)


def _seed_from_env(text: str) -> int:
    try:
        value = parse_decimal(text.strip())
    except ValueError:
        raise ValueError(
            f"environment variable {ENV_VAR} must be a decimal integer in [0, 2**64), got {text!r}"
        ) from None
    return check_seed(value, f"environment variable {ENV_VAR}")


def resolve_seed(seed: object = None) -> int:
    """The seed to use: ``seed`` itself, else ``$REPRORNG_SEED``, else fresh OS entropy."""
    if seed is not None:
        return check_seed(seed)
    text = os.environ.get(ENV_VAR)
    if text is not None:
        value = _seed_from_env(text)
        logger.debug("seed=%d from %s", value, ENV_VAR)
        return value
    value = int.from_bytes(os.urandom(8), "little")
    logger.debug("seed=%d drawn from OS entropy", value)
    return value


def text_seed(text: str) -> int:
    """A seed derived stably from ``text``.

    It is the first 8 bytes, little-endian, of the BLAKE2b digest of ``text``
    encoded as UTF-8: the same in every process, platform and Python version.
    """
    import hashlib  # only when needed: it is slow to import

    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")


# Far beyond any index, and short enough for Python to write as text.
_MAX_KEY_BITS = 4096


def derive_seed(seed: SeedLike, *keys: SeedLike | str) -> int:
    """A seed derived from ``seed`` and ``keys``: the same in every process, platform and Python.

    ``keys`` are ints (numpy integers too) or strings; each different
    sequence of them gives an independent seed, and ``derive_seed(s, 1)``
    differs from ``derive_seed(s, "1")``. The result is in ``[0, 2**64)``:
    the first 8 bytes, little-endian, of the BLAKE2b digest of
    ``json.dumps([seed, *keys], separators=(",", ":"))`` encoded as UTF-8.
    """
    return text_seed(_derivation(seed, keys))


def _derivation(seed: SeedLike, keys: tuple[SeedLike | str, ...]) -> str:
    """The text :func:`derive_seed` hashes, every key checked."""
    import json  # only when needed

    parts: list[int | str] = [check_seed(seed)]
    for index, key in enumerate(keys):
        if isinstance(key, str):
            parts.append(key)
        elif not isinstance(key, bool) and (isinstance(key, int) or _is_numpy_integer(key)):
            value = operator.index(key)
            if value.bit_length() > _MAX_KEY_BITS:
                raise ValueError(
                    f"derive_seed key {index} is {describe_int(value)}; "
                    f"int keys have at most {_MAX_KEY_BITS} bits"
                )
            parts.append(value)
        else:
            raise TypeError(
                f"derive_seed keys must be ints or strings; key {index} is {key!r} "
                f"of type {type(key).__name__}"
            )
    return json.dumps(parts, separators=(",", ":"))


@functools.lru_cache(maxsize=256)
def seeds_by_index(seed: int, *keys: int | str) -> Callable[..., int]:
    """``(*indices) -> derive_seed(seed, *keys, *indices)``, for the many calls and items of a
    process: the text before the indices is written and checked once, so each seed costs one
    hash."""
    start = _derivation(seed, keys)[:-1]  # the list, open for more keys

    def seed_of(*indices: int) -> int:
        for index in indices:
            if type(index) is not int or index.bit_length() > _MAX_KEY_BITS:
                return derive_seed(seed, *keys, *indices)
        return text_seed(f"{start},{','.join(map(str, indices))}]" if indices else f"{start}]")

    return seed_of


def name_seed(module: str, qualname: str) -> int:
    """A seed derived stably from a function's module and qualified name.

    It is :func:`text_seed` of ``"module:qualname"``.
    """
    return text_seed(f"{module}:{qualname}")


def default_seed(module: str, qualname: str) -> int:
    """The seed of a bare ``@reproducible``: ``$REPRORNG_SEED`` if set, else :func:`name_seed`."""
    text = os.environ.get(ENV_VAR)
    if text is not None:
        return _seed_from_env(text)
    return name_seed(module, qualname)
