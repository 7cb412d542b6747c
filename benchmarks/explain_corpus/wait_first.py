"""The first of several tasks to finish is kept."""

import random
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait


def work(i: int) -> int:
    time.sleep(random.SystemRandom().random() / 20)  # only the timing varies
    return i


with ThreadPoolExecutor(4) as pool:
    futures = [pool.submit(work, i) for i in range(4)]
    done, _pending = wait(futures, return_when=FIRST_COMPLETED)  # cause: schedule
    first = sorted(future.result() for future in done)[0]
print("winner", first)
