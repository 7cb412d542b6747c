"""The process id printed."""

import os

print("results:", [i * 2 for i in range(5)])
print("written by process", os.getpid())  # cause: output
