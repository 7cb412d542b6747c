"""Reads of OS entropy and seeding calls, seen by wrapping the functions a program calls.

Python's are wrapped at once; numpy's and torch's when they are imported (or
at once if they already are). Everything wrapped is put back as it was when
the trace ends. A call made from reprorng itself, or from inside another
wrapped call (``uuid4`` reads ``os.urandom``), is not recorded twice.
"""

from __future__ import annotations

import functools
import os
import random
import re
import sys
import threading
import uuid
from collections.abc import Callable
from typing import Any

from reprorng.trace._hash import describe, digest, passes_through
from reprorng.trace._record import Recorder

__all__ = ["Hooks"]

_OURS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "")


class Hooks:
    """The wrapped functions of one trace, and how to put each back."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.saved: list[tuple[object, str, object, bool]] = []
        self.taps: list[tuple[str, _Output, object]] = []
        self.local = threading.local()
        self.installed = True

    def live(self) -> bool:
        """Whether the call being made now should be recorded."""
        if not self.recorder.active or getattr(self.local, "inside", False):
            return False
        try:
            caller = sys._getframe(2)
        except ValueError:  # called with no Python caller (from C, at a thread's start)
            return True
        return not caller.f_code.co_filename.startswith(_OURS)

    def patch(self, owner: object, name: str, make: Callable[[Any], Any]) -> None:
        original = getattr(owner, name, None)
        if original is None:
            return
        own = name in vars(owner)  # not inherited: put back, else taken away again
        setattr(owner, name, make(original))
        self.saved.append((owner, name, original, own))

    def remove(self) -> None:
        self.installed = False
        for stream, tap, original in self.taps:
            if getattr(sys, stream) is tap:  # not if the program put in a stream of its own
                setattr(sys, stream, original)
        self.taps.clear()
        while self.saved:
            owner, name, original, own = self.saved.pop()
            if own:
                setattr(owner, name, original)
            else:
                delattr(owner, name)

    def entropy(self, name: str, value: Callable[[Any], object] = repr) -> Callable[[Any], Any]:
        """Wrap a function that reads OS entropy: record what it returned, hashed."""

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(original)
            def read(*args: Any, **kwargs: Any) -> Any:
                if not self.live():
                    return original(*args, **kwargs)
                self.local.inside = True
                try:
                    result = original(*args, **kwargs)
                finally:
                    self.local.inside = False
                self.recorder.add("entropy", name, value=digest(repr(value(result))))
                return result

            return read

        return make

    def seeding(
        self,
        name: str,
        *,
        keyword: str = "seed",
        unseeded: str | None = None,
        drawn: Callable[[Any], object] | None = None,
        method: bool = False,
    ) -> Callable[[Any], Any]:
        """Wrap a seeding call: record the value it got (``None``: an entropy read)."""

        def make(original: Callable[..., Any]) -> Callable[..., Any]:
            @functools.wraps(original)
            def seed(*args: Any, **kwargs: Any) -> Any:
                if not self.live():
                    return original(*args, **kwargs)
                given_args = args[1:] if method else args
                given = given_args[0] if given_args else kwargs.get(keyword)
                if given is None and unseeded is not None:
                    self.local.inside = True
                    try:
                        result = original(*args, **kwargs)
                    finally:
                        self.local.inside = False
                    state = _state(result) if drawn is None else drawn(result)
                    if method:
                        state = args[0].getstate()
                    self.recorder.add("entropy", unseeded, value=digest(repr(state)))
                    return result
                if not passes_through(given):
                    self.recorder.add("seed", name, value=describe(given))
                self.local.inside = True
                try:
                    return original(*args, **kwargs)
                finally:
                    self.local.inside = False

            return seed

        return make

    def python(self) -> None:
        self.patch(os, "urandom", self.entropy("os.urandom"))
        for method in ("random", "getrandbits", "randbytes"):
            self.patch(random.SystemRandom, method, self.entropy("random.SystemRandom"))
        self.patch(uuid, "uuid4", self.entropy("uuid.uuid4"))
        self.patch(uuid, "uuid1", self.entropy("uuid.uuid1"))
        # random.Random() and rng.seed() without a value (random.seed is the module's own).
        self.patch(
            random.Random,
            "seed",
            self.seeding(
                "random.Random.seed",
                keyword="a",
                unseeded="random.Random",
                drawn=lambda _none: None,
                method=True,
            ),
        )
        self.patch(
            random,
            "seed",
            self.seeding(
                "random.seed",
                keyword="a",
                unseeded="random.seed",
                drawn=lambda _none: random.getstate(),
            ),
        )

    def output(self) -> None:
        """Record each write to stdout and stderr at the line of the program that made it."""
        for stream in ("stdout", "stderr"):
            original = getattr(sys, stream)
            if original is not None:
                tap = _Output(original, stream, self)
                setattr(sys, stream, tap)
                self.taps.append((stream, tap, original))

    def numpy(self) -> None:
        np_random = sys.modules["numpy.random"]
        self.patch(
            np_random,
            "default_rng",
            self.seeding("numpy.random.default_rng", unseeded="numpy.random.default_rng"),
        )
        self.patch(
            np_random,
            "seed",
            self.seeding(
                "numpy.random.seed",
                unseeded="numpy.random.seed",
                drawn=lambda _none: np_random.get_state()[1][:4].tolist(),
            ),
        )

    def torch(self) -> None:
        torch = sys.modules["torch"]
        seed = self.seeding("torch.manual_seed")
        unseeded = self.entropy("torch.seed")
        for owner in (torch, torch.random):
            self.patch(owner, "manual_seed", seed)
            self.patch(owner, "seed", unseeded)
        cuda = torch.cuda
        self.patch(cuda, "manual_seed", self.seeding("torch.cuda.manual_seed"))
        self.patch(cuda, "manual_seed_all", self.seeding("torch.cuda.manual_seed_all"))
        self.patch(cuda, "seed", self.entropy("torch.cuda.seed"))
        self.patch(cuda, "seed_all", self.entropy("torch.cuda.seed_all"))


class _Output:
    """A stream that records each write (hashed) as an ``output`` event, then passes it on."""

    def __init__(self, stream: Any, name: str, hooks: Hooks) -> None:
        self._stream = stream
        self._name = name
        self._hooks = hooks

    def write(self, text: str) -> int:
        hooks = self._hooks
        if hooks.recorder.active and not getattr(hooks.local, "inside", False) and text:
            note = "shows an address" if _ADDRESS.search(str(text)) else ""
            value = f"{str(text).count(chr(10))}:{digest(str(text))}"
            hooks.recorder.add_output(self._name, value, note)
        return int(self._stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


#: How an object's address looks in text (``<object object at 0x7f...>``).
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def _state(result: object) -> object:
    """What an unseeded call drew: the entropy of the generator it made, if it made one."""
    bit_generator = getattr(result, "bit_generator", None)
    seed_seq = getattr(bit_generator, "seed_seq", None)
    return getattr(seed_seq, "entropy", result)
