"""A trace's file: gzip-compressed JSON lines, versioned, never pickle.

The first line is the header, ``{"format": "reprorng-trace", "version": 1,
"events": N, "meta": {...}}``; each further line is one event as a JSON
array in the order of :data:`FIELDS`. gzip's checksum catches damaged bytes,
the event count a cut file, and each field is checked for its type, so
anything else is refused with one line that says what is wrong.
"""

from __future__ import annotations

import gzip
import json
import os
import shutil
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from reprorng.trace._record import KINDS, Event, Trace
from reprorng.trace._report import printable

__all__ = [
    "FIELDS",
    "FORMAT",
    "VERSION",
    "Reader",
    "TraceError",
    "Writer",
    "event_of",
    "is_trace",
    "line_of",
    "load",
    "save",
]

FORMAT = "reprorng-trace"
VERSION = 2
#: The fields of an event, in the order a line lists them.
FIELDS = (
    "kind",
    "name",
    "file",
    "line",
    "function",
    "thread",
    "inputs",
    "outputs",
    "rng",
    "value",
    "note",
)


class TraceError(ValueError):
    """A file that is not a readable trace."""


def save(trace: Trace, path: str | os.PathLike[str]) -> None:
    """Write ``trace`` to ``path`` (whole or not at all: written aside, then moved)."""
    target = Path(path)
    partial = target.with_name(f".{target.name}.partial")
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(_header_line(len(trace.events), trace.meta))
        out.writelines(map(line_of, trace.events))
    os.replace(partial, target)


def _header_line(events: int, meta: dict[str, Any]) -> str:
    header = {"format": FORMAT, "version": VERSION, "events": events, "meta": meta}
    return json.dumps(header, sort_keys=True) + "\n"


def line_of(event: Event) -> str:
    """An event as its line in a trace file (what :func:`event_of` reads back)."""
    return json.dumps([getattr(event, name) for name in FIELDS]) + "\n"


