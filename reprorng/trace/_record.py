"""One run's trace: an ordered stream of events, each with the place in the user's code.

An event is an operator torch dispatched (``op``), a read of OS entropy
(``entropy``), a seeding call (``seed``) or a write to stdout or stderr
(``output``). Each holds hashes, never the
values themselves, so its size does not grow with the tensors it saw.
"""

from __future__ import annotations

import os
import sys
import sysconfig
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from types import FrameType
from typing import Any

from reprorng.trace._hash import hash_parts
from reprorng.trace._lines import Lines, line_tags

__all__ = [
    "BATCH",
    "INNER",
    "KINDS",
    "OWN",
    "READS_UNWRITTEN",
    "RECEIVED",
    "Event",
    "Place",
    "Recorder",
    "Trace",
    "defer",
    "is_users",
    "settle",
    "user_frame",
]

#: Device hashes read back at once; bounds the memory they hold.
BATCH = 1024
#: Events a streamed recorder holds before it hands them on.
STREAMED = 4096

#: The note of an operator that read memory no operator wrote (``torch.empty``'s).
READS_UNWRITTEN = "reads memory no operator wrote"

#: The kinds of event, in the order the file format names them.
KINDS = ("op", "entropy", "seed", "output")

_MAIN = "main"


@dataclass(slots=True)
class Event:
    """One thing a run did: what, where, and hashes of what went in and came out.

    ``inputs``/``outputs`` hash an operator's arguments and results, ``rng`` the
    state of the generator a random operator drew from. ``value`` is what a
    seeding call got (as text) or a hash of what an entropy read returned.
    ``note`` says more where there is more: the autograd node of a backward
    operator, or the library function that read entropy.
    """

    kind: str
    name: str
    file: str
    line: int
    function: str
    thread: str = _MAIN
    inputs: str = ""
    outputs: str = ""
    rng: str = ""
    value: str = ""
    note: str = ""

    def place(self) -> str:
        return f"{self.file}:{self.line} in {self.function}"


@dataclass
class Trace:
    """A whole run: facts about it (``meta``) and its events in the order they happened."""

    meta: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)


def _folder_of(name: str) -> str | None:
    where = getattr(sys.modules.get(name), "__file__", None)
    return os.path.join(os.path.realpath(os.path.dirname(where)), "") if where else None


