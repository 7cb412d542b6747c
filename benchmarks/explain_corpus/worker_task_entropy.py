"""A pool task reseeds numpy's global generator from OS entropy."""

import multiprocessing

import numpy as np


def augment(i: int) -> float:
    np.random.seed()  # cause: entropy
    return round(float(np.random.rand()) + i, 6)


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(2) as pool:
        print(pool.map(augment, range(4)))
