"""Results summed in the order tasks finish."""

import random
import time
from concurrent.futures import ThreadPoolExecutor, as_completed


def work(i: int) -> float:
    time.sleep(random.SystemRandom().random() / 50)  # only the timing varies
    return 1 / (i + 3)


with ThreadPoolExecutor(4) as pool:
    futures = [pool.submit(work, i) for i in range(8)]
    order = []
    for future in as_completed(futures):  # cause: schedule
        order.append(round(future.result(), 4))
print(order)
