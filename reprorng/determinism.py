"""torch's determinism switches, set for a block and put back after.

Seeding makes the random numbers repeat; it does not make every kernel
repeat. ``with deterministic():`` sets

* ``torch.use_deterministic_algorithms(True)`` (``warn_only`` passed on),
* ``torch.backends.cudnn.deterministic = True``,
* ``torch.backends.cudnn.benchmark = False``,
* ``CUBLAS_WORKSPACE_CONFIG=":4096:8"`` in the environment, if it is unset,

and on exit puts every one of them back as it was, removing the variable if
it was unset. ``fixed_rng(seed, deterministic=True)`` does the same for its
block.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, TypeVar

from reprorng._block import close_block, open_block, switching_only
from reprorng._decorate import decorate
from reprorng._switches import CUBLAS_WORKSPACE_CONFIG, TorchSwitches

__all__ = ["CUBLAS_WORKSPACE_CONFIG", "deterministic"]

_F = TypeVar("_F", bound=Callable[..., Any])


class deterministic(TorchSwitches):  # noqa: N801 - used like a function, as ``with deterministic():``
    """Switch torch to deterministic algorithms for a block, then switch everything back.

    Use it as ``with deterministic():``, ``async with deterministic():`` or as
    a decorator, on functions, coroutine and generator functions (switched
    only while their body runs, as ``reproducible`` seeds them) and test
    classes. With ``warn_only=True`` an operation that has no deterministic
    implementation warns instead of raising
    (``torch.use_deterministic_algorithms``'s option).

    ``deterministic(False)`` switches deterministic algorithms off for a
    block inside a deterministic region, for an operation that has no
    deterministic implementation: ``torch.use_deterministic_algorithms(False)``
    and ``torch.backends.cudnn.deterministic = False``, the rest left as it is.

    It is a block that seeds nothing: it nests, overlaps and takes turns
    between threads as ``fixed_rng`` blocks do, so whatever the order blocks
    exit in, the settings end as they were.

    ``CUBLAS_WORKSPACE_CONFIG`` only takes effect if it is set before CUDA
    starts; if it is unset and CUDA is already initialised, a
    ``RuntimeWarning`` says so, once per process.
    """

    __slots__ = ("_block",)

    def __init__(self, mode: bool = True, *, warn_only: bool = False) -> None:
        super().__init__(mode, warn_only=warn_only)
        self._block = switching_only(self)

    def __enter__(self) -> Self:
        open_block(self._block, sys._getframe(1))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        close_block(self._block, sys._getframe(1))

    async def __aenter__(self) -> Self:
        open_block(self._block, sys._getframe(1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        close_block(self._block, sys._getframe(1))

    def __call__(self, function: _F) -> _F:
        if not callable(function):
            raise TypeError(f"deterministic() decorates functions, not {function!r}")
        block = self._block
        return decorate(function, lambda _function: block)
