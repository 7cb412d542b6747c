"""torch's CPU generator, the one ``torch.manual_seed`` seeds, and ``torch.Generator`` objects.

torch is only looked at once something else has imported it. Accelerators
are in :mod:`reprorng.sources.accelerators`.
"""

from __future__ import annotations

import sys
from typing import Any, cast

from reprorng.sources.base import BaseSource, ObjectSource, Repeats, try_state

__all__ = ["TorchCPU", "TorchGenerator", "check_tensor", "loaded_torch"]


def check_tensor(data: object, name: str) -> None:
    """``ValueError`` unless ``data`` is a generator state: a 1-D uint8 CPU tensor."""
    torch = loaded_torch()
    if not (
        torch is not None
        and isinstance(data, torch.Tensor)
        and data.dtype == torch.uint8
        and data.dim() == 1
        and data.device.type == "cpu"
    ):
        raise ValueError(f"the state of {name!r} is a 1-D uint8 CPU tensor")


def loaded_torch() -> Any:
    """torch, if it is imported (and done importing), else ``None``."""
    torch = sys.modules.get("torch")
    if torch is None or not hasattr(torch, "default_generator"):
        return None
    return torch


class TorchCPU(BaseSource):
    """torch's default CPU generator, the one ``torch.manual_seed`` seeds on the CPU."""

    name = "torch"

    def __init__(self) -> None:
        self._generator: Any = None
        self._repeats = Repeats()

    def active(self) -> bool:
        if self._generator is None:
            torch = loaded_torch()
            if torch is None:
                return False
            self._generator = torch.default_generator
        return True

    def capture(self) -> object:
        # The state tensor includes the cached normal samples.
        return self._generator.get_state()

    def seed(self, seed: int) -> None:
        generator = self._generator
        seeded = self._repeats.get(seed)
        if seeded is not None:
            generator.set_state(seeded)
        else:
            generator.manual_seed(seed)
            if self._repeats.repeated:
                self._repeats.keep(seed, generator.get_state())

    def restore(self, state: object) -> None:
        self._generator.set_state(state)

    def load(self, data: object) -> object:
        import torch

        check_tensor(data, "torch")
        try_state(lambda: torch.Generator().set_state(cast(Any, data)), "torch")
        return data


class TorchGenerator(ObjectSource):
    """A ``torch.Generator`` on any device."""

    kind = "torch.Generator"

    def _capture(self, target: Any) -> object:
        return target.get_state()

    def _seed(self, target: Any, seed: int) -> None:
        target.manual_seed(seed)

    def _restore(self, target: Any, state: object) -> None:
        target.set_state(state)

    def dump(self, state: object) -> object:
        return {"device": self.target().device.type, "state": state}

    def load(self, data: object) -> object:
        import torch

        if not (isinstance(data, dict) and data.keys() == {"device", "state"}):
            raise ValueError(f"a saved {self.kind} state is a dict of 'device' and 'state'")
        device, state = data["device"], data["state"]
        check_tensor(state, self.kind)
        target = self.target()
        if target is not None and target.device.type != device:
            raise ValueError(
                f"a saved state of a {device} torch.Generator cannot be restored into "
                f"a {target.device.type} one"
            )
        if device == "cpu":
            try_state(lambda: torch.Generator().set_state(state), self.kind)
        elif target is not None:
            try_state(lambda: torch.Generator(device=target.device).set_state(state), self.kind)
        return state
