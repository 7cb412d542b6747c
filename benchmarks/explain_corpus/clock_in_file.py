"""The time written into a file, and read back into the data."""

import json
import os
import tempfile
import time

folder = tempfile.mkdtemp()
path = os.path.join(folder, "meta.json")
with open(path, "w") as out:
    json.dump({"created": time.time()}, out)  # cause: clock
with open(path) as source:
    meta = json.load(source)
print("age bucket", int(meta["created"] * 1_000_000) % 1_000_003)  # differs every run
