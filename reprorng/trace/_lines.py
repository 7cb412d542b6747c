"""The lines of the program's own code a run executed, each with a fingerprint of what it read.

Only the user's code is followed (``sys.settrace`` turns away every other
frame at its call), so torch's, numpy's and the standard library's lines cost
one call each and nothing more. Each line records the fingerprints
(:func:`~reprorng.trace._values.fingerprint`) of the names it reads, before it
runs; each return, the value returned. What a line is (the names it reads
and stores, and whether it reads the clock, waits for whichever task ends
first, reads a file, or takes an address or a hash) is worked out once, the
first time it runs. Two runs' lines, compared, show the line where a
difference began (:mod:`reprorng.trace._origin`).
"""

from __future__ import annotations

import builtins
import dis
import gzip
import inspect
import json
import os
import sys
import threading
from collections.abc import Callable
from types import CodeType, FrameType
from typing import Any

from reprorng.trace._values import fingerprint

__all__ = [
    "MOST_RECORDS",
    "LineInfo",
    "Lines",
    "LinesError",
    "line_tags",
    "load_lines",
    "tags_of",
]

#: The most lines a run records; past it the rest are not recorded (and the run says so).
MOST_RECORDS = 400_000

_LOADS = frozenset({"LOAD_FAST", "LOAD_DEREF", "LOAD_NAME", "LOAD_GLOBAL", "LOAD_CLASSDEREF"})
_STORES = frozenset({"STORE_FAST", "STORE_DEREF", "STORE_NAME", "STORE_GLOBAL"})
_ATTRS = frozenset({"LOAD_ATTR", "LOAD_METHOD"})

_CLOCKS = frozenset(
    f"time.{name}"
    for name in (
        "time",
        "time_ns",
        "perf_counter",
        "perf_counter_ns",
        "monotonic",
        "monotonic_ns",
        "process_time",
        "process_time_ns",
        "thread_time",
        "thread_time_ns",
        "ctime",
        "localtime",
        "gmtime",
        "asctime",
        "strftime",
    )
)
_SCHEDULES = ("as_completed", "imap_unordered", "Queue.get", "Queue.get_nowait")
_WAITS = ("concurrent.futures._base.wait", "asyncio.tasks.wait", "multiprocessing.connection.wait")
_FILES = ("read", "readline", "readlines", "read_text", "read_bytes", "load", "loadtxt")


def tags_of(names: list[str]) -> dict[str, str]:
    """What the functions a line calls (by full name) say about where its values come from:
    each tag, and the first function that gave it."""
    tags: dict[str, str] = {}
    for name in names:
        tag = None
        if name in _CLOCKS or (name.startswith("datetime.") and name.endswith(("now", "today"))):
            tag = "clock"
        elif name.endswith(_SCHEDULES) or name in _WAITS:
            tag = "schedule"
        elif name == "io.open" or (name.rpartition(".")[2] in _FILES and "pickle" not in name):
            tag = "file"
        elif name == "builtins.id":
            tag = "address"
        elif name == "builtins.hash":
            tag = "hash"
        elif name.endswith(("Generator.seed", "Random.seed")):
            tag = "reseed"
        if tag is not None:
            tags.setdefault(tag, name)
    return tags


def _full_name(value: object) -> str | None:
    function = getattr(value, "__func__", value)
    qualname = getattr(function, "__qualname__", None)
    if not isinstance(qualname, str):
        return None
    module = getattr(function, "__module__", None) or getattr(
        getattr(function, "__objclass__", None), "__module__", None
    )
    return f"{module}.{qualname}" if isinstance(module, str) else qualname


def _attribute(owner: object, name: str) -> object:
    """``owner.name`` without running a property's code (never a side effect)."""
    if not isinstance(owner, (type, type(sys))):
        owner = type(owner)
    try:
        if isinstance(owner, type):
            return inspect.getattr_static(owner, name)
        return getattr(owner, name)  # a module
    except AttributeError:
        return None


_tags: dict[tuple[CodeType, int], dict[str, str]] = {}


def line_tags(frame: FrameType, shown: str) -> dict[str, str]:
    """The tags of the line ``frame`` is running (worked out once per line)."""
    key = (frame.f_code, frame.f_lineno)
    found = _tags.get(key)
    if found is None:
        found = _tags[key] = _line_info(frame.f_code, frame.f_lineno, frame, shown).tags
    return found


