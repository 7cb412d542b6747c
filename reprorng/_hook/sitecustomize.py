"""Seeds a Python process started by a program under ``reprorng run``.

Python imports ``sitecustomize`` as it starts; ``reprorng run`` puts this
folder on ``PYTHONPATH`` for the program's children, and only for them (see
:mod:`reprorng._children`). The environment's own ``sitecustomize``, if
there is one, is imported after.

A child pays nothing until it needs seeding: this module imports nothing of
reprorng as the child starts. It waits for the first import of a module that
holds a generator or starts work elsewhere (:data:`FIRST_IMPORTS`), and seeds
the process once that module has loaded, before the code that imported it
goes on. Nothing can have drawn from a generator before its module was
imported, so the streams are those seeding at start would give. Where the
place must be settled at start (a child not started by the process that
placed it, entropy pinning) or the variable does not read as ``run`` writes
it, the process is seeded at once.
"""

import os
import sys

TYPE_CHECKING = False  # typing itself costs more to import than the rest of this module
if TYPE_CHECKING:
    from collections.abc import Sequence
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec
    from types import ModuleType

#: Top-level modules whose first import seeds the process: generators a run seeds, and
#: the ways a program starts children or hands out tasks. Once seeded, reprorng's own
#: import hooks take over (see ``reprorng._stack`` and ``reprorng.tasks``). reprorng itself
#: is one: seeding imports it, which must not begin while the program is importing it.
FIRST_IMPORTS = frozenset(
    {
        "reprorng",
        "random",
        "numpy",
        "torch",
        "numba",
        "faker",
        "polyfactory",
        "subprocess",
        "multiprocessing",
        "concurrent",
        "joblib",
        "ray",
        "dask",
        "distributed",
    }
)


def _start() -> None:
    """Seed this process, once; the finder is no longer needed after."""
    if _state["started"]:
        return
    _state["started"] = True
    for finder in [finder for finder in sys.meta_path if isinstance(finder, _FirstImport)]:
        sys.meta_path.remove(finder)
    try:
        from reprorng._children import start_child
    except ImportError:  # reprorng is not importable in this interpreter
        return
    start_child(_PARENT_PID)


#: Whether the process is seeded, and whether the first of FIRST_IMPORTS is loading now
#: (what it imports in turn loads as it would: the seeding waits for the whole).
_state = {"started": False, "loading": False}


class _Loaded:
    """Loads a module as its own loader would, then seeds the process."""

    def __init__(self, loader: "Loader") -> None:
        self.loader = loader

    def create_module(self, spec: "ModuleSpec") -> "ModuleType | None":
        return self.loader.create_module(spec)

    def exec_module(self, module: "ModuleType") -> None:
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        if _state["loading"] or _state["started"]:
            self.loader.exec_module(module)
            return
        _state["loading"] = True
        try:
            self.loader.exec_module(module)
        finally:  # a module that fails to load still leaves the others to seed
            _state["loading"] = False
            _start()


class _FirstImport:
    """A finder that finds nothing of its own: it hands an import of one of
    :data:`FIRST_IMPORTS` to the finders after it, and seeds once the first such module
    has loaded. A spec only looked up (``importlib.util.find_spec``) seeds nothing."""

    def find_spec(
        self, name: str, path: "Sequence[str] | None", target: "ModuleType | None" = None
    ) -> "ModuleSpec | None":
        if name not in FIRST_IMPORTS or _state["loading"] or _state["started"]:
            return None
        for finder in sys.meta_path:
            find = getattr(finder, "find_spec", None)
            if finder is self or find is None:
                continue
            spec: ModuleSpec | None = find(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _Loaded(spec.loader)  # type: ignore[assignment] # duck-typed
                    return spec
                break
        _start()  # not found (the import fails) or a namespace: seed now
        return None


def _at_once(text: str) -> bool:
    """Whether this process must be seeded as it starts rather than at its first import."""
    parts = text.split(":")
    if len(parts) != 4 or not parts[0].isdigit() or parts[1] not in ("--", "d-", "dw"):
        return True  # pinning ("--p"), or a variable to warn about
    parent = parts[3]
    return bool(parent) and parent.split("-")[0] != str(_PARENT_PID)


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    path = sys.path[:]
    sys.path[:] = [entry for entry in path if os.path.abspath(entry or os.curdir) != here]
    try:
        __import__("sitecustomize")  # the environment's own
    except ModuleNotFoundError as error:
        if error.name != "sitecustomize":
            raise
        if ours is not None:
            sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = path


_PARENT_PID = os.getppid()
_run = os.environ.get("REPRORNG_RUN")
if _run is not None and not os.environ.get("_REPRORNG_RUNNING"):
    if _at_once(_run) or any(name in sys.modules for name in FIRST_IMPORTS):
        _start()
    else:
        sys.meta_path.insert(0, _FirstImport())
_chain()
