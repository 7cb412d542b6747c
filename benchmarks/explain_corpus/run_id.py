"""A run id from uuid4 in the output file name, printed."""

import uuid

run_id = uuid.uuid4().hex[:8]  # cause: entropy
path = f"results-{run_id}.json"
print("saving to", path)
