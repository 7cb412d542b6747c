"""torch's determinism switches, set for a block and put back after.

Seeding makes the random numbers repeat; it does not make every kernel
repeat. ``with deterministic():`` also sets

* ``torch.use_deterministic_algorithms(True)`` (``warn_only`` passed on),
* ``torch.backends.cudnn.deterministic = True``,
* ``torch.backends.cudnn.benchmark = False``,
* ``CUBLAS_WORKSPACE_CONFIG=":4096:8"`` in the environment, if it is unset,

and on exit puts every one of them back as it was, removing the variable if
it was unset. ``fixed_rng(seed, deterministic=True)`` does the same for its
block.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, NamedTuple, Self, TypeVar

if TYPE_CHECKING:
    from reprorng._block import fixed_rng

__all__ = ["CUBLAS_WORKSPACE_CONFIG", "deterministic"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: The cuBLAS setting torch's deterministic mode asks for, set when it is unset.
CUBLAS_WORKSPACE_CONFIG = ":4096:8"
_VARIABLE = "CUBLAS_WORKSPACE_CONFIG"

_warned_about_cublas = False


class _Settings(NamedTuple):
    algorithms: bool
    warn_only: bool
    cudnn_deterministic: bool
    cudnn_benchmark: bool
    cublas: str | None


def _read(torch: Any) -> _Settings:
    return _Settings(
        algorithms=torch.are_deterministic_algorithms_enabled(),
        warn_only=torch.is_deterministic_algorithms_warn_only_enabled(),
        cudnn_deterministic=torch.backends.cudnn.deterministic,
        cudnn_benchmark=torch.backends.cudnn.benchmark,
        cublas=os.environ.get(_VARIABLE),
    )


def _write(torch: Any, settings: _Settings) -> None:
    torch.use_deterministic_algorithms(settings.algorithms, warn_only=settings.warn_only)
    torch.backends.cudnn.deterministic = settings.cudnn_deterministic
    torch.backends.cudnn.benchmark = settings.cudnn_benchmark
    if settings.cublas is None:
        os.environ.pop(_VARIABLE, None)
    else:
        os.environ[_VARIABLE] = settings.cublas


def _warn_if_too_late(torch: Any) -> None:
    global _warned_about_cublas
    if _warned_about_cublas or not torch.cuda.is_initialized():
        return
    _warned_about_cublas = True
    warnings.warn(
        f"reprorng set {_VARIABLE}={CUBLAS_WORKSPACE_CONFIG} for deterministic cuBLAS, but "
        "CUDA is already initialised in this process and cuBLAS may not read it any more, "
        "so cuBLAS calls can stay non-deterministic. Set the variable before CUDA starts "
        f"(export {_VARIABLE}={CUBLAS_WORKSPACE_CONFIG}, or enter the block before the first "
        "CUDA call). This warning is given once per process.",
        RuntimeWarning,
        stacklevel=4,
    )


class deterministic:  # noqa: N801 - used like a function, as ``with deterministic():``
    """Switch torch to deterministic algorithms for a block, then switch everything back.

    Use it as ``with deterministic():``, ``async with deterministic():`` or as
    a decorator, on functions, coroutine and generator functions (switched
    only while their body runs, as ``reproducible`` seeds them) and test
    classes. With ``warn_only=True`` an operation that has no deterministic
    implementation warns instead of raising
    (``torch.use_deterministic_algorithms``'s option).

    It is a block that seeds nothing: it nests, overlaps and takes turns
    between threads as ``fixed_rng`` blocks do, so whatever the order blocks
    exit in, the settings end as they were.

    ``CUBLAS_WORKSPACE_CONFIG`` only takes effect if it is set before CUDA
    starts; if it is unset and CUDA is already initialised, a
    ``RuntimeWarning`` says so, once per process.
    """

    __slots__ = ("_block", "warn_only")

    def __init__(self, *, warn_only: bool = False) -> None:
        if not isinstance(warn_only, bool):
            raise TypeError(f"warn_only must be True or False, got {warn_only!r}")
        self.warn_only = warn_only
        self._block: fixed_rng | None = None

    def __repr__(self) -> str:
        return "deterministic(warn_only=True)" if self.warn_only else "deterministic()"

    def current(self) -> object:
        """The settings now, as :meth:`switch` returns them and :meth:`restore` takes them."""
        import torch

        return _read(torch)

    def switch(self, prior: object | None = None) -> object:
        """Switch to deterministic settings; return the settings before, for :meth:`restore`.

        ``prior``: the settings before, if :meth:`current` has just read them.
        """
        import torch

        if prior is None:
            prior = _read(torch)
        assert isinstance(prior, _Settings)
        wanted = _Settings(
            algorithms=True,
            warn_only=self.warn_only,
            cudnn_deterministic=True,
            cudnn_benchmark=False,
            cublas=CUBLAS_WORKSPACE_CONFIG if prior.cublas is None else prior.cublas,
        )
        try:
            _write(torch, wanted)
        except BaseException:
            _write(torch, prior)
            raise
        if prior.cublas is None:
            _warn_if_too_late(torch)
        return prior

    def restore(self, prior: object) -> None:
        """Put back the settings :meth:`switch` returned."""
        import torch

        assert isinstance(prior, _Settings)
        _write(torch, prior)

    def _as_block(self) -> fixed_rng:
        if self._block is None:
            from reprorng._block import switching_only

            self._block = switching_only(self)
        return self._block

    def __enter__(self) -> Self:
        self._as_block()._open_from(sys._getframe(1))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._as_block()._close_from(sys._getframe(1))

    async def __aenter__(self) -> Self:
        self._as_block()._open_from(sys._getframe(1))
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._as_block()._close_from(sys._getframe(1))

    def __call__(self, function: _F) -> _F:
        if not callable(function):
            raise TypeError(f"deterministic() decorates functions, not {function!r}")
        from reprorng._decorate import decorate

        block = self._as_block()
        return decorate(function, lambda _function: block)
