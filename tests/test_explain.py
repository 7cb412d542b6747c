"""``reprorng check`` says where two runs part and why; ``trace`` and ``diff`` do it across runs.

Each culprit program marks its culprit's line with ``# culprit``; the report
must name that line and the cause.
"""

from __future__ import annotations

import gzip
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from .test_cli import reprorng, script


def culprit_line(folder: Path, name: str, mark: str = "# culprit") -> int:
    lines = (folder / name).read_text().splitlines()
    return next(number for number, line in enumerate(lines, 1) if mark in line)


def check(
    folder: Path, name: str, *args: str, hash_seed: bool = False
) -> tuple[int, dict[str, Any]]:
    """``check --json``; one hash seed for all runs unless the test is about the hash seed
    (which saves the run that tells that cause apart)."""
    flags = [] if hash_seed else ["--same-hash-seed"]
    result = reprorng("check", "--json", "--seed", "3", *flags, *args, name, cwd=folder)
    assert result.returncode in (0, 1), result.stderr
    return result.returncode, json.loads(result.stdout)


def assert_divergence(report: dict[str, Any], folder: Path, name: str, cause: str, event: str):
    divergence = report["divergence"]
    assert divergence is not None, report
    assert divergence["cause"] == cause, divergence
    assert divergence["event"] == event, divergence
    assert Path(divergence["file"]).name == name
    assert divergence["line"] == culprit_line(folder, name), divergence
    assert set(divergence) == {"file", "line", "function", "event", "cause", "detail", "fix"}


UNSEEDED_GENERATOR = """
    import numpy as np


    def main():
        rng = np.random.default_rng()  # culprit
        print(rng.random())


    main()
"""


