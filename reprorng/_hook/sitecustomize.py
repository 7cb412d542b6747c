"""Seeds a Python process started by a program under ``reprorng run``.

Python imports ``sitecustomize`` as it starts; ``reprorng run`` puts this
folder on ``PYTHONPATH`` for the program's children, and only for them (see
:mod:`reprorng._children`). The environment's own ``sitecustomize``, if
there is one, is imported after.
"""

import importlib
import os
import sys


def _start() -> None:
    try:
        from reprorng._children import start_child
    except ImportError:  # reprorng is not importable in this interpreter
        return
    start_child()


def _chain() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    ours = sys.modules.pop("sitecustomize", None)
    path = sys.path[:]
    sys.path[:] = [entry for entry in path if os.path.abspath(entry or os.curdir) != here]
    try:
        importlib.import_module("sitecustomize")  # the environment's own
    except ModuleNotFoundError as error:
        if error.name != "sitecustomize":
            raise
        if ours is not None:
            sys.modules["sitecustomize"] = ours
    finally:
        sys.path[:] = path


_start()
_chain()