class LineInfo:
    """One line of one code object: its place, the names it reads and stores, and its tags."""

    __slots__ = ("file", "function", "line", "reads", "stores", "tags")

    def __init__(
        self,
        file: str,
        function: str,
        line: int,
        reads: list[str],
        stores: list[str],
        tags: dict[str, str],
    ) -> None:
        self.file, self.function, self.line = file, function, line
        self.reads, self.stores, self.tags = reads, stores, tags

    def as_json(self) -> list[Any]:
        return [self.file, self.function, self.line, self.reads, self.stores, self.tags]


_by_line: dict[CodeType, dict[int, list[dis.Instruction]]] = {}


def _instructions(code: CodeType) -> dict[int, list[dis.Instruction]]:
    """A code object's instructions by line (read once per code object, not once per line)."""
    found = _by_line.get(code)
    if found is None:
        found = _by_line[code] = {}
        for instruction in dis.get_instructions(code):
            if instruction.positions is not None and instruction.positions.lineno is not None:
                found.setdefault(instruction.positions.lineno, []).append(instruction)
    return found


def _line_info(code: CodeType, line: int, frame: FrameType, shown: str) -> LineInfo:
    reads: list[str] = []
    stores: list[str] = []
    called: list[str] = []
    current: object = None
    for instruction in _instructions(code).get(line, ()):
        name = instruction.argval
        if instruction.opname in _LOADS and isinstance(name, str):
            if name not in reads and (name in frame.f_locals or name in frame.f_globals):
                reads.append(name)
            current = _lookup(frame, name)
            called.extend(filter(None, [_full_name(current)]))
        elif instruction.opname in _ATTRS and isinstance(name, str) and current is not None:
            # By the name the code uses (a wrapper put in its place keeps it), and by its own.
            owner = current if isinstance(current, (type, type(sys))) else type(current)
            owner_name = getattr(owner, "__qualname__", getattr(owner, "__name__", ""))
            called.append(f"{getattr(owner, '__module__', '')}.{owner_name}.{name}".lstrip("."))
            if isinstance(owner, type(sys)):
                called[-1] = f"{owner.__name__}.{name}"
            current = _attribute(current, name)
            called.extend(filter(None, [_full_name(current)]))
        elif instruction.opname in _STORES and isinstance(name, str) and name not in stores:
            stores.append(name)
    return LineInfo(shown, code.co_name, line, reads, stores, tags_of(called))


def _lookup(frame: FrameType, name: str) -> object:
    for scope in (frame.f_locals, frame.f_globals):
        if name in scope:
            return scope[name]
    return getattr(builtins, name, None)


