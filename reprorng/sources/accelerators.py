"""torch's accelerators: CUDA, XPU and MTIA (lazily initialised), MPS and a privateuse1 backend.

No accelerator is ever initialised here: one the process has not started
gets its seed through torch's own queue of lazy seeding calls.
"""

from __future__ import annotations

from typing import Any, cast

from reprorng.sources.base import BaseSource
from reprorng.sources.torch import check_tensor, loaded_torch

__all__ = ["TorchAccelerator", "TorchCustomBackend", "TorchMPS"]


class _Lazy:
    """The captured state of an accelerator that was not initialised.

    Nothing is on the device yet; what decides its future state is torch's
    queue of seeding calls that initialisation will replay.
    """

    __slots__ = ("calls", "seed_all", "seed_one")

    def __init__(self, tracker: Any) -> None:
        self.seed_all = tracker.manual_seed_all_cb
        self.seed_one = tracker.manual_seed_cb
        self.calls = list(tracker.call_order)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Lazy):
            return NotImplemented
        return (self.seed_all, self.seed_one, self.calls) == (
            other.seed_all,
            other.seed_one,
            other.calls,
        )

    __hash__ = None  # type: ignore[assignment]

    def put_back(self, tracker: Any) -> None:
        tracker.manual_seed_all_cb = self.seed_all
        tracker.manual_seed_cb = self.seed_one
        tracker.call_order = list(self.calls)


class _SeedAll:
    """A queued seeding of every device, as ``manual_seed_all`` queues it."""

    __slots__ = ("module", "seed")

    def __init__(self, module: Any, seed: int) -> None:
        self.module = module
        self.seed = seed

    def __call__(self) -> None:
        for index in range(self.module.device_count()):
            self.module.default_generators[index].manual_seed(self.seed)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _SeedAll):
            return NotImplemented
        return self.module is other.module and self.seed == other.seed

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<manual_seed_all({self.seed}) queued by reprorng>"


# Stands for the stack trace torch keeps with a queued call, shown if it fails.
_QUEUED_BY = ["  (seed queued by a reprorng block; no stack trace was kept)\n"]


class TorchAccelerator(BaseSource):
    """Every device of one lazily initialised torch accelerator (``cuda``, ``xpu``, ``mtia``).

    An accelerator that the process has not initialised is never initialised
    here. Seeding it queues torch's own lazy seeding call; on restore the queue
    is put back as it was, so no seed queued inside a block fires later. If the
    block itself initialised the device, each device generator is seeded from
    OS entropy, as initialisation seeds it, and the queue as it was at entry is
    replayed: the state initialisation would have produced had the block not run.
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._available: bool | None = None

    def _module(self) -> Any:
        torch = loaded_torch()
        return None if torch is None else getattr(torch, self.name, None)

    def active(self) -> bool:
        # Whether the device exists is asked once, after torch is imported.
        if self._available is None:
            module = self._module()
            if module is None:
                return False
            available = getattr(module, "is_available", None)
            self._available = available is None or bool(available())
        return self._available

    @staticmethod
    def _devices(module: Any) -> tuple[Any, ...] | None:
        """Each device's default generator, once the accelerator is initialised.

        Their own ``get_state``/``manual_seed``/``set_state`` do what the
        module's ``*_all`` functions do, without a lock, a copy and a closure
        per device and call.
        """
        is_initialized = getattr(module, "is_initialized", None)
        if is_initialized is None or not is_initialized():
            return None
        devices = getattr(module, "default_generators", None)
        return devices if isinstance(devices, tuple) and devices else None

    def capture(self) -> object:
        module = self._module()
        devices = self._devices(module)
        if devices is not None:
            return tuple(device.get_state() for device in devices)
        tracker = getattr(module, "_lazy_seed_tracker", None)
        if tracker is None or module.is_initialized():
            return tuple(module.get_rng_state_all())
        return _Lazy(tracker)

    def seed(self, seed: int) -> None:
        module = self._module()
        devices = self._devices(module)
        if devices is not None:
            for device in devices:
                device.manual_seed(seed)
            return
        tracker = getattr(module, "_lazy_seed_tracker", None)
        queue = getattr(tracker, "queue_seed_all", None)
        lock = getattr(module, "_initialization_lock", None)
        if queue is not None and lock is not None and not module.is_initialized():
            with lock:  # torch's own lock (not re-entrant), as manual_seed_all takes it
                if not module.is_initialized():
                    # What manual_seed_all queues, without the stack trace it
                    # formats for each call (tens of µs, on every block).
                    queue(_SeedAll(module, seed), _QUEUED_BY)
                    return
        module.manual_seed_all(seed)

    def dump(self, state: object) -> object | None:
        # Not initialised: no state yet, only a queue of calls, which cannot be saved.
        return None if isinstance(state, _Lazy) else state

    def load(self, data: object) -> object:
        if not isinstance(data, tuple):
            raise ValueError(f"the state of {self.name!r} is a tuple, one tensor per device")
        for each in data:
            check_tensor(each, self.name)
        return data

    def restore(self, state: object) -> None:
        module = self._module()
        if not isinstance(state, _Lazy):
            states = cast(tuple[Any, ...], state)
            devices = self._devices(module)
            if devices is None:
                module.set_rng_state_all(states)
                return
            if len(states) != len(devices):
                raise ValueError(
                    f"a state of {len(states)} {self.name} devices cannot be restored on "
                    f"{len(devices)}"
                )
            for device, device_state in zip(devices, states, strict=True):
                device.set_state(device_state)
            return
        state.put_back(module._lazy_seed_tracker)
        if not module.is_initialized():
            return
        # The block initialised the device. Do what initialisation does: seed
        # each default generator from OS entropy, then replay the queue.
        for generator in getattr(module, "default_generators", ()):
            generator.seed()
        for call in state.calls:
            if call is not None:
                callback, _stack = call
                callback()


class TorchCustomBackend(TorchAccelerator):
    """A backend registered as torch's ``privateuse1`` device, which ``torch.manual_seed`` seeds.

    It is managed when its module (``torch.<name>``) provides
    ``manual_seed_all``, ``get_rng_state_all`` and ``set_rng_state_all``, as
    torch's own accelerators do; lazily, like them, if it has their lazy queue.
    Register the backend before the first block: which sources are active is
    settled once numpy and torch are imported.
    """

    _NEEDED = ("manual_seed_all", "get_rng_state_all", "set_rng_state_all")

    def __init__(self) -> None:
        super().__init__("privateuse1")

    def _module(self) -> Any:
        torch = loaded_torch()
        if torch is None:
            return None
        name = torch._C._get_privateuse1_backend_name()
        module = getattr(torch, name, None)
        if module is None or not all(hasattr(module, needed) for needed in self._NEEDED):
            return None
        self.name = name
        return module


class TorchMPS(BaseSource):
    """The Apple MPS device generator (single device, no lazy initialisation)."""

    name = "mps"

    def __init__(self) -> None:
        self._available: bool | None = None

    def active(self) -> bool:
        if self._available is None:
            torch = loaded_torch()
            if torch is None:
                return False
            self._available = bool(torch.backends.mps.is_available())
        return self._available

    def capture(self) -> object:
        return loaded_torch().mps.get_rng_state()

    def seed(self, seed: int) -> None:
        loaded_torch().mps.manual_seed(seed)

    def restore(self, state: object) -> None:
        loaded_torch().mps.set_rng_state(state)

    def load(self, data: object) -> object:
        check_tensor(data, self.name)
        return data
