"""``reprorng diff A B``: the first divergence between two trace files.

Exit 0 if nothing traced differs, 1 if the traces part, 2 if either file is
not a readable trace.
"""

from __future__ import annotations

import json
import sys
from typing import Any

__all__ = ["diff"]


def _facts(meta: dict[str, Any]) -> dict[str, str]:
    flat = {key: value for key, value in meta.items() if key != "versions"}
    flat.update({f"{name} version": value for name, value in meta.get("versions", {}).items()})
    return {key: str(value) for key, value in flat.items()}


def diff(first: str, second: str, *, as_json: bool = False) -> int:
    from reprorng.trace import TraceError, compare_files, printable

    try:
        compared = compare_files(first, second)
    except TraceError as error:
        print(printable(f"reprorng diff: {error}"), file=sys.stderr)
        return 2
    mine, theirs = (_facts(meta) for meta in compared.meta)
    facts = {
        key: [mine.get(key), theirs.get(key)]
        for key in sorted(mine.keys() | theirs.keys())
        if mine.get(key) != theirs.get(key)
    }
    divergence = compared.divergence
    if as_json:
        report = {
            "same": divergence is None,
            "events": list(compared.events),
            "facts that differ": facts,
            "divergence": None if divergence is None else divergence.as_json(),
        }
        print(json.dumps(report, indent=2))
    else:
        verdict = "the same" if divergence is None else "they part"
        lines = [
            f"reprorng diff: {first} ({compared.events[0]} events) and {second} "
            f"({compared.events[1]} events): {verdict}",
            *(f"  {key}: {one} / {other}" for key, (one, other) in facts.items()),
        ]
        print("\n".join(printable(line) for line in lines))
        if divergence is not None:
            for line in divergence.lines():
                print(f"  {line}")
    return 0 if divergence is None else 1
