"""Results from worker processes taken from a queue as they come."""

import multiprocessing
import random
import time


def work(queue: "multiprocessing.Queue[int]", i: int) -> None:
    time.sleep(random.SystemRandom().random() / 20)  # only the timing varies
    queue.put(i)


if __name__ == "__main__":
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=work, args=(queue, i)) for i in range(4)]
    for worker in workers:
        worker.start()
    received = [queue.get() for _ in workers]  # cause: schedule
    for worker in workers:
        worker.join()
    print(received)
