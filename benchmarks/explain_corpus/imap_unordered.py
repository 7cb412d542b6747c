"""Pool results taken as they come."""

import multiprocessing
import random
import time


def work(i: int) -> int:
    time.sleep(random.SystemRandom().random() / 50)  # only the timing varies
    return i * i


if __name__ == "__main__":
    with multiprocessing.get_context("fork").Pool(3) as pool:
        results = []
        for square in pool.imap_unordered(work, range(8)):  # cause: schedule
            results.append(square)
    print(results)
