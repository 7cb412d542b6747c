"""A sample drawn from a set of labels, with a seeded generator."""

import random

labels = {"cat", "dog", "bird", "fish", "frog", "lion", "wolf"}
rng = random.Random(0)
chosen = rng.sample(list(labels), 3)  # cause: hash-seed
print(chosen)
