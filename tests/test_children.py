"""``reprorng run`` seeds every Python process of the program, each with streams of its own."""

from __future__ import annotations

import ast
import hashlib
import json
import os
import random
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from reprorng import derive_seed, fixed_rng
from reprorng._children import RUN_VARIABLE, Run, hook_directory
from reprorng.sources import WATCHED_MODULES
from reprorng.tasks._pools import PATCHED_MODULES

from .test_cli import reprorng, script

PROCESSES = """
    import multiprocessing as mp, random, sys
    import numpy as np
    import torch


    def draw(queue):
        name = mp.current_process().name
        queue.put((name, random.random(), float(np.random.random()), torch.rand(1).item()))


    if __name__ == "__main__":
        context = mp.get_context(sys.argv[1])
        queue = context.Queue()
        processes = [context.Process(target=draw, args=(queue,), name=f"p{i}") for i in range(2)]
        for process in processes:
            process.start()
        draws = sorted(queue.get() for _ in processes)
        for process in processes:
            process.join()
        print(draws)
"""


def draws_of(tmp_path, name: str, *args: str) -> Any:
    result = reprorng("run", "--seed", "5", name, *args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    draws: Any = ast.literal_eval(result.stdout.strip().splitlines()[-1])
    return draws


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_children_differ_from_each_other_and_repeat(tmp_path, method):
    name = script(tmp_path, "processes.py", PROCESSES)
    first = draws_of(tmp_path, name, method)
    assert first == draws_of(tmp_path, name, method)
    (_, *one), (_, *other) = first
    assert all(a != b for a, b in zip(one, other, strict=True))  # no duplicated streams


POOL = """
    import multiprocessing as mp, random, sys

    first = {}


    def record(queue):
        queue.put((mp.current_process()._identity, random.random()))


    if __name__ == "__main__":
        context = mp.get_context(sys.argv[1])
        queue = context.Queue()
        with context.Pool(3, initializer=record, initargs=(queue,)) as pool:
            pool.map(abs, range(6))
            draws = sorted(queue.get() for _ in range(3))
        print(draws)
"""


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_keyed_by_identity_repeat_and_differ(tmp_path, method):
    name = script(tmp_path, "pool.py", POOL)
    first = draws_of(tmp_path, name, method)
    assert first == draws_of(tmp_path, name, method)
    assert len({value for _identity, value in first}) == 3


SUBPROCESSES = """
    import random, subprocess, sys

    child = [sys.executable, "-c", "import random; print(random.random())"]
    outputs = [subprocess.run(child, capture_output=True, text=True).stdout for _ in range(2)]
    print([float(output) for output in outputs] + [random.random()])
"""


def test_python_subprocesses_differ_from_each_other_and_repeat(tmp_path):
    name = script(tmp_path, "subprocesses.py", SUBPROCESSES)
    first = draws_of(tmp_path, name)
    assert first == draws_of(tmp_path, name)
    assert len(set(first)) == 3


def test_outside_a_run_nothing_is_seeded_or_imported(tmp_path):
    name = script(tmp_path, "subprocesses.py", SUBPROCESSES)
    runs = [
        subprocess.run([sys.executable, name], cwd=tmp_path, capture_output=True, text=True)
        for _ in range(2)
    ]
    assert runs[0].stdout != runs[1].stdout
    probe = "import os, sys; print('reprorng' in sys.modules, os.environ.get('REPRORNG_RUN'))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.stdout.split() == ["False", "None"]


CHILD_PROBE = (
    "import sys; before = sorted(m for m in sys.modules if m.split('.')[0] in ('reprorng', "
    "'wrapt')); import {module}; print(before, 'reprorng._children' in sys.modules, {draw})"
)


def hooked_child(code: str, run: Run) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, RUN_VARIABLE: run.encode(), "PYTHONPATH": str(hook_directory())}
    child = [sys.executable, "-c", code]
    result = subprocess.run(child, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result


def test_a_child_imports_nothing_of_reprorng_until_it_imports_a_generator():
    result = hooked_child(
        "import sys, json, os; print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('reprorng', 'wrapt', 'subprocess', 'multiprocessing', 'random')))",
        Run(5, False, False, "2"),
    )
    assert result.stdout == "[]\n"


@pytest.mark.parametrize(
    ("module", "draw"),
    [
        ("random", "random.random()"),
        ("tempfile", "__import__('random').random()"),  # random comes in with it
        ("numpy", "float(numpy.random.random())"),
        ("subprocess", "__import__('random').random()"),
        ("reprorng", "__import__('random').random()"),  # which imports random itself
    ],
)
def test_a_child_is_seeded_as_it_first_imports_a_generator_as_if_at_start(module, draw):
    run = Run(5, False, False, "2")
    result = hooked_child(CHILD_PROBE.format(module=module, draw=draw), run)
    before, started, value = result.stdout.rsplit(" ", 2)
    assert before == "[]"
    assert started == "True"
    with fixed_rng(derive_seed(5, "subprocess", "2")):  # what seeding at start gives
        expected = float(np.random.random()) if module == "numpy" else random.random()
    assert float(value) == expected


def test_every_module_seeded_or_patched_on_import_seeds_a_child_first():
    tree = ast.parse((hook_directory() / "sitecustomize.py").read_text())
    first = next(
        node.value
        for node in tree.body
        if isinstance(node, ast.Assign) and "FIRST_IMPORTS" in ast.unparse(node.targets[0])
    )
    names = ast.literal_eval(ast.unparse(first).removeprefix("frozenset(").removesuffix(")"))
    modules = {*WATCHED_MODULES, *PATCHED_MODULES, "subprocess", "multiprocessing.process"}
    assert {module.split(".")[0] for module in modules} <= names


def test_a_module_only_looked_up_seeds_nothing_and_its_import_later_does():
    code = (
        "import importlib.util, sys; importlib.util.find_spec('numpy'); "
        "print('reprorng._children' in sys.modules); import numpy; "
        "print('reprorng._children' in sys.modules, float(numpy.random.random()))"
    )
    result = hooked_child(code, Run(5, False, False, "2"))
    probed, started, value = result.stdout.split()
    assert probed == "False"
    assert started == "True"
    with fixed_rng(derive_seed(5, "subprocess", "2")):
        assert float(value) == float(np.random.random())


def test_a_child_whose_place_was_given_elsewhere_is_seeded_at_start():
    """Started by a process other than the one that placed it (a launcher): settled at once."""
    run = Run(5, False, False, "2", parent="1-1")  # pid 1 is never this child's parent
    result = hooked_child("import sys; print('reprorng._children' in sys.modules)", run)
    assert result.stdout == "True\n"


def test_a_child_with_an_unreadable_run_variable_warns_and_runs_unseeded():
    environment = {
        **os.environ,
        RUN_VARIABLE: "nonsense",
        "PYTHONPATH": str(hook_directory()),
    }
    child = [sys.executable, "-c", "print('child ran')"]
    result = subprocess.run(child, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "child ran\n"
    assert "REPRORNG_RUN='nonsense' is not what reprorng run writes" in result.stderr


@pytest.mark.parametrize("run", [Run(0, False, False), Run(2**64 - 1, True, True, "3.1.2")])
def test_the_run_variable_reads_back(run):
    assert Run.decode(run.encode()) == run


@pytest.mark.parametrize("text", ["", "5", "x:--:", "5:dx:", f"{2**64}:--:", "5:--:1.a"])
def test_a_bad_run_variable_is_refused(text):
    with pytest.raises(ValueError, match=RUN_VARIABLE):
        Run.decode(text)


def test_a_child_that_cannot_be_made_deterministic_warns_and_runs(tmp_path):
    fake = tmp_path / "fake"
    fake.mkdir()
    (fake / "torch.py").write_text("'a torch with no determinism settings'\n")
    environment = {
        **os.environ,
        RUN_VARIABLE: Run(5, deterministic=True, warn_only=False).encode(),
        "PYTHONPATH": os.pathsep.join([str(hook_directory()), str(fake)]),
    }
    child = [sys.executable, "-c", "import random, torch; print('child ran')"]
    result = subprocess.run(child, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "child ran\n"
    assert "reprorng could not make this process deterministic" in result.stderr
    assert "are_deterministic_algorithms_enabled" in result.stderr


@pytest.mark.parametrize("imports", ["random", "random, torch"])
def test_a_deterministic_runs_child_switches_torch_only_once_it_imports_torch(imports):
    code = (
        f"import sys, {imports}; torch = sys.modules.get('torch'); "
        "print(torch is not None and torch.are_deterministic_algorithms_enabled())"
    )
    result = hooked_child(code, Run(5, True, False, "2"))
    assert result.stdout == f"{'torch' in imports}\n"


# -- the documented formula, computed here independently of reprorng -------------------------


def documented_draw(*keys: object) -> float:
    """``random.random()`` after seeding with ``derive_seed(5, *keys)``, as its docs define it."""
    text = json.dumps([5, *keys], separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little")).random()


TREE = """
    import random, subprocess, sys

    def started(*args):
        command = [sys.executable, "-c", *args]
        return subprocess.run(command, capture_output=True, text=True).stdout

    grandchild = "import random; print(random.random())"
    child = (
        "import random, subprocess, sys; print(random.random()); "
        "print(subprocess.run([sys.executable, '-c', sys.argv[1]], "
        "capture_output=True, text=True).stdout.strip())"
    )
    outputs = started("import random; print(random.random())") + started(child, grandchild)
    print([float(value) for value in outputs.split()])
"""


def test_children_and_grandchildren_are_seeded_by_their_place_as_documented(tmp_path):
    name = script(tmp_path, "tree.py", TREE)
    first_child, second_child, grandchild = draws_of(tmp_path, name)
    assert first_child == documented_draw("subprocess", "1")
    assert second_child == documented_draw("subprocess", "2")
    assert grandchild == documented_draw("subprocess", "2.1")
    assert grandchild not in (first_child, second_child)  # not its parent's, nor its sibling's


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_pool_workers_are_seeded_by_their_identity_as_documented(tmp_path, method):
    name = script(tmp_path, "pool.py", POOL)
    for identity, value in draws_of(tmp_path, name, method):
        assert value == documented_draw("process", "", *identity), identity
