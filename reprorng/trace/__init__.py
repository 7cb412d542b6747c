"""Where two runs part, and why: a trace of each run, and the first divergence between two.

``with tracing() as recorder:`` records, in order, every torch operator the
dispatcher runs (forward and backward, with hashes of inputs, outputs and the
generator state of random operators), every read of OS entropy and every
seeding call, each with the line of the user's code it came from.
:func:`first_divergence` compares two traces and names the first event where
they part and its cause; :func:`save` and :func:`load` keep a trace in a file
(``reprorng trace``, ``reprorng diff``).
"""

from __future__ import annotations

import os
import sys
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from reprorng import _stack
from reprorng.trace._file import TraceError, Writer, is_trace, load, save
from reprorng.trace._hooks import Hooks
from reprorng.trace._record import Event, Recorder, Trace, forget_places
from reprorng.trace._report import CAUSES, FIXES, printable, report_lines

if TYPE_CHECKING:
    from reprorng.trace._compare import Compared, compare_files
    from reprorng.trace._diff import Divergence, first_divergence

#: Comparing traces, imported when first asked for: a traced run only records (and
#: comparing brings in numpy).
_COMPARING = {
    "Divergence": "_diff",
    "first_divergence": "_diff",
    "Compared": "_compare",
    "compare_files": "_compare",
}


def __getattr__(name: str) -> Any:
    module = _COMPARING.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = [
    "CAUSES",
    "FIXES",
    "Compared",
    "Divergence",
    "Event",
    "Recorder",
    "Trace",
    "TraceError",
    "compare_files",
    "first_divergence",
    "is_trace",
    "load",
    "printable",
    "report_lines",
    "save",
    "tracing",
]

_recorders: weakref.WeakSet[Recorder] = weakref.WeakSet()


_children: weakref.WeakKeyDictionary[Recorder, str] = weakref.WeakKeyDictionary()


def _stop_in_child() -> None:
    """A forked child (a DataLoader worker) is not traced with its parent, which writes the
    trace; it is traced into a file of its own when the trace asks for its children."""
    for recorder in list(_recorders):
        prefix = _children.get(recorder)
        if prefix is not None and recorder.active:
            from reprorng.trace._workers import follow_child

            follow_child(recorder, prefix)
            continue
        recorder.active = False
        if recorder.lines is not None:
            recorder.lines.stop()


os.register_at_fork(after_in_child=_stop_in_child)


@contextmanager
def tracing(
    *,
    lines: bool = False,
    children: str | None = None,
    out: str | os.PathLike[str] | None = None,
    operators: bool = True,
) -> Iterator[Recorder]:
    """Record this thread's torch operators, the process's entropy reads, seeding calls and
    writes to stdout and stderr; with ``lines``, also the lines of the user's code it runs.
    ``children``: where forked children write their own events (``PREFIX.child-IDENTITY``).
    ``out``: a file the events are written to as they come (the recorder keeps a batch at
    most; set ``recorder.meta`` for the header), whole when the block ends.
    ``operators=False``: no torch operators, only the calls above (a light trace).

    numpy and torch imported inside the block are traced from their import on.
    Every function wrapped is put back when the block ends.
    """
    from reprorng._imports import when_imported

    forget_places()
    recorder = Recorder()
    hooks = Hooks(recorder)
    modes: list[tuple[Any, int]] = []

    def on_seed(seed: int) -> None:
        if recorder.active:
            recorder.add("seed", "reprorng.fixed_rng", value=str(seed))

    # Called at once, or when the library is imported, if the trace is still on.
    def on_torch(module: object = None) -> None:
        if not hooks.installed:
            return
        from reprorng.trace._ops import op_tracer

        forget_places()
        hooks.torch()
        if not operators:
            return
        mode = op_tracer(recorder)
        mode.__enter__()
        modes.append((mode, threading.get_ident()))

    def on_numpy(module: object = None) -> None:
        if not hooks.installed:
            return
        from reprorng.trace import _numpy_types

        forget_places()
        hooks.numpy()
        _numpy_types.install(hooks)

    writer = None if out is None else Writer(out)
    if writer is not None:
        recorder.stream(writer.write)
    _recorders.add(recorder)
    if children is not None:
        _children[recorder] = children
    _stack.on_seed.append(on_seed)
    try:
        hooks.python()
        hooks.output()
        for name, install in (("numpy.random", on_numpy), ("torch", on_torch)):
            if name in sys.modules:
                install()
            else:
                when_imported(install, name)
        if lines:
            recorder.follow_lines()
        yield recorder
    finally:
        if recorder.lines is not None:
            recorder.lines.stop()
        recorder.active = False
        for mode, thread in reversed(modes):
            # A mode is the thread's own: one entered in another thread (which
            # imported torch) stays there, passing every operator through.
            if thread == threading.get_ident():
                mode.__exit__(None, None, None)
        hooks.remove()
        _stack.on_seed.remove(on_seed)
        if writer is not None:
            recorder.flush()
            writer.close(recorder.meta)
