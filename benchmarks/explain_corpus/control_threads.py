"""Reproducible: threads finish in any order, results are kept by index."""

# reproducible
import random
import time
from concurrent.futures import ThreadPoolExecutor


def work(i: int) -> int:
    time.sleep(random.SystemRandom().random() / 100)
    return i * i


with ThreadPoolExecutor(3) as pool:
    print(list(pool.map(work, range(8))))
