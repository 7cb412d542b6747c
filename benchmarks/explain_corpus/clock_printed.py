"""The time of day printed with the results."""

import time

total = sum(i * i for i in range(1000))
print("total", total)
print("finished at", time.time())  # cause: clock
