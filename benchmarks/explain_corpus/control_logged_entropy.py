"""Reproducible: the clock and entropy go only to a log file, a set is sorted."""

# reproducible
import logging
import os
import tempfile
import time
import uuid

import torch

log = os.path.join(tempfile.mkdtemp(), "run.log")
logging.basicConfig(filename=log, level=logging.INFO)
logging.info("run %s started at %s", uuid.uuid4(), time.time())
torch.manual_seed(0)
names = {"alpha", "beta", "gamma"}
print([name.upper() for name in sorted(names)], torch.rand(2).tolist())