def test_an_unseeded_numpy_generator_is_named_with_its_line(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    assert culprit_line(tmp_path, name) == 6
    status, report = check(tmp_path, name)
    assert status == 1
    assert_divergence(report, tmp_path, name, "entropy", "numpy.random.default_rng")
    assert report["divergence"]["function"] == "main"


def test_the_human_report_names_the_line(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    result = reprorng("check", "--seed", "3", name, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    at = next(i for i, line in enumerate(lines) if "first divergence" in line)
    assert "rng.py:6 in main: numpy.random.default_rng" in lines[at]
    assert lines[at + 1].startswith("    cause: OS entropy")
    assert lines[at + 2].startswith("    fix: seed it from a fixed number")
    assert "or run with --pin-entropy" in result.stdout  # what fixes it without an edit


def test_a_torch_seed_from_os_entropy_is_an_entropy_cause(tmp_path):
    name = script(
        tmp_path,
        "urandom.py",
        """
        import os
        import torch

        seed = int.from_bytes(os.urandom(4), "little")  # culprit
        torch.manual_seed(seed)
        print(torch.rand(2).tolist())
        """,
    )
    status, report = check(tmp_path, name)
    assert status == 1
    assert_divergence(report, tmp_path, name, "entropy", "os.urandom")


SET_OF_STRINGS = """
    import torch

    weights = {"apple": 2.0, "banana": 3.0, "cherry": 5.0, "damson": 7.0}
    total = torch.zeros(())
    for name in {"apple", "banana", "cherry", "damson"}:  # culprit: the set's order
        total = total * 10 + weights[name]
    print(total.item())
"""


def test_a_set_of_strings_driving_arithmetic_is_a_hash_seed_cause(tmp_path):
    name = script(tmp_path, "order.py", SET_OF_STRINGS)
    status, report = check(tmp_path, name, hash_seed=True)
    assert status == 1
    assert report["cause"] == "hash seed"
    assert_divergence(report, tmp_path, name, "hash-seed", "aten::add")


NOISY_KERNEL = """
    import sys
    import time
    import uuid
    import torch

    print("run", uuid.uuid4(), file=sys.stderr)  # an entropy read, logged only


    @torch.library.custom_op("culprits::noisy_scale", mutates_args=())
    def noisy_scale(x: torch.Tensor) -> torch.Tensor:
        # Stands in for a GPU kernel whose atomics add in a different order each run.
        return x * (1 + (time.perf_counter_ns() % 1000003) * 1e-9)


    torch.manual_seed(0)
    x = torch.rand(4) * 2
    y = noisy_scale(x)  # culprit
    print(float(y.sum()))
"""


def test_a_non_deterministic_kernel_is_named_even_after_an_entropy_read(tmp_path):
    name = script(tmp_path, "kernel.py", NOISY_KERNEL)
    status, report = check(tmp_path, name, "--no-stderr")
    assert status == 1
    assert_divergence(report, tmp_path, name, "kernel", "culprits::noisy_scale")
    assert "--deterministic" in report["divergence"]["fix"]
    (read,) = report["candidates"]
    assert read["event"] == "uuid.uuid4"
    assert read["line"] == 7


NOISY_BACKWARD = """
    import time
    import torch


    @torch.library.custom_op("culprits::noisy_backward", mutates_args=())
    def twice(x: torch.Tensor) -> torch.Tensor:
        return x * 2


    @twice.register_fake
    def _(x):
        return torch.empty_like(x)


    @torch.library.custom_op("culprits::noisy_grad", mutates_args=())
    def noisy_grad(grad: torch.Tensor) -> torch.Tensor:
        return grad * (2 + (time.perf_counter_ns() % 1000003) * 1e-9)


    def backward(ctx, grad):
        return noisy_grad(grad)  # the backward line, shown as detail


    twice.register_autograd(backward)

    torch.manual_seed(0)
    w = torch.rand(3, requires_grad=True)
    loss = twice(w).sum()  # culprit: the forward line that made the node
    loss.backward()
    print(w.grad.tolist())
"""


def test_a_non_deterministic_kernel_in_the_backward_pass_is_found(tmp_path):
    name = script(tmp_path, "backward.py", NOISY_BACKWARD)
    status, report = check(tmp_path, name)
    assert status == 1
    assert_divergence(report, tmp_path, name, "kernel", "culprits::noisy_grad")
    backward = culprit_line(tmp_path, name, "the backward line")
    assert (
        f"in the backward pass, at {name}:{backward} in backward"
        in (report["divergence"]["detail"])
    )


REPRODUCIBLE = """
    import random
    import numpy as np
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    torch.manual_seed(1)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.Dropout(0.3), torch.nn.Linear(8, 1))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    data = TensorDataset(torch.randn(32, 4), torch.randn(32, 1))
    loader = DataLoader(data, batch_size=8, shuffle=True, num_workers=WORKERS)
    buffer = torch.empty(3)
    buffer.fill_(1.0)
    for inputs, targets in loader:
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(model(inputs), targets) + buffer.sum()
        loss.backward()
        optimizer.step()
    print(loss.item(), random.random(), np.random.default_rng(5).random())
    print(sorted({"apple", "banana"}))
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_reproducible_program_has_no_culprit(tmp_path, workers):
    name = script(tmp_path, "train.py", REPRODUCIBLE.replace("WORKERS", str(workers)))
    for run in (1, 2):
        result = reprorng("trace", "--seed", "4", "--out", f"run{run}.trace", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    result = reprorng("diff", "--json", "run1.trace", "run2.trace", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(result.stdout)
    assert report["same"] is True
    assert report["divergence"] is None
    assert report["events"][0] > 50  # forward, backward and optimizer operators


def test_check_reports_no_divergence_when_the_runs_agree(tmp_path):
    name = script(tmp_path, "seeded.py", "import random\nprint(random.random())\n")
    status, report = check(tmp_path, name)
    assert status == 0
    assert report["divergence"] is None
    assert report["candidates"] == []


def test_a_program_that_raises_is_still_traced(tmp_path):
    name = script(
        tmp_path,
        "fails.py",
        """
        import numpy as np

        rng = np.random.default_rng()  # culprit
        print(rng.random())
        raise SystemExit(3)
        """,
    )
    status, report = check(tmp_path, name)
    assert status == 1
    assert report["exit_statuses"] == [3, 3]
    assert_divergence(report, tmp_path, name, "entropy", "numpy.random.default_rng")


def test_a_program_that_raises_an_exception_writes_its_trace(tmp_path):
    name = script(
        tmp_path,
        "raises.py",
        """
        import random

        random.seed(3)
        raise RuntimeError("boom")
        """,
    )
    result = reprorng("trace", "--out", "t.trace", name, cwd=tmp_path)
    assert result.returncode == 1
    assert 'raises.py", line 5' in result.stderr
    assert "RuntimeError: boom" in result.stderr
    assert "reprorng/cli" not in result.stderr
    with gzip.open(tmp_path / "t.trace", "rt") as file:
        header = json.loads(file.readline())
        events = [json.loads(line) for line in file]
    assert header["events"] == 1
    assert events[0][:2] == ["seed", "random.seed"]


def runs_made(stderr: str) -> list[str]:
    """The runs ``check`` said it started, in order (``run 1/2``, ``traced run 1/2``...)."""
    return [
        line.split(": ", 1)[1].split(",")[0].removesuffix(" ...")
        for line in stderr.splitlines()
        if line.startswith("reprorng check: ") and line.endswith(" ...")
    ]


LIGHT = {
    # Each settled by what runs 1 and 2 record as they run: no run more.
    "a generator made without a seed": (
        """
        import random

        shuffler = random.Random()  # culprit
        items = list(range(8))
        shuffler.shuffle(items)
        print(items)
        """,
        "random.Random",
        True,
    ),
    "entropy read on the line that prints it": (
        """
        import os

        print("token", os.urandom(4).hex())  # culprit
        """,
        "os.urandom",
        True,
    ),
    # An entropy read that may reach nothing printed is not blamed without the full trace.
    "entropy kept and printed later": (
        """
        import uuid

        name = uuid.uuid4().hex[:8]  # culprit
        path = f"results-{name}.json"
        print("saving to", path)
        """,
        "uuid.uuid4",
        False,
    ),
}


@pytest.mark.parametrize("case", LIGHT)
def test_runs_1_and_2_explain_what_their_light_trace_settles_and_no_more(tmp_path, case):
    program, event, settled = LIGHT[case]
    name = script(tmp_path, "culprit.py", program)
    result = reprorng("check", "--json", "--seed", "3", "--same-hash-seed", name, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert_divergence(report, tmp_path, name, "entropy", event)
    traced = ["traced run 1/2", "traced run 2/2"]
    assert runs_made(result.stderr) == ["run 1/2", "run 2/2", *([] if settled else traced)]


def test_the_hash_seed_is_told_apart_by_the_traced_runs_with_no_plain_run_more(tmp_path):
    name = script(
        tmp_path,
        "buckets.py",
        """
        buckets = {0: [], 1: []}
        for word in ["apple", "banana", "cherry", "damson"]:
            buckets[hash(word) % 2].append(word)  # culprit
        print(buckets)
        """,
    )
    result = reprorng("check", "--json", "--seed", "3", name, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["cause"] == "hash seed"
    assert_divergence(report, tmp_path, name, "hash-seed", "builtins.hash")
    made = ["run 1/2", "run 2/2", "traced run 1/2", "traced run 2/2", "traced run 3/3"]
    assert runs_made(result.stderr) == made


def test_no_explain_skips_the_traced_runs(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    result = reprorng("check", "--json", "--no-explain", name, cwd=tmp_path)
    assert result.returncode == 1
    assert "traced run" not in result.stderr
    report = json.loads(result.stdout)
    assert report["divergence"] is None
    assert "--no-explain" in report["replay"]


def test_a_command_after_dashes_is_not_traced_and_says_so(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    result = reprorng("check", "--json", "--", sys.executable, name, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["divergence"] is None
    assert "cannot be traced" in report["untraced"]


def test_diff_names_the_first_divergence_and_the_facts_that_differ(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    for run, seed in ((1, "1"), (2, "2")):
        result = reprorng("trace", "--seed", seed, "--out", f"{run}.trace", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
    result = reprorng("diff", "1.trace", "2.trace", cwd=tmp_path)
    assert result.returncode == 1
    assert "seed: 1 / 2" in result.stdout
    assert "rng.py:6 in main: numpy.random.default_rng" in result.stdout


def test_diff_of_a_trace_with_itself_is_the_same(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    assert reprorng("trace", "--out", "a.trace", name, cwd=tmp_path).returncode == 0
    result = reprorng("diff", "a.trace", "a.trace", cwd=tmp_path)
    assert result.returncode == 0
    assert "the same" in result.stdout


HEADER = '{"format": "reprorng-trace", "version": %d, "events": %d, "meta": {}}\n'


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"plain text", "not a readable trace"),
        (gzip.compress(b'{"format": "other"}\n'), "not a reprorng trace"),
        (
            gzip.compress(
                b'{"format": "reprorng-trace", "version": 99, "events": 0, "meta": {}}\n'
            ),
            "version 99",
        ),
        (
            gzip.compress(b'{"format": "reprorng-trace", "version": 2, "events": 2, "meta": {}}\n'),
            "cut short",
        ),
    ],
    ids=["plain text", "another format", "another version", "cut short"],
)
def test_diff_refuses_what_is_not_a_trace_in_one_line(tmp_path, content, message):
    (tmp_path / "bad.trace").write_bytes(content)
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    assert reprorng("trace", "--out", "good.trace", name, cwd=tmp_path).returncode == 0
    result = reprorng("diff", "good.trace", "bad.trace", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith("reprorng diff: bad.trace: ")
    assert message in line


def test_trace_needs_an_out_file_in_an_existing_folder(tmp_path):
    name = script(tmp_path, "rng.py", UNSEEDED_GENERATOR)
    missing = reprorng("trace", name, cwd=tmp_path)
    assert missing.returncode == 2
    assert "--out" in missing.stderr
    nowhere = reprorng("trace", "--out", "no/such/folder/t.trace", name, cwd=tmp_path)
    assert nowhere.returncode == 2
    assert "existing folder" in nowhere.stderr


def test_the_readme_report_is_what_check_prints():
    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text()
    shown = readme.split("$ reprorng check examples/why_runs_differ.py\n", 1)[1].split("```")[0]
    result = reprorng("check", "--seed", "7", "examples/why_runs_differ.py", cwd=root)
    assert result.returncode == 1, result.stderr
    printed = result.stdout.splitlines()
    for line in shown.splitlines():
        # the losses are what differs from run to run, and the marker under them moves
        if "loss" not in line and line.strip() != "^":
            assert line in printed
    assert shown in (root / "docs" / "explain.md").read_text()


def test_a_set_of_strings_that_changes_nothing_does_not_pose_as_the_culprit(tmp_path):
    # The set's order differs, but only the clock reaches what differs.
    name = script(
        tmp_path,
        "harmless.py",
        """
        import time
        import torch

        total = torch.zeros(())
        for name in {"apple", "banana", "cherry", "damson"}:
            total = total + torch.ones(()) * len(name)  # same sum in any order, other steps
        print(total.item(), time.time_ns())  # culprit: the clock is what differs
        """,
    )
    status, report = check(tmp_path, name, hash_seed=True)
    assert status == 1
    assert report["cause"] == "other"
    assert_divergence(report, tmp_path, name, "clock", "time.time_ns")


def test_a_program_that_spawns_a_process_is_traced_in_its_own(tmp_path):
    name = script(
        tmp_path,
        "spawns.py",
        """
        import multiprocessing
        import torch


        def child():
            torch.ones(2).add(1)


        if __name__ == "__main__":
            process = multiprocessing.get_context("spawn").Process(target=child)
            process.start()
            process.join()
            print(process.exitcode, torch.ones(3).sum().item())
        """,
    )
    result = reprorng("trace", "--out", "t.trace", name, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["0", "3.0"]
    with gzip.open(tmp_path / "t.trace", "rt") as file:
        events = [json.loads(line) for line in file][1:]
    assert [event[1] for event in events if event[0] == "op"] == [
        "aten::ones",
        "aten::sum",
        "aten::_local_scalar_dense",
    ]


WORKERS_ARRIVE_IN_ANOTHER_ORDER = """
    import os, time
    import torch
    from torch.utils.data import DataLoader, Dataset, get_worker_info

    # The first run's worker 0 waits until worker 1 is at its last item (so worker 1's first
    # batch is on its way), the second run's worker 1 waits for worker 0: their batches reach
    # the main process in another order, which the DataLoader puts right.
    RUN = 2 if os.path.exists("second") else 1
    open("second", "w").close()
    SLOW = RUN - 1
    LAST = {0: 5, 1: 7}  # batches of 2 items go to the two workers in turn


    class Slow(Dataset):
        def __len__(self):
            return 8

        def __getitem__(self, index):
            worker = get_worker_info().id
            if worker == SLOW:
                while not os.path.exists(f"{RUN}-{1 - SLOW}-at-its-last"):
                    time.sleep(0.01)
            elif index == LAST[worker]:
                open(f"{RUN}-{worker}-at-its-last", "w").close()
            return torch.full((2,), float(index))


    total = torch.zeros(2)
    for batch in DataLoader(Slow(), batch_size=2, num_workers=2, prefetch_factor=4):
        total = total * 2 + batch.sum(0)
    print(total.tolist())
"""


def test_batches_arriving_from_workers_in_another_order_are_no_culprit(tmp_path):
    name = script(tmp_path, "arrive.py", WORKERS_ARRIVE_IN_ANOTHER_ORDER)
    outputs = []
    for run in (1, 2):
        result = reprorng("trace", "--seed", "3", "--out", f"{run}.trace", name, cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        outputs.append(result.stdout)
    assert outputs[0] == outputs[1]
    result = reprorng("diff", "1.trace", "2.trace", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