class Writer:
    """A trace written as its events come, so memory does not grow with the run's length.

    The events go to a compressed file aside; :meth:`close` puts the header
    (which counts them) before them and moves the whole into place, so the file
    is whole or not there at all. Only the process that opened it writes.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.target = Path(path)
        self.body = self.target.with_name(f".{self.target.name}.events.partial")
        self.count = 0
        self.pid = os.getpid()
        self._out = gzip.open(self.body, "wt", encoding="utf-8", compresslevel=6)  # noqa: SIM115 - open until close()

    def write(self, events: list[Event]) -> None:
        if os.getpid() != self.pid:
            return
        self._out.writelines(map(line_of, events))
        self.count += len(events)

    def close(self, meta: dict[str, Any]) -> None:
        """Write the header, then the events after it, and move the file into place."""
        if os.getpid() != self.pid:
            return
        self._out.close()
        partial = self.target.with_name(f".{self.target.name}.partial")
        try:
            with open(partial, "wb") as out:
                # gzip members one after the other read as one stream.
                out.write(gzip.compress(_header_line(self.count, meta).encode()))
                with open(self.body, "rb") as body:
                    shutil.copyfileobj(body, out)
            os.replace(partial, self.target)
        finally:
            self.body.unlink(missing_ok=True)


#: The longest line a trace may have, in characters, and the most events it may hold.
MOST_CHARACTERS = 1 << 20
MOST_EVENTS = 1_000_000
#: The facts in a header, and the field of an event, that are not text.
_FACTS = (str, int, float, bool, type(None))


def _json(line: str, what: str) -> Any:
    if len(line) > MOST_CHARACTERS:
        raise TraceError(f"{what} is longer than {MOST_CHARACTERS} characters")
    try:
        return json.loads(line)
    except (ValueError, RecursionError) as error:  # bad JSON, too deep, a number too long
        reason = error.msg if isinstance(error, json.JSONDecodeError) else type(error).__name__
        raise TraceError(f"{what} is not JSON that a trace holds ({reason})") from None


#: Each field's type, in order.
_TYPES = tuple(int if name == "line" else str for name in FIELDS)


def event_of(number: int, line: str) -> Event:
    """Event number ``number`` from its line; :class:`TraceError` if it is not one."""
    fields = _json(line, f"event {number}")
    if type(fields) is not list or len(fields) != len(FIELDS):
        raise TraceError(f"event {number} is not a list of {len(FIELDS)} fields")
    if tuple(map(type, fields)) != _TYPES:
        name, wanted = next(
            (name, wanted)
            for name, wanted, value in zip(FIELDS, _TYPES, fields, strict=True)
            if type(value) is not wanted
        )
        raise TraceError(f"event {number}: {name} is not {wanted.__name__}")
    if not 0 <= fields[3] < 2**31:
        raise TraceError(f"event {number}: line is not a line number")
    if fields[0] not in KINDS:
        raise TraceError(f"event {number}: unknown kind {printable(fields[0])[:40]!r}")
    if "\\ud" in line.lower() and not all(map(_text, fields)):
        raise TraceError(f"event {number}: text that is not Unicode (a lone surrogate)")
    return Event(*fields)


def _text(value: object) -> bool:
    """Whether a field is text that can be written out: no lone surrogate in it."""
    if not isinstance(value, str):
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _header(line: str) -> dict[str, Any]:
    header = _json(line, "the header") if line.lstrip().startswith("{") else None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TraceError("not a reprorng trace")
    if header.get("version") != VERSION:
        version = header.get("version")
        shown = repr(version) if isinstance(version, (int, str)) else type(version).__name__
        raise TraceError(
            f"trace format version {shown[:40]}; this reprorng reads version {VERSION}"
        )
    if type(header.get("events")) is not int or not isinstance(header.get("meta"), dict):
        raise TraceError("the header has no event count or facts")
    for key, value in header["meta"].items():
        if not _fact(value):
            raise TraceError(f"the fact {printable(key)!r} is not text, a number or a list of them")
    if not isinstance(header["meta"].get("versions", {}), dict):
        raise TraceError("the fact 'versions' is not a table of names and versions")
    return header


def _fact(value: object) -> bool:
    if isinstance(value, dict):
        return all(isinstance(key, str) and isinstance(v, _FACTS) for key, v in value.items())
    if isinstance(value, list):
        return all(isinstance(each, _FACTS) for each in value)
    return isinstance(value, _FACTS)


_UNREADABLE = (TraceError, OSError, EOFError, zlib.error, UnicodeDecodeError)


class Reader:
    """A trace file read line by line: its header, then its events, checked as they come."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)

    def __enter__(self) -> Reader:
        try:
            self._source = gzip.open(self.path, "rt", encoding="utf-8")
        except OSError as error:
            raise self._error(error) from None
        try:
            self.header = _header(self._line())
        except _UNREADABLE as error:
            self._source.close()
            raise self._error(error) from None
        except BaseException:
            self._source.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._source.close()

    def _line(self) -> str:
        return self._source.readline(MOST_CHARACTERS + 1)

    def _error(self, error: Exception) -> TraceError:
        if isinstance(error, TraceError):
            return TraceError(f"{self.path}: {error}")
        reason = str(error) or type(error).__name__
        return TraceError(f"{self.path}: not a readable trace ({reason})")

    def events(self) -> Iterator[Event]:
        """Each event in order; :class:`TraceError` for a bad one, too many, or too few."""
        count = 0
        try:
            while line := self._line():
                count += 1
                if count > min(self.header["events"], MOST_EVENTS):
                    raise TraceError(
                        f"more events than the header's {self.header['events']}"
                        if count > self.header["events"]
                        else f"more than {MOST_EVENTS} events, the most a trace may hold"
                    )
                yield event_of(count, line)
        except _UNREADABLE as error:
            raise self._error(error) from None
        if count != self.header["events"]:
            raise TraceError(f"{self.path}: cut short: {count} of {self.header['events']} events")


def load(path: str | os.PathLike[str]) -> Trace:
    """Read a trace; :class:`TraceError` (a ``ValueError``) if it is not one, in one line."""
    with Reader(path) as reader:
        return Trace(reader.header["meta"], list(reader.events()))


def is_trace(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts as a trace file does (its header alone is read)."""
    try:
        with Reader(path):
            return True
    except TraceError:
        return False
