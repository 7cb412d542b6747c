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
import zlib
from pathlib import Path
from typing import Any

from reprorng.trace._record import KINDS, Event, Trace

__all__ = ["FIELDS", "FORMAT", "VERSION", "TraceError", "load", "save"]

FORMAT = "reprorng-trace"
VERSION = 1
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
    header = {"format": FORMAT, "version": VERSION, "events": len(trace.events), "meta": trace.meta}
    partial = target.with_name(f".{target.name}.partial")
    with gzip.open(partial, "wt", encoding="utf-8", compresslevel=6) as out:
        out.write(json.dumps(header, sort_keys=True) + "\n")
        for event in trace.events:
            out.write(json.dumps([getattr(event, name) for name in FIELDS]) + "\n")
    os.replace(partial, target)


def _event(number: int, line: str) -> Event:
    try:
        fields = json.loads(line)
    except json.JSONDecodeError as error:
        raise TraceError(f"event {number} is not JSON ({error.msg})") from None
    if not isinstance(fields, list) or len(fields) != len(FIELDS):
        raise TraceError(f"event {number} is not a list of {len(FIELDS)} fields")
    for name, value in zip(FIELDS, fields, strict=True):
        wanted = int if name == "line" else str
        if type(value) is not wanted:
            raise TraceError(f"event {number}: {name} is not {wanted.__name__}")
    if fields[0] not in KINDS:
        raise TraceError(f"event {number}: unknown kind {fields[0]!r}")
    return Event(*fields)


def _header(line: str) -> dict[str, Any]:
    try:
        header = json.loads(line)
    except json.JSONDecodeError:
        header = None
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise TraceError("not a reprorng trace")
    if header.get("version") != VERSION:
        raise TraceError(
            f"trace format version {header.get('version')!r}; this reprorng reads version {VERSION}"
        )
    if type(header.get("events")) is not int or not isinstance(header.get("meta"), dict):
        raise TraceError("the header has no event count or facts")
    return header


def load(path: str | os.PathLike[str]) -> Trace:
    """Read a trace; :class:`TraceError` (a ``ValueError``) if it is not one, in one line."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            header = _header(source.readline())
            events = [_event(number, line) for number, line in enumerate(source, 1)]
    except TraceError as error:
        raise TraceError(f"{os.fspath(path)}: {error}") from None
    except (OSError, EOFError, zlib.error, UnicodeDecodeError) as error:
        reason = str(error) or type(error).__name__
        raise TraceError(f"{os.fspath(path)}: not a readable trace ({reason})") from None
    if len(events) != header["events"]:
        raise TraceError(
            f"{os.fspath(path)}: cut short: {len(events)} of {header['events']} events"
        )
    return Trace(header["meta"], events)


def is_trace(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` starts as a trace file does (its header alone is read)."""
    try:
        with gzip.open(path, "rt", encoding="utf-8") as source:
            _header(source.readline(2**20))
    except (TraceError, OSError, EOFError, zlib.error, UnicodeDecodeError, RecursionError):
        return False
    return True