def _library_folders() -> tuple[str, ...]:
    """Folders whose code is not the user's: the standard library, installed packages, us."""
    paths = sysconfig.get_paths()
    folders = {paths["stdlib"], paths["platstdlib"], paths["purelib"], paths["platlib"]}
    folders.add(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # reprorng
    found = {os.path.join(os.path.realpath(folder), "") for folder in folders if folder}
    found.update(folder for folder in map(_folder_of, ("torch", "numpy")) if folder)
    return tuple(sorted(found))


#: How far from the program's own doing a call is: not at all; inside torch,
#: numpy or an import; or rebuilding tensors another process sent.
OWN, INNER, RECEIVED = 0, 1, 2


class _Places:
    """Which code is the user's, and which is torch's or numpy's, decided once per code object."""

    def __init__(self) -> None:
        self.folders = _library_folders()
        self.inner = tuple(folder for folder in map(_folder_of, ("torch", "numpy")) if folder)
        torch = _folder_of("torch")
        self.received = os.path.join(torch, "multiprocessing", "") if torch else None
        self.known: dict[object, tuple[bool, int]] = {}

    def kind(self, code: Any) -> tuple[bool, int]:
        """Whether ``code`` is the user's, and how far from the program's own doing it is."""
        known = self.known.get(code)
        if known is None:
            filename: str = code.co_filename
            if filename.startswith("<"):
                frozen = filename.startswith("<frozen")
                known = (not frozen, INNER if frozen and "importlib" in filename else OWN)
            else:
                real = os.path.realpath(filename)
                level = OWN
                if self.received is not None and real.startswith(self.received):
                    level = RECEIVED
                elif real.startswith(self.inner):
                    level = INNER
                known = (not real.startswith(self.folders), level)
            self.known[code] = known
        return known


_places: _Places | None = None


def is_users(code: Any) -> bool:
    """Whether ``code`` is the user's own (not a library's, the standard library's or ours)."""
    global _places
    places = _places
    if places is None:
        places = _places = _Places()
    return places.kind(code)[0]


def user_frame(start: FrameType | None) -> tuple[FrameType | None, FrameType | None, int]:
    """The innermost frame of the user's code from ``start`` out, the frame it called,
    and the furthest level (:data:`OWN`, :data:`INNER`, :data:`RECEIVED`) passed on the way."""
    global _places
    places = _places
    if places is None:
        places = _places = _Places()
    called = None
    level = OWN
    frame = start
    while frame is not None:
        mine, here = places.kind(frame.f_code)
        if mine:
            return frame, called, level
        level = max(level, here)
        called = frame
        frame = frame.f_back
    return None, called, level


@dataclass(slots=True)
class Place:
    """Where an event happens: the user's file, line and function, and what lies between."""

    file: str
    line: int
    function: str
    called: FrameType | None
    level: int
    frame: FrameType | None = None


def forget_places() -> None:
    """Decide the user's code afresh (after torch or numpy was imported)."""
    global _places
    _places = None


class Recorder:
    """Collects the events of one run, from any thread, in order."""

    def __init__(self) -> None:
        self.events: list[Event] = []
        self.active = True
        self.lock = threading.Lock()
        self._main = threading.main_thread()
        self._threads: dict[int, str] = {}
        self._shown: dict[str, str] = {}
        self._folder = os.path.join(os.getcwd(), "")
        #: Device hashes not yet read back: (event, field, parts) to finish at once.
        self.pending: list[tuple[Event, str, list[Any]]] = []
        #: The lines the run executes, when followed, and for each event the line it ran in.
        self.lines: Lines | None = None
        self.marks: list[int] = []
        #: Called after each event is added (a forked child writes its events as they come).
        self.on_add: Callable[[], None] | None = None
        #: Where events go a batch at a time, when they are streamed (see :meth:`stream`).
        self.sink: Callable[[list[Event]], None] | None = None
        self.flushed = 0
        #: Facts for a streamed trace's header, written when it ends.
        self.meta: dict[str, Any] = {}
        self._flushing = threading.Lock()

    def thread(self) -> str:
        """This thread's name (``other`` for a thread Python did not start)."""
        current = threading.current_thread()
        if current is self._main:
            return _MAIN
        ident = threading.get_ident()
        name = self._threads.get(ident)
        if name is None:
            python = not isinstance(current, threading._DummyThread)
            name = current.name if python else "other"
            self._threads[ident] = name
        return name

    def follow_lines(self) -> Lines:
        """Record the lines of the user's code from now on, each event marked with its line.

        Code made at run time (``<string>``: a dataclass's ``__init__``) is not followed.
        """
        self.lines = Lines(lambda code: is_users(code) and code.co_filename[:1] != "<", self._file)
        self.marks = [-1] * self.count
        self.lines.start()
        return self.lines

    def _file(self, filename: str) -> str:
        """A file as the report shows it: relative to the folder the trace began in, if inside."""
        shown = self._shown.get(filename)
        if shown is None:
            inside = filename.startswith(self._folder)
            shown = self._shown[filename] = filename[len(self._folder) :] if inside else filename
        return shown

    def place(self, depth: int = 1) -> Place:
        """Where a call ``depth`` frames up from the caller of this comes from."""
        try:
            start: FrameType | None = sys._getframe(depth + 1)
        except ValueError:  # fewer frames than that: called from C
            start = None
        frame, called, level = user_frame(start)
        if frame is None:
            return Place("<none>", 0, "<none>", called, level)
        code = frame.f_code
        shown = self._file(code.co_filename)
        return Place(shown, frame.f_lineno, code.co_name, called, level, frame)

    def add(self, kind: str, name: str, depth: int = 2, **fields: str) -> Event | None:
        """Record an entropy read or seeding call made ``depth`` frames up from here.

        One made inside torch or numpy, or while a module is imported, is
        theirs, not the program's: it is not recorded.
        """
        place = self.place(depth)
        if place.level != OWN:
            return None
        called = place.called
        # A generator made without a seed by the program itself (``random.Random()``) is its
        # own read, though the read happens in the generator's ``__init__``.
        if (
            kind == "entropy"
            and called is not None
            and "note" not in fields
            and not (called.f_code.co_name == "__init__" and called.f_back is place.frame)
        ):
            module = called.f_globals.get("__name__", "")
            fields["note"] = f"via {module}.{called.f_code.co_qualname}"
        if kind == "seed" and place.frame is not None:
            # A seed taken from the clock on the same line: the clock is the cause.
            clock = line_tags(place.frame, place.file).get("clock")
            if clock is not None:
                fields["note"] = f"clock: {clock}"
        return self.add_at(kind, name, place, **fields)

    def add_output(self, stream: str, value: str, note: str) -> Event:
        """Record a write to ``stream`` made by the caller's caller, wherever it is."""
        return self.add_at("output", stream, self.place(2), value=value, note=note)

    def add_at(self, kind: str, name: str, place: Place, **fields: str) -> Event:
        """Record an event at ``place``."""
        return self.record(self.event_at(kind, name, place, **fields))

    def event_at(self, kind: str, name: str, place: Place, **fields: str) -> Event:
        """An event at ``place``, not yet recorded: its hashes are set (or deferred) first."""
        return Event(kind, name, place.file, place.line, place.function, self.thread(), **fields)

    def record(self, event: Event) -> Event:
        """Add a finished event (its device hashes, if any, deferred already)."""
        with self.lock:
            self.events.append(event)
            if self.lines is not None:
                self.marks.append(self.lines.current())
            full = self.sink is not None and len(self.events) >= STREAMED
        if self.on_add is not None:
            self.on_add()
        if full:
            self.flush()
        return event

    @property
    def count(self) -> int:
        """Events recorded so far, streamed out or not."""
        return self.flushed + len(self.events)

    def stream(self, sink: Callable[[list[Event]], None]) -> None:
        """Hand events to ``sink`` a batch at a time from now on, keeping none of them."""
        self.sink = sink
        self.flush()

    def flush(self) -> None:
        """Hand the events recorded so far to the sink, their device hashes read back, in order."""
        with self._flushing:
            sink = self.sink
            if sink is None:
                return
            with self.lock:
                batch, self.events = self.events, []
            settle(self)  # after taking them: a deferred hash of any of them is pending by now
            if batch:
                sink(batch)
            self.flushed += len(batch)

    def trace(self, meta: dict[str, Any] | None = None) -> Trace:
        """The events so far (device hashes read back), as a :class:`Trace`; a streamed
        recorder holds only those not yet handed to its sink."""
        settle(self)
        return Trace(dict(meta or {}), list(self.events))


def defer(recorder: Recorder, event: Event, name: str, parts: list[Any]) -> None:
    """Set the event's field ``name`` to the hash of ``parts``, now or, for device hashes, later."""
    for part in parts:
        if type(part) is not str:
            break
    else:
        setattr(event, name, hash_parts(parts))
        return
    with recorder.lock:
        recorder.pending.append((event, name, parts))
        full = len(recorder.pending) >= BATCH
    if full:
        settle(recorder)


def settle(recorder: Recorder) -> None:
    """Read every device hash still pending back at once, and finish those events."""
    with recorder.lock:
        pending, recorder.pending = recorder.pending, []
    if not pending:
        return
    import torch

    by_device: dict[torch.device, list[torch.Tensor]] = {}
    for _event, _name, parts in pending:
        for part in parts:
            if isinstance(part, torch.Tensor):
                by_device.setdefault(part.device, []).append(part)
    values: dict[int, int] = {}
    for scalars in by_device.values():
        numbers = torch.stack(scalars).cpu().tolist()  # one wait per device
        values.update(zip(map(id, scalars), numbers, strict=True))
    for event, name, parts in pending:
        text = [
            f"{values[id(part)] & (2**64 - 1):016x}" if not isinstance(part, str) else part
            for part in parts
        ]
        setattr(event, name, hash_parts(text))
