"""A counter file left by the previous run."""

import os
import tempfile

path = os.path.join(tempfile.gettempdir(), f"reprorng-corpus-runs-{os.getuid()}.txt")
try:
    with open(path) as source:
        runs = int(source.read())  # cause: data
except (OSError, ValueError):
    runs = 0
with open(path, "w") as out:
    out.write(str(runs + 1))
print("epochs to go", 10 - runs % 10)
