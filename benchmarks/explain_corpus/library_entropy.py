"""A library reads entropy for its own purposes; the clock is what differs."""

import datetime
import tempfile
import uuid

workdir = tempfile.mkdtemp()  # reads entropy inside the library, reaches nothing printed
run_name = uuid.uuid4()  # logged nowhere
print("steps", sum(range(100)))
print("finished", datetime.datetime.now().isoformat())  # cause: clock
