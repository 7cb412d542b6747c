"""``seed_everything``: seed once and leave it, as Lightning's does.

It changes the process for good (its generators, environment and children),
so each case runs in a fresh interpreter.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest


def python(code: str, **environment: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("REPRORNG", "PYTHONHASH"))}
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **environment},
    )


def output(code: str, **environment: str) -> str:
    result = python(code, **environment)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_it_seeds_every_generator_as_its_own_seeding_call_does():
    assert (
        output(
            """
        import random
        import numpy as np
        import torch
        from reprorng import seed_everything

        assert seed_everything(42) == 42
        drawn = random.random(), np.random.random(), torch.rand(1).item()
        random.seed(42)
        np.random.seed(42)
        torch.manual_seed(42)
        print(drawn == (random.random(), np.random.random(), torch.rand(1).item()))
        """
        )
        == "True"
    )


# As Lightning's tests check seed_everything: the environment, repeated calls.
def test_the_seed_comes_from_the_environment_and_stays_the_same():
    code = """
        from reprorng import seed_everything
        print(seed_everything(), seed_everything())
    """
    assert output(code, REPRORNG_SEED="2020") == "2020 2020"
    first, second = output(code).split()
    assert first == second


def test_a_bad_seed_in_the_environment_is_a_value_error():
    result = python("import reprorng; reprorng.seed_everything()", REPRORNG_SEED="invalid")
    assert result.returncode == 1
    assert "ValueError" in result.stderr
    assert "REPRORNG_SEED" in result.stderr


@pytest.mark.parametrize(("seed", "error"), [("-1", "ValueError"), ("1.5", "TypeError")])
def test_out_of_bounds_seeds_are_refused(seed, error):
    result = python(f"import reprorng; reprorng.seed_everything({seed})")
    assert error in result.stderr


def test_the_seed_is_announced_once_unless_asked_not_to():
    code = """
        import logging
        from reprorng import seed_everything
        logging.basicConfig(level=logging.INFO, format="%(name)s %(levelname)s %(message)s")
        seed_everything(7)
        seed_everything(8, verbose=False)
    """
    assert python(code).stderr.splitlines() == ["reprorng INFO seed set to 7"]


def test_libraries_imported_after_it_and_registered_generators_are_seeded():
    assert (
        output(
            """
        import random
        import reprorng

        mine = random.Random()
        reprorng.register(mine)
        reprorng.seed_everything(3)
        import numpy as np
        drawn = np.random.random(), mine.random()
        np.random.seed(3)
        print(drawn == (np.random.random(), random.Random(3).random()))
        """
        )
        == "True"
    )


def test_blocks_after_it_restore_its_streams():
    assert (
        output(
            """
        import random
        from reprorng import fixed_rng, seed_everything

        seed_everything(5)
        with fixed_rng(1):
            random.random()
        print(random.random() == random.Random(5).random())
        """
        )
        == "True"
    )


CHILDREN = """
    import multiprocessing as mp, random, subprocess, sys
    from reprorng import seed_everything


    def draw(queue):
        queue.put(random.random())


    if __name__ == "__main__":
        seed_everything(11, verbose=False)
        context = mp.get_context("spawn")
        queue = context.Queue()
        processes = [context.Process(target=draw, args=(queue,)) for _ in range(2)]
        for process in processes:
            process.start()
        drawn = sorted(queue.get() for _ in processes)
        for process in processes:
            process.join()
        child = [sys.executable, "-c", "import random; print(random.random())"]
        drawn.append(float(subprocess.run(child, capture_output=True, text=True).stdout))
        print(drawn)
"""


def test_child_processes_started_afterwards_derive_streams_of_their_own(tmp_path):
    program = tmp_path / "children.py"
    program.write_text(textwrap.dedent(CHILDREN))
    runs = [
        subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=120)
        for _ in range(2)
    ]
    assert runs[0].returncode == 0, runs[0].stderr
    assert runs[0].stdout == runs[1].stdout
    assert len(set(eval(runs[0].stdout))) == 3


def test_workers_true_gives_every_loader_the_worker_seeding():
    assert (
        output(
            """
        import reprorng
        reprorng.seed_everything(1, workers=True, verbose=False)
        from torch.utils.data import DataLoader

        def mine(worker_id):
            pass

        plain = DataLoader(range(4))
        own = DataLoader(range(4), worker_init_fn=mine)
        print(plain.worker_init_fn is reprorng.worker_init_fn, own.worker_init_fn.then is mine)
        """
        )
        == "True True"
    )


def test_workers_must_be_a_flag():
    result = python("import reprorng; reprorng.seed_everything(1, workers='yes')")
    assert "TypeError: workers must be True or False" in result.stderr


def test_it_waits_for_a_block_open_in_another_thread_and_its_seeding_lasts():
    assert (
        output(
            """
        import random, threading
        from reprorng import _stack, fixed_rng, seed_everything

        seed_everything(5, verbose=False)
        after_five = random.random()
        expected = random.Random(1)

        worker = threading.Thread(target=seed_everything, args=(5,), kwargs={"verbose": False})
        with fixed_rng(1):
            first = random.random()
            worker.start()
            while _stack.waiting == 0:  # the worker is waiting for this block: an event
                pass
            second = random.random()
        worker.join()
        print([first, second] == [expected.random(), expected.random()])
        print(random.random() == after_five)
        """
        )
        == "True\nTrue"
    )


def test_called_inside_a_block_its_seeding_outlasts_the_block():
    assert (
        output(
            """
        import random
        import numpy as np
        import torch
        from reprorng import fixed_rng, seed_everything

        seed_everything(5, verbose=False)
        after_five = (random.random(), np.random.random(), torch.rand(1).item())
        with fixed_rng(1):
            with fixed_rng(2):
                seed_everything(5, verbose=False)
                random.random()
        print((random.random(), np.random.random(), torch.rand(1).item()) == after_five)
        """
        )
        == "True"
    )
