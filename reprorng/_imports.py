"""Calls made once a module is first imported: how reprorng seeds or patches a library that
the program imports after reprorng started (numpy and torch in a block, the pools of a run).

:func:`when_imported` calls at once for a module already imported. For one
not imported yet, a finder placed first on ``sys.meta_path`` hands its import
to the finders after it and wraps the loader they give, so the calls come
once the module has run to its end, before the import returns to the code
that asked for it. The module keeps its own loader. Python's own import
system does the rest; nothing here imports a library of its own.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Sequence
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

__all__ = ["when_imported"]

Call = Callable[[ModuleType], object]

_lock = threading.RLock()
_waiting: dict[str, list[Call]] = {}


def when_imported(call: Call, name: str) -> None:
    """Call ``call(module)`` once module ``name`` is imported: now, if it is already."""
    with _lock:
        module = sys.modules.get(name)
        if module is None:
            _waiting.setdefault(name, []).append(call)
            if not any(isinstance(finder, _Finder) for finder in sys.meta_path):
                sys.meta_path.insert(0, _Finder())
            return
    call(module)


def _imported(module: ModuleType) -> None:
    with _lock:
        calls = _waiting.pop(module.__name__, [])
    for call in calls:
        call(module)


class _Loader:
    """Loads a module as its own loader does, then makes the calls that wait for it."""

    def __init__(self, loader: Any) -> None:
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        created: ModuleType | None = self.loader.create_module(spec)
        return created

    def exec_module(self, module: ModuleType) -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _imported(module)


class _Finder:
    """Finds nothing of its own: wraps the loader of a module that calls wait for."""

    def __init__(self) -> None:
        self.local = threading.local()

    def find_spec(
        self, name: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if name not in _waiting or getattr(self.local, "finding", False):
            return None
        self.local.finding = True  # the finders asked below may ask again
        try:
            for finder in sys.meta_path:
                find = getattr(finder, "find_spec", None)
                if finder is self or find is None:
                    continue
                spec: ModuleSpec | None = find(name, path, target)
                if spec is not None:
                    if hasattr(spec.loader, "exec_module"):
                        spec.loader = _Loader(spec.loader)  # type: ignore[assignment]
                    return spec
            return None
        finally:
            self.local.finding = False
