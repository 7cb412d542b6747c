"""Tasks on a real local Ray and a real Dask cluster draw by what they are, on any worker."""

from __future__ import annotations

import ast
import hashlib
import json
import random
from typing import Any

from .test_cli import reprorng, script

RAY = """
    import random, sys
    import numpy as np
    import ray

    ray.init(num_cpus=int(sys.argv[1]), include_dashboard=False, log_to_driver=False)

    @ray.remote
    def draw(item, scale=1):
        return (item * scale, random.random(), float(np.random.random()))

    @ray.remote
    class Walker:
        def __init__(self, start):
            self.position = start + random.random()

        def step(self, size=1):
            self.position += size * random.random()
            return self.position

    walkers = [Walker.remote(start) for start in range(2)]
    steps = [ray.get([walker.step.remote() for walker in walkers]) for _ in range(3)]
    tasks = ray.get([draw.remote(item) for item in range(6)])
    scaled = ray.get([draw.options(num_cpus=1).remote(item, scale=2) for item in range(3)])
    print([tasks, scaled, steps])
"""

DASK = """
    import random, sys
    import numpy as np
    import dask
    from dask.distributed import Client, LocalCluster

    def draw(item, scale=1):
        return (item * scale, random.random(), float(np.random.random()))

    if __name__ == "__main__":
        workers = int(sys.argv[1])
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, dashboard_address=None)
        with cluster, Client(cluster) as client:
            pure = client.map(draw, range(6))
            impure = client.map(draw, range(4), pure=False)
            one = [client.submit(draw, 7, pure=False), client.submit(draw, 8, scale=2)]
            delayed = [dask.delayed(draw)(item) for item in range(4)]
            computed = dask.compute(*delayed)
            print([
                [(future.key, future.result()) for future in pure],
                [future.result() for future in impure],
                [future.result() for future in one],
                list(computed),
            ])
"""


def calls_of(tmp_path, name: str, workers: str) -> Any:
    quiet = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "disabled"}
    result = reprorng("run", "--seed", "5", name, workers, cwd=tmp_path, env=quiet)
    assert result.returncode == 0, result.stderr
    return ast.literal_eval(result.stdout.strip().splitlines()[-1])


def draws(value: Any) -> list[float]:
    """Every float drawn, anywhere in what a program printed."""
    if isinstance(value, list | tuple):
        return [number for part in value for number in draws(part)]
    return [value] if isinstance(value, float) else []


def documented(*keys: object) -> float:
    """``random.random()`` seeded with ``derive_seed(5, *keys)``, computed here."""
    text = json.dumps([5, *keys], separators=(",", ":"))
    digest = hashlib.blake2b(text.encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "little")).random()


def assert_the_same_with_2_or_3_workers(tmp_path, name: str) -> Any:
    two = calls_of(tmp_path, name, "2")
    assert calls_of(tmp_path, name, "3") == two
    assert calls_of(tmp_path, name, "2") == two
    drawn = draws(two)
    assert len(set(drawn)) == len(drawn)  # no two tasks, actors or calls share a stream
    return two


def test_ray_tasks_and_actors_draw_by_their_call_on_any_worker(tmp_path):
    tasks, _scaled, _steps = assert_the_same_with_2_or_3_workers(
        tmp_path, script(tmp_path, "ray_tasks.py", RAY)
    )
    # two actors made, then three rounds of two steps: the tasks are calls 9 to 14
    for index, (_item, value, _numpy) in enumerate(tasks):
        assert value == documented("pool", "", 9 + index, 0), index


def test_dask_tasks_draw_by_their_key_on_any_worker(tmp_path):
    pure, *_ = assert_the_same_with_2_or_3_workers(
        tmp_path, script(tmp_path, "dask_tasks.py", DASK)
    )
    for key, (_item, value, _numpy) in pure:
        assert value == documented("dask", key), key
