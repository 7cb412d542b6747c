"""Every torch operator that reaches the dispatcher, forward and backward, as trace events.

A :class:`~torch.utils._python_dispatch.TorchDispatchMode` sees the operators
autograd runs too, which a function mode does not. Inputs are hashed before
the operator runs (in-place operators change them), outputs after; an
operator that draws random numbers also gets a hash of the generator state it
drew from.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from reprorng.trace._hash import cpu_digest, parts_of
from reprorng.trace._record import READS_UNWRITTEN, RECEIVED, defer
from reprorng.trace._tensors import UNWRITTEN, Tensors

if TYPE_CHECKING:
    import torch

    from reprorng.trace._record import Recorder

__all__ = ["op_tracer"]


def _generator(args: tuple[Any, ...], kwargs: dict[str, Any]) -> torch.Generator | None:
    """The generator a random operator draws from: its own, else its device's default."""
    import torch

    generator = kwargs.get("generator")
    if isinstance(generator, torch.Generator):
        return generator
    device = kwargs.get("device")
    if device is None:
        device = next((arg.device for arg in args if isinstance(arg, torch.Tensor)), None)
    device = torch.device("cpu" if device is None else device)
    if device.type == "cpu":
        return torch.default_generator
    module = getattr(torch, device.type, None)
    generators = getattr(module, "default_generators", None)
    if not generators:
        return None
    index = device.index if device.index is not None else module.current_device()
    found: torch.Generator = generators[index]
    return found


def _rng_state(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    try:
        generator = _generator(args, kwargs)
        if generator is None:
            return ""
        return cpu_digest(generator.get_state())
    except Exception:  # noqa: BLE001 - a generator that cannot be read: no hash
        return "?"


def op_tracer(recorder: Recorder) -> Any:
    """A dispatch mode that records each operator into ``recorder`` while it is active."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode

    seeded_tag = torch.Tag.nondeterministic_seeded
    current_node = torch._C._current_autograd_node
    sequence = torch._C._autograd._get_sequence_nr
    #: Where each autograd node was made, by its number: the forward line of a backward op.
    forward: dict[int, str] = {}
    last = [sequence()]
    random: dict[Any, bool] = {}
    tensors = Tensors()

    class OpTracer(TorchDispatchMode):  # type: ignore[no-untyped-call]
        @classmethod
        def _should_skip_dynamo(cls) -> bool:
            # torch wraps a mode's dispatch to keep torch.compile out of it, importing
            # torch._dynamo (seconds) on the first operator and costing each one after:
            # worth it only where the program compiles, so dynamo is already imported.
            return "torch._dynamo" in sys.modules

        def __torch_dispatch__(
            self,
            func: Any,
            types: Any,
            args: tuple[Any, ...] = (),
            kwargs: dict[str, Any] | None = None,
        ) -> Any:
            kwargs = kwargs or {}
            if not recorder.active:
                return func(*args, **kwargs)
            place = recorder.place(1)
            if place.level == RECEIVED:
                # A tensor rebuilt from what a worker process sent, in the order the
                # workers' batches happen to arrive: it is hashed when first used.
                result = func(*args, **kwargs)
                tensors.written(func, args, kwargs, result, hashed=False)
                return result
            inputs: list[Any] = []
            parts_of(args, inputs, tensors.parts)
            parts_of(kwargs, inputs, tensors.parts)
            draws = random.get(func)
            if draws is None:
                draws = random[func] = seeded_tag in func.tags
            rng = _rng_state(args, kwargs) if draws else ""
            result = func(*args, **kwargs)
            read_unwritten = UNWRITTEN in inputs
            outputs = tensors.written(func, args, kwargs, result)
            node = current_node()
            notes = []
            if node is not None:
                notes.append(f"backward: {node.name()}")
                made = forward.get(node._sequence_nr())
                if made is not None:
                    notes.append(made)
            else:
                number = sequence()
                if number != last[0]:  # this operator made a node (numbered one less)
                    last[0] = number
                    forward[number - 1] = f"forward: {place.line} {place.function} {place.file}"
            if read_unwritten:
                notes.append(READS_UNWRITTEN)
            note = "; ".join(notes)
            event = recorder.event_at("op", func._schema.name, place, rng=rng, note=note)
            defer(recorder, event, "inputs", inputs)
            defer(recorder, event, "outputs", outputs)
            recorder.record(event)
            return result

    return OpTracer()  # type: ignore[no-untyped-call]
