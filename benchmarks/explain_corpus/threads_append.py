"""Threads append to one list."""

import random
import threading
import time


def work(results: list[int], i: int) -> None:
    time.sleep(random.SystemRandom().random() / 50)  # only the timing varies
    results.append(i)  # cause: schedule


shared: list[int] = []
threads = [threading.Thread(target=work, args=(shared, i)) for i in range(6)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(shared)
