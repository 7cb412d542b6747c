"""Processes that launchers start are placed by the identity a launcher gives them, or warned of."""

from __future__ import annotations

import ast

import pytest

from .test_children import documented_draw
from .test_cli import reprorng, script

CHILD = (
    "import os, random; "
    "print(os.environ.get('RANK', os.environ.get('SLURM_PROCID')), random.random())"
)

# A launcher written in Python, as torchrun is: it starts one process per rank it is given.
LAUNCHER = f"""
    import os, subprocess, sys

    ranks = sys.argv[1].split(",")
    children = [
        subprocess.Popen(
            [sys.executable, "-c", {CHILD!r}],
            env={{**os.environ, "RANK": rank, "WORLD_SIZE": "4"}},
            stdout=subprocess.PIPE,
            text=True,
        )
        for rank in ranks
    ]
    print(dict(child.communicate()[0].split() for child in children))
"""


def run_program(tmp_path, name: str, *args: str, env: dict[str, str] | None = None):
    result = reprorng("run", "--seed", "5", name, *args, cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1]), result.stderr


def test_ranks_on_two_nodes_get_their_own_streams_in_any_start_order(tmp_path):
    name = script(tmp_path, "launcher.py", LAUNCHER)
    node_a, _ = run_program(tmp_path, name, "0,1")
    node_b, _ = run_program(tmp_path, name, "2,3")
    node_b_again, _ = run_program(tmp_path, name, "3,2")
    drawn = {**node_a, **node_b}
    assert node_b_again == node_b
    assert {rank: float(value) for rank, value in drawn.items()} == {
        rank: documented_draw("subprocess", f"r{rank}") for rank in "0123"
    }
    assert len(set(drawn.values())) == 4


TORCHRUN = """
    import subprocess, sys

    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               "--nproc_per_node=2", "child.py"]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    print(dict(line.split() for line in output.splitlines()))
"""


def test_torchrun_workers_are_placed_by_rank(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    name = script(tmp_path, "torchrun.py", TORCHRUN)
    drawn, _ = run_program(tmp_path, name)
    assert {rank: float(value) for rank, value in drawn.items()} == {
        rank: documented_draw("subprocess", f"1.r{rank}") for rank in "01"
    }


# A launcher that is not Python: a shell starting several interpreters at once.
SHELL = """
    import pathlib, subprocess, sys

    prefixes = sys.argv[1:]
    starts = [f"{prefix} {sys.executable} child.py > out-{n}" for n, prefix in enumerate(prefixes)]
    output = subprocess.run(["bash", "-c", " & ".join(starts) + " & wait"], capture_output=True,
                            text=True, check=True)
    sys.stderr.write(output.stderr)
    print([pathlib.Path(f"out-{n}").read_text().split()[1] for n in range(len(starts))])
"""


@pytest.mark.parametrize(
    "variable", ["SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]
)
def test_ranks_a_shell_launches_on_two_nodes_are_placed_by_rank(tmp_path, variable):
    (tmp_path / "child.py").write_text(CHILD.replace("'SLURM_PROCID'", repr(variable)))
    name = script(tmp_path, "shell.py", SHELL)
    node_a, stderr = run_program(tmp_path, name, f"{variable}=0", f"{variable}=1")
    node_b, _ = run_program(tmp_path, name, f"{variable}=3", f"{variable}=2")
    assert [float(value) for value in node_a + node_b] == [
        documented_draw("subprocess", f"1.r{rank}") for rank in "0132"
    ]
    assert "this process was started by" not in stderr


def test_siblings_a_shell_starts_never_share_a_stream_and_are_named(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    name = script(tmp_path, "shell.py", SHELL)
    drawn, stderr = run_program(tmp_path, name, "A=1", "A=2", "A=3")
    values = [float(value) for value in drawn]
    assert len(set(values)) == 3
    assert values.count(documented_draw("subprocess", "1")) == 1  # the first keeps its place
    warnings = [line for line in stderr.splitlines() if "was started by 'bash'" in line]
    assert len(warnings) == 2, stderr
    assert all(line.startswith("reprorng:0: RuntimeWarning: this process") for line in warnings)
    assert len(stderr.splitlines()) == 3  # the seed's line, and one line each


INHERITED = """
    import subprocess, sys

    child = [sys.executable, "child.py"]
    print([subprocess.run(child, capture_output=True, text=True).stdout.split()[1] for _ in "ab"])
"""


@pytest.mark.parametrize("rank", ["0", "7"])
def test_a_rank_every_process_inherits_does_not_place_them(tmp_path, rank):
    (tmp_path / "child.py").write_text(CHILD)
    name = script(tmp_path, "inherited.py", INHERITED)
    drawn, _ = run_program(tmp_path, name, env={"RANK": rank})
    assert [float(value) for value in drawn] == [documented_draw("subprocess", p) for p in "12"]


def test_one_child_through_a_shell_keeps_its_place_without_a_word(tmp_path):
    (tmp_path / "child.py").write_text(CHILD)
    name = script(tmp_path, "shell.py", SHELL)
    drawn, stderr = run_program(tmp_path, name, "A=1")
    assert [float(value) for value in drawn] == [documented_draw("subprocess", "1")]
    assert "this process was started by" not in stderr


SPAWNING_CHILD = """
    import multiprocessing as mp, random

    def draw(item):
        return random.random()

    if __name__ == "__main__":
        for method in ("spawn", "forkserver"):
            with mp.get_context(method).Pool(2) as pool:
                print(method, pool.map(draw, range(4)))
"""

SPAWNS_IN_A_CHILD = """
    import subprocess, sys

    result = subprocess.run([sys.executable, "spawning.py"], capture_output=True, text=True)
    sys.stderr.write(result.stderr)
    print([line.split(" ", 1)[1] for line in result.stdout.splitlines()])
"""


def test_processes_multiprocessing_starts_in_a_child_are_its_own_without_a_word(tmp_path):
    script(tmp_path, "spawning.py", SPAWNING_CHILD)
    name = script(tmp_path, "parent.py", SPAWNS_IN_A_CHILD)
    drawn, stderr = run_program(tmp_path, name)
    assert "RuntimeWarning" not in stderr, stderr
    values = [value for line in drawn for value in ast.literal_eval(line)]
    assert len(set(values)) == 8  # two calls of four tasks, each its own stream
