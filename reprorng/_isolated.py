"""``isolated``: a block that keeps the streams going and puts them back after.

What ``torch.random.fork_rng`` does for torch, and Lightning's ``isolate_rng``
for Python, numpy and torch, for every generator reprorng manages.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from reprorng._block import DEFAULT_TIMEOUT, fixed_rng
from reprorng.sources import accelerator_names

__all__ = ["isolated"]


class isolated(fixed_rng):  # noqa: N801 - used like a function, as ``with isolated():``
    """Run a block with the streams as they are, then put every one back as it was.

    Nothing is seeded: code inside draws what it would have drawn without the
    block, and after it every generator is exactly where it was at entry, as
    if the block had never drawn. It is ``fixed_rng`` in every other way:
    ``with``, ``async with``, a decorator on functions, coroutine and
    generator functions (each body gets a fork of the caller's streams at its
    first step) and test classes; ``generators=``, ``exclude=`` and
    ``timeout=`` as there.

    As ``torch.random.fork_rng``: ``enabled=False`` makes it do nothing, and
    ``devices=[]`` leaves the accelerators out. Any other ``devices=`` keeps
    every device of an initialised accelerator, those not listed included.
    """

    __slots__ = ()

    def __init__(
        self,
        *,
        devices: Iterable[object] | None = None,
        enabled: bool = True,
        generators: Iterable[object] = (),
        exclude: Collection[str] = frozenset(),
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be True or False, got {enabled!r}")
        if devices is not None:
            if isinstance(devices, (str, bytes)) or not isinstance(devices, Iterable):
                raise TypeError(
                    f"devices must be None or an iterable of devices, got {devices!r} "
                    f"of type {type(devices).__name__}"
                )
            if not list(devices):
                exclude = frozenset(exclude) | set(accelerator_names())
        super().__init__(0, generators=generators, exclude=exclude, timeout=timeout)
        self.reseeds = False
        self.seeds = enabled

    def __repr__(self) -> str:
        options = []
        if not self.seeds:
            options.append("enabled=False")
        if self.objects:
            options.append(f"generators=[{', '.join(source.name for source in self.objects)}]")
        if self.exclude:
            options.append(f"exclude={sorted(self.exclude)}")
        if self.timeout != DEFAULT_TIMEOUT:
            options.append(f"timeout={self.timeout}")
        return f"isolated({', '.join(options)})"
