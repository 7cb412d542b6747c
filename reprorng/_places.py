"""Where a process stands in a run, when its start order cannot say: launchers' ranks, claims.

A process of a run is placed by the Python process that starts it (see
:mod:`reprorng._children`). Two cases escape that:

- A launcher gives each process it starts an identity of its own in the
  environment (torchrun's ``RANK``, SLURM's ``SLURM_PROCID``, Open MPI's
  ``OMPI_COMM_WORLD_RANK``, ``PMI_RANK``, ``PMIX_RANK``). That identity, not
  the start order, places it: ``r<rank>`` under the launcher's place, so ranks
  on different nodes (each node's launcher under a ``reprorng run`` of its
  own) never share a stream, whatever order they start in.
- A process started by something that is not a Python process of the run (a
  shell, ``raylet``, ``mpirun``) inherits the place its launcher was given, as
  its siblings do. The first of them keeps it; each further one claims the
  next number under it (``n1``, ``n2``, in the order they start) and says so
  in one warning that names the launcher: its own stream, never a silent
  duplicate, but not one that repeats unless the launcher starts them in the
  same order.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

__all__ = ["LAUNCHER_VARIABLES", "claim", "launched_rank", "launcher_name", "under"]

#: The environment variables launchers give each process they start, first found wins.
LAUNCHER_VARIABLES = ("RANK", "SLURM_PROCID", "OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK")


def launched_rank(environment: Mapping[str, str]) -> str | None:
    """The rank a launcher gave the process with ``environment``, if any (digits only)."""
    for name in LAUNCHER_VARIABLES:
        value = environment.get(name, "").strip()
        if value:
            return value if value.isdigit() else None
    return None


def under(place: str, part: str) -> str:
    """The place ``part`` below ``place`` (the program's own place is empty)."""
    return f"{place}.{part}" if place else part


def launcher_name(pid: int) -> str:
    """A name for the process ``pid``: its command, where the system says."""
    try:
        name = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return f"process {pid}"
    return f"{name!r} (process {pid})"


def claim(token: str, place: str) -> int:
    """The number of this process among those that started with ``place`` from the process
    ``token`` names: 0 for the first. ``-1`` when no claim can be made (no writable folder)."""
    folder = Path(tempfile.gettempdir()) / f"reprorng-places-{os.getuid()}" / token
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        return -1
    number = 0
    while True:
        try:
            os.close(os.open(folder / f"{place or 'program'}-{number}", os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            number += 1
        except OSError:
            return -1
        else:
            return number
