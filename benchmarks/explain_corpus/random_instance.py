"""A random.Random made without a seed shuffles the data."""

import random

data = list(range(10))
shuffler = random.Random()  # cause: entropy
shuffler.shuffle(data)
print(data)