class Lines:
    """Records the user's lines, in every thread, while on."""

    def __init__(self, mine: Callable[[CodeType], bool], shown: Callable[[str], str]) -> None:
        self.mine = mine
        self.shown = shown
        self.infos: list[LineInfo] = []
        self._info_of: dict[tuple[CodeType, int], int] = {}
        #: Each record: thread, frame, line info (-1: a return), and [name, fingerprint, id].
        self.records: list[tuple[int, int, int, list[list[Any]]]] = []
        #: Each frame: its first line info's function place, the record that called it, params.
        self.frames: list[tuple[int, list[str]]] = []
        self.threads: list[str] = []
        self._thread_of: dict[int, int] = {}
        self.local = threading.local()
        self.lock = threading.Lock()
        self.on = False
        self.full = False
        self._resumed: dict[tuple[int, CodeType], int] = {}

    def current(self) -> int:
        """The record of the line this thread is running now (-1: none)."""
        return getattr(self.local, "record", -1)

    def _thread(self) -> int:
        ident = threading.get_ident()
        index = self._thread_of.get(ident)
        if index is None:
            index = self._thread_of[ident] = len(self.threads)
            self.threads.append(threading.current_thread().name)
        return index

    def start(self) -> None:
        self.on = True
        call = self._tracer()
        self._import = builtins.__import__
        builtins.__import__ = _unfollowed(self._import)
        threading.settrace(call)
        sys.settrace(call)

    def stop(self) -> None:
        if not self.on:
            return
        self.on = False
        sys.settrace(None)
        threading.settrace(None)  # type: ignore[arg-type,unused-ignore]
        builtins.__import__ = self._import

    def _tracer(self) -> Callable[[FrameType, str, object], Any]:
        """The function called at each call: turns away at once a frame not the user's."""
        known: dict[CodeType, bool] = {}
        mine = self.mine
        follow = self._follow

        def call(frame: FrameType, event: str, arg: object) -> Any:
            code = frame.f_code
            verdict = known.get(code)
            if verdict is None:
                verdict = known[code] = mine(code)
            if verdict and event == "call" and self.on and not self.full:
                return follow(frame)
            return None

        return call

    def _follow(self, frame: FrameType) -> Callable[[FrameType, str, object], Any]:
        code = frame.f_code
        parent = self.current()
        params = list(code.co_varnames[: code.co_argcount + code.co_kwonlyargcount])
        # A generator's or coroutine's frame is entered again at each resumption: one frame.
        resumed = code.co_flags & _RESUMABLE
        number = self._resumed.get((id(frame), code)) if resumed else None
        if number is None:
            with self.lock:
                number = len(self.frames)
                self.frames.append((parent, params))
            if resumed:
                self._resumed[(id(frame), code)] = number
        thread = self._thread()
        local = self.local

        def follow(frame: FrameType, event: str, arg: object) -> Any:
            if not self.on:
                return None
            if event == "line":
                self._line(thread, number, frame)
            elif event == "return":
                # What it gave, and what it left in the objects it was given.
                values = [["<return>", fingerprint(arg), id(arg)]]
                values.extend([name, *seen] for name in params if (seen := _seen(frame, name))[1])
                self._add(thread, number, -1, values)
                local.record = parent
            return follow

        return follow

    def _line(self, thread: int, number: int, frame: FrameType) -> None:
        code = frame.f_code
        key = (code, frame.f_lineno)
        index = self._info_of.get(key)
        if index is None:
            info = _line_info(code, frame.f_lineno, frame, self.shown(code.co_filename))
            with self.lock:
                index = self._info_of[key] = len(self.infos)
                self.infos.append(info)
        reads = self.infos[index].reads
        values = [[name, *_seen(frame, name)] for name in reads]
        self.local.record = self._add(thread, number, index, values)

    def _add(self, thread: int, frame: int, info: int, values: list[list[Any]]) -> int:
        with self.lock:
            if len(self.records) >= MOST_RECORDS:
                self.full = True
                return len(self.records) - 1
            self.records.append((thread, frame, info, values))
            return len(self.records) - 1

    def save(self, path: str, marks: list[int]) -> None:
        """Write the records, and for each trace event the record it happened in."""
        header = {
            "format": "reprorng-lines",
            "version": 1,
            "threads": self.threads,
            "infos": [info.as_json() for info in self.infos],
            "frames": self.frames,
            "full": self.full,
            "marks": marks,
        }
        with gzip.open(path, "wt", encoding="utf-8", compresslevel=1) as out:
            out.write(json.dumps(header) + "\n")
            for record in self.records:
                out.write(json.dumps(record) + "\n")


def _unfollowed(original: Callable[..., Any]) -> Callable[..., Any]:
    """``__import__`` with no line followed while it runs: a module's import is not the run's
    doing, and following every call of torch's would triple its import time."""

    def quiet_import(*args: Any, **kwargs: Any) -> Any:
        tracer = sys.gettrace()
        if tracer is None:
            return original(*args, **kwargs)
        sys.settrace(None)
        try:
            return original(*args, **kwargs)
        finally:
            sys.settrace(tracer)

    return quiet_import


def _seen(frame: FrameType, name: str) -> tuple[str, int]:
    scope = frame.f_locals
    if name not in scope:
        scope = frame.f_globals
        if name not in scope:
            return "", 0
    value = scope[name]
    # Only what can be changed in place is followed by identity (small ints are shared).
    mutable = not isinstance(value, _IMMUTABLE)
    return fingerprint(value), id(value) if mutable else 0


_RESUMABLE = inspect.CO_GENERATOR | inspect.CO_COROUTINE | inspect.CO_ASYNC_GENERATOR
_IMMUTABLE = (type(None), bool, int, float, complex, str, bytes, tuple, frozenset, type, range)


class LinesError(ValueError):
    """A lines file that cannot be read."""


def load_lines(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A run's lines as written by :meth:`Lines.save`: the header's tables, and ``records``."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            header = json.loads(source.readline())
            if not isinstance(header, dict) or header.get("format") != "reprorng-lines":
                raise LinesError(f"{path}: not a lines file")
            header["records"] = [json.loads(line) for line in source]
    except (OSError, EOFError, ValueError) as error:
        raise LinesError(f"{path}: not a readable lines file ({error})") from None
    header["infos"] = [LineInfo(*info) for info in header["infos"]]
    return header
