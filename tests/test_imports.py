"""``when_imported``: calls made once a module is first imported, with the module whole."""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import SourceFileLoader

import pytest

from reprorng._imports import when_imported


@pytest.fixture
def module_folder(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(tmp_path))
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("late_")]:
        del sys.modules[name]


def test_a_module_already_imported_is_called_at_once():
    seen: list[object] = []
    when_imported(seen.append, "json")
    assert seen == [sys.modules["json"]]


def test_the_call_comes_once_the_module_has_run_to_its_end(module_folder):
    (module_folder / "late_one.py").write_text("first = 1\nlast = 2\n")
    seen: list[object] = []
    when_imported(lambda module: seen.append(vars(module).get("last")), "late_one")
    when_imported(lambda module: seen.append(module.__name__), "late_one")
    assert seen == []
    module = importlib.import_module("late_one")
    assert seen == [2, "late_one"]
    assert isinstance(module.__loader__, SourceFileLoader)  # its own loader, kept
    assert module.__spec__ is not None
    assert isinstance(module.__spec__.loader, SourceFileLoader)
    importlib.import_module("late_one")
    assert seen == [2, "late_one"]  # once only


def test_a_submodule_is_called_for_by_its_full_name(module_folder):
    package = module_folder / "late_package"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "inner.py").write_text("value = 3\n")
    seen: list[object] = []
    when_imported(lambda module: seen.append(module.value), "late_package.inner")
    importlib.import_module("late_package")
    assert seen == []
    importlib.import_module("late_package.inner")
    assert seen == [3]


def test_a_failed_import_makes_no_call_and_a_later_one_does(module_folder):
    path = module_folder / "late_broken.py"
    path.write_text("raise ImportError('not yet')\n")
    seen: list[object] = []
    when_imported(lambda module: seen.append(module.__name__), "late_broken")
    with pytest.raises(ImportError, match="not yet"):
        importlib.import_module("late_broken")
    assert seen == []
    path.write_text("fixed = True\n")
    importlib.invalidate_caches()
    sys.modules.pop("late_broken", None)
    importlib.import_module("late_broken")
    assert seen == ["late_broken"]
