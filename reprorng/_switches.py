"""torch's determinism settings: read, switched to deterministic, and put back.

:class:`TorchSwitches` is what a block switches (``fixed_rng(deterministic=True)``
and :class:`reprorng.deterministic`, which is a block of its own).
"""

from __future__ import annotations

import os
import warnings
from typing import Any, NamedTuple

__all__ = ["CUBLAS_WORKSPACE_CONFIG", "TorchSwitches"]

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


def _torch() -> Any:
    try:
        import torch
    except ModuleNotFoundError as error:
        if error.name != "torch":
            raise
        raise ModuleNotFoundError(
            "deterministic settings are torch's, and torch is not installed "
            "(pip install 'reprorng[torch]')",
            name="torch",
        ) from None
    return torch


class TorchSwitches:
    """torch's determinism settings, switched to deterministic (or, ``mode=False``, off) and back.

    ``warn_only``: an operation that has no deterministic implementation
    warns instead of raising (``torch.use_deterministic_algorithms``'s option).
    Switched off, deterministic algorithms and ``cudnn.deterministic`` are
    ``False``; ``cudnn.benchmark`` and ``CUBLAS_WORKSPACE_CONFIG`` stay as they are.
    """

    __slots__ = ("mode", "warn_only")

    def __init__(self, mode: bool = True, *, warn_only: bool = False) -> None:
        if not isinstance(mode, bool):
            raise TypeError(
                f"deterministic's mode must be True or False, got {mode!r} "
                f"of type {type(mode).__name__}"
            )
        if not isinstance(warn_only, bool):
            raise TypeError(f"warn_only must be True or False, got {warn_only!r}")
        if warn_only and not mode:
            raise ValueError("warn_only=True needs deterministic algorithms switched on")
        self.mode = mode
        self.warn_only = warn_only

    def __repr__(self) -> str:
        if not self.mode:
            return "deterministic(False)"
        return "deterministic(warn_only=True)" if self.warn_only else "deterministic()"

    def current(self) -> object:
        """The settings now, as :meth:`switch` returns them and :meth:`restore` takes them."""
        torch = _torch()

        return _read(torch)

    def switch(self, prior: object | None = None) -> object:
        """Switch to deterministic settings; return the settings before, for :meth:`restore`.

        ``prior``: the settings before, if :meth:`current` has just read them.
        """
        torch = _torch()

        if prior is None:
            prior = _read(torch)
        assert isinstance(prior, _Settings)
        if not self.mode:
            wanted = prior._replace(algorithms=False, warn_only=False, cudnn_deterministic=False)
            _write(torch, wanted)
            return prior
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
        torch = _torch()

        assert isinstance(prior, _Settings)
        _write(torch, prior)
