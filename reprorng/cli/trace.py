"""``reprorng trace --out FILE``: ``reprorng run``, recording the run's trace into FILE.

The trace is written when the program ends, however it ends: returning,
raising, ``sys.exit`` or Ctrl-C (not ``os._exit``, which skips everything).
"""

from __future__ import annotations

import os
import platform
import sys
from typing import Any

from reprorng.cli.options import Options

__all__ = ["LIGHT", "LINES", "facts", "traced"]

#: Where ``reprorng check`` asks its traced runs to write the lines they ran, for itself alone.
LINES = "REPRORNG_TRACE_LINES"
#: Set by ``reprorng check`` for a light trace: no operators, no lines (see ``check``).
LIGHT = "REPRORNG_TRACE_LIGHT"


def facts(options: Options, seed: int, hash_seed: int) -> dict[str, Any]:
    """What a trace file says about its run, so two machines' traces can be told apart."""
    from reprorng import __version__

    versions = {"python": platform.python_version(), "reprorng": __version__}
    for name in ("numpy", "torch"):
        module = sys.modules.get(name)
        if module is not None:
            versions[name] = str(getattr(module, "__version__", "?"))
    return {
        "seed": seed,
        "hash_seed": hash_seed,
        "deterministic": options.deterministic,
        "program": options.target.describe(),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "versions": versions,
    }


class traced:  # noqa: N801 - used as a with statement, like a function
    """Trace the block (if the options ask for it) and write the trace when it ends.

    A class, not a generator, so that the program's own exception leaves with
    the traceback it had.
    """

    def __init__(self, options: Options, seed: int, hash_seed: int) -> None:
        self.options = options
        self.seed = seed
        self.hash_seed = hash_seed
        self.tracing: Any = None

    def __enter__(self) -> None:
        if self.options.trace_out is None:
            return
        from reprorng.trace import tracing

        self.lines = os.environ.pop(LINES, None)
        light = os.environ.pop(LIGHT, None) is not None
        self.tracing = tracing(
            lines=self.lines is not None,
            children=self.lines or (self.options.trace_out if light else None),
            out=self.options.trace_out,
            operators=not light,
        )
        self.recorder = self.tracing.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.tracing is None:
            return
        self.recorder.meta.update(facts(self.options, self.seed, self.hash_seed))
        self.tracing.__exit__(None, None, None)
        if self.lines is not None and self.recorder.lines is not None:
            self.recorder.lines.save(self.lines, self.recorder.marks)
