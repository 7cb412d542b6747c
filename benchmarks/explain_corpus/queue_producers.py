"""Items from several producer threads, taken from one queue."""

import queue
import random
import threading
import time

items: queue.Queue[int] = queue.Queue()


def produce(start: int) -> None:
    for i in range(start, start + 3):
        time.sleep(random.SystemRandom().random() / 100)  # only the timing varies
        items.put(i)


threads = [threading.Thread(target=produce, args=(10 * n,)) for n in range(3)]
for thread in threads:
    thread.start()
received = []
for _ in range(9):
    received.append(items.get())  # cause: schedule
for thread in threads:
    thread.join()
print(received)
