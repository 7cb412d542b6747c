"""numpy's global generator reseeded from entropy in a helper."""

import numpy as np


def reset() -> None:
    np.random.seed()  # cause: entropy


np.random.seed(0)
reset()
data = np.arange(6)
np.random.shuffle(data)
print(data.tolist())
